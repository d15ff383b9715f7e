"""roles/monitoring/files/postgres_exporter/keel-queries.yml against a real PostgreSQL 15.

Every custom query runs as a pg_monitor member (the exporter's role, not a superuser) on the
primary and on the standby of the session pair (pgpair.py), must return exactly the columns it
declares, numeric and never NULL; the values the alerts rely on are checked against states made
on purpose ('*' in synchronous_standby_names, a commit waiting on SyncRep, a failing
archive_command). When Debian's prometheus-postgres-exporter is installed, the exporter itself
loads the file and must expose every keel_pg_* metric the alert rules read.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
import urllib.request

import psycopg2
import pytest
import yaml
from pgpair import (
    MONITOR_PASSWORD,
    MONITOR_USER,
    PG_BIN,
    STANDBY_NAME,
    Server,
    _prepare_base,
    free_port,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUERIES_FILE = ROOT / "roles" / "monitoring" / "files" / "postgres_exporter" / "keel-queries.yml"
RULES_FILE = ROOT / "roles" / "monitoring" / "files" / "prometheus" / "keel-alerts.rules.yml"
QUERIES = yaml.safe_load(QUERIES_FILE.read_text(encoding="utf-8"))
EXPORTER = shutil.which("prometheus-postgres-exporter")


def columns(namespace):
    """(name, usage) of each declared column, in file order."""
    return [next(iter(column.items())) for column in QUERIES[namespace]["metrics"]]


def monitor_connect(server):
    conn = psycopg2.connect(
        host="127.0.0.1", port=server.port, user=MONITOR_USER, password=MONITOR_PASSWORD, dbname="postgres"
    )
    conn.autocommit = True
    return conn


def run_query(server, namespace):
    """Rows of one custom query as dicts, run as the monitoring role; checks the declared columns."""
    conn = monitor_connect(server)
    try:
        with conn.cursor() as cur:
            cur.execute(QUERIES[namespace]["query"])
            names = [desc.name for desc in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()
    declared = [name for name, _ in columns(namespace)]
    assert sorted(names) == sorted(declared), "%s returns %s, declares %s" % (namespace, names, declared)
    for row in rows:
        for name, meta in columns(namespace):
            if meta["usage"] == "LABEL":
                assert isinstance(row[name], str) and row[name], "%s.%s: %r" % (namespace, name, row[name])
            else:
                assert row[name] is not None, "%s.%s is NULL (the exporter would report NaN)" % (namespace, name)
                float(row[name])
    return rows


def one_row(server, namespace):
    rows = run_query(server, namespace)
    assert len(rows) == 1, "%s returned %d rows" % (namespace, len(rows))
    return rows[0]


def wait_for(what, probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.2)


def set_sync_names(server, value):
    """ALTER SYSTEM synchronous_standby_names and wait until new sessions see it."""
    if value is None:
        server.sql("ALTER SYSTEM RESET synchronous_standby_names")
        value = ""
    else:
        server.sql("ALTER SYSTEM SET synchronous_standby_names = %s", (value,))
    server.sql("SELECT pg_reload_conf()")
    wait_for(
        "synchronous_standby_names = %r" % value,
        lambda: server.value("SELECT current_setting('synchronous_standby_names')") == value,
    )


def test_queries_file_declares_what_the_exporter_needs():
    assert QUERIES, "no query in %s" % QUERIES_FILE
    for namespace, spec in QUERIES.items():
        assert namespace.startswith("keel_pg_"), namespace
        assert spec.get("master") is True, "%s would run once per discovered database" % namespace
        usages = {meta["usage"] for _, meta in columns(namespace)}
        assert usages <= {"LABEL", "GAUGE", "COUNTER"}, (namespace, usages)


@pytest.mark.parametrize("namespace", sorted(QUERIES))
@pytest.mark.parametrize("role", ["primary", "standby"])
def test_query_runs_as_pg_monitor_with_its_declared_columns(pg_pair, namespace, role):
    run_query(getattr(pg_pair, role), namespace)


def test_replication_reports_the_standby_and_its_lag(pg_pair):
    pg_pair.wait_replayed()
    rows = {row["application_name"]: row for row in run_query(pg_pair.primary, "keel_pg_replication")}
    assert set(rows) == {STANDBY_NAME}
    row = rows[STANDBY_NAME]
    assert row["streaming"] == 1
    assert 0 <= row["replay_lag_bytes"] < 1024 * 1024
    assert 0 <= row["flush_lag_bytes"] <= row["replay_lag_bytes"] + 1024 * 1024
    assert row["replay_lag_seconds"] >= 0
    # A standby has no walsender of its own (no cascade): no row, and no error in recovery.
    assert run_query(pg_pair.standby, "keel_pg_replication") == []


def test_slot_reports_retained_wal_and_the_keep_limit_in_bytes(pg_pair):
    rows = {row["slot_name"]: row for row in run_query(pg_pair.primary, "keel_pg_slot")}
    slot = rows[STANDBY_NAME]
    assert (slot["slot_type"], slot["active"], slot["unreserved"], slot["lost"]) == ("physical", 1, 0, 0)
    assert slot["retained_bytes"] >= 0
    assert slot["max_keep_bytes"] == 0  # -1 (unlimited) is reported as 0: the ratio alerts then stay quiet
    pg_pair.primary.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '64MB'")
    pg_pair.primary.sql("SELECT pg_reload_conf()")
    try:
        wait_for(
            "max_slot_wal_keep_size 64MB",
            lambda: run_query(pg_pair.primary, "keel_pg_slot")[0]["max_keep_bytes"] == 64 * 1024 * 1024,
        )
    finally:
        pg_pair.primary.sql("ALTER SYSTEM RESET max_slot_wal_keep_size")
        pg_pair.primary.sql("SELECT pg_reload_conf()")


def test_sync_state_primary_standby_and_the_wildcard(pg_pair):
    assert one_row(pg_pair.standby, "keel_pg_sync")["is_primary"] == 0
    row = one_row(pg_pair.primary, "keel_pg_sync")
    assert (row["is_primary"], row["standby_names_wildcard"], row["sync_standbys"]) == (1, 0, 0)
    try:
        set_sync_names(pg_pair.primary, "*")
        row = wait_for(
            "standby1 sync under '*'",
            lambda: (lambda r: r if r["sync_standbys"] == 1 else None)(one_row(pg_pair.primary, "keel_pg_sync")),
        )
        assert row["standby_names_wildcard"] == 1
        set_sync_names(pg_pair.primary, '2 ("pg-euw1","pg-usw2")')
        assert one_row(pg_pair.primary, "keel_pg_sync")["standby_names_wildcard"] == 0
    finally:
        set_sync_names(pg_pair.primary, None)


@pytest.mark.parametrize(
    "value, wildcard",
    [
        ("", 0),
        ("*", 1),
        ('"*"', 1),
        ("FIRST 1 (*)", 1),
        ("ANY 2 (pg_usw2, *)", 1),
        ("1 (pg_usw2)", 0),
        ('2 ("pg-euw1","pg-usw2")', 0),
        ("keel*star", 0),
    ],
)
def test_wildcard_expression_on_setting_values(pg_pair, value, wildcard):
    """The query's regular expression, applied by PostgreSQL to values Patroni or an operator may set."""
    match = re.search(r"current_setting\('synchronous_standby_names'\) ~ '([^']+)'", QUERIES["keel_pg_sync"]["query"])
    assert match, "the wildcard test no longer finds the expression in keel_pg_sync"
    assert pg_pair.primary.value("SELECT CASE WHEN %s ~ %s THEN 1 ELSE 0 END", (value, match.group(1))) == wildcard


