"""Unit tests of roles/pgbackrest/files/keel_backup_member.py: which member takes the scheduled backup."""

from __future__ import annotations

import importlib.util
import itertools
import pathlib

import pytest

MEMBER_FILE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "pgbackrest" / "files" / "keel_backup_member.py"
_spec = importlib.util.spec_from_file_location("keel_backup_member", MEMBER_FILE)
kbm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kbm)


def member(name, role, state, lag=0, **tags):
    entry = {"name": name, "role": role, "state": state, "tags": tags}
    if role != "leader":
        entry["lag"] = lag
    return entry


LAB = [
    member("pg-use1", "leader", "running"),
    member("pg-usw2", "sync_standby", "streaming"),
    member("pg-euw1", "sync_standby", "streaming"),
    # Never a synchronous candidate: it replays from the archive only (Patroni nostream).
    member("pg-aps1", "replica", "in archive recovery", nosync=True, nostream=True, failover_priority=0),
]


def test_an_async_replica_is_preferred_over_synchronous_standbys():
    assert kbm.choose({"members": LAB})[0] == "pg-aps1"


def test_the_choice_does_not_depend_on_the_order_members_are_listed():
    # Every member evaluates the same /cluster document; listing order must not change the outcome.
    assert {kbm.choose({"members": list(order)})[0] for order in itertools.permutations(LAB)} == {"pg-aps1"}


def test_a_lagging_async_replica_gives_way_to_a_synchronous_standby():
    members = LAB[:3] + [member("pg-aps1", "replica", "streaming", lag=64 * 1024 * 1024)]
    name, reason = kbm.choose({"members": members})
    assert name == "pg-euw1" and "sync_standby" in reason  # by name among the synchronous standbys


@pytest.mark.parametrize(
    "broken",
    [
        member("pg-aps1", "replica", "starting"),
        member("pg-aps1", "replica", "stopped"),
        member("pg-aps1", "replica", "streaming", lag="unknown"),
        member("pg-aps1", "replica", "streaming", nobackup=True),
        # a nostream member that streams, and a streaming member that fell back to the archive
        member("pg-aps1", "replica", "streaming", nostream=True),
        member("pg-aps1", "replica", "in archive recovery"),
    ],
)
def test_replicas_that_are_not_streaming_or_opted_out_do_not_qualify(broken):
    members = [LAB[0], broken]
    assert kbm.choose({"members": members}) == ("pg-use1", "no healthy replica: the leader backs up")


def test_no_running_leader_and_no_replica_means_nobody():
    members = [member("pg-use1", "leader", "stopped"), member("pg-usw2", "replica", "starting")]
    assert kbm.choose({"members": members})[0] is None
    assert kbm.choose({})[0] is None


def test_the_max_lag_threshold_is_inclusive():
    members = [LAB[0], member("pg-aps1", "replica", "streaming", lag=1000)]
    assert kbm.choose({"members": members}, max_lag=1000)[0] == "pg-aps1"
    assert kbm.choose({"members": members}, max_lag=999)[0] == "pg-use1"


def _run(monkeypatch, capsys, cluster, me, argv):
    monkeypatch.setenv("KEEL_BACKUP_MEMBER", me)
    monkeypatch.setenv("KEEL_BACKUP_PATRONI", "https://127.0.0.1:8008")
    monkeypatch.setenv("KEEL_BACKUP_CA", "/nonexistent")
    executed = []
    monkeypatch.setattr(kbm, "read_cluster", lambda url, ca: cluster)
    monkeypatch.setattr(kbm.os, "execv", lambda path, args: executed.append(args))
    rc = kbm.main(argv)
    return rc, executed, capsys.readouterr().out


def test_condition_runs_on_the_chosen_member_and_skips_elsewhere(monkeypatch, capsys):
    assert _run(monkeypatch, capsys, {"members": LAB}, "pg-aps1", ["condition"])[0] == 0
    rc, executed, out = _run(monkeypatch, capsys, {"members": LAB}, "pg-use1", ["condition"])
    assert rc == 1 and executed == [] and "the backup runs on pg-aps1" in out


def test_run_on_a_replica_keeps_backup_standby_and_on_the_leader_turns_it_off(monkeypatch, capsys):
    cmd = ["/usr/bin/pgbackrest", "--stanza=s", "--type=full", "backup"]
    on_replica = _run(monkeypatch, capsys, {"members": LAB}, "pg-aps1", ["run"] + cmd)
    assert on_replica[1] == [cmd]
    on_leader = _run(monkeypatch, capsys, {"members": [LAB[0]]}, "pg-use1", ["run"] + cmd)
    assert on_leader[1] == [["/usr/bin/pgbackrest", "--no-backup-standby", "--stanza=s", "--type=full", "backup"]]


def test_an_unreadable_cluster_state_skips_the_run(monkeypatch, capsys):
    monkeypatch.setenv("KEEL_BACKUP_MEMBER", "pg-use1")
    monkeypatch.setenv("KEEL_BACKUP_PATRONI", "https://127.0.0.1:1")
    monkeypatch.setenv("KEEL_BACKUP_CA", str(MEMBER_FILE))  # not a CA: the TLS context or the connection fails

    def unreachable(url, ca):
        raise OSError("connection refused")

    monkeypatch.setattr(kbm, "read_cluster", unreachable)
    assert kbm.main(["condition"]) == 1
    assert "cannot read the cluster state" in capsys.readouterr().out


def test_usage_errors_exit_2():
    assert kbm.main([]) == 2
    assert kbm.main(["run"]) == 2
