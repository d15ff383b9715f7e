from __future__ import annotations

import copy
import pathlib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.keel.postgres.plugins.module_utils import topology

ROOT = pathlib.Path(__file__).resolve().parents[4]

GOOD_GROUPS = {
    "all": ["a", "b", "c", "d"],
    "etcd": ["a", "b", "c"],
    "postgres": ["a", "b", "c"],
    "postgres_dr": ["d"],
}
GOOD_HOSTS = {
    "a": {"keel_region": "us-east-1", "keel_address": "10.0.0.1"},
    "b": {"keel_region": "us-west-2", "keel_address": "10.0.0.2"},
    "c": {"keel_region": "eu-west-1", "keel_address": "10.0.0.3"},
    "d": {"keel_region": "dr-site", "keel_address": "10.0.0.4"},
}
GOOD_PLATFORM = {
    "keel_cluster_name": "main",
    "keel_dr_cluster_name": "main-dr",
    "keel_primary_region": "us-east-1",
    "keel_regions": {
        "us-east-1": {"sync": True, "failover_priority": 2},
        "us-west-2": {"sync": True, "failover_priority": 1},
        "eu-west-1": {"sync": True, "failover_priority": 1},
    },
}


def test_good_topology_has_no_errors():
    assert topology.validate(GOOD_GROUPS, GOOD_HOSTS, GOOD_PLATFORM) == []


@pytest.mark.parametrize(
    ("etcd", "fragment"),
    [
        ([], "is empty"),
        (["a", "b"], "has 2 members (a, b)"),
        (["a", "b", "c", "d"], "has 4 members"),
    ],
)
def test_etcd_count_must_be_odd_and_non_empty(etcd, fragment):
    errors = topology.check_etcd({"etcd": etcd})
    assert len(errors) == 1
    assert fragment in errors[0]
    assert "group 'etcd'" in errors[0]


@pytest.mark.parametrize("count", [1, 3, 5])
def test_odd_etcd_counts_pass(count):
    assert topology.check_etcd({"etcd": ["h%d" % i for i in range(count)]}) == []


def test_host_in_both_clusters_is_named():
    groups = dict(GOOD_GROUPS, postgres_dr=["d", "a"])
    errors = topology.check_clusters(groups)
    assert errors and "a are in both 'postgres' and 'postgres_dr'" in errors[0]


def test_dr_cluster_with_primary_scope_is_refused():
    errors = topology.check_platform({"keel_cluster_name": "x", "keel_dr_cluster_name": "x"})
    assert errors and errors[0].startswith("keel_dr_cluster_name='x' equals keel_cluster_name")


@pytest.mark.parametrize("name", ["has space", "-lead", "", "a" * 64, 42])
def test_bad_cluster_names(name):
    errors = topology.check_platform({"keel_cluster_name": name})
    assert errors and "keel_cluster_name=" in errors[0]


@pytest.mark.parametrize(
    ("hvars", "fragment"),
    [
        ({}, "has no keel_region"),
        ({"keel_region": "US East"}, "is not a region name"),
        ({"keel_region": "us-east-1", "keel_address": "10.0.0.300"}, "is not an IP address"),
        ({"keel_region": "us-east-1", "keel_address": "pg1.example"}, "is not an IP address"),
    ],
)
def test_host_variables(hvars, fragment):
    errors = topology.check_hosts({"h": hvars}, ["h"])
    assert len(errors) == 1 and fragment in errors[0] and errors[0].startswith("host h")


def test_duplicate_addresses_are_refused():
    hosts = dict(GOOD_HOSTS, d={"keel_region": "dr-site", "keel_address": "10.0.0.1"})
    errors = topology.check_hosts(hosts, sorted(hosts))
    assert errors == ["host d: keel_address=10.0.0.1 is already used by a; every host needs its own address"]


def test_hosts_outside_the_inventory_are_ignored():
    # Ansible's hostvars also carries the implicit localhost, which has no region.
    assert topology.check_hosts(dict(GOOD_HOSTS, localhost={}), ["a"]) == []


