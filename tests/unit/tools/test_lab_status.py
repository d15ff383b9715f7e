"""Unit tests of tools/lab/status.py: what the lab status page calls down, how it names roles,
formats lag and builds the psql line. The collection against a live lab is tested by
molecule/default/tests/test_lab_status.py."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import sys

import pytest

STATUS_FILE = pathlib.Path(__file__).resolve().parents[3] / "tools" / "lab" / "status.py"
_spec = importlib.util.spec_from_file_location("lab_status", STATUS_FILE)
status = importlib.util.module_from_spec(_spec)
sys.modules["lab_status"] = status  # dataclasses look their module up there
_spec.loader.exec_module(status)

NOW = datetime.datetime(2026, 12, 4, 11, 0, tzinfo=datetime.UTC)
MEMBERS = {"pg-use1": "172.28.10.11", "pg-usw2": "172.28.10.12", "pg-aps1": "172.28.10.14"}


def entry(name, role, state, lag=0, timeline=1):
    item = {"name": name, "role": role, "state": state, "timeline": timeline}
    if role not in ("leader", "standby_leader"):
        item["lag"] = lag
    return item


VIEW = {
    "members": [
        entry("pg-use1", "leader", "running"),
        entry("pg-usw2", "sync_standby", "streaming"),
        entry("pg-aps1", "replica", "streaming", lag=3 * 1024 * 1024),
    ]
}
LEADER_STATE = {"role": "primary", "xlog": {"location": 5000}}


@pytest.mark.parametrize(
    "role, name",
    [
        ("leader", "leader"),
        ("primary", "leader"),
        ("standby_leader", "standby leader"),
        ("sync_standby", "sync"),
        ("quorum_standby", "quorum sync"),
        ("replica", "async"),
        (None, "?"),
    ],
)
def test_role_names(role, name):
    assert status.role_name(role) == name


@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (3 * 1024 * 1024, "3.0 MiB"),
        (5 * 1024**4, "5120.0 GiB"),
        ("unknown", "?"),
        (None, "?"),
    ],
)
def test_format_bytes(value, text):
    assert status.format_bytes(value) == text


@pytest.mark.parametrize(
    "took, text", [("8.632158ms", "9 ms"), ("1.2s", "1200 ms"), ("450µs", "0 ms"), (None, "?"), ("odd", "odd")]
)
def test_format_took(took, text):
    assert status.format_took(took) == text


def test_a_healthy_cluster_is_all_up_with_roles_and_lag():
    answers = {h: (VIEW, LEADER_STATE if h == "pg-use1" else {}) for h in MEMBERS}
    rows = {r.name: r for r in status.patroni_rows("keel-lab", MEMBERS, answers)}
    assert {r.state for r in rows.values()} == {status.UP}
    assert "leader" in rows["pg-use1"].text and "lag -" in rows["pg-use1"].text
    assert " sync " in rows["pg-usw2"].text and "lag 0 B" in rows["pg-usw2"].text
    assert "async" in rows["pg-aps1"].text and "lag 3.0 MiB" in rows["pg-aps1"].text
    assert "TL 1" in rows["pg-aps1"].text


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("no answer within 5 s", "Patroni API: no answer within 5 s"),
        (({"members": [entry("pg-use1", "leader", "running")]}, {}), "not a member of keel-lab"),
        (({"members": [entry("pg-aps1", "replica", "starting")]}, {}), "starting"),
        (({"members": [entry("pg-aps1", "replica", "stopped")]}, {}), "stopped"),
    ],
)
def test_a_member_that_does_not_serve_is_down_with_the_reason(answer, reason):
    answers = {h: (VIEW, {}) for h in MEMBERS}
    answers["pg-aps1"] = answer
    rows = {r.name: r for r in status.patroni_rows("keel-lab", MEMBERS, answers)}
    assert rows["pg-aps1"].state == status.DOWN and reason in rows["pg-aps1"].text
    assert rows["pg-use1"].state == status.UP


@pytest.mark.parametrize(
    "primary, replayed, text",
    [(5000, 5000, "lag 0 B behind the primary"), (4096 + 1000, 1000, "lag 4.0 KiB"), (None, 1000, "lag ?")],
)
def test_the_standby_leader_lag_is_measured_against_the_primary_leader(primary, replayed, text):
    view = {"members": [entry("pg-dr1", "standby_leader", "streaming")]}
    answers = {"pg-dr1": (view, {"role": "standby_leader", "xlog": {"replayed_location": replayed}})}
    (row,) = status.patroni_rows("keel-lab-dr", {"pg-dr1": "172.28.10.15"}, answers, primary)
    assert row.state == status.UP and "standby leader" in row.text and text in row.text


def test_leader_position_is_the_primary_wal_location_or_none():
    assert status.leader_position({"a": (VIEW, {"role": "replica"}), "b": (VIEW, LEADER_STATE)}) == 5000
    assert status.leader_position({"a": "down", "b": (VIEW, {"role": "replica"})}) is None


def test_parse_json_lines_wants_exactly_the_answers_asked():
    assert status.parse_json_lines('{"a": 1}\n\n[2]\n', 2) == [{"a": 1}, [2]]
    with pytest.raises(ValueError):
        status.parse_json_lines('{"a": 1}\n', 2)


HEALTH = [{"endpoint": "https://172.28.10.11:2379", "health": True, "took": "8.6ms"}]
STATUS = [{"Status": {"header": {"member_id": 7}, "leader": 7, "version": "3.4.23", "raftTerm": 4}}]


@pytest.mark.parametrize(
    "answer, state, words",
    [
        ((HEALTH, STATUS), status.UP, ["healthy", "leader", "v3.4.23", "9 ms"]),
        ((HEALTH, [{"Status": {"header": {"member_id": 8}, "leader": 7}}]), status.UP, ["follower"]),
        (([{"health": False, "error": "context deadline exceeded"}], []), status.DOWN, ["context deadline"]),
        ("Error: context deadline exceeded", status.DOWN, ["context deadline"]),
    ],
)
def test_etcd_rows(answer, state, words):
    row = status.etcd_row("pg-use1", "172.28.10.11", answer)
    assert row.state == state and all(w in row.text for w in words), row.text


CLUSTER_INFO = "cluster_state:ok\r\ncluster_slots_ok:16384\r\ncluster_known_nodes:6\r\n"


@pytest.mark.parametrize(
    "answer, state, words",
    [
        ((CLUSTER_INFO, "master\n1736\n"), status.UP, ["primary", "cluster_state ok", "16384/16384", "6 nodes"]),
        ((CLUSTER_INFO, "slave\n172.28.10.13\n7000\n"), status.UP, ["replica"]),
        ((CLUSTER_INFO.replace(":ok", ":fail"), "master\n"), status.DOWN, ["cluster_state fail"]),
        ("Could not connect to Redis at 172.28.10.11:7001: Connection refused", status.DOWN, ["refused"]),
    ],
)
def test_redis_rows(answer, state, words):
    row = status.redis_row("pg-use1", "172.28.10.11", 7001, answer)
    assert row.state == state and row.name == "pg-use1:7001" and all(w in row.text for w in words), row.text


def stanza(backups, code=0, message="ok"):
    return [
        {
            "name": "keel-lab",
            "archive": [{"max": "00000001000000000000000D"}],
            "backup": backups,
            "status": {"code": code, "message": message},
        }
    ]


FULL = {
    "label": "20261204-103301F",
    "type": "full",
    "timestamp": {"start": 1796380381, "stop": int(NOW.timestamp()) - 25 * 60},
    "info": {"size": 31 * 1024 * 1024},
}


@pytest.mark.parametrize(
    "info, state, words",
    [
        (stanza([FULL]), status.UP, ["full 20261204-103301F", "25 min ago", "31.0 MiB", "00000001000000000000000D"]),
        (stanza([], 2, "no valid backups"), status.WARN, ["no valid backups", "no restore possible"]),
        ([{"name": "other"}], status.DOWN, ["not in the repository"]),
        ("pg-use1: ERROR: [039]: HTTP request failed", status.DOWN, ["HTTP request failed"]),
    ],
)
def test_backup_rows(info, state, words):
    row = status.backup_row("keel-lab", info, NOW)
    assert row.state == state and all(w in row.text for w in words), row.text


@pytest.mark.parametrize(
    "answer, state", [(200, status.UP), (403, status.UP), (0, status.DOWN), ("Could not resolve host", status.DOWN)]
)
def test_s3_any_http_answer_is_up(answer, state):
    assert status.s3_row("s3mock:9443", answer).state == state


@pytest.mark.parametrize("error, state", [(None, status.UP), ("[Errno 111] Connection refused", status.DOWN)])
def test_tls_rows(error, state):
    row = status.tls_row("haproxy", "pg-use1", "172.28.10.11", 5000, error, "read-write")
    assert row.state == state and row.name == "pg-use1:5000"
    assert ("TLS ok" in row.text) == (error is None) and (error or "") in row.text


@pytest.mark.parametrize("password, prefix", [(None, 'psql "'), ("pw", 'PGPASSWORD=pw psql "')])
def test_psql_line_verifies_the_service_name_at_the_router_address(password, prefix):
    line = status.psql_line("db.keel-lab.internal", "172.28.10.11", 5000, "app", "app_user", ".lab/ca.crt", password)
    assert line == (
        prefix + "host=db.keel-lab.internal hostaddr=172.28.10.11 port=5000 dbname=app user=app_user "
        'sslmode=verify-full sslrootcert=.lab/ca.crt"'
    )


@pytest.mark.parametrize(
    "states, code",
    [([status.UP, status.UP], 0), ([status.UP, status.WARN], 0), ([status.UP, status.DOWN], 1), ([], 0)],
)
def test_exit_code_is_1_only_when_something_is_down(states, code):
    assert status.exit_code([status.Row("etcd", str(i), s, "") for i, s in enumerate(states)]) == code


def test_render_lists_each_cluster_and_names_what_is_down():
    rows = [
        status.Row("keel-lab", "pg-use1", status.UP, "pg-use1 leader"),
        status.Row("pgbouncer", "pg-dr1:6432", status.DOWN, "pg-dr1 refused"),
    ]
    page = status.render("lab 'keel'", rows, ["footer"], [("keel-lab", "keel-lab")])
    assert "Patroni cluster keel-lab\n  up    pg-use1 leader" in page
    assert "  DOWN  pg-dr1 refused" in page
    assert page.endswith("1 DOWN: pgbouncer pg-dr1:6432")
    assert status.render("h", rows[:1], [], []).endswith("ALL UP (1 checks)")


CONF = """[global]
repo1-type=s3
repo1-s3-endpoint=s3mock:9443