def test_a_commit_waiting_on_syncrep_is_counted(pg_pair):
    pg_pair.primary.sql("CREATE TABLE IF NOT EXISTS keel_syncrep_probe (id int)")
    done = threading.Event()

    def commit():
        conn = psycopg2.connect(host=pg_pair.base, port=pg_pair.primary.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO keel_syncrep_probe VALUES (1)")
        finally:
            conn.close()
            done.set()

    writer = threading.Thread(target=commit, daemon=True)
    try:
        set_sync_names(pg_pair.primary, "keel_nobody")
        writer.start()
        wait_for(
            "a SyncRep waiter",
            lambda: (lambda r: r if r["syncrep_waiting"] >= 1 else None)(one_row(pg_pair.primary, "keel_pg_sync")),
        )
        assert not done.is_set()
        time.sleep(1.1)
        assert one_row(pg_pair.primary, "keel_pg_sync")["syncrep_longest_wait_seconds"] >= 1.0
    finally:
        set_sync_names(pg_pair.primary, None)
        writer.join(timeout=30)
    assert done.is_set(), "the waiting commit did not finish once synchronous_standby_names was reset"
    # The released backend leaves pg_stat_activity as it exits: on a loaded machine, a moment later.
    wait_for("no SyncRep waiter left", lambda: one_row(pg_pair.primary, "keel_pg_sync")["syncrep_waiting"] == 0)


def test_connections_against_max_connections(pg_pair):
    row = one_row(pg_pair.primary, "keel_pg_connections")
    assert row["client_backends"] >= 1  # this query's own session
    assert row["max_connections"] == float(pg_pair.primary.value("SHOW max_connections"))
    assert row["superuser_reserved"] == float(pg_pair.primary.value("SHOW superuser_reserved_connections"))


def test_database_xid_age_and_block_counters(pg_pair):
    rows = {row["datname"]: row for row in run_query(pg_pair.primary, "keel_pg_database")}
    assert {"postgres", "template1"} <= set(rows) and "template0" not in rows
    expected = pg_pair.primary.value("SELECT age(datfrozenxid) FROM pg_database WHERE datname = 'postgres'")
    assert abs(rows["postgres"]["xid_age"] - expected) <= 5
    assert rows["postgres"]["blks_hit"] > 0


@pytest.fixture(scope="module")
def archiving_server():
    """A single PostgreSQL 15 whose archive_command always fails."""
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.skip("PostgreSQL server binaries not found in %s" % PG_BIN)
    base = _prepare_base()
    server = Server("archiving", base, free_port())
    started = False
    try:
        server.initdb(
            [
                "archive_mode = on",
                "archive_command = '/bin/false'",
                "log_min_messages = fatal",
            ]
        )
        server.start()
        started = True
        server.sql("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE pg_monitor" % (MONITOR_USER, MONITOR_PASSWORD))
        yield server
    finally:
        if started:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_archiver_reports_a_failing_archive_command_and_waiting_segments(archiving_server):
    row = one_row(archiving_server, "keel_pg_archiver")
    assert (row["failing"], row["ready_segments"], row["oldest_ready_age_seconds"]) == (0, 0, 0)
    archiving_server.sql("CREATE TABLE keel_archive_probe AS SELECT g FROM generate_series(1, 1000) g")
    archiving_server.sql("SELECT pg_switch_wal()")
    row = wait_for(
        "archive_command failures",
        lambda: (lambda r: r if r["failing"] == 1 else None)(one_row(archiving_server, "keel_pg_archiver")),
    )
    assert row["failed_count"] >= 1 and row["archived_count"] == 0
    assert row["ready_segments"] >= 1
    assert row["last_archived_timestamp_seconds"] == 0
    time.sleep(1.1)
    assert one_row(archiving_server, "keel_pg_archiver")["oldest_ready_age_seconds"] >= 1.0


def test_postgres_exporter_exposes_every_keel_pg_metric_the_rules_read(pg_pair):
    # make deps (tools/lab/host-deps.sh) installs Debian's exporter: without it this test must fail.
    assert EXPORTER, "prometheus-postgres-exporter is not installed: run make deps (tools/lab/host-deps.sh)"
    port = free_port()
    env = dict(
        os.environ,
        DATA_SOURCE_NAME="postgresql://%s:%s@127.0.0.1:%d/postgres?sslmode=disable"
        % (MONITOR_USER, MONITOR_PASSWORD, pg_pair.primary.port),
    )
    proc = subprocess.Popen(
        [EXPORTER, "--web.listen-address=127.0.0.1:%d" % port, "--extend.query-path=%s" % QUERIES_FILE],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def scrape():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
                    return response.read().decode()
            except OSError:
                return None

        text = wait_for("postgres_exporter /metrics", scrape)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert re.search(r"^pg_exporter_user_queries_load_error\{[^}]*\} 0$", text, re.M), "custom queries did not load"
    assert re.search(r"^pg_exporter_last_scrape_error 0$", text, re.M), "the scrape reported an error"
    used = set(re.findall(r"\bkeel_pg_[a-z_]+\b", RULES_FILE.read_text(encoding="utf-8")))
    assert used and not used - exposed, "not exposed: %s" % sorted(used - exposed)
    assert 'application_name="%s"' % STANDBY_NAME in text