@pytest.mark.parametrize(
    ("others", "expected"),
    [
        (["172.17.0.0/16"], []),
        (["172.28.10.0/24"], ["172.28.10.0/24"]),
        (["172.28.0.0/16", "10.0.0.0/8"], ["172.28.0.0/16"]),
        (["172.28.10.128/25"], ["172.28.10.128/25"]),
        (["fd00::/64", "junk", ""], []),
    ],
)
def test_overlapping_subnets(others, expected):
    assert topology.overlapping_subnets("172.28.10.0/24", others) == expected


# --- region model ---------------------------------------------------------------------------
# The lab's seed topology (inventories/lab): three sync regions, an async never-promoted replica,
# one DR standby cluster member.
LAB_GROUPS = {
    "all": ["pg-use1", "pg-usw2", "pg-euw1", "pg-aps1", "pg-dr1"],
    "etcd": ["pg-use1", "pg-usw2", "pg-euw1"],
    "postgres": ["pg-use1", "pg-usw2", "pg-euw1", "pg-aps1"],
    "postgres_dr": ["pg-dr1"],
}
LAB_HOSTS = {
    "pg-use1": {"keel_region": "us-east-1", "keel_address": "172.28.10.11", "keel_pgbackrest_stanza": "keel-lab"},
    "pg-usw2": {"keel_region": "us-west-2", "keel_address": "172.28.10.12", "keel_pgbackrest_stanza": "keel-lab"},
    "pg-euw1": {"keel_region": "eu-west-1", "keel_address": "172.28.10.13", "keel_pgbackrest_stanza": "keel-lab"},
    "pg-aps1": {"keel_region": "ap-south-1", "keel_address": "172.28.10.14", "keel_pgbackrest_stanza": "keel-lab"},
    "pg-dr1": {"keel_region": "dr-site", "keel_address": "172.28.10.15", "keel_pgbackrest_stanza": "keel-lab"},
}
LAB_PLATFORM = {
    "keel_cluster_name": "keel-lab",
    "keel_dr_cluster_name": "keel-lab-dr",
    "keel_primary_region": "us-east-1",
    "keel_regions": {
        "us-east-1": {"sync": True, "failover_priority": 3},
        "us-west-2": {"sync": True, "failover_priority": 2},
        "eu-west-1": {"sync": True, "failover_priority": 2},
        "ap-south-1": {"sync": False, "failover_priority": 0},
        "dr-site": {"failover_priority": 1},
    },
    "keel_synchronous_mode": "on",
    "keel_synchronous_node_count": 2,
    "keel_synchronous_mode_strict": True,
}
PLATFORM_KEYS = (
    "keel_cluster_name",
    "keel_dr_cluster_name",
    "keel_primary_region",
    "keel_regions",
    "keel_synchronous_mode",
    "keel_synchronous_node_count",
    "keel_synchronous_mode_strict",
)


def _lab(platform=None, hosts=None, groups=None):
    """The lab topology with changes: platform/hosts entries replace (None removes), groups replace."""
    plat = copy.deepcopy(LAB_PLATFORM)
    for key, value in (platform or {}).items():
        if value is None:
            plat.pop(key, None)
        else:
            plat[key] = value
    hvars = copy.deepcopy(LAB_HOSTS)
    for host, changes in (hosts or {}).items():
        hvars.setdefault(host, {}).update(changes)
    return dict(LAB_GROUPS, **(groups or {})), hvars, plat


def _regions(**changes):
    regions = copy.deepcopy(LAB_PLATFORM["keel_regions"])
    for region, entry in changes.items():
        region = region.replace("_", "-")
        if entry is None:
            regions.pop(region)
        else:
            regions[region] = entry
    return regions


def _load_inventory(name):
    """groups, hosts and platform of inventories/<name> (hosts.yml and group_vars/all/platform.yml)."""
    inventory = yaml.safe_load((ROOT / "inventories" / name / "hosts.yml").read_text())
    groups, hosts = {}, {}

    def walk(group_name, group):
        group = group or {}
        members = groups.setdefault(group_name, [])
        for host, hvars in (group.get("hosts") or {}).items():
            members.append(host)
            hosts.setdefault(host, {}).update(hvars or {})
        for child_name, child in (group.get("children") or {}).items():
            walk(child_name, child)
            members.extend(h for h in groups[child_name] if h not in members)

    walk("all", inventory["all"])
    backups = yaml.safe_load((ROOT / "inventories" / name / "group_vars" / "all" / "pgbackrest.yml").read_text())
    for hvars in hosts.values():
        hvars.setdefault("keel_pgbackrest_stanza", backups.get("keel_pgbackrest_stanza"))
        if "{{" in str(hvars.get("keel_address", "")):
            hvars.pop("keel_address")  # the lab computes addresses from its network
    platform_vars = yaml.safe_load((ROOT / "inventories" / name / "group_vars" / "all" / "platform.yml").read_text())
    return groups, hosts, {k: platform_vars.get(k) for k in PLATFORM_KEYS}