[global:archive-push]
process-max=1
[keel-lab]
pg1-path=/var/lib/postgresql/15/keel
"""


def test_pgbackrest_settings_reads_the_stanza_and_the_endpoint():
    assert status.pgbackrest_settings(CONF) == ("keel-lab", "s3mock:9443")


@pytest.mark.parametrize("conf", [CONF.replace("[keel-lab]", ""), CONF.replace("repo1-s3-endpoint", "#")])
def test_pgbackrest_settings_refuses_a_config_without_them(conf):
    with pytest.raises(ValueError):
        status.pgbackrest_settings(conf)


@pytest.mark.parametrize(
    "text, shown",
    [
        ("", "no answer"),
        ("warning\nError: unhealthy cluster\n", "Error: unhealthy cluster"),
        ('{"level":"warn","msg":"retrying","error":"context deadline exceeded"}', "context deadline exceeded"),
        ("x" * 150, "x" * 97 + "..."),
        (
            "curl: (60) SSL certificate problem\nMore details here\nhow to fix it, see above.",
            "curl: (60) SSL certificate problem",
        ),
        (
            "Error response from daemon: No such container: k-pg\n",
            "Error response from daemon: No such container: k-pg",
        ),
    ],
)
def test_reason_is_the_last_line_of_the_error_output(text, shown):
    assert status.reason(text) == shown


@pytest.mark.parametrize(
    "tags, state, up",
    [
        ({"nostream": True}, "in archive recovery", True),
        ({"nostream": True}, "streaming", False),
        ({}, "in archive recovery", False),
        ({"nostream": False}, "streaming", True),
    ],
)
def test_an_archive_only_member_is_up_while_it_replays_from_the_archive(tags, state, up):
    """A member tagged nostream (never a synchronous candidate) must not stream; any other replica must."""
    aps1 = dict(entry("pg-aps1", "replica", state), tags=tags)
    view = {"members": [entry("pg-use1", "leader", "running"), aps1]}
    answers = {h: (view, {}) for h in MEMBERS}
    rows = {r.name: r for r in status.patroni_rows("keel-lab", MEMBERS, answers)}
    assert rows["pg-aps1"].state == (status.UP if up else status.DOWN), rows["pg-aps1"].text
