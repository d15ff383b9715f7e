"""In-place point-in-time restore of the live cluster (issue 6), run last of all (file name sorts
after the DR round trip): playbooks/pitr_restore.yml with pitr_mode=cluster rolls the primary
cluster back to a time between two batches of inserts. Afterwards the restored leader, every
replica and the DR standby cluster - rebuilt from the repository - must hold exactly the first
batch, the DR slot must be in use again, a row written on the restored leader must reach every
member, and every member's old data directory must still be there. Refusals come first and must
leave the cluster as it was."""

from __future__ import annotations

import re
import time

import pytest
from labclient import (
    ALL_VARS,
    INVENTORY,
    api,
    cluster,
    create_probe_table,
    docker_exec,
    failures,
    healthy_leader,
    leader,
    marker_count,
    psql,
    replicating_state,
    run_playbook,
    superuser_sql,
    switch_and_wait_archived,
    wait_for,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
DR = sorted(INVENTORY["postgres_dr"]["hosts"])
SCOPE = ALL_VARS["keel_cluster_name"]
DR_SLOT = re.sub(r"[^a-z0-9_]", "_", ALL_VARS["keel_dr_cluster_name"])
DATA_DIR = "/var/lib/postgresql/15/keel"
NOFAILOVER = "pg-aps1"


def batches(host, run):
    sql = "SELECT batch, count(*) FROM app.pitr_probe WHERE run = '%s' GROUP BY 1 ORDER BY 1" % run
    return superuser_sql(host, sql, check=False)


def pitr(extra_vars, timeout=1200, check=False):
    return run_playbook("pitr_restore.yml", dict({"pitr_mode": "cluster"}, **extra_vars), timeout=timeout, check=check)


def timeline(host):
    return int(superuser_sql(host, "SELECT timeline_id FROM pg_control_checkpoint()", "postgres", check=False) or 0)


def aside_dirs(host):
    out = docker_exec(host, "sh", "-c", "ls -d %s.pre-pitr-* 2>/dev/null || true" % DATA_DIR).stdout
    return out.split()


@pytest.fixture(scope="module")
def two_batches():
    """A full backup, 100 rows, the target time, 100 more rows and a marker row; then the WAL
    holding them is archived."""
    primary = healthy_leader(PRIMARY[0])
    for host in PRIMARY:  # the unit runs on exactly one member and skips itself on the others
        docker_exec(host, "systemctl", "start", "keel-backup@full.service")
    run = "cluster-pitr-%d" % time.time_ns()
    psql(primary, "CREATE TABLE IF NOT EXISTS app.pitr_probe (run text, batch text, n int)", "app_migrator", "app")
    create_probe_table(primary)
    superuser_sql(primary, "INSERT INTO app.pitr_probe SELECT '%s', 'first', g FROM generate_series(1, 100) g" % run)
    target = superuser_sql(primary, "SELECT clock_timestamp()")
    time.sleep(1.5)
    superuser_sql(primary, "INSERT INTO app.pitr_probe SELECT '%s', 'second', g FROM generate_series(1, 100) g" % run)
    write_marker(primary, run)
    switch_and_wait_archived(primary, 120, "both batches archived")
    return {"run": run, "target": target, "leader": primary, "timeline": timeline(primary)}


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"pitr_target_immediate": True}, "give -e pitr_confirm=%s" % SCOPE),
        (
            {"pitr_target_immediate": True, "pitr_confirm": SCOPE, "pitr_host": NOFAILOVER},
            "not tagged nofailover or failover_priority 0",
        ),
        (
            {"pitr_target_time": "2001-01-01 00:00:00+00", "pitr_confirm": SCOPE},
            "cannot be restored: the repository holds",
        ),
        ({"pitr_target_time": "yesterday-ish", "pitr_confirm": SCOPE}, "is not a timestamp PostgreSQL reads"),
    ],
    ids=["no-confirmation", "nofailover-host", "before-the-oldest-backup", "unreadable-time"],
)
def test_cluster_restore_refuses_before_stopping_anything(two_batches, extra_vars, expected):
    result = pitr(extra_vars, timeout=300)
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split()), failures(result)
    untouched(two_batches)


def untouched(two_batches):
    """Nothing was stopped or moved."""
    assert healthy_leader(PRIMARY[0], timeout=30) == two_batches["leader"]
    assert batches(two_batches["leader"], two_batches["run"]) == "first|100\nsecond|100"
    for host in PRIMARY + DR:
        assert aside_dirs(host) == [], host
        assert docker_exec(host, "systemctl", "is-active", "patroni", check=False).stdout.strip() == "active", host


def test_cluster_restore_in_check_mode_checks_the_target_and_stops_nothing(two_batches):
    result = pitr({"pitr_target_time": two_batches["target"], "pitr_confirm": SCOPE}, timeout=300, check=True)
    assert result.returncode == 0, failures(result)
    summary = " ".join(result.stdout.split())
    assert "check mode: %s would lead the restored cluster" % two_batches["leader"] in summary, summary[-3000:]
    assert "Refuse a target no backup reaches" in summary
    untouched(two_batches)


def test_cluster_restore_rolls_every_member_back_to_the_target(two_batches):
    run = two_batches["run"]
    started = time.monotonic()
    result = pitr({"pitr_target_time": two_batches["target"], "pitr_confirm": SCOPE})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, failures(result)
    summary = " ".join(result.stdout.split())
    assert "%s restored to time" % SCOPE in summary, summary[-3000:]

    # The leader that ran before leads again (pitr_host defaults to it), on a later timeline, with
    # exactly the first batch; the marker written after the target is gone.
    primary = healthy_leader(PRIMARY[0])
    assert primary == two_batches["leader"]
    assert timeline(primary) > two_batches["timeline"]
    assert batches(primary, run) == "first|100"
    assert marker_count(primary, run) == "0"

    # Every other member was rebuilt and streams the new timeline; each kept its old directory.
    view = {m["name"]: m for m in cluster(PRIMARY[0])["members"]}
    for host in PRIMARY:
        if host != primary:
            assert view[host]["state"] == replicating_state(view[host]), view
        assert len(aside_dirs(host)) == 1, host
        assert batches(host, run) == "first|100", host

    # The DR standby cluster was rebuilt from the repository (not from a base backup of the leader)
    # and follows the new timeline through its slot.
    for host in DR:
        assert len(aside_dirs(host)) == 1, host
        since = "-%d s" % (int(elapsed) + 60)
        journal = docker_exec(host, "journalctl", "-u", "patroni", "--since", since, "-o", "cat")
        assert "replica has been created using pgbackrest" in journal.stdout, journal.stdout[-2000:]
    dr_leader = wait_for(lambda: leader(DR[0]), 120, what="a DR standby leader")
    wait_for(lambda: batches(dr_leader, run) == "first|100", 120, what="the first batch on the DR cluster")
    slot = wait_for(
        lambda: psql(primary, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % DR_SLOT) == "t",
        120,
        what="the DR slot in use",
    )
    assert slot

    # The saved dynamic configuration is back, and the cluster takes writes again.
    status, config = api(primary, "/config")
    assert status == 200 and DR_SLOT in config.get("slots", {}), config
    marker = "after-pitr-%d" % time.time_ns()
    write_marker(primary, marker)
    for host in PRIMARY:
        wait_for(lambda host=host: marker_count(host, marker) == "1", 60, what="the new row on %s" % host)