def test_the_lab_topology_has_no_errors():
    assert topology.validate(*_lab()) == []


@pytest.mark.parametrize("name", ["lab", "example"])
def test_the_shipped_inventories_have_no_errors(name):
    groups, hosts, platform = _load_inventory(name)
    assert groups["postgres"] and groups["postgres_dr"]
    assert topology.validate(groups, hosts, platform) == []


@pytest.mark.parametrize("name", ["lab", "example"])
def test_the_shipped_inventories_follow_the_seed_topology(name):
    groups, hosts, platform = _load_inventory(name)
    members = topology.patroni_members(groups, hosts, platform, "postgres")
    by_region = {m["region"]: (m["nosync"], m["failover_priority"]) for m in members.values()}
    assert by_region == {
        "us-east-1": (False, 3),
        "us-west-2": (False, 2),
        "eu-west-1": (False, 2),
        "ap-south-1": (True, 0),
    }
    assert platform["keel_primary_region"] == "us-east-1"
    assert (platform["keel_synchronous_mode"], platform["keel_synchronous_node_count"]) == ("on", 2)
    assert platform["keel_synchronous_mode_strict"] is True
    dr = topology.patroni_members(groups, hosts, platform, "postgres_dr")
    assert dr and all(
        m == {"region": "dr-site", "nosync": True, "failover_priority": 1, "sync_candidate": False, "nostream": False}
        for m in dr.values()
    )


def test_patroni_members_of_the_lab():
    groups, hosts, platform = _lab()
    assert topology.patroni_members(groups, hosts, platform, "postgres") == {
        "pg-use1": {
            "region": "us-east-1",
            "nosync": False,
            "failover_priority": 3,
            "sync_candidate": True,
            "nostream": False,
        },
        "pg-usw2": {
            "region": "us-west-2",
            "nosync": False,
            "failover_priority": 2,
            "sync_candidate": True,
            "nostream": False,
        },
        "pg-euw1": {
            "region": "eu-west-1",
            "nosync": False,
            "failover_priority": 2,
            "sync_candidate": True,
            "nostream": False,
        },
        "pg-aps1": {
            "region": "ap-south-1",
            "nosync": True,
            "failover_priority": 0,
            "sync_candidate": False,
            "nostream": False,
        },
    }
    assert topology.patroni_members(groups, hosts, platform, "postgres_dr") == {
        "pg-dr1": {
            "region": "dr-site",
            "nosync": True,
            "failover_priority": 1,
            "sync_candidate": False,
            "nostream": False,
        },
    }


