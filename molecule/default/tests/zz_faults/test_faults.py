"""Faults under a write workload (issue 9).

Every test runs a Writer (tools/lab/pgclients.py) that inserts one row every 50 ms through the
read-write route, HAProxy's primary port on the router of a never-promoted member (faults.ROUTER;
why HAProxy rather than a multi-host libpq conninfo: faults.py), while one fault happens:

* the leader's host is killed, frozen for longer than the leader lease (ttl), or cut off from the
  lab network: a synchronous standby must take over once the lease expires, writes must resume
  within a bound, no acknowledged commit may be lost, and the old leader must come back as a
  streaming replica once its host returns;
* synchronous standbys are stopped, in strict and in non-strict synchronous mode (the lab runs
  FIRST 2 with exactly two sync-eligible standbys besides the leader): see the tests' docstrings
  for what each mode does, measured on this lab.

After each fault: exactly one primary, every acknowledged commit on the leader, and the seed
topology back (the `seed` fixture switches leadership back to the seed leader before and after),
so each test stands alone. Restores (start, unpause, reconnect, config) are in `finally`.
"""

from __future__ import annotations

import time

import pytest
from faults import (
    SEED_LEADER,
    SYNC_ELIGIBLE,
    TABLE,
    SingleInsert,
    container,
    disconnect,
    docker,
    dynamic_config,
    hand_back,
    leader_name,
    members,
    missing_on,
    patch_config,
    primaries,
    psql_value,
    reconnect,
    setting,
    start_patroni,
    start_writer,
    stop_patroni,
    wait_streaming,
)
from labclient import group_hosts, run_playbook, wait_for, wait_serving

# Bounds, generous for a loaded 2-core machine but well below "something is broken": a dead leader
# costs the rest of its lease (at most ttl) plus the leader race, promotion and two HAProxy checks.
REJOIN_SECONDS = 240
# A restarted standby (the DR standby leader above all) replays from its last restartpoint, up to
# checkpoint_timeout (15 min) of WAL, from the archive first, before it serves again.
SERVING_SECONDS = 600


@pytest.fixture(autouse=True)
def seed():
    """Each test starts and ends with the seed topology (leader in the primary region, 2 sync)."""
    hand_back()
    yield
    hand_back()


def _ttl():
    return int(dynamic_config()["ttl"])


def _leader_fault(kind, inject, restore):
    """Inject a fault on the leader under the writer; return the figures the tests assert on."""
    old = SEED_LEADER
    ttl = _ttl()
    writer = start_writer("%s-%d" % (kind, time.time()))
    try:
        inject(old)
        fault_at = time.monotonic()
        try:
            new = wait_for(
                lambda: (lambda name: name if name and name != old else None)(leader_name()),
                2 * ttl + 60,
                interval=0.5,
                what="a new leader after the %s of %s" % (kind, old),
            )
            elected = time.monotonic() - fault_at
            outage = writer.resumed_after(fault_at, 60)
            held = time.monotonic() - fault_at
        finally:
            restore(old)
        wait_streaming(old, REJOIN_SECONDS)
        rejoined = time.monotonic() - fault_at
    finally:
        writer.stop()
    markers = writer.markers()
    after = [m for m, at in writer.acknowledged if at > fault_at]
    return {
        "old": old,
        "new": new,
        "ttl": ttl,
        "elected": elected,
        "outage": outage,
        "held": held,
        "rejoined": rejoined,
        "acknowledged": len(markers),
        "after": len(after),
        "missing": missing_on(new, markers),
    }


def _assert_failed_over(figures):
    ttl = figures["ttl"]
    assert figures["new"] in SYNC_ELIGIBLE, figures
    # The lease must run out before anyone takes over: an election much earlier than ttl - loop_wait
    # would mean the old leader released it (not what these faults do) or a split brain.
    assert figures["elected"] >= ttl - 5, figures
    assert figures["outage"] < 2 * ttl + 5, figures
    assert figures["after"] > 0 and figures["missing"] == 0, figures
    assert primaries() == [figures["new"]], figures
    view = members()
    assert [n for n, m in view.items() if m["role"] == "leader"] == [figures["new"]], view
    assert view[figures["old"]]["state"] == "streaming", view


def test_killed_leader_container():
    """docker kill of the leader's container (PostgreSQL, Patroni and an etcd member at once)."""

    def kill(host):
        docker("kill", container(host))

    def start(host):
        docker("start", container(host))

    figures = _leader_fault("kill", kill, start)
    print("kill: %s" % figures)
    _assert_failed_over(figures)


def test_frozen_leader_container():
    """docker pause of the leader for longer than ttl: it cannot renew its lease, a synchronous
    standby takes over; once thawed, the old leader finds the lock gone and must demote itself, not
    carry on as a second primary (HAProxy must not route to it either)."""

    def thaw(host):
        docker("unpause", container(host))

    figures = _leader_fault("pause", lambda host: docker("pause", container(host)), thaw)
    print("pause: %s" % figures)
    assert figures["held"] > figures["ttl"], figures
    _assert_failed_over(figures)


