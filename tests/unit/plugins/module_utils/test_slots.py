"""Replication slot decisions (plugins/module_utils/slots.py)."""

import pytest

from ansible_collections.keel.postgres.plugins.module_utils.slots import (
    classify_slot,
    confirm_inactive,
    member_slot_names,
    parse_keep_size,
    patroni_slot_name,
    permanent_slot_names,
    plan_drops,
    protection_reason,
    simple_slot_name,
    slot_thresholds,
    summary,
)

GB = 1024**3
T = slot_thresholds("1GB", "5GB")


def slot(name="s1", active=False, retained=0, wal_status="reserved", temporary=False, **extra):
    row = {
        "slot_name": name,
        "slot_type": "physical",
        "active": active,
        "active_pid": 4242 if active else None,
        "temporary": temporary,
        "restart_lsn": "0/3000060",
        "wal_status": wal_status,
        "safe_wal_size": None,
        "retained_bytes": retained,
    }
    row.update(extra)
    return row


@pytest.mark.parametrize(
    "member, expected",
    [
        ("pg1", "pg1"),
        ("PG-Node.2", "pg_node_2"),
        ("db-eu-west-1a.example.com", "db_eu_west_1a_example_com"),
        ("node@3", "nodeu00643"),
        ("node 4", "nodeu00324"),
        ("x" * 70, "x" * 63),
    ],
)
def test_patroni_slot_name(member, expected):
    assert patroni_slot_name(member) == expected


@pytest.mark.parametrize("member, expected", [("node@3", "node_3"), ("PG-Node.2", "pg_node_2"), ("a b", "a_b")])
def test_simple_slot_name(member, expected):
    assert simple_slot_name(member) == expected


def test_member_slot_names_covers_both_derivations():
    assert member_slot_names(["node@3", "pg1"]) == {"nodeu00643", "node_3", "pg1"}
    assert member_slot_names(None) == set()


@pytest.mark.parametrize(
    "config, expected",
    [
        (
            {"slots": {"dr_site": {"type": "physical"}, "cdc": {"type": "logical", "database": "app"}}},
            ["cdc", "dr_site"],
        ),
        ({"slots": None}, []),
        ({}, []),
        (None, []),
        ({"slots": ["not", "a", "map"]}, []),
    ],
)
def test_permanent_slot_names(config, expected):
    assert permanent_slot_names(config) == expected


@pytest.mark.parametrize(
    "text, expected",
    [("-1", None), (None, None), ("10GB", 10 * GB), ("1024MB", GB), ("16kB", 16384)],
)
def test_parse_keep_size(text, expected):
    assert parse_keep_size(text) == expected


@pytest.mark.parametrize(
    "limit, warn, crit",
    [
        (None, GB, 5 * GB),
        (10 * GB, GB, 5 * GB),  # limit high: configured thresholds stay
        (2 * GB, GB, int(1.6 * GB)),  # crit capped at 8/10 of the limit
        (GB, GB // 2, GB * 8 // 10),  # both capped
    ],
)
def test_slot_thresholds_capped_by_max_slot_wal_keep_size(limit, warn, crit):
    result = slot_thresholds("1GB", "5GB", limit)
    assert (result["effective_warn_bytes"], result["effective_crit_bytes"]) == (warn, crit)
    assert result["max_slot_wal_keep_size"] == limit


@pytest.mark.parametrize("warn, crit", [("5GB", "1GB"), ("many", "1GB"), ("1GB", "-1")])
def test_slot_thresholds_reject(warn, crit):
    with pytest.raises(ValueError):
        slot_thresholds(warn, crit)


@pytest.mark.parametrize(
    "row, in_recovery, classification, severity",
    [
        (slot(active=True), False, "ok", "ok"),
        (slot(active=False), False, "inactive", "warning"),
        (slot(active=False), True, "inactive", "ok"),  # Patroni's copies on replicas are inactive by design
        (slot(active=True, retained=2 * GB), False, "retaining", "warning"),
        (slot(active=False, retained=2 * GB), False, "retaining", "warning"),
        (slot(active=True, retained=6 * GB), False, "retaining", "critical"),
        (slot(active=False, retained=GB), False, "inactive", "warning"),  # equal is not above
        (slot(active=False, retained=None, wal_status="lost"), False, "lost", "critical"),
        (slot(active=False, retained=9 * GB, wal_status="lost"), False, "lost", "critical"),
        (slot(active=True, retained=3 * GB, wal_status="unreserved"), False, "unreserved", "critical"),
        (slot(active=True, wal_status="extended"), False, "ok", "ok"),
    ],
)
def test_classify_slot(row, in_recovery, classification, severity):
    result = classify_slot(row, T, in_recovery)
    assert (result["classification"], result["severity"]) == (classification, severity)
    if severity == "ok":
        assert result["reasons"] == []
    else:
        assert all(reason.startswith("slot 's1'") for reason in result["reasons"])


def test_classify_slot_uses_capped_thresholds():
    thresholds = slot_thresholds("1GB", "5GB", 2 * GB)
    result = classify_slot(slot(active=True, retained=int(1.7 * GB)), thresholds)
    assert result["severity"] == "critical"
    assert "critical threshold 1.6 GB" in result["reasons"][0]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("dr_site", "permanent slot in the Patroni dynamic configuration"),
        ("pg2", "Patroni member slot"),
        ("cdc", "listed in protected_slots"),
        ("old", None),
    ],
)
def test_protection_reason(name, expected):
    assert protection_reason(name, ["cdc"], {"pg2"}, ["dr_site"]) == expected


