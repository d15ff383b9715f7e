"""Unit tests of module_utils/switchover.py: which member a planned switchover promotes."""

from __future__ import annotations

import pytest

from ansible_collections.keel.postgres.plugins.module_utils.switchover import plan, plan_failover, verdict


def member(name, role="sync_standby", state="streaming", lag=0, priority=2, **tags):
    return {"name": name, "role": role, "state": state, "lag": lag, "tags": dict(tags, failover_priority=priority)}


LEADER = member("pg-use1", role="leader", state="running", lag=None, priority=3)
LAB = [
    LEADER,
    member("pg-usw2", lag=4096),
    member("pg-euw1", lag=0),
    member("pg-aps1", role="replica", priority=0, nosync=True),
]
SYNC = ["pg-usw2", "pg-euw1"]


def test_without_a_name_the_highest_priority_then_least_lag_wins():
    result = plan(LAB, "pg-use1", SYNC)
    assert result["errors"] == [] and result["candidate"] == "pg-euw1"
    higher = LAB[:1] + [member("pg-usw2", lag=4096, priority=3), LAB[2], LAB[3]]
    assert plan(higher, "pg-use1", SYNC)["candidate"] == "pg-usw2"  # priority beats lag


def test_a_named_candidate_is_checked_and_never_replaced():
    assert plan(LAB, "pg-use1", SYNC, candidate="pg-usw2")["candidate"] == "pg-usw2"
    refused = plan(LAB, "pg-use1", SYNC, candidate="pg-aps1")
    assert refused["candidate"] is None
    assert refused["errors"] == [
        "switchover_candidate=pg-aps1 may never be promoted (failover_priority 0 or nofailover)"
    ]


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (member("x", lag=5_000_000), "lags 5000000 bytes, more than the 1048576 allowed"),
        (member("x", state="starting"), "is starting, not streaming"),
        (member("x", lag=None), "reports no replication lag (unknown)"),
        (member("x", role="replica"), "is not a synchronous standby"),
        (member("x", nofailover=True), "may never be promoted"),
        (member("x", role="leader"), "is not a standby of this cluster"),
    ],
)
def test_each_reason_to_refuse_is_named(candidate, expected):
    assert expected in verdict(candidate, "pg-use1", SYNC + ["x"] if candidate["role"] != "replica" else SYNC, 1048576)


def test_unknown_name_no_leader_and_no_eligible_member_are_errors():
    assert "is not a member of the cluster" in plan(LAB, "pg-use1", SYNC, candidate="pg-zz")["errors"][0]
    assert "has no leader" in plan(LAB[1:], None, SYNC)["errors"][0]
    lagging = [LEADER, member("pg-usw2", lag=10**9), member("pg-euw1", state="stopped")]
    error = plan(lagging, "pg-use1", SYNC)["errors"][0]
    assert error.startswith("no member may take over now") and "pg-usw2 lags" in error and "pg-euw1 is stopped" in error


def test_without_synchronous_standbys_any_promotable_replica_qualifies():
    members = [LEADER, member("pg-usw2", role="replica", lag=10), member("pg-aps1", role="replica", priority=0)]
    result = plan(members, "pg-use1", [])
    assert result["candidate"] == "pg-usw2"
    assert [c["eligible"] for c in result["considered"]] == [False, False, True]  # sorted by name: aps1, use1, usw2


# --- manual failover: no running leader --------------------------------------------------------------
def with_position(entry, lsn):
    return dict(entry, receive_lsn=lsn, replay_lsn=lsn, lag=None)


DEAD_LEADER = dict(LEADER, state="stopped")
ORPHANS = [
    DEAD_LEADER,
    with_position(member("pg-usw2", state="in archive recovery"), "0/5000100"),
    with_position(member("pg-euw1"), "0/5000000"),
    with_position(member("pg-aps1", role="replica", priority=0), "0/5000200"),
]


def test_failover_promotes_the_most_advanced_synchronous_standby():
    result = plan_failover(ORPHANS, SYNC)
    assert result["errors"] == [] and result["candidate"] == "pg-usw2"
    # pg-aps1 is further ahead but may never be promoted; pg-euw1 is behind.
    verdicts = {c["name"]: c["reason"] for c in result["considered"]}
    assert "never be promoted" in verdicts["pg-aps1"] and verdicts["pg-euw1"] == "eligible"


def test_a_named_failover_candidate_behind_another_is_refused():
    refused = plan_failover(ORPHANS, SYNC, candidate="pg-euw1")
    assert refused["candidate"] is None
    assert refused["errors"] == [
        "failover_candidate=pg-euw1 is 256 bytes behind pg-usw2: promoting it would lose what they received"
    ]
    assert plan_failover(ORPHANS, SYNC, candidate="pg-usw2")["candidate"] == "pg-usw2"
    assert "may never be promoted" in plan_failover(ORPHANS, SYNC, candidate="pg-aps1")["errors"][0]
    assert "is not a member" in plan_failover(ORPHANS, SYNC, candidate="pg-zz")["errors"][0]


def test_failover_is_refused_while_a_leader_runs():
    result = plan_failover(LAB, SYNC)
    assert result["errors"] == [
        "pg-use1 leads and runs: this is a planned switchover (playbooks/switchover.yml), not a failover"
    ]


def test_failover_without_a_position_or_eligible_member_is_refused():
    blind = [DEAD_LEADER, member("pg-usw2", lag=None), with_position(member("pg-euw1", state="stopped"), "0/1")]
    error = plan_failover(blind, SYNC)["errors"][0]
    assert error.startswith("no member may be promoted") and "reports no WAL position" in error
    # Outside synchronous mode an async member qualifies: it is all there is.
    async_only = [DEAD_LEADER, with_position(member("pg-usw2", role="replica"), "0/10")]
    assert plan_failover(async_only, [])["candidate"] == "pg-usw2"


def test_the_filters_refuse_anything_but_a_patroni_cluster_result():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.keel.postgres.plugins.filter.failover_plan import FilterModule as Failover
    from ansible_collections.keel.postgres.plugins.filter.switchover_plan import FilterModule as Switchover

    switchover = Switchover().filters()["switchover_plan"]
    failover = Failover().filters()["failover_plan"]
    for bad in ({}, [], "x"):
        with pytest.raises(AnsibleFilterError, match="patroni_cluster"):
            switchover(bad)
        with pytest.raises(AnsibleFilterError, match="patroni_cluster"):
            failover(bad)
    with pytest.raises(AnsibleFilterError, match="max_lag must be a number"):
        switchover({"members": []}, None, "lots")
    status = {"members": LAB, "leader": "pg-use1", "sync_standbys": SYNC}
    assert switchover(status)["candidate"] == "pg-euw1"
    assert failover({"members": ORPHANS, "sync_standbys": SYNC})["candidate"] == "pg-usw2"