@pytest.mark.parametrize(
    ("group", "hvars", "regions", "expected"),
    [
        # Host overrides win over the region entry.
        ("postgres", {"keel_nosync": True}, None, {"nosync": True, "failover_priority": 2}),
        ("postgres", {"keel_failover_priority": 0}, None, {"nosync": False, "failover_priority": 0}),
        (
            "postgres",
            {"keel_nosync": False, "keel_failover_priority": 5},
            None,
            {"nosync": False, "failover_priority": 5},
        ),
        # A region left out of keel_regions: never sync, never promoted.
        ("postgres", {}, _regions(us_west_2=None), {"nosync": True, "failover_priority": 0}),
        ("postgres", {}, {}, {"nosync": True, "failover_priority": 0}),
        # An entry without a key takes that key's default.
        ("postgres", {}, _regions(us_west_2={"sync": True}), {"nosync": False, "failover_priority": 0}),
        ("postgres", {}, _regions(us_west_2={"failover_priority": 4}), {"nosync": True, "failover_priority": 4}),
        ("postgres", {}, _regions(us_west_2=None), {"nosync": True, "failover_priority": 0}),
        # ... unless the host overrides it.
        ("postgres", {"keel_nosync": False}, {}, {"nosync": False, "failover_priority": 0}),
        # DR members: always nosync; priority from the host, else the region, else 1.
        ("postgres_dr", {}, _regions(us_west_2=None), {"nosync": True, "failover_priority": 1}),
        ("postgres_dr", {"keel_nosync": False}, None, {"nosync": True, "failover_priority": 2}),
        ("postgres_dr", {}, _regions(us_west_2={"sync": True}), {"nosync": True, "failover_priority": 1}),
        ("postgres_dr", {"keel_failover_priority": 7}, None, {"nosync": True, "failover_priority": 7}),
        (
            "postgres_dr",
            {},
            _regions(us_west_2={"sync": True, "failover_priority": 0}),
            {"nosync": True, "failover_priority": 0},
        ),
    ],
)
def test_patroni_members_precedence(group, hvars, regions, expected):
    # pg-usw2 (us-west-2: sync, priority 2) placed in the group under test.
    groups = {"all": ["pg-usw2"], group: ["pg-usw2"]}
    hosts = {"pg-usw2": dict({"keel_region": "us-west-2"}, **hvars)}
    platform = {"keel_regions": LAB_PLATFORM["keel_regions"] if regions is None else regions}
    candidate = not expected["nosync"] and expected["failover_priority"] > 0
    # Archive-only replicas are opt-in (keel_archive_only_replicas): by default every member streams.
    nostream = False
    assert topology.patroni_members(groups, hosts, platform, group) == {
        "pg-usw2": dict(region="us-west-2", sync_candidate=candidate, nostream=nostream, **expected)
    }


def test_patroni_members_without_keel_regions_or_hosts():
    groups = {"postgres": ["a"], "postgres_dr": ["b"]}
    assert topology.patroni_members(groups, {}, {}, "postgres") == {
        "a": {"region": "", "nosync": True, "failover_priority": 0, "sync_candidate": False, "nostream": False}
    }
    assert topology.patroni_members(groups, {}, {"keel_regions": None}, "postgres_dr") == {
        "b": {"region": "", "nosync": True, "failover_priority": 1, "sync_candidate": False, "nostream": False}
    }
    assert topology.patroni_members({}, {}, {}, "postgres") == {}


def test_patroni_members_keeps_the_group_order():
    groups, hosts, platform = _lab()
    assert list(topology.patroni_members(groups, hosts, platform, "postgres")) == LAB_GROUPS["postgres"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"group": "etcd"}, "group='etcd' is not a Patroni cluster group: use one of postgres, postgres_dr"),
        ({"platform": {"keel_regions": ["us-east-1"]}}, "keel_regions=['us-east-1'] is not a mapping"),
        ({"hosts": {"pg-use1": {"keel_failover_priority": "3"}}}, "host pg-use1: keel_failover_priority='3'"),
        ({"hosts": {"pg-aps1": {"keel_nosync": "yes"}}}, "host pg-aps1: keel_nosync='yes' is not a boolean"),
    ],
)
def test_patroni_members_refuses_bad_input(args, fragment):
    groups, hosts, platform = _lab(platform=args.get("platform"), hosts=args.get("hosts"))
    with pytest.raises(ValueError, match="^" + fragment.replace("[", r"\[").replace("(", r"\(")):
        topology.patroni_members(groups, hosts, platform, args.get("group", "postgres"))