def classified(*rows):
    return [classify_slot(row, T) for row in rows]


@pytest.mark.parametrize(
    "kwargs, candidates, refused, not_found",
    [
        # nothing asked: nothing dropped
        ({}, [], {}, []),
        # drop_inactive: only inactive slots retaining WAL (or lost)
        ({"drop_inactive": True}, ["old", "lost1"], {}, []),
        # protection beats drop_inactive
        (
            {"drop_inactive": True, "member_slots": {"old"}, "permanent_slots": ["lost1"]},
            [],
            {"old": "Patroni member slot", "lost1": "permanent slot in the Patroni dynamic configuration"},
            [],
        ),
        # explicit list: any inactive unprotected slot, whatever it retains
        ({"drop_slots": ["idle", "gone"]}, ["idle"], {}, ["gone"]),
        # explicit list never drops active, temporary or protected slots
        (
            {"drop_slots": ["busy", "tmp", "idle"], "protected_slots": ["idle"]},
            [],
            {
                "busy": "slot is active (walsender pid 4242)",
                "tmp": "temporary slot",
                "idle": "listed in protected_slots",
            },
            [],
        ),
        # duplicates collapse
        ({"drop_slots": ["idle", "idle"], "drop_inactive": True}, ["idle", "old", "lost1"], {}, []),
    ],
)
def test_plan_drops(kwargs, candidates, refused, not_found):
    slots = classified(
        slot("busy", active=True, retained=9 * GB),
        slot("idle", active=False, retained=0),
        slot("old", active=False, retained=2 * GB),
        slot("lost1", active=False, retained=None, wal_status="lost"),
        slot("tmp", active=False, temporary=True),
    )
    plan = plan_drops(slots, **kwargs)
    assert plan["candidates"] == candidates
    assert {item["slot"]: item["reason"] for item in plan["refused"]}.keys() == refused.keys()
    for item in plan["refused"]:
        assert item["reason"].startswith(refused[item["slot"]])
    assert plan["not_found"] == not_found


@pytest.mark.parametrize(
    "observations, reason",
    [
        ([], None),
        ([slot(), slot()], None),
        ([slot(), None], "slot disappeared"),
        ([slot(active=True)], "slot became active during the inactivity window (pid 4242)"),
        ([slot(), slot(restart_lsn="0/4000000")], "restart_lsn moved from 0/3000060 to 0/4000000"),
    ],
)
def test_confirm_inactive(observations, reason):
    result = confirm_inactive(slot(), observations)
    if reason is None:
        assert result is None
    else:
        assert result.startswith(reason)


def test_summary():
    slots = classified(slot("old", retained=2 * GB))
    text = summary("warning", slots, ["x"], [], [{"slot": "pg2", "reason": "Patroni member slot"}])
    assert text.startswith("WARNING: slot 'old' retains 2.0 GB of WAL, above the warning threshold 1.0 GB")
    assert "dropped: x" in text and "not dropping 'pg2': Patroni member slot" in text
    assert (
        summary("ok", [], [], ["y"], [])
        == "OK: 0 slot(s), none retaining WAL above the thresholds; would drop (check mode): y"
    )
