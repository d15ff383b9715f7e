"""Replication lag decisions (plugins/module_utils/replication.py)."""

import pytest

from ansible_collections.keel.postgres.plugins.module_utils.replication import (
    build_thresholds,
    classify_archive_replay,
    classify_receiver,
    classify_standby,
    classify_value,
    effective_seconds,
    evaluate,
    missing_standbys,
    parse_synchronous_standby_names,
    should_fail,
    standby_name,
    sync_candidate_reasons,
    worst,
)

MB = 1024**2
T = build_thresholds("100MB", "1GB", 10, 60)


def standby(name="pg2", state="streaming", lag_bytes=0, seconds=None, **extra):
    row = {"application_name": name, "client_addr": "10.0.0.2", "state": state, "sync_state": "async"}
    for metric in ("write", "flush", "replay"):
        row["%s_lag_bytes" % metric] = lag_bytes
        row["%s_lag_seconds" % metric] = seconds
    row.update(extra)
    return row


@pytest.mark.parametrize(
    "statuses, expected",
    [([], "ok"), (["ok"], "ok"), (["ok", "warning"], "warning"), (["critical", "warning", "ok"], "critical")],
)
def test_worst(statuses, expected):
    assert worst(statuses) == expected


@pytest.mark.parametrize(
    "status, fail_on, expected",
    [
        ("ok", "critical", False),
        ("warning", "critical", False),
        ("critical", "critical", True),
        ("warning", "warning", True),
        ("critical", "warning", True),
        ("ok", "warning", False),
        ("critical", "never", False),
    ],
)
def test_should_fail(status, fail_on, expected):
    assert should_fail(status, fail_on) is expected


def test_should_fail_rejects_unknown_level():
    with pytest.raises(ValueError):
        should_fail("ok", "sometimes")


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ("100MB", "1GB", 10, 60),
            {"warn_bytes": 100 * MB, "crit_bytes": 1024 * MB, "warn_seconds": 10.0, "crit_seconds": 60.0},
        ),
        (
            ("16kB", "16kB", "500ms", "1min"),
            {"warn_bytes": 16384, "crit_bytes": 16384, "warn_seconds": 0.5, "crit_seconds": 60.0},
        ),
        (
            (None, "1GB", None, 60),
            {"warn_bytes": None, "crit_bytes": 1024 * MB, "warn_seconds": None, "crit_seconds": 60.0},
        ),
    ],
)
def test_build_thresholds(args, expected):
    assert build_thresholds(*args) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (("2GB", "1GB", 10, 60), "warn_bytes"),
        (("1MB", "1GB", 61, 60), "warn_seconds"),
        (("lots", "1GB", 10, 60), "warn_bytes: invalid size 'lots'"),
        (("1MB", "1GB", 10, "soon"), "crit_seconds: invalid duration"),
    ],
)
def test_build_thresholds_rejects(args, message):
    with pytest.raises(ValueError, match=message):
        build_thresholds(*args)


@pytest.mark.parametrize(
    "value, warn, crit, expected",
    [
        (None, 1, 2, "unknown"),
        (0, 1, 2, "ok"),
        (1, 1, 2, "ok"),  # equal is not a breach
        (2, 1, 2, "warning"),
        (3, 1, 2, "critical"),
        (3, None, 2, "critical"),
        (3, 1, None, "warning"),
        (3, None, None, "ok"),
    ],
)
def test_classify_value(value, warn, crit, expected):
    assert classify_value(value, warn, crit) == expected


@pytest.mark.parametrize(
    "seconds, lag_bytes, expected",
    [
        (None, 0, 0.0),  # idle, caught up: NULL means no lag
        (None, 4096, None),  # just started standby with WAL to catch up: unknown
        (None, None, None),  # no position reported yet
        (1.5, 4096, 1.5),
        (0.0, 0, 0.0),
    ],
)
def test_effective_seconds(seconds, lag_bytes, expected):
    assert effective_seconds(seconds, lag_bytes) == expected


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"application_name": "pg2", "client_addr": "10.0.0.2"}, "pg2"),
        ({"application_name": "", "client_addr": "10.0.0.2"}, "10.0.0.2"),
        ({"application_name": None, "client_addr": None}, "unnamed walsender"),
    ],
)
def test_standby_name(row, expected):
    assert standby_name(row) == expected


