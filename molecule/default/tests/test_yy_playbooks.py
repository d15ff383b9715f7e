"""The on-call playbooks against the converged lab: switchover.yml and failover.yml, each run as an
operator would run it, then checked from outside through Patroni's REST API and psql. Runs after
the routing and backup tests and before test_zz (which changes settings and kills hosts)."""

from __future__ import annotations

import subprocess
import uuid

from labclient import (
    INVENTORY,
    LAB_NAME,
    api,
    create_probe_table,
    failures,
    healthy_leader,
    leader,
    marker_count,
    run_playbook,
    secret,
    wait_for,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
# The primary region's member: the leader after converge, and where every test hands leadership back.
HOME = next(h for h in PRIMARY if INVENTORY["_meta"]["hostvars"][h]["keel_region"] == secret("keel_primary_region"))


def playbook(name, extra_vars=None, check=False, timeout=600):
    return run_playbook(name, extra_vars, check=check, timeout=timeout)


def sync_standbys(host):
    return sorted(m["name"] for m in api(host, "/cluster")[1]["members"] if m["role"] == "sync_standby")


def test_switchover_in_check_mode_only_plans():
    before = healthy_leader(HOME)
    result = playbook("switchover.yml", check=True)
    assert result.returncode == 0, failures(result)
    assert "would switch over from '%s'" % before in result.stdout
    assert leader(HOME) == before


def test_switchover_refuses_a_member_that_may_never_be_promoted():
    before = healthy_leader(HOME)
    result = playbook("switchover.yml", {"switchover_candidate": "pg-aps1"})
    assert result.returncode != 0
    assert "switchover refused, nothing was sent: switchover_candidate=pg-aps1 may never be promoted" in result.stdout
    assert leader(HOME) == before


def test_switchover_moves_the_leader_to_a_synchronous_standby_and_back_with_every_commit():
    before = healthy_leader(HOME)
    expected_candidates = sync_standbys(HOME)
    create_probe_table(before)
    marker = "switchover-%s" % uuid.uuid4()
    write_marker(before, marker)
    result = playbook("switchover.yml")
    assert result.returncode == 0, failures(result)
    new = leader(HOME)
    assert new in expected_candidates and new != before
    assert marker_count(new, marker) == "1"
    # The playbook returned only after the old leader streamed from the new one and the synchronous
    # standbys were assigned again: both hold now, without waiting.
    assert before in sync_standbys(new)
    back = playbook("switchover.yml", {"switchover_candidate": before})
    assert back.returncode == 0, failures(back)
    assert healthy_leader(HOME) == before


def test_failover_is_refused_while_the_leader_runs():
    before = healthy_leader(HOME)
    result = playbook("failover.yml")
    assert result.returncode != 0
    assert "failover refused, nothing was sent: %s leads and runs" % before in result.stdout
    assert leader(HOME) == before


def test_failover_promotes_a_synchronous_standby_when_patroni_cannot():
    """Maintenance mode and a frozen leader: Patroni promotes nobody; the playbook does, without losing
    the acknowledged commit, and the old leader rejoins once its host returns and the cluster resumes."""
    before = healthy_leader(HOME)
    candidates = sync_standbys(before)
    marker = "failover-%s" % uuid.uuid4()
    write_marker(before, marker)
    assert api(before, "/config", "PATCH", {"pause": True}, auth=True)[0] == 200
    container = "%s-%s" % (LAB_NAME, before)
    other = candidates[0]
    subprocess.run(["docker", "pause", container], check=True, capture_output=True)
    try:
        wait_for(lambda: leader(other) is None, 90, interval=2, what="the frozen leader's key to expire")
        result = playbook("failover.yml")
        assert result.returncode == 0, failures(result)
        new = leader(other)
        assert new in candidates
        assert marker_count(new, marker) == "1"
        assert "the cluster is in maintenance mode (paused)" in result.stdout
    finally:
        subprocess.run(["docker", "unpause", container], check=True, capture_output=True)
        api(other, "/config", "PATCH", {"pause": False}, auth=True)
    wait_for(lambda: api(before, "/replica")[0] == 200, 240, interval=3, what="the old leader back as a replica")
    wait_for(lambda: before in sync_standbys(other), 120, interval=2, what="%s as sync standby again" % before)
    back = playbook("switchover.yml", {"switchover_candidate": before})
    assert back.returncode == 0, failures(back)
    assert healthy_leader(HOME) == before
