"""DR round trip, run after the fault tests and before the in-place PITR (file names sort so):
playbooks/dr_promote.yml fences the primary region and promotes the DR standby cluster;
playbooks/dr_failback.yml rejoins the primary region as its standby cluster and then switches back.
Rows acknowledged before each step must be on the cluster that leads after it, and the read-write
route (HAProxy on a primary-region host, whose backups are the DR members) must follow."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest
from labclient import (
    ALL_VARS,
    CA_FILE,
    INVENTORY,
    address,
    api,
    changed_counts,
    create_probe_table,
    docker_exec,
    failures,
    healthy_leader,
    marker_count,
    run_playbook,
    user_password,
    wait_for,
    wait_serving,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
DR = sorted(INVENTORY["postgres_dr"]["hosts"])
DR_SCOPE = ALL_VARS["keel_dr_cluster_name"]
SCOPE = ALL_VARS["keel_cluster_name"]
# HAProxy's read-write listener (keel.postgres.haproxy default).
ROUTE_PORT = 5000


def route(host, sql):
    """psql as app_user through HAProxy's read-write port on `host`; returns (returncode, output)."""
    # PgBouncer's certificate names the service, not the host's address.
    dsn = "host=%s hostaddr=%s port=%d dbname=app user=app_user sslmode=verify-full sslrootcert=%s connect_timeout=5"
    dsn %= (
        ALL_VARS["keel_postgres_service_name"],
        address(host),
        ROUTE_PORT,
        CA_FILE,
    )
    result = subprocess.run(
        ["/usr/bin/psql", dsn, "--no-psqlrc", "--tuples-only", "--no-align", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        env=dict(os.environ, PGPASSWORD=user_password("app_user")),
        timeout=30,
        check=False,
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def routed_cluster(host):
    """The cluster_name of the server the read-write route of `host` reaches, '' when it fails."""
    code, out = route(host, "SELECT current_setting('cluster_name') WHERE NOT pg_is_in_recovery()")
    return out if code == 0 else ""


def patroni_unit(host):
    """(is-enabled, is-active) of the patroni unit on `host`."""
    enabled = docker_exec(host, "systemctl", "is-enabled", "patroni", check=False).stdout.strip()
    return enabled, docker_exec(host, "systemctl", "is-active", "patroni", check=False).stdout.strip()


@pytest.fixture(scope="module", autouse=True)
def dr_standby_serving():
    """The round trip starts from a DR standby leader that streams: the fault tests before restart
    it, and a restarted standby replays from its last restartpoint (the archive first) before it
    serves and takes the standby leader lock again."""
    for host in DR:
        print("%s serving after %.1f s" % (host, wait_serving(host, 600)))


def test_dr_promote_refuses_without_the_dr_cluster_name_or_a_dr_leader():
    result = run_playbook("dr_promote.yml", {"dr_promote_confirm": SCOPE}, timeout=300)
    assert result.returncode != 0
    assert "dr_promote_confirm must be the DR cluster's name (%s)" % DR_SCOPE in result.stdout
    assert api(DR[0], "/standby-leader")[0] == 200
    # No DR leader (its only member stopped): refused once the wait is over, nothing fenced.
    docker_exec(DR[0], "systemctl", "stop", "patroni")
    try:
        no_leader = {"dr_promote_confirm": DR_SCOPE, "dr_promote_leader_wait": 10}
        result = run_playbook("dr_promote.yml", no_leader, timeout=300)
    finally:
        docker_exec(DR[0], "systemctl", "start", "patroni")
    assert result.returncode != 0
    assert "has no leader after 10 s" in " ".join(result.stdout.split()), failures(result)
    assert "Fence" not in result.stdout, failures(result)
    for host in PRIMARY:
        assert patroni_unit(host) == ("enabled", "active"), host
    print("%s serving again after %.1f s" % (DR[0], wait_serving(DR[0], 600)))
    assert api(DR[0], "/standby-leader")[0] == 200


def test_dr_promote_fences_the_primary_region_and_promotes_the_dr_cluster_with_every_commit():
    primary = healthy_leader(PRIMARY[0])
    create_probe_table(primary)
    before = "before-dr-%s" % uuid.uuid4()
    write_marker(primary, before)
    router = next(h for h in PRIMARY if h != primary)

    result = run_playbook("dr_promote.yml", {"dr_promote_confirm": DR_SCOPE}, timeout=600)
    assert result.returncode == 0, failures(result)
    # The summary as one line (the YAML callback wraps long lines).
    summary = " ".join(result.stdout[result.stdout.rfind("TASK [Summary]") :].split())
    assert re.search(r"promoted in [0-9.]+ s: leader %s takes writes" % DR[0], summary), summary
    assert " 0 bytes not replayed" in summary, summary
    assert "every primary-cluster member was reached and fenced" in summary, summary

    # Fenced: Patroni disabled and down everywhere in the primary region, PostgreSQL down, marker
    # written, and systemd refuses to start Patroni while the marker exists.
    for host in PRIMARY:
        docker_exec(host, "systemctl", "start", "patroni", check=False)
        assert patroni_unit(host) == ("disabled", "inactive"), host
        assert docker_exec(host, "pgrep", "-u", "postgres", "-f", "postgres -D", check=False).returncode == 1, host
        assert docker_exec(host, "test", "-s", "/etc/patroni/FENCED", check=False).returncode == 0, host
    # The DR cluster leads, with every row acknowledged before.
    assert api(DR[0], "/primary")[0] == 200
    assert marker_count(DR[0], before) == "1"
    # The read-write route of a primary-region host now reaches the DR cluster, and writes succeed.
    wait_for(lambda: routed_cluster(router) == DR_SCOPE, 60, what="the route of %s to reach %s" % (router, DR_SCOPE))
    after = "after-dr-%s" % uuid.uuid4()
    code, out = route(router, "INSERT INTO app.keel_probe (marker) VALUES ('%s')" % after)
    assert code == 0, out
    assert marker_count(DR[0], after) == "1"


def test_dr_promote_again_changes_nothing():
    result = run_playbook("dr_promote.yml", {"dr_promote_confirm": DR_SCOPE}, timeout=600)
    assert result.returncode == 0, failures(result)
    assert "%s was already promoted" % DR_SCOPE in result.stdout
    assert set(changed_counts(result).values()) == {0}, changed_counts(result)


def test_site_refuses_to_start_a_fenced_member():
    result = run_playbook("site.yml", {"keel_dr_promoted": True}, tags="patroni_preflight", timeout=600)
    assert result.returncode != 0
    assert "was fenced by playbooks/dr_promote.yml" in result.stdout, failures(result)
    for host in PRIMARY:
        assert patroni_unit(host) == ("disabled", "inactive"), host


def test_dr_failback_rejoins_the_primary_region_as_a_standby_cluster():
    written = "dr-side-%s" % uuid.uuid4()
    write_marker(DR[0], written)
    result = run_playbook("dr_failback.yml", {"dr_failback_confirm": SCOPE}, timeout=900)
    assert result.returncode == 0, failures(result)
    assert "the DR cluster still leads" in result.stdout
    members = api(PRIMARY[0], "/cluster")[1]["members"]
    roles = sorted(m["role"] for m in members)
    assert roles == ["replica"] * (len(PRIMARY) - 1) + ["standby_leader"], members
    for host in PRIMARY:
        assert patroni_unit(host) == ("enabled", "active"), host
        wait_for(lambda h=host: marker_count(h, written) == "1", 120, what="%s to replay the DR cluster's rows" % host)
    assert api(DR[0], "/primary")[0] == 200


def test_dr_failback_switches_back_with_every_commit():
    last = "last-on-dr-%s" % uuid.uuid4()
    write_marker(DR[0], last)
    switch_back = {"dr_failback_confirm": SCOPE, "dr_failback_switch_back": True}
    result = run_playbook("dr_failback.yml", switch_back, timeout=900)
    assert result.returncode == 0, failures(result)
    assert "switched back" in result.stdout, failures(result)
    leader = healthy_leader(PRIMARY[0])
    assert marker_count(leader, last) == "1"
    # The DR cluster is a standby cluster again and replicates what the primary region writes now.
    assert api(DR[0], "/standby-leader")[0] == 200
    back = "back-%s" % uuid.uuid4()
    write_marker(leader, back)
    wait_for(lambda: marker_count(DR[0], back) == "1", 120, what="the DR cluster to replicate from %s" % leader)
    router = next(h for h in PRIMARY if h != leader)
    wait_for(lambda: routed_cluster(router) == SCOPE, 60, what="the route of %s to reach %s again" % (router, SCOPE))
    # The whole platform converges once the inventory says "not promoted" again, and nothing of the
    # database tier changes. (The fault tests before this one killed and froze hosts that also run
    # Redis instances: the Redis role may move mastership back, which is its job.)
    again = run_playbook("site.yml", timeout=1500)
    assert again.returncode == 0, failures(again)
    assert [task for task in changed_tasks(again) if not task.startswith("keel.postgres.redis_cluster")] == []


def changed_tasks(result):
    """Names of the tasks that reported a change in an ansible-playbook run."""
    names, task = [], ""
    for line in result.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK [") : line.rfind("]")]
        elif line.startswith("changed: [") and task not in names:
            names.append(task)
    return names