def test_leader_cut_off_from_the_network():
    """docker network disconnect of the leader: it loses etcd and every member, so DCS failsafe mode
    cannot keep it primary; it must demote itself while still cut off (checked from inside through
    its own REST API), and a synchronous standby takes over once the lease expires."""
    isolated = {}

    def cut(host):
        disconnect(host)

    def heal(host):
        try:
            isolated["role"] = wait_for(
                lambda: (lambda role: role if role != "primary" else None)(_local_role(host)),
                60,
                what="the isolated %s to demote itself" % host,
            )
        finally:
            reconnect(host)

    figures = _leader_fault("disconnect", cut, heal)
    print("disconnect: %s isolated role %s" % (figures, isolated))
    # heal() reconnects only after waiting for this: no longer a primary while still cut off.
    assert isolated.get("role") in ("replica", "stopped"), isolated
    _assert_failed_over(figures)


def _local_role(host):
    """Whether PostgreSQL inside the container runs as a primary, asked over its local socket (the
    REST API listens on the lab address only, which is gone while the container is cut off):
    "primary", "replica" (in recovery) or "stopped" (not accepting connections)."""
    result = docker(
        "exec", "-u", "postgres", container(host), "psql", "-Atc", "SELECT pg_is_in_recovery()", check=False
    )
    if result.returncode != 0:
        return "stopped"
    return "replica" if result.stdout.strip() == "t" else "primary"


# --- synchronous standbys stopped --------------------------------------------------------------
def _sync_names(view):
    return sorted(n for n, m in view.items() if m["role"] == "sync_standby")


def _finish_sync_test(writer, stopped, leader):
    """Start what was stopped, wait for both synchronous standbys and for every stopped member
    (the DR standby leader too) to stream again, then the common assertions."""
    for host in stopped:
        start_patroni(host)
    for host in stopped:
        wait_serving(host, SERVING_SECONDS)
    wait_for(
        lambda: _sync_names(members(SEED_LEADER)) == sorted(SYNC_ELIGIBLE),
        REJOIN_SECONDS,
        interval=2,
        what="both synchronous standbys back",
    )
    writer.stop()
    markers = writer.markers()
    assert missing_on(leader, markers) == 0
    assert primaries() == [leader]
    return markers


def test_one_sync_standby_stopped_strict_mode_keeps_writing():
    """Strict mode, FIRST 2, one of the two sync-eligible standbys stopped: Patroni never asks for
    more synchronous standbys than there are candidates, so synchronous_standby_names shrinks to the
    one left and commits go on (after at most a short stall until the leader's next HA loop)."""
    assert dynamic_config()["synchronous_mode_strict"] is True
    leader = SEED_LEADER
    stopped, left = SYNC_ELIGIBLE[0], SYNC_ELIGIBLE[1]
    writer = start_writer("sync1-%d" % time.time())
    try:
        stop_patroni(stopped)
        stopped_at = time.monotonic()
        wait_for(
            lambda: (
                _sync_names(members(leader)) == [left]
                and _unquoted(setting(leader, "synchronous_standby_names")) == left
            ),
            60,
            what="%s as the only synchronous standby" % left,
        )
        writer.resumed_after(time.monotonic(), 30)
        during = [at for _m, at in writer.acknowledged if at > stopped_at]
        gap = writer.gap()
    finally:
        markers = _finish_sync_test(writer, [stopped], leader)
    print("one sync standby stopped: %d commits after the stop, longest gap %.2f s" % (len(during), gap))
    assert during and gap < _ttl(), (len(during), gap)
    assert leader_name(leader) == leader and markers


def _unquoted(names):
    return names.replace('"', "")


