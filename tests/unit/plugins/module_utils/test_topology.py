from __future__ import annotations

import pytest

from ansible_collections.keel.postgres.plugins.module_utils import topology

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
GOOD_PLATFORM = {"keel_cluster_name": "main", "keel_dr_cluster_name": "main-dr"}


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
