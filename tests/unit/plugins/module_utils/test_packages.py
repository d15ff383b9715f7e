"""Which apt packages a host still lacks, from its package facts (plugins/module_utils/packages.py)."""

import pytest

from ansible_collections.keel.postgres.plugins.filter.packages_missing import packages_missing
from ansible_collections.keel.postgres.plugins.module_utils.packages import (
    missing_packages,
    satisfied,
    split_spec,
)

FACTS = {
    "pgbouncer": [{"name": "pgbouncer", "version": "1.18.0-1", "source": "apt"}],
    "postgresql-15": [{"name": "postgresql-15", "version": "15.14-0+deb12u1", "source": "apt"}],
    "redis-server": [{"name": "redis-server", "version": "5:7.0.15-1~deb12u5", "source": "apt"}],
}


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("pgbouncer", ("pgbouncer", None, None)),
        (" pgbouncer ", ("pgbouncer", None, None)),
        ("pgbackrest=2.45-1", ("pgbackrest", "=", "2.45-1")),
        ("redis-server>=5:7.0", ("redis-server", ">=", "5:7.0")),
        ("libpq5<<16", ("libpq5", "<<", "16")),
    ],
)
def test_split_spec(spec, expected):
    assert split_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "  ", None, 3, "=1.0", "name="])
def test_split_spec_refuses_a_malformed_specification(spec):
    with pytest.raises(ValueError):
        split_spec(spec)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("pgbouncer", True),
        ("haproxy", False),
        ("postgresql-15=15.14-0+deb12u1", True),
        ("postgresql-15=15.13-0+deb12u1", False),
        ("postgresql-15=15.14*", True),
        ("redis-server>=5:7.0", False),  # apt compares versions, not this filter: counts as missing
    ],
)
def test_satisfied(spec, expected):
    assert satisfied(spec, FACTS) is expected


def test_missing_packages_keeps_the_order_of_the_request():
    wanted = ["haproxy", "pgbouncer", "etcd-server", "postgresql-15"]
    assert missing_packages(wanted, FACTS) == ["haproxy", "etcd-server"]


def test_without_package_facts_every_package_is_missing():
    assert missing_packages(["pgbouncer", "haproxy"], None) == ["pgbouncer", "haproxy"]


def test_a_single_name_is_a_list_of_one():
    assert missing_packages("pgbouncer", FACTS) == []
    assert missing_packages("haproxy", FACTS) == ["haproxy"]


@pytest.mark.parametrize("wanted, installed", [({"a": 1}, FACTS), (["pgbouncer"], ["pgbouncer"])])
def test_wrong_input_types_are_refused(wanted, installed):
    with pytest.raises(ValueError):
        missing_packages(wanted, installed)


def test_filter_turns_bad_input_into_a_filter_error():
    from ansible.errors import AnsibleFilterError

    assert packages_missing(["pgbouncer", "haproxy"], FACTS) == ["haproxy"]
    with pytest.raises(AnsibleFilterError, match="packages_missing"):
        packages_missing([""], FACTS)