def test_patroni_members_ignores_bad_overrides_outside_the_group():
    groups, hosts, platform = _lab(hosts={"pg-dr1": {"keel_nosync": "yes"}})
    assert len(topology.patroni_members(groups, hosts, platform, "postgres")) == 4


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        # keel_regions types
        ({"platform": {"keel_regions": "us-east-1"}}, "keel_regions='us-east-1' is not a mapping"),
        ({"platform": {"keel_regions": ["us-east-1"]}}, "keel_regions=['us-east-1'] is not a mapping"),
        ({"platform": {"keel_regions": _regions(us_west_2=True)}}, "keel_regions['us-west-2']=True is not a mapping"),
        ({"platform": {"keel_regions": _regions(us_west_2=["sync"])}}, "keel_regions['us-west-2']=['sync'] is not a"),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": "yes", "failover_priority": 2})}},
            "keel_regions['us-west-2'].sync='yes' is not a boolean",
        ),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": 1, "failover_priority": 2})}},
            "keel_regions['us-west-2'].sync=1 is not a boolean",
        ),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": True, "failover_priority": -1})}},
            "keel_regions['us-west-2'].failover_priority=-1 is not an integer >= 0",
        ),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": True, "failover_priority": "2"})}},
            "keel_regions['us-west-2'].failover_priority='2' is not an integer >= 0",
        ),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": True, "failover_priority": True})}},
            "keel_regions['us-west-2'].failover_priority=True is not an integer >= 0",
        ),
        (
            {"platform": {"keel_regions": _regions(us_west_2={"sync": True, "priority": 2})}},
            "keel_regions['us-west-2'] has unknown key(s) 'priority': the keys are sync and failover_priority",
        ),
        (
            {"platform": {"keel_regions": dict(_regions(), **{"US West": {"sync": False}})}},
            "keel_regions['US West']: 'US West' is not a region name",
        ),
        # Host overrides
        ({"hosts": {"pg-aps1": {"keel_nosync": "true"}}}, "host pg-aps1: keel_nosync='true' is not a boolean"),
        ({"hosts": {"pg-aps1": {"keel_nosync": 0}}}, "host pg-aps1: keel_nosync=0 is not a boolean"),
        (
            {"hosts": {"pg-aps1": {"keel_failover_priority": -2}}},
            "host pg-aps1: keel_failover_priority=-2 is not an integer >= 0",
        ),
        (
            {"hosts": {"pg-aps1": {"keel_failover_priority": "1"}}},
            "host pg-aps1: keel_failover_priority='1' is not an integer >= 0",
        ),
        (
            {"hosts": {"pg-dr1": {"keel_failover_priority": 1.5}}},
            "host pg-dr1: keel_failover_priority=1.5 is not an integer >= 0",
        ),
        # Synchronous replication settings
        ({"platform": {"keel_synchronous_mode": "yes"}}, "keel_synchronous_mode='yes' is not one of on, quorum, off"),
        ({"platform": {"keel_synchronous_mode": "ON"}}, "keel_synchronous_mode='ON' is not one of on, quorum, off"),
        (
            {"platform": {"keel_synchronous_mode": True}},
            "keel_synchronous_mode=True is not one of on, quorum, off (YAML reads a bare on/off as a boolean: "
            'quote it, keel_synchronous_mode: "on")',
        ),
        ({"platform": {"keel_synchronous_node_count": 0}}, "keel_synchronous_node_count=0 is not an integer >= 1"),
        ({"platform": {"keel_synchronous_node_count": True}}, "keel_synchronous_node_count=True is not an integer"),
        (
            {"platform": {"keel_synchronous_node_count": "2"}},
            "keel_synchronous_node_count='2' is not an integer >= 1",
        ),
        (
            {"platform": {"keel_synchronous_mode_strict": "true"}},
            "keel_synchronous_mode_strict='true' is not a boolean",
        ),
        # Sync count against the synchronous-eligible members (3 in the lab: one is the leader)
        (
            {"platform": {"keel_synchronous_node_count": 3}},
            "keel_synchronous_node_count=3 (keel_synchronous_mode=on) needs 4 synchronous-eligible members in "
            "group 'postgres' (one of them is the leader, which cannot be its own standby), but 3 are eligible "
            "(pg-euw1, pg-use1, pg-usw2); lower keel_synchronous_node_count to 2 or make more regions sync: true "
            "in keel_regions",
        ),
        (
            {"platform": {"keel_synchronous_mode": "quorum", "keel_synchronous_node_count": 3}},
            "keel_synchronous_node_count=3 (keel_synchronous_mode=quorum) needs 4 synchronous-eligible",
        ),
        (
            {"platform": {"keel_regions": _regions(eu_west_1={"sync": False, "failover_priority": 2})}},
            "keel_synchronous_node_count=2 (keel_synchronous_mode=on) needs 3 synchronous-eligible members",
        ),
        (
            {"hosts": {"pg-euw1": {"keel_nosync": True}}},
            "but 2 are eligible (pg-use1, pg-usw2); lower keel_synchronous_node_count to 1 or",
        ),
        (
            {"platform": {"keel_regions": _regions(eu_west_1=None, us_west_2=None)}},
            'but 1 are eligible (pg-use1); set keel_synchronous_mode: "off" or make more regions sync: true',
        ),
        # Nobody may lead
        (
            {
                "platform": {
                    "keel_regions": {r: {"sync": True, "failover_priority": 0} for r in LAB_PLATFORM["keel_regions"]}
                    | {"dr-site": {"failover_priority": 1}}
                }
            },
            "no member of group 'postgres' may become leader: every member has failover_priority 0 (pg-aps1 "
            "(ap-south-1, failover_priority 0), pg-euw1 (eu-west-1, failover_priority 0)",
        ),
        (
            {"hosts": {h: {"keel_failover_priority": 0} for h in LAB_GROUPS["postgres"]}},
            "no member of group 'postgres' may become leader",
        ),
        # Sync mode with no promotable synchronous-eligible member
        (
            {
                "platform": {
                    "keel_regions": _regions(
                        us_east_1={"sync": True, "failover_priority": 0},
                        us_west_2={"sync": True, "failover_priority": 0},
                        eu_west_1={"sync": True, "failover_priority": 0},
                        ap_south_1={"sync": False, "failover_priority": 1},
                    ),
                    "keel_primary_region": "ap-south-1",
                }
            },
            "keel_synchronous_mode=on: no synchronous-eligible member of group 'postgres' has failover_priority > 0 "
            "(eligible: pg-euw1 (eu-west-1, failover_priority 0), pg-use1 (us-east-1, failover_priority 0), "
            "pg-usw2 (us-west-2, failover_priority 0)); Patroni only promotes a synchronous standby automatically",
        ),
        # Primary region
        ({"platform": {"keel_primary_region": None}}, "keel_primary_region is not set: set it to the region"),
        (
            {"platform": {"keel_primary_region": "dr-site"}},
            "keel_primary_region='dr-site' is not the keel_region of any member of group 'postgres' (regions: "
            "ap-south-1, eu-west-1, us-east-1, us-west-2)",
        ),
        (
            {"platform": {"keel_primary_region": "ap-south-1"}},
            "keel_primary_region='ap-south-1': no member of group 'postgres' in that region may become leader",
        ),
        # Scopes
        (
            {"platform": {"keel_dr_cluster_name": None}},
            "keel_dr_cluster_name is not set but group 'postgres_dr' has members (pg-dr1)",
        ),
        ({"platform": {"keel_cluster_name": None}}, "keel_cluster_name is not set but group 'postgres' has members"),
        (
            {"platform": {"keel_dr_cluster_name": "keel-lab"}},
            "keel_dr_cluster_name='keel-lab' equals keel_cluster_name",
        ),
        # The DR cluster must be able to elect its standby leader
        (
            {"platform": {"keel_regions": _regions(dr_site={"failover_priority": 0})}},
            "no member of group 'postgres_dr' may become the DR standby leader: every member has failover_priority 0 "
            "(pg-dr1 (dr-site, failover_priority 0))",
        ),
        (
            {"hosts": {"pg-dr1": {"keel_failover_priority": 0}}},
            "no member of group 'postgres_dr' may become the DR standby leader",
        ),
        # Existing group check with the lab
        ({"groups": {"postgres_dr": ["pg-dr1", "pg-aps1"]}}, "pg-aps1 are in both 'postgres' and 'postgres_dr'"),
    ],
)
def test_region_model_errors(change, fragment):
    errors = topology.validate(*_lab(**change))
    assert len(errors) == 1, errors
    assert fragment in errors[0]


