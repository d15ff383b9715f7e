"""Cluster-wide DCS parameters and the /config merge patch (plugins/module_utils/patroni_config.py)."""

import pytest

from ansible_collections.keel.postgres.plugins.filter.patroni_config_patch import patroni_config_patch
from ansible_collections.keel.postgres.plugins.filter.patroni_dcs_parameters import patroni_dcs_parameters
from ansible_collections.keel.postgres.plugins.module_utils.patroni_config import cluster_parameters, config_patch

DCS = ["max_connections", "max_worker_processes", "max_wal_senders", "wal_keep_size", "max_slot_wal_keep_size"]


def record(**settings):
    return {"dcs_parameters": DCS, "settings": {k: {"value": v, "reason": "r"} for k, v in settings.items()}}


def test_smallest_member_wins_per_setting():
    big = record(max_connections=200, max_worker_processes=8, max_wal_senders=10, wal_keep_size="2GB")
    small = record(max_connections=120, max_worker_processes=4, max_wal_senders=10, wal_keep_size="512MB")
    out = cluster_parameters([big, small])
    assert out == {"max_connections": 120, "max_worker_processes": 4, "max_wal_senders": 10, "wal_keep_size": "512MB"}


def test_units_compare_by_size_not_by_text():
    # "900MB" sorts after "2GB" as text; as a size it is smaller.
    out = cluster_parameters([record(wal_keep_size="2GB"), record(wal_keep_size="900MB")])
    assert out["wal_keep_size"] == "900MB"


def test_unlimited_counts_as_largest():
    out = cluster_parameters([record(max_slot_wal_keep_size="-1"), record(max_slot_wal_keep_size="10GB")])
    assert out["max_slot_wal_keep_size"] == "10GB"


def test_setting_missing_on_one_member_is_left_to_the_defaults():
    out = cluster_parameters([record(max_connections=100, max_wal_senders=10), record(max_connections=100)])
    assert out == {"max_connections": 100}


def test_names_restrict_and_no_records_give_nothing():
    assert cluster_parameters([record(max_connections=100, max_wal_senders=10)], ["max_wal_senders"]) == {
        "max_wal_senders": 10
    }
    assert cluster_parameters([]) == {}


@pytest.mark.parametrize(
    ("current", "desired", "patch"),
    [
        ({"ttl": 20, "loop_wait": 2}, {"ttl": 20, "loop_wait": 2}, {}),
        ({"ttl": 30}, {"ttl": 20}, {"ttl": 20}),
        ({}, {"ttl": 20}, {"ttl": 20}),
        ({"synchronous_mode": True}, {"synchronous_mode": "on"}, {}),
        ({"synchronous_mode": "on"}, {"synchronous_mode": "quorum"}, {"synchronous_mode": "quorum"}),
        ({"failsafe_mode": "true"}, {"failsafe_mode": True}, {}),
        (
            {"postgresql": {"parameters": {"max_connections": "120", "wal_level": "replica"}}},
            {"postgresql": {"parameters": {"max_connections": 120}}},
            {},
        ),
        (
            {"postgresql": {"parameters": {"max_connections": 100}, "use_slots": True}},
            {"postgresql": {"parameters": {"max_connections": 120}, "use_slots": True}},
            {"postgresql": {"parameters": {"max_connections": 120}}},
        ),
        (
            {"slots": {"dr": {"type": "physical"}, "other": {"type": "physical"}}},
            {"slots": {"dr": {"type": "physical"}}},
            {},
        ),
        ({"slots": None}, {"slots": {"dr": {"type": "physical"}}}, {"slots": {"dr": {"type": "physical"}}}),
        (
            {"standby_cluster": {"host": "a,b"}},
            {"standby_cluster": {"host": "a,b,c"}},
            {"standby_cluster": {"host": "a,b,c"}},
        ),
        ({"x": [1, 2]}, {"x": [1, 2]}, {}),
        ({"x": [1, 2]}, {"x": [2, 1]}, {"x": [2, 1]}),
        ({"maximum_lag_on_syncnode": 5}, {"maximum_lag_on_syncnode": None}, {"maximum_lag_on_syncnode": None}),
        ({}, {"maximum_lag_on_syncnode": None}, {}),
    ],
)
def test_patch_holds_exactly_what_differs(current, desired, patch):
    assert config_patch(current, desired) == patch


def test_keys_the_inventory_does_not_manage_are_kept():
    assert config_patch({"ttl": 20, "tag_by_someone": 1}, {"ttl": 20}) == {}


def test_filters_refuse_wrong_types():
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        patroni_config_patch({}, ["not", "a", "dict"])
    with pytest.raises(AnsibleFilterError):
        patroni_dcs_parameters("records")
    with pytest.raises(AnsibleFilterError):
        patroni_dcs_parameters(["not a record"])
    assert patroni_config_patch(None, {"ttl": 20}) == {"ttl": 20}