@pytest.mark.parametrize(
    "row, status, fragments, unknown",
    [
        (standby(), "ok", [], []),
        (standby(lag_bytes=0, seconds=None), "ok", [], []),
        # just-started standby: NULL time lag, bytes to catch up below the threshold -> byte thresholds only
        (standby(lag_bytes=5 * MB, seconds=None), "ok", [], ["write", "flush", "replay"]),
        (
            standby(lag_bytes=150 * MB, seconds=None),
            "warning",
            ["standby 'pg2' write lag 150.0 MB is above the warning threshold 100.0 MB"],
            ["write", "flush", "replay"],
        ),
        (
            standby(lag_bytes=2048 * MB, seconds=0.5),
            "critical",
            ["replay lag 2.0 GB is above the critical threshold 1.0 GB"],
            [],
        ),
        (
            standby(lag_bytes=1024, seconds=12.0),
            "warning",
            ["standby 'pg2' replay lag 12.0 s is above the warning threshold 10.0 s"],
            [],
        ),
        (
            standby(lag_bytes=1024, seconds=75.0),
            "critical",
            ["flush lag 75.0 s is above the critical threshold 60.0 s"],
            [],
        ),
        (
            standby(state="catchup", lag_bytes=1024, seconds=None),
            "warning",
            ["standby 'pg2' is in state 'catchup', not streaming"],
            ["write", "flush", "replay"],
        ),
        (
            standby(state="startup", lag_bytes=None, seconds=None),
            "warning",
            ["is in state 'startup'"],
            ["write", "flush", "replay"],
        ),
        (standby(lag_bytes=100 * MB, seconds=10.0), "ok", [], []),  # exactly at the thresholds
    ],
)
def test_classify_standby(row, status, fragments, unknown):
    result = classify_standby(row, T)
    assert result["status"] == status
    for fragment in fragments:
        assert any(fragment in reason for reason in result["reasons"]), result["reasons"]
    if not fragments:
        assert result["reasons"] == []
    assert result["time_lag_unknown"] == unknown
    assert result["application_name"] == row["application_name"]


def test_classify_standby_mixed_metrics():
    row = standby(write_lag_bytes=0, flush_lag_bytes=0, replay_lag_bytes=200 * MB)
    row.update(write_lag_seconds=None, flush_lag_seconds=None, replay_lag_seconds=None)
    result = classify_standby(row, T)
    assert result["status"] == "warning"
    assert result["effective_write_lag_seconds"] == 0.0
    assert result["effective_replay_lag_seconds"] is None
    assert result["time_lag_unknown"] == ["replay"]


@pytest.mark.parametrize(
    "expected, names, missing",
    [
        ([], ["pg2"], []),
        (None, ["pg2"], []),
        (["pg2", "pg3"], ["pg2", "pg3"], []),
        (["pg2", "pg3"], ["pg2"], ["pg3"]),
        (["pg3", "pg2", "pg3"], [], ["pg3", "pg2"]),
        (["pg2"], [], ["pg2"]),
    ],
)
def test_missing_standbys(expected, names, missing):
    assert missing_standbys(expected, [standby(name) for name in names]) == missing


@pytest.mark.parametrize(
    "info, status, fragment, seconds",
    [
        ({"receiver_status": "streaming", "replay_gap_bytes": 0, "replay_age_seconds": 3600.0}, "ok", None, 0.0),
        ({"receiver_status": "streaming", "replay_gap_bytes": 1024, "replay_age_seconds": 2.0}, "ok", None, 2.0),
        (
            {"receiver_status": "streaming", "replay_gap_bytes": 1024, "replay_age_seconds": 30.0},
            "warning",
            "this standby replay lag 30.0 s",
            30.0,
        ),
        (
            {"receiver_status": "streaming", "replay_gap_bytes": 2048 * MB, "replay_age_seconds": 1.0},
            "critical",
            "replay gap 2.0 GB",
            1.0,
        ),
        ({"receiver_status": "streaming", "replay_gap_bytes": 1024, "replay_age_seconds": None}, "ok", None, None),
        (
            {"receiver_status": None, "replay_gap_bytes": None, "replay_age_seconds": None},
            "critical",
            "has no WAL receiver",
            None,
        ),
        (
            {"receiver_status": "waiting", "replay_gap_bytes": 0, "replay_age_seconds": None},
            "warning",
            "WAL receiver is in state 'waiting'",
            0.0,
        ),
        (
            {"receiver_status": "streaming", "replay_gap_bytes": 10, "replay_paused": True},
            "warning",
            "WAL replay paused",
            None,
        ),
    ],
)
def test_classify_receiver(info, status, fragment, seconds):
    result = classify_receiver(info, T)
    assert result["status"] == status
    assert result["effective_replay_lag_seconds"] == seconds
    if fragment:
        assert any(fragment in reason for reason in result["reasons"]), result["reasons"]
    else:
        assert result["reasons"] == []