def test_no_sync_standby_left_strict_mode_commits_wait():
    """Strict mode with both sync-eligible standbys stopped. Patroni then sets
    synchronous_standby_names to '*' ("any standby"), which ANY walsender satisfies: the async
    never-promoted replica and the DR standby cluster stream from the leader, so commits go on,
    confirmed by one of them (measured; patroni/patroni#789). Only when no standby streams at all is
    the requirement unmet: every commit then waits (wait event SyncRep) with no error; a server-side
    statement_timeout does not end that wait (PostgreSQL disarms it before committing), a client
    cancel does, and reports SUCCESS with a warning while the row is committed on the leader alone
    (the hazard of patroni/patroni#2525). The waiting commits finish once a standby streams again."""
    assert dynamic_config()["synchronous_mode_strict"] is True
    leader = SEED_LEADER
    walsenders = [h for h in group_hosts("postgres") + group_hosts("postgres_dr") if h != leader]
    others = [h for h in walsenders if h not in SYNC_ELIGIBLE]
    writer = start_writer("strict0-%d" % time.time())
    stopped, waiting, cancelled = [], None, None
    try:
        for host in SYNC_ELIGIBLE:
            stop_patroni(host)
            stopped.append(host)
        wait_for(lambda: setting(leader, "synchronous_standby_names") == "*", 60, what="synchronous_standby_names '*'")
        writer.resumed_after(time.monotonic(), 30)
        confirming = psql_value(
            leader, "SELECT string_agg(application_name, ',') FROM pg_stat_replication WHERE sync_state = 'sync'"
        )
        # The on-call check sees the window: a standby outside the synchronous candidates can confirm.
        check = run_playbook("check_replication.yml", limit=leader, timeout=300)
        for host in others:
            stop_patroni(host)
            stopped.append(host)
        wait_for(
            lambda: psql_value(leader, "SELECT count(*) FROM pg_stat_replication") == 0,
            60,
            what="no walsender left on %s" % leader,
        )
        blocked_at = time.monotonic()
        waiting = SingleInsert(leader, "strict-wait-%d" % time.time(), statement_timeout_ms=3000)
        cancelled = SingleInsert(leader, "strict-cancel-%d" % time.time(), statement_timeout_ms=3000)
        for client in (waiting, cancelled):
            client.start()
            client.connected.wait(30)
        wait_for(
            lambda: (
                psql_value(
                    leader,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND pid IN (%d, %d)"
                    % (waiting.pid, cancelled.pid),
                )
                == 2
            ),
            30,
            what="both inserts waiting for a synchronous standby",
        )
        # Three times the statement_timeout: still waiting, no error, no success.
        waiting.join(timeout=9)
        still_waiting = waiting.is_alive() and waiting.outcome is None
        cancelled.cancel()
        cancelled.join(timeout=30)
        visible_alone = psql_value(
            leader,
            "SELECT count(*) FROM %s WHERE marker = '%s'" % (TABLE, cancelled.marker),
            dbname="app",
            user="app_reader",
        )
        held_for = time.monotonic() - blocked_at
        acknowledged_while_blocked = [m for m, at in writer.acknowledged if blocked_at < at]
    finally:
        markers = _finish_sync_test(writer, stopped, leader)
    if waiting is not None:
        waiting.join(timeout=60)
    print(
        "strict, no sync standby: confirmed by %s; insert after %.1f s: %s, cancelled: %s %s"
        % (
            confirming,
            held_for,
            waiting and waiting.outcome,
            cancelled and cancelled.outcome,
            cancelled and cancelled.notices,
        )
    )
    assert set((confirming or "").split(",")) & set(others), confirming
    assert check.returncode != 0, check.stdout[-3000:]
    flagged = [h for h in others if "standby '%s' is not a synchronous candidate" % h in check.stdout]
    assert flagged and "any standby counts" in check.stdout, check.stdout[-3000:]
    assert still_waiting and not acknowledged_while_blocked, (still_waiting, acknowledged_while_blocked)
    assert cancelled.outcome == "ok" and visible_alone == 1, (cancelled.outcome, visible_alone)
    assert any("canceling wait for synchronous replication" in n for n in cancelled.notices), cancelled.notices
    assert waiting.outcome == "ok" and missing_on(SYNC_ELIGIBLE[0], [waiting.marker]) == 0
    assert markers and leader_name(leader) == leader


def test_no_sync_standby_left_non_strict_mode_goes_on_alone():
    """Non-strict mode (synchronous_mode_strict false, PATCHed through the REST API and restored
    afterwards) with both sync-eligible standbys stopped: Patroni empties synchronous_standby_names
    and the leader goes on alone (commits acknowledged with no standby confirming them, RPO > 0),
    after at most a short stall until its next HA loop."""
    leader = SEED_LEADER
    patch_config({"synchronous_mode_strict": False})
    stopped = []
    try:
        wait_for(lambda: dynamic_config()["synchronous_mode_strict"] is False, 30, what="strict mode off")
        writer = start_writer("nonstrict0-%d" % time.time())
        try:
            for host in SYNC_ELIGIBLE:
                stop_patroni(host)
                stopped.append(host)
            stopped_at = time.monotonic()
            wait_for(
                lambda: setting(leader, "synchronous_standby_names") == "" and not _sync_names(members(leader)),
                60,
                what="the leader alone (synchronous_standby_names empty)",
            )
            writer.resumed_after(time.monotonic(), 30)
            during = len([at for _m, at in writer.acknowledged if at > stopped_at])
            gap = writer.gap()
        finally:
            markers = _finish_sync_test(writer, stopped, leader)
    finally:
        patch_config({"synchronous_mode_strict": True})
    wait_for(lambda: dynamic_config()["synchronous_mode_strict"] is True, 30, what="strict mode back on")
    print("non-strict, no sync standby: %d commits after the stop, longest gap %.2f s" % (during, gap))
    assert during > 0 and gap < _ttl(), (during, gap)
    assert markers and leader_name(leader) == leader
