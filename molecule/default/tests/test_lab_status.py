"""The lab status page (tools/lab/status.py, `make lab-status`) against the converged lab: every
line up and equal to what this test reads on its own (Patroni REST from outside, redis-cli,
pgbackrest info), its psql line works as pasted, and a stopped service shows as DOWN, with exit
status 1, until it is started again. The services stopped here (PgBouncer of the DR host, HAProxy
of ap-south-1) carry no traffic of the primary cluster's own routes; both are running again, and
the page all up, when the test ends."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from labclient import ROOT, cluster, docker_exec, group_hosts, secret, wait_for

TOOL = ROOT / "tools" / "lab" / "status.py"
PRIMARY = group_hosts("postgres")
ROLES = {"leader": "leader", "sync_standby": "sync", "replica": "async", "standby_leader": "standby leader"}
STOPPED = [("pg-dr1", "pgbouncer"), ("pg-aps1", "haproxy")]
DOWN_WHEN_STOPPED = {"pgbouncer pg-dr1:6432", "haproxy pg-aps1:5000", "haproxy pg-aps1:5001", "haproxy pg-aps1:5002"}


def status_page():
    """(exit status, {section title: [(state, text)]}, verdict line, raw page)."""
    result = subprocess.run(
        [sys.executable, str(TOOL)], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    blocks = {}
    for block in result.stdout.split("\n\n"):
        lines = block.splitlines()
        if lines:
            blocks[lines[0]] = [(line[2:6].strip(), line[8:]) for line in lines[1:] if line.startswith("  ")]
    return result.returncode, blocks, result.stdout.rstrip().splitlines()[-1], result.stdout


def down_names(verdict):
    return set() if verdict.startswith("ALL UP") else set(verdict.split(": ", 1)[1].split(", "))


def all_up():
    code, blocks, verdict, page = status_page()
    return (code, blocks, page) if code == 0 and verdict.startswith("ALL UP") else None


@pytest.fixture(scope="module")
def page():
    return wait_for(all_up, 60, interval=2, what="the status page all up")


def block(blocks, prefix):
    """The rows of the one section whose title is prefix, or starts with prefix and a space."""
    (title,) = [t for t in blocks if t == prefix or t.startswith(prefix + " ")]
    return blocks[title]


def test_patroni_members_have_their_live_role_and_timeline(page):
    _, blocks, _ = page
    view = {m["name"]: m for m in cluster(PRIMARY[0])["members"]}
    rows = block(blocks, "Patroni cluster %s" % secret("keel_cluster_name"))
    assert len(rows) == len(PRIMARY)
    for state, text in rows:
        host, _address, *rest = text.split()
        assert state == "up"
        assert " ".join(rest).startswith(ROLES[view[host]["role"]] + " "), text
        assert "TL %s " % view[host]["timeline"] in text
    (dr_row,) = block(blocks, "Patroni cluster %s" % secret("keel_dr_cluster_name"))
    assert "standby leader" in dr_row[1] and "behind the primary" in dr_row[1]


def test_etcd_redis_and_routers_are_up_with_one_etcd_leader(page):
    _, blocks, _ = page
    etcd = block(blocks, "etcd")
    assert len(etcd) == len(group_hosts("etcd")) and all("healthy" in text for _, text in etcd)
    assert sum(" leader " in text for _, text in etcd) == 1
    instances = sum(
        len([p for p in docker_exec(h, "ls", "/etc/redis/cluster").stdout.split() if p.isdigit()])
        for h in group_hosts("redis")
    )
    redis = block(blocks, "Redis Cluster")
    assert len(redis) == instances and all("cluster_state ok" in text for _, text in redis)
    info = docker_exec(
        group_hosts("redis")[0],
        "sh",
        "-c",
        "REDISCLI_AUTH=%s redis-cli --tls --cacert /etc/keel/tls/ca.crt -h 127.0.0.1 -p 7000 --user admin "
        "--no-auth-warning cluster info" % secret("redis_cluster_admin_password"),
    ).stdout
    assert "cluster_state:ok" in info
    assert len(block(blocks, "PgBouncer")) == len(group_hosts("pgbouncer"))
    assert len(block(blocks, "HAProxy")) == 3 * len(group_hosts("haproxy"))


def test_the_backup_line_names_the_last_backup_of_the_stanza(page):
    _, blocks, _ = page
    stanza = secret("keel_cluster_name")
    info = json.loads(
        docker_exec(
            PRIMARY[0], "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=" + stanza, "info", "--output=json"
        ).stdout
    )
    ((state, text),) = block(blocks, "pgBackRest")
    backups = info[0].get("backup") or []
    if backups:
        assert state == "up" and backups[-1]["label"] in text
    else:
        assert state == "warn" and "no valid backups" in text
    assert "s3mock" in block(blocks, "S3 endpoint")[0][1]


def test_the_read_write_psql_line_reaches_the_leader_as_pasted(page):
    _, _, raw = page
    (line,) = [line.split("read-write", 1)[1].strip() for line in raw.splitlines() if "read-write   PGPASSWORD" in line]
    result = subprocess.run(
        ["sh", "-c", line + " -XAtc 'SELECT pg_is_in_recovery()'"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert result.stdout.strip() == "f", result.stderr


def test_a_stopped_service_shows_as_down_until_it_runs_again(page):
    try:
        for host, unit in STOPPED:
            docker_exec(host, "systemctl", "stop", unit)

        def exactly_those_down():
            code, _, verdict, page_text = status_page()
            return (code, page_text) if down_names(verdict) == DOWN_WHEN_STOPPED else None

        code, page_text = wait_for(exactly_those_down, 30, interval=1, what="the stopped services shown DOWN")
        assert code == 1
        down = [line for line in page_text.splitlines() if line.startswith("  DOWN")]
        assert len(down) == len(DOWN_WHEN_STOPPED)
        assert all("refused" in line.lower() for line in down), down
    finally:
        for host, unit in STOPPED:
            docker_exec(host, "systemctl", "start", unit)
    wait_for(all_up, 60, interval=2, what="the status page all up again")