def test_evaluate_primary_missing_standby_is_critical():
    verdict = evaluate(False, [standby("pg2")], T, expected_standbys=["pg2", "pg3"])
    assert verdict["status"] == "critical"
    assert verdict["missing_standbys"] == ["pg3"]
    assert verdict["msg"] == "CRITICAL: expected standby 'pg3' is not connected (no row in pg_stat_replication)"


def test_evaluate_primary_without_standbys_and_no_expectation_is_ok():
    verdict = evaluate(False, [], T)
    assert verdict["status"] == "ok"
    assert verdict["msg"].startswith("OK: primary with 0 connected standby(s)")


def test_evaluate_standby_ignores_expected_and_judges_receiver():
    receiver = {"receiver_status": "streaming", "replay_gap_bytes": 0, "replay_age_seconds": 5.0}
    verdict = evaluate(True, [], T, expected_standbys=["pg9"], receiver=receiver)
    assert verdict["status"] == "ok"
    assert verdict["missing_standbys"] == []
    assert verdict["receiver"]["effective_replay_lag_seconds"] == 0.0
    assert verdict["msg"].startswith("OK: standby with 0 connected standby(s)")


def test_evaluate_message_names_standby_value_and_threshold():
    verdict = evaluate(False, [standby("pg2", lag_bytes=150 * MB, seconds=1.0), standby("pg3")], T, ["pg2", "pg3"])
    assert verdict["status"] == "warning"
    assert "standby 'pg2' write lag 150.0 MB is above the warning threshold 100.0 MB" in verdict["msg"]
    assert [s["status"] for s in verdict["standbys"]] == ["warning", "ok"]


@pytest.mark.parametrize(
    ("value", "method", "num", "names"),
    [
        ("", None, 0, []),
        ("   ", None, 0, []),
        ("pg2", "first", 1, ["pg2"]),
        ("pg2, pg3", "first", 1, ["pg2", "pg3"]),
        ('2 ("pg-euw1","pg-usw2")', "first", 2, ["pg-euw1", "pg-usw2"]),
        ("FIRST 2 (a, b, c)", "first", 2, ["a", "b", "c"]),
        ("first 1 (a)", "first", 1, ["a"]),
        ('ANY 1 ("m2","m3")', "any", 1, ["m2", "m3"]),
        ("*", "first", 1, ["*"]),
        ('"a ""b"""', "first", 1, ['a "b"']),
        ('"with,comma", plain', "first", 1, ["with,comma", "plain"]),
    ],
)
def test_parse_synchronous_standby_names(value, method, num, names):
    parsed = parse_synchronous_standby_names(value)
    assert (parsed["method"], parsed["num"], parsed["names"]) == (method, num, names)
    assert parsed["any_standby"] == ("*" in names)


@pytest.mark.parametrize("value", ["FIRST x (a)", "ANY 1 (a", '"open', "a,,b", "2 (a,)"])
def test_parse_synchronous_standby_names_refuses_what_postgresql_refuses(value):
    with pytest.raises(ValueError, match="synchronous_standby_names"):
        parse_synchronous_standby_names(value)


def test_sync_candidate_reasons_names_every_confirming_outsider():
    rows = [
        standby("pg-usw2", sync_state="sync"),
        standby("pg-dr1", sync_state="potential"),
        standby("pg-aps1", sync_state="sync"),
        standby("pg-euw1", sync_state="potential"),
        standby("reporting", sync_state="async"),
    ]
    reasons = sync_candidate_reasons(rows, ["pg-usw2", "pg-euw1"], setting="*")
    assert sorted(reasons) == ["pg-aps1", "pg-dr1"]
    assert "has sync_state sync: it confirms synchronous commits now" in reasons["pg-aps1"]
    assert "as soon as a synchronous standby drops out" in reasons["pg-dr1"]
    assert "synchronous_standby_names is '*': any standby counts" in reasons["pg-dr1"]
    assert "not a synchronous candidate (pg-euw1, pg-usw2)" in reasons["pg-dr1"]


def test_sync_candidate_reasons_quorum_and_named_lists():
    rows = [standby("pg2", sync_state="quorum"), standby("pg3", sync_state="quorum")]
    assert list(sync_candidate_reasons(rows, ["pg2"], setting='ANY 1 ("pg2","pg3")')) == ["pg3"]
    assert sync_candidate_reasons(rows, ["pg2", "pg3"], setting='ANY 1 ("pg2","pg3")') == {}
    # an unparsable setting still judges the rows; no candidates at all refuses every confirming standby
    assert list(sync_candidate_reasons(rows, [], setting="FIRST x")) == ["pg2", "pg3"]