@pytest.mark.parametrize(
    "change",
    [
        # Asynchronous: no sync-eligible member needed.
        {"platform": {"keel_synchronous_mode": "off", "keel_regions": _regions(us_west_2=None, eu_west_1=None)}},
        {"platform": {"keel_synchronous_mode": "off", "keel_synchronous_node_count": 9}},
        # Defaults: on, FIRST 2, strict (the lab's values).
        {"platform": {"keel_synchronous_mode": None, "keel_synchronous_node_count": None}},
        {"platform": {"keel_synchronous_mode_strict": False}},
        {"platform": {"keel_synchronous_node_count": 1}},
        {"platform": {"keel_synchronous_mode": "quorum"}},
        # A host opts in to sync: three eligible members again.
        {"platform": {"keel_regions": _regions(eu_west_1=None)}, "hosts": {"pg-aps1": {"keel_nosync": False}}},
        # Region entries with defaults; the DR region left out (DR default priority 1).
        {"platform": {"keel_regions": _regions(dr_site=None, ap_south_1=None)}},
        {"platform": {"keel_regions": _regions(dr_site={})}},
        {"hosts": {"pg-dr1": {"keel_nosync": False}}},  # ignored: a standby cluster is always async
        # No DR cluster: no DR scope needed.
        {"groups": {"postgres_dr": []}, "platform": {"keel_dr_cluster_name": None}},
    ],
)
def test_region_model_accepts(change):
    assert topology.validate(*_lab(**change)) == []


