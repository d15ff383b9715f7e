"""Changes to the running Patroni clusters, run after every read-only check (file name sorts
last): a dynamic setting and a restart-requiring setting through site.yml (rolling), an etcd
leader frozen for 45 s and then the whole DCS frozen for 45 s (failsafe), and a switchover in the
primary region with the DR cluster still replicating."""

from __future__ import annotations

import subprocess
import time
import uuid

from conftest import INVENTORY, LAB_NAME
from labclient import (
    ALL_VARS,
    api,
    converge,
    create_probe_table,
    docker_exec,
    etcd,
    etcd_token,
    failures,
    healthy_leader,
    leader,
    marker_count,
    psql,
    replicating_state,
    secret,
    wait_for,
    wait_for_marker,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
DR = sorted(INVENTORY["postgres_dr"]["hosts"])
ETCD = sorted(INVENTORY["etcd"]["hosts"])
DR_SLOT = ALL_VARS["keel_dr_cluster_name"].replace("-", "_")


def _start_times():
    return {host: psql(host, "SELECT extract(epoch FROM pg_postmaster_start_time())") for host in PRIMARY}


def _write(primary, marker):
    write_marker(primary, marker, timeout=10)


def test_dynamic_and_restart_settings_roll_one_member_at_a_time():
    primary = leader(PRIMARY[0])
    _, history_before = api(primary, "/history")
    before = _start_times()
    change = {
        "patroni_maximum_lag_on_failover": 2097152,
        "postgresql_extra_parameters": {"max_files_per_process": 1500},
    }

    result = converge(change)
    assert result.returncode == 0, failures(result)
    assert "PATCHed /config" in result.stdout and "maximum_lag_on_failover" in result.stdout

    status, config = api(primary, "/config")
    assert config["maximum_lag_on_failover"] == 2097152
    after = _start_times()
    for host in PRIMARY:
        assert psql(host, "SHOW max_files_per_process") == "1500", host
        assert float(after[host]) > float(before[host]), "%s was not restarted" % host
    # Replicas first; the old leader restarted as a replica in the switchover to the interim leader;
    # the switch back then restarted the interim leader as a replica (the latest start of all). So
    # every other replica started before the old leader did, and no two members started together.
    interim = max((h for h in PRIMARY if h != primary), key=lambda h: float(after[h]))
    for host in PRIMARY:
        if host not in (primary, interim):
            assert float(after[host]) < float(after[primary]), (host, after)
    assert float(after[primary]) < float(after[interim]), after
    assert len(set(after.values())) == len(PRIMARY)
    assert leader(PRIMARY[0]) == primary
    _, history_after = api(primary, "/history")
    assert len(history_after) == len(history_before) + 2

    # Back to the inventory's values, rolled the same way; the tests after this one (zz_faults) run
    # site.yml and expect it to change nothing in the database tier.
    back = converge()
    assert back.returncode == 0, failures(back)
    _, config = api(primary, "/config")
    assert config["maximum_lag_on_failover"] != 2097152
    for host in PRIMARY:
        assert psql(host, "SHOW max_files_per_process") != "1500", host


def _etcd_leader_host():
    token = etcd_token(ETCD[0], "patroni", secret("keel_etcd_patroni_password"))
    members = {}
    leader_id = None
    for host in ETCD:
        status, reply = etcd(host, "/v3/maintenance/status", {}, token)
        assert status == 200, reply
        members[reply["header"]["member_id"]] = host
        leader_id = reply["leader"]
    return members[leader_id]


def _freeze(hosts, seconds, primary):
    """SIGSTOP etcd on hosts, write a row every second to the primary, SIGCONT; return the write count."""
    create_probe_table(primary)
    for host in hosts:
        docker_exec(host, "pkill", "-STOP", "-x", "etcd")
    written = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _write(primary, "freeze-%s" % uuid.uuid4())
            written += 1
            time.sleep(1)
    finally:
        for host in hosts:
            docker_exec(host, "pkill", "-CONT", "-x", "etcd", check=False)
    return written


def _settled():
    """The cluster once it has taken in whatever the last fault left behind: one full Patroni loop
    after it, then the leader with both synchronous standbys, every replica streaming and a commit
    acknowledged. (Right after etcd resumes, a replica may still see no leader key for a moment and
    stop its WAL receiver; a fault injected then measures that, not the fault.)"""
    _, config = api(PRIMARY[0], "/config")
    time.sleep(int(config.get("loop_wait", 10)) + 2)
    primary = healthy_leader(PRIMARY[0])
    for host in PRIMARY:
        if host != primary:
            wait_for(
                lambda host=host: (lambda state: state.get("replication_state") == replicating_state(state))(
                    api(host, "/patroni")[1]
                ),
                90,
                what="%s replicating" % host,
            )
    _write(primary, "settled-%s" % uuid.uuid4())
    return primary


def test_frozen_etcd_leader_does_not_interrupt_writes():
    primary = _settled()
    written = _freeze([_etcd_leader_host()], 45, primary)
    assert written >= 30
    wait_for(lambda: leader(PRIMARY[0]) == primary, 60, what="the same leader after etcd resumed")


def test_whole_dcs_frozen_45s_failsafe_keeps_the_primary_writable():
    primary = _settled()
    _, before = api(primary, "/patroni")
    written = _freeze(ETCD, 45, primary)
    assert written >= 30
    _, after = api(primary, "/patroni")
    assert after["role"] == "primary" and after["timeline"] == before["timeline"]
    log = docker_exec(primary, "journalctl", "-u", "patroni", "--since", "-3min", "--no-pager").stdout
    assert "failsafe mode is enabled and all members are accessible" in log
    wait_for(lambda: leader(PRIMARY[0]) == primary, 60, what="the leader key back in etcd")


def test_switchover_in_the_primary_cluster_keeps_the_dr_cluster_replicating():
    primary = healthy_leader(PRIMARY[0])
    members = api(primary, "/cluster")[1]["members"]
    candidate = next(
        m["name"] for m in members if m["role"] == "sync_standby" and m["tags"].get("failover_priority", 0) > 0
    )
    status, reply = api(primary, "/switchover", "POST", {"leader": primary, "candidate": candidate}, auth=True)
    assert status == 200, reply
    wait_for(lambda: api(candidate, "/primary")[0] == 200, 60, what="%s as primary" % candidate)
    # Patroni answers /primary once it holds the leader lock, which is just before PostgreSQL has
    # finished promoting (with restore_command set, promotion first asks the archive for the next
    # timeline's history file): a write needs the server out of recovery.
    wait_for(lambda: psql(candidate, "SELECT pg_is_in_recovery()") == "f", 30, what="%s writable" % candidate)
    marker = "after-switchover-%s" % uuid.uuid4()
    _write(candidate, marker)
    for host in DR:
        wait_for_marker(host, marker, timeout=90, what="the DR cluster to replicate from the new primary")
    slot = psql(candidate, "SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % DR_SLOT)
    assert slot == "t"
    # Hand back to the primary region.
    wait_for(lambda: api(primary, "/sync")[0] == 200, 90, what="%s as sync standby" % primary)
    status, reply = api(candidate, "/switchover", "POST", {"leader": candidate, "candidate": primary}, auth=True)
    assert status == 200, reply
    wait_for(lambda: api(primary, "/primary")[0] == 200, 60, what="%s as primary again" % primary)


def test_killed_leader_host_is_replaced_and_rejoins_as_a_replica():
    """The leader's whole host dies (docker kill: Patroni, PostgreSQL and its etcd member at once). A
    synchronous standby must win the leader race (each member reads its own timeline over a local
    replication connection) once the lease expires, with every acknowledged row; the old leader must
    come back as a replica when its host returns."""
    primary = healthy_leader(PRIMARY[0])
    others = [h for h in PRIMARY if h != primary]
    marker = "before-kill-%s" % uuid.uuid4()
    _write(primary, marker)
    container = "%s-%s" % (LAB_NAME, primary)
    started = time.monotonic()
    subprocess.run(["docker", "kill", container], check=True, capture_output=True)
    try:
        new = wait_for(
            lambda: next((n for n in [leader(others[0])] if n and n != primary), ""), 90, what="a new leader"
        )
        elapsed = time.monotonic() - started
    finally:
        subprocess.run(["docker", "start", container], check=True, capture_output=True)
    region = INVENTORY["_meta"]["hostvars"][new]["keel_region"]
    assert new in others and ALL_VARS["keel_regions"][region]["sync"], new
    assert elapsed < 45, elapsed
    assert marker_count(new, marker) == "1"
    wait_for(lambda: api(primary, "/replica")[0] == 200, 180, what="the old leader back as a replica")
    # Hand back to the primary region for whatever follows.
    wait_for(lambda: api(primary, "/sync")[0] == 200, 90, what="%s as sync standby" % primary)
    status, reply = api(new, "/switchover", "POST", {"leader": new, "candidate": primary}, auth=True)
    assert status == 200, reply
    wait_for(lambda: api(primary, "/primary")[0] == 200, 60, what="%s as primary again" % primary)