def test_evaluate_makes_a_confirming_outsider_critical_on_a_primary_only():
    rows = [standby("pg-usw2", sync_state="sync"), standby("pg-dr1", sync_state="potential")]
    verdict = evaluate(False, rows, T, sync_candidates=["pg-usw2"], setting="*")
    assert verdict["status"] == "critical"
    by_name = {row["application_name"]: row for row in verdict["standbys"]}
    assert by_name["pg-dr1"]["status"] == "critical" and by_name["pg-dr1"]["sync_candidate"] is False
    assert by_name["pg-usw2"]["status"] == "ok" and by_name["pg-usw2"]["sync_candidate"] is True
    assert "standby 'pg-dr1' is not a synchronous candidate" in verdict["msg"]
    assert verdict["synchronous"]["any_standby"] is True
    assert evaluate(False, rows, T, setting="FIRST x")["synchronous"]["error"].startswith("synchronous_standby_names")
    # not asked: nothing judged; on a standby (cascading walsenders) the option is ignored
    assert evaluate(False, rows, T, setting="*")["status"] == "ok"
    receiver = {"receiver_status": "streaming", "replay_gap_bytes": 0, "replay_paused": False}
    assert evaluate(True, rows, T, receiver=receiver, sync_candidates=["pg-usw2"], setting="*")["status"] == "ok"


def archive_replay(replay_lsn="0/5000000", age=None, **extra):
    info = {"receiver_status": None, "replay_lsn": replay_lsn, "replay_age_seconds": age, "replay_paused": False}
    info.update(extra)
    return info


@pytest.mark.parametrize(
    ("upstream", "replayed", "age", "status", "lag"),
    [
        # caught up: the replay age only says how long the primary has been idle
        ("0/5000000", "0/5000000", 3600.0, "ok", 0),
        # the segment being written has not reached the archive yet: within archive_timeout + warn_seconds
        ("0/5800000", "0/5000000", 65.0, "ok", 8 * MB),
        ("0/5800000", "0/5000000", 75.0, "warning", 8 * MB),
        ("0/5800000", "0/5000000", 125.0, "critical", 8 * MB),
        # byte thresholds as for any standby
        ("0/12000000", "0/5000000", 1.0, "warning", 208 * MB),
        ("1/5000000", "0/5000000", 1.0, "critical", 4096 * MB),
        # the primary read before the standby replayed further: never negative
        ("0/4000000", "0/5000000", 1.0, "ok", 0),
        # no primary position: the lag is unknown, not judged
        (None, "0/5000000", 500.0, "ok", None),
        ("", "0/5000000", 500.0, "ok", None),
    ],
)
def test_archive_only_standby_lag(upstream, replayed, age, status, lag):
    own = classify_archive_replay(archive_replay(replayed, age), T, upstream, archive_timeout=60)
    assert (own["status"], own["archive_lag_bytes"]) == (status, lag), own["reasons"]
    assert own["time_lag_unknown"] is (lag is None)


def test_archive_only_standby_that_streams_is_critical():
    own = classify_archive_replay(archive_replay(receiver_status="streaming", sender_host="10.0.0.1"), T, "0/5000000")
    assert own["status"] == "critical"
    assert "has a WAL receiver (state 'streaming'): it streams from 10.0.0.1" in own["reasons"][0]
    paused = classify_archive_replay(archive_replay(replay_paused=True), T, "0/5000000")
    assert paused["status"] == "warning" and "replay paused" in paused["reasons"][0]


def test_evaluate_archive_standbys_on_a_primary_are_not_expected_and_must_not_stream():
    rows = [standby("pg-usw2", sync_state="sync")]
    verdict = evaluate(False, rows, T, ["pg-usw2", "pg-aps1"], archive={"standbys": ["pg-aps1"]})
    assert (verdict["status"], verdict["missing_standbys"]) == ("ok", [])
    # without the option the same member is an expected standby that is missing
    assert evaluate(False, rows, T, ["pg-usw2", "pg-aps1"])["missing_standbys"] == ["pg-aps1"]
    streaming = evaluate(False, rows + [standby("pg-aps1")], T, ["pg-usw2"], archive={"standbys": ["pg-aps1"]})
    assert streaming["status"] == "critical"
    assert (
        "standby 'pg-aps1' streams from this server although it must replay from the archive only" in streaming["msg"]
    )


def test_evaluate_an_archive_only_standby_needs_no_receiver():
    archive = {"only": True, "upstream_lsn": "0/5000000", "archive_timeout": 60}
    verdict = evaluate(True, [], T, receiver=archive_replay(), archive=archive)
    assert verdict["status"] == "ok" and verdict["receiver"]["archive_lag_bytes"] == 0
    # the same standby judged as a streaming one: no receiver is critical
    assert evaluate(True, [], T, receiver=archive_replay())["status"] == "critical"