def test_region_checks_need_a_postgres_group():
    groups = {"all": ["e1", "e2", "e3"], "etcd": ["e1", "e2", "e3"]}
    hosts = {h: {"keel_region": "r1"} for h in groups["all"]}
    assert topology.validate(groups, hosts, {}) == []


def test_type_errors_are_reported_without_knock_on_errors():
    # A bad priority type must not also claim that no member may become leader.
    groups, hosts, platform = _lab(platform={"keel_regions": {"us-east-1": {"sync": True, "failover_priority": "3"}}})
    errors = topology.validate(groups, hosts, platform)
    assert errors == [
        "keel_regions['us-east-1'].failover_priority='3' is not an integer >= 0: use 0 (never promoted) or a "
        "higher number (preferred among equally advanced replicas)"
    ]


def test_synchronous_settings_defaults():
    assert topology.synchronous_settings({}) == {"mode": "on", "node_count": 2, "strict": True}
    assert topology.synchronous_settings(
        {"keel_synchronous_mode": "quorum", "keel_synchronous_node_count": 1, "keel_synchronous_mode_strict": False}
    ) == {"mode": "quorum", "node_count": 1, "strict": False}


# --- properties -----------------------------------------------------------------------------
REGION_NAMES = ["r1", "r2", "r3", "r4"]
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 5), st.text(max_size=3), st.lists(st.integers(), max_size=2)
)


@st.composite
def topologies(draw):
    hosts_ = ["h%d" % i for i in range(draw(st.integers(1, 6)))]
    dr = draw(st.lists(st.sampled_from(hosts_), unique=True, max_size=2))
    postgres = [h for h in hosts_ if h not in dr]
    hosts = {}
    for i, host in enumerate(hosts_):
        hvars = {"keel_region": draw(st.sampled_from(REGION_NAMES)), "keel_address": "10.0.0.%d" % (i + 1)}
        if draw(st.booleans()):
            hvars["keel_nosync"] = draw(st.booleans())
        if draw(st.booleans()):
            hvars["keel_failover_priority"] = draw(st.integers(0, 3))
        hosts[host] = hvars
    regions = draw(
        st.dictionaries(
            st.sampled_from(REGION_NAMES),
            st.fixed_dictionaries({}, optional={"sync": st.booleans(), "failover_priority": st.integers(0, 3)}),
        )
    )
    platform = {
        "keel_cluster_name": "c",
        "keel_dr_cluster_name": "c-dr",
        "keel_primary_region": draw(st.sampled_from(REGION_NAMES)),
        "keel_regions": regions,
        "keel_synchronous_mode": draw(st.sampled_from(["on", "quorum", "off"])),
        "keel_synchronous_node_count": draw(st.integers(1, 4)),
        "keel_synchronous_mode_strict": draw(st.booleans()),
    }
    groups = {"all": hosts_, "etcd": hosts_[:1], "postgres": postgres, "postgres_dr": dr}
    return groups, hosts, platform


@settings(max_examples=300)
@given(topologies())
def test_an_accepted_topology_can_elect_and_replicate(topology_):
    """Whenever validate() accepts, Patroni can elect leaders and meet the synchronous count."""
    groups, hosts, platform = topology_
    errors = topology.validate(groups, hosts, platform)
    assert all(isinstance(e, str) for e in errors)
    if errors or not groups["postgres"]:
        return
    members = topology.patroni_members(groups, hosts, platform, "postgres")
    leaders = [h for h, m in members.items() if m["failover_priority"] > 0]
    assert leaders
    assert any(members[h]["region"] == platform["keel_primary_region"] for h in leaders)
    if platform["keel_synchronous_mode"] != "off":
        eligible = [h for h, m in members.items() if not m["nosync"]]
        assert len(eligible) >= platform["keel_synchronous_node_count"] + 1
        assert any(members[h]["failover_priority"] > 0 for h in eligible)
    dr = topology.patroni_members(groups, hosts, platform, "postgres_dr")
    assert all(m["nosync"] for m in dr.values())
    assert not dr or any(m["failover_priority"] > 0 for m in dr.values())


