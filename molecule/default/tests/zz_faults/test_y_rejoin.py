"""playbooks/rejoin.yml: a stopped member comes back as a streaming replica; reinitialising needs the
member's name twice, and is refused on the leader."""

from __future__ import annotations

import uuid

from labclient import (
    INVENTORY,
    api,
    create_probe_table,
    docker_exec,
    failures,
    healthy_leader,
    marker_count,
    psql,
    run_playbook,
    wait_for,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])


def _async_replica(leader):
    """A member that is neither the leader nor a synchronous standby (stopping it blocks no commit)."""
    members = api(leader, "/cluster")[1]["members"]
    return next(m["name"] for m in members if m["role"] == "replica")


def test_rejoin_refuses_bad_names_before_touching_a_host():
    leader = healthy_leader(PRIMARY[0])
    other = next(h for h in PRIMARY if h != leader)
    result = run_playbook("rejoin.yml", {"rejoin_member": other, "rejoin_reinit": leader}, timeout=300)
    assert result.returncode != 0
    assert "rejoin_reinit, when given, must repeat that name" in " ".join(result.stdout.split())
    result = run_playbook("rejoin.yml", {"rejoin_member": "pg-nowhere"}, timeout=300)
    assert result.returncode != 0
    assert "rejoin_member must name one member of postgres or postgres_dr" in " ".join(result.stdout.split())
    result = run_playbook("rejoin.yml", {"rejoin_member": leader, "rejoin_reinit": leader}, timeout=300)
    assert result.returncode != 0
    assert "is the leader: there is nothing to rejoin" in " ".join(result.stdout.split()), failures(result)
    assert healthy_leader(PRIMARY[0]) == leader


def test_rejoin_brings_a_stopped_member_back_and_reinitialises_it_only_by_name():
    leader = healthy_leader(PRIMARY[0])
    create_probe_table(leader)
    member = _async_replica(leader)
    # A file of our own in the data directory: a rejoin keeps it, a reinitialisation does not.
    probe = "%s/keel-rejoin-probe" % psql(member, "SHOW data_directory")
    docker_exec(member, "install", "-o", "postgres", "-m", "0600", "/dev/null", probe)
    docker_exec(member, "systemctl", "stop", "patroni")
    marker = "while-%s-was-down-%s" % (member, uuid.uuid4())
    write_marker(leader, marker)

    result = run_playbook("rejoin.yml", {"rejoin_member": member}, timeout=600)
    assert result.returncode == 0, failures(result)
    assert "%s streams from %s" % (member, leader) in " ".join(result.stdout.split())
    assert "(reinitialised)" not in result.stdout
    wait_for(lambda: marker_count(member, marker) == "1", 60, what="%s to replay the row" % member)
    assert docker_exec(member, "test", "-e", probe, check=False).returncode == 0, "the rejoin lost the data directory"

    result = run_playbook("rejoin.yml", {"rejoin_member": member, "rejoin_reinit": member}, timeout=600)
    assert result.returncode == 0, failures(result)
    assert "(reinitialised)" in result.stdout
    # A fresh copy of the leader's data directory: our file is gone.
    assert docker_exec(member, "test", "-e", probe, check=False).returncode != 0, "no reinitialisation happened"
    wait_for(lambda: api(member, "/replica")[0] == 200, 120, what="%s to serve as a replica" % member)
    assert marker_count(member, marker) == "1"
    assert healthy_leader(PRIMARY[0]) == leader
