"""Tests for the keel.postgres.patroni_members filter (Patroni tags from the region model)."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.filter import patroni_members as plugin
from ansible_collections.keel.postgres.plugins.filter import topology_errors as errors_plugin

FILTER = plugin.FilterModule().filters()["patroni_members"]
GROUPS = {"all": ["a", "b", "c", "dr"], "postgres": ["a", "b", "c"], "postgres_dr": ["dr"]}
HOSTS = {
    "a": {"keel_region": "us-east-1"},
    "b": {"keel_region": "us-west-2", "keel_failover_priority": 0},
    "c": {"keel_region": "ap-south-1"},
    "dr": {"keel_region": "dr-site"},
}
PLATFORM = {
    "keel_regions": {
        "us-east-1": {"sync": True, "failover_priority": 3},
        "us-west-2": {"sync": True, "failover_priority": 2},
    }
}


def test_registers_only_its_own_filter():
    assert list(plugin.FilterModule().filters()) == ["patroni_members"]


def test_members_of_the_primary_cluster():
    assert FILTER(GROUPS, HOSTS, PLATFORM, "postgres") == {
        "a": {
            "region": "us-east-1",
            "nosync": False,
            "failover_priority": 3,
            "sync_candidate": True,
            "nostream": False,
        },
        "b": {
            "region": "us-west-2",
            "nosync": False,
            "failover_priority": 0,
            "sync_candidate": False,
            "nostream": False,
        },
        "c": {
            "region": "ap-south-1",
            "nosync": True,
            "failover_priority": 0,
            "sync_candidate": False,
            "nostream": False,
        },
    }


def test_the_group_defaults_to_postgres():
    assert FILTER(GROUPS, HOSTS, PLATFORM) == FILTER(GROUPS, HOSTS, PLATFORM, "postgres")


def test_members_of_the_dr_cluster():
    assert FILTER(GROUPS, HOSTS, PLATFORM, "postgres_dr") == {
        "dr": {"region": "dr-site", "nosync": True, "failover_priority": 1, "sync_candidate": False, "nostream": False},
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a"], HOSTS, PLATFORM, "postgres"), "expects groups, hosts and platform as dictionaries"),
        ((GROUPS, None, PLATFORM, "postgres"), "expects groups, hosts and platform as dictionaries"),
        ((GROUPS, HOSTS, "keel_regions", "postgres"), "expects groups, hosts and platform as dictionaries"),
        ((GROUPS, HOSTS, PLATFORM, ["postgres"]), "expects the group as a string"),
        ((GROUPS, HOSTS, PLATFORM, "redis"), "group='redis' is not a Patroni cluster group"),
        ((GROUPS, HOSTS, {"keel_regions": ["us-east-1"]}, "postgres"), "keel_regions=['us-east-1'] is not a mapping"),
        (
            (GROUPS, dict(HOSTS, a={"keel_region": "us-east-1", "keel_nosync": "no"}), PLATFORM, "postgres"),
            "host a: keel_nosync='no' is not a boolean",
        ),
    ],
)
def test_refuses_bad_input(args, message):
    with pytest.raises(AnsibleFilterError) as excinfo:
        FILTER(*args)
    assert message in str(excinfo.value)


@pytest.mark.parametrize("module", [plugin, errors_plugin])
def test_documentation_parses(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["name"] == module.__name__.rsplit(".", 1)[1]
    assert yaml.safe_load(module.EXAMPLES)
    assert yaml.safe_load(module.RETURN)["_value"]["type"] in ("dict", "list")


def test_topology_errors_documents_the_region_model_keys():
    platform = " ".join(yaml.safe_load(errors_plugin.DOCUMENTATION)["options"]["platform"]["description"])
    for key in (
        "keel_primary_region",
        "keel_regions",
        "keel_synchronous_mode",
        "keel_synchronous_node_count",
        "keel_synchronous_mode_strict",
    ):
        assert "C(%s)" % key in platform