@settings(max_examples=300)
@given(
    st.dictionaries(st.sampled_from(PLATFORM_KEYS[2:]), ANY_VALUE),
    st.dictionaries(st.sampled_from(["keel_nosync", "keel_failover_priority"]), ANY_VALUE),
    st.one_of(
        ANY_VALUE,
        st.dictionaries(
            st.sampled_from(REGION_NAMES + ["x y"]),
            st.one_of(ANY_VALUE, st.dictionaries(st.sampled_from(["sync", "failover_priority", "other"]), ANY_VALUE)),
        ),
    ),
)
def test_junk_values_give_messages_not_exceptions(platform_vars, host_vars, regions):
    groups, hosts, platform = _lab(hosts={"pg-aps1": host_vars})
    platform.update(platform_vars)
    platform["keel_regions"] = regions
    errors = topology.validate(groups, hosts, platform)
    assert all(isinstance(e, str) and e for e in errors)


@pytest.mark.parametrize(
    ("nosync", "priority", "candidate"),
    [(False, 1, True), (False, 3, True), (True, 3, False), (False, 0, False), (True, 0, False)],
)
def test_only_promotable_sync_eligible_members_are_sync_candidates(nosync, priority, candidate):
    assert topology.is_sync_candidate(nosync, priority) is candidate


@pytest.mark.parametrize(
    ("settings", "archive_only"),
    [
        ({}, True),
        ({"keel_synchronous_mode": "quorum"}, True),
        ({"keel_synchronous_mode_strict": False}, False),
        ({"keel_synchronous_mode": "off"}, False),
        ({"keel_synchronous_mode": "quorum", "keel_synchronous_mode_strict": False}, False),
        # opt-in: without it every member streams
        ({"keel_archive_only_replicas": False}, False),
        ({"keel_archive_only_replicas": None}, False),
    ],
)
def test_non_candidates_stream_only_when_no_wildcard_can_make_them_confirm_commits(settings, archive_only):
    groups, hosts, platform = _lab()
    platform = dict(
        platform, keel_synchronous_mode="on", keel_synchronous_mode_strict=True, keel_archive_only_replicas=True
    )
    platform.update(settings)
    members = topology.patroni_members(groups, hosts, platform, "postgres")
    assert {h: m["nostream"] for h, m in members.items()} == {
        "pg-use1": False,
        "pg-usw2": False,
        "pg-euw1": False,
        "pg-aps1": archive_only,
    }
    # The DR cluster is asynchronous to its source: none of its members is ever a candidate.
    assert [m["nostream"] for m in topology.patroni_members(groups, hosts, platform, "postgres_dr").values()] == [False]


def test_a_never_promoted_member_needs_the_archive_it_replays_from():
    no_archive = {"pg-aps1": {"keel_pgbackrest_stanza": ""}}
    assert topology.validate(*_lab(hosts=no_archive)) == []  # archive-only replicas are opt-in
    errors = topology.validate(*_lab(platform={"keel_archive_only_replicas": True}, hosts=no_archive))
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "host pg-aps1 (ap-south-1, failover_priority 0, nosync true) is not a synchronous candidate"
    )
    assert "keel_pgbackrest_stanza is empty for it" in errors[0]
    # Without strict mode nothing makes it confirm commits, so it may stream and needs no archive.
    relaxed = {"keel_archive_only_replicas": True, "keel_synchronous_mode_strict": False}
    assert topology.validate(*_lab(platform=relaxed, hosts=no_archive)) == []
    # A candidate without the archive streams as before.
    opted = {"keel_archive_only_replicas": True}
    assert topology.validate(*_lab(platform=opted, hosts={"pg-usw2": {"keel_pgbackrest_stanza": ""}})) == []
    assert topology.validate(*_lab(platform={"keel_archive_only_replicas": "yes"})) == [
        "keel_archive_only_replicas='yes' is not a boolean: write true or false, unquoted"
    ]
