#!/usr/bin/env python3
"""Backup figures on the running lab (`make lab`): `make bench-backup`.

1. Archive delay under a write load: pgbench's initialisation (scale KEEL_BENCH_SCALE, a burst of
   WAL) then KEEL_BENCH_CLIENTS clients for KEEL_BENCH_SECONDS seconds, on the leader, while the
   leader's current WAL segment and pg_stat_archiver are sampled every second. A segment counts as
   complete when the current segment moves past it, and as archived when last_archived_wal reaches
   it; the delay between the two is what a lost primary would take with it beyond the synchronous
   replicas (the archive's RPO).
2. A full backup of that database through the scheduled unit (it runs on the member the timers
   choose, from a standby): wall time and sizes from `pgbackrest info`.
3. A restore of the newest backup into a scratch copy (playbooks/pitr_restore.yml with
   pitr_target_immediate): the playbook's wall time and pgBackRest's own restore time.
4. Unless KEEL_BENCH_CLUSTER_PITR=0: the whole lab cluster restored in place to a time after that
   backup (playbooks/pitr_restore.yml with pitr_mode=cluster; every member of both clusters is
   rebuilt, and anything the lab wrote after the target is abandoned): the playbook's wall time,
   and how long a client on the leader's host could not write (probes every 0.5 s). Each member
   keeps its old data directory as <data dir>.pre-pitr-<stamp>, as the playbook always does.

Everything runs through `docker exec` in the lab containers, as postgres.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAB_NAME = os.environ.get("KEEL_LAB_NAME", "keel")
BIN = pathlib.Path(sys.executable).parent
SCALE = int(os.environ.get("KEEL_BENCH_SCALE", "20"))
CLIENTS = int(os.environ.get("KEEL_BENCH_CLIENTS", "4"))
SECONDS = int(os.environ.get("KEEL_BENCH_SECONDS", "120"))
DATABASE = "keel_bench"
PRIMARY = ["pg-use1", "pg-usw2", "pg-euw1", "pg-aps1"]
SCRATCH_HOST = "pg-aps1"
CLUSTER_PITR = os.environ.get("KEEL_BENCH_CLUSTER_PITR", "1") != "0"


def sh(host, *argv, check=True):
    result = subprocess.run(
        ["docker", "exec", "%s-%s" % (LAB_NAME, host), *argv], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise SystemExit("%s on %s failed: %s" % (" ".join(argv), host, result.stderr.strip()))
    return result


def psql_argv(query, dbname="postgres"):
    """psql as the postgres account over the container's local socket."""
    return ["runuser", "-u", "postgres", "--", "psql", "-XAt", "-d", dbname, "-c", query]


def sql(host, query, dbname="postgres"):
    return sh(host, *psql_argv(query, dbname)).stdout.strip()


def leader():
    for host in PRIMARY:
        if sql(host, "SELECT pg_is_in_recovery()") == "f":
            return host
    raise SystemExit("no writable member: is the lab up (`make lab`)?")


def stanza(host):
    conf = sh(host, "cat", "/etc/pgbackrest/pgbackrest.conf").stdout
    return next(m for m in re.findall(r"^\[([^\]:]+)\]$", conf, re.MULTILINE) if m != "global")


def info(host, name):
    out = sh(host, "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=" + name, "--output=json", "info").stdout
    return json.loads(out)[0]


def segment_number(name):
    """Position of a WAL segment (16 MiB segments): log * 256 + segment, the timeline left out."""
    return int(name[8:16], 16) * 256 + int(name[16:24], 16)


def archive_delay(primary):
    sql(primary, "DROP DATABASE IF EXISTS %s" % DATABASE)
    sql(primary, "CREATE DATABASE %s" % DATABASE)
    pgbench = "/usr/lib/postgresql/15/bin/pgbench"
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            row = sql(
                primary,
                "SELECT pg_walfile_name(pg_current_wal_lsn()), coalesce(last_archived_wal, ''), failed_count "
                "FROM pg_stat_archiver",
            )
            samples.append((time.monotonic(), *row.split("|")))
            time.sleep(1)

    start_lsn = sql(primary, "SELECT pg_current_wal_lsn()")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # The load: pgbench's bulk initialisation (a burst of WAL), then its TPC-B-like transactions.
    sh(primary, "runuser", "-u", "postgres", "--", pgbench, "-q", "-i", "-s", str(SCALE), DATABASE)
    size = sql(primary, "SELECT pg_size_pretty(pg_database_size('%s'))" % DATABASE)
    run = sh(
        primary,
        "runuser",
        "-u",
        "postgres",
        "--",
        pgbench,
        "-n",
        "-c",
        str(CLIENTS),
        "-j",
        "2",
        "-T",
        str(SECONDS),
        DATABASE,
    ).stdout
    wal_mb = float(sql(primary, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s') / 1e6" % start_lsn))
    time.sleep(10)  # let the archiver drain what the load left
    stop.set()
    sampler.join()
    # Every segment between the first and the last one seen: complete at the first sample whose current
    # segment is past it, archived at the first sample whose last_archived_wal has reached it (segments
    # that came and went between two samples are counted too).
    completed, archived = {}, {}
    first = segment_number(samples[0][1])
    for at, current, last_archived, _failed in samples:
        now, done = segment_number(current), segment_number(last_archived) if last_archived else -1
        for n in range(first, now):
            completed.setdefault(n, at)
        for n in completed:
            if n <= done:
                archived.setdefault(n, at)
    delays = [archived[n] - completed[n] for n in completed if n in archived]
    tps = re.search(r"tps = ([0-9.]+)", run)
    return {
        "size": size,
        "wal_mb": wal_mb,
        "tps": float(tps.group(1)) if tps else None,
        "segments": len(delays),
        "delays": delays,
        "failed": int(samples[-1][3]) - int(samples[0][3]) if samples else 0,
        "unarchived_at_end": len([n for n in completed if n not in archived]),
    }


def full_backup(name):
    start = time.monotonic()
    for host in PRIMARY:
        sh(host, "systemctl", "start", "keel-backup@full.service")
    wall = time.monotonic() - start
    newest = info(PRIMARY[0], name)["backup"][-1]
    return {
        "wall": wall,
        "label": newest["label"],
        "seconds": newest["timestamp"]["stop"] - newest["timestamp"]["start"],
        "db_bytes": newest["info"]["size"],
        "repo_bytes": newest["info"]["repository"]["delta"],
    }


def restore(name):
    wall = pitr_restore({"pitr_host": SCRATCH_HOST, "pitr_target_immediate": True, "pitr_scratch_replace": True})
    log = sh(SCRATCH_HOST, "cat", "/var/log/pgbackrest/%s-restore.log" % name).stdout
    ends = re.findall(r"restore command end: completed successfully \((\d+)ms\)", log)
    pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl"
    sh(SCRATCH_HOST, "runuser", "-u", "postgres", "--", pg_ctl, "-D", "/var/lib/postgresql/pitr", "-m", "fast", "stop")
    return {"wall": wall, "pgbackrest_seconds": int(ends[-1]) / 1000 if ends else None}


def pitr_restore(extra_vars):
    """Run playbooks/pitr_restore.yml against the lab; its wall time in seconds."""
    command = [str(BIN / "ansible-playbook"), "-i", "inventories/lab", "playbooks/pitr_restore.yml"]
    start = time.monotonic()
    result = subprocess.run(
        command + ["-e", json.dumps(extra_vars)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit("pitr_restore.yml failed:\n" + result.stdout[-3000:])
    return time.monotonic() - start


def cluster_restore(primary, name):
    """Restore the cluster in place to a time after the newest backup, under write probes."""
    sql(primary, "CREATE TABLE IF NOT EXISTS bench_pitr_probe (at timestamptz DEFAULT clock_timestamp())", DATABASE)
    sql(primary, "INSERT INTO bench_pitr_probe DEFAULT VALUES", DATABASE)
    target = sql(primary, "SELECT clock_timestamp()")
    time.sleep(1)
    segment = sql(primary, "SELECT pg_walfile_name(pg_switch_wal())")
    deadline = time.monotonic() + 120
    while sql(primary, "SELECT last_archived_wal >= '%s' FROM pg_stat_archiver" % segment) != "t":
        if time.monotonic() > deadline:
            raise SystemExit("segment %s was not archived within 120 s" % segment)
        time.sleep(1)
    probes = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            insert = "SET statement_timeout = '2s'; INSERT INTO bench_pitr_probe DEFAULT VALUES"
            ok = sh(primary, *psql_argv(insert, DATABASE), check=False).returncode == 0
            probes.append((time.monotonic(), ok))
            time.sleep(0.5)

    writer = threading.Thread(target=probe, daemon=True)
    writer.start()
    time.sleep(2)
    started = sql(primary, "SELECT clock_timestamp()")
    wall = pitr_restore({"pitr_mode": "cluster", "pitr_confirm": name, "pitr_target_time": target})
    deadline = time.monotonic() + 60
    while not (probes and probes[-1][1]) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    writer.join()
    failed = [at for at, ok in probes if not ok]
    outage = None
    if failed:
        before = max((at for at, ok in probes if ok and at < failed[0]), default=failed[0])
        after = min((at for at, ok in probes if ok and at > failed[-1]), default=None)
        outage = after - before if after else None
    # Probe rows between the target and the playbook's start were acknowledged, then abandoned.
    rows = sql(
        primary,
        "SELECT count(*) FROM bench_pitr_probe WHERE at > '%s' AND at < '%s'" % (target, started),
        DATABASE,
    )
    return {"wall": wall, "outage": outage, "after_target": rows}


def main():
    primary = leader()
    name = stanza(primary)
    print("bench-backup: leader %s, stanza %s" % (primary, name), flush=True)
    load = archive_delay(primary)
    delays = sorted(load["delays"])
    print(
        "archive delay under pgbench (init scale %d = %s, then %d clients for %d s at %s tps; %.0f MB of WAL): "
        "%d segments archived, "
        "delay median %.1f s, p95 %.1f s, max %.1f s; archive failures %d; unarchived at the end %d"
        % (
            SCALE,
            load["size"],
            CLIENTS,
            SECONDS,
            "%.0f" % load["tps"] if load["tps"] else "?",
            load["wal_mb"],
            len(delays),
            statistics.median(delays) if delays else float("nan"),
            delays[max(0, int(len(delays) * 0.95) - 1)] if delays else float("nan"),
            delays[-1] if delays else float("nan"),
            load["failed"],
            load["unarchived_at_end"],
        ),
        flush=True,
    )
    cluster = sql(primary, "SELECT pg_size_pretty(sum(pg_database_size(oid))) FROM pg_database")
    backup = full_backup(name)
    print(
        "full backup %s of the cluster (%s in all databases): %.1f s by pgBackRest (%.1f s through the units), "
        "%.0f MB copied, %.1f MB in the repository (lz4, encrypted)"
        % (
            backup["label"],
            cluster,
            backup["seconds"],
            backup["wall"],
            backup["db_bytes"] / 1e6,
            backup["repo_bytes"] / 1e6,
        ),
        flush=True,
    )
    restored = restore(name)
    print(
        "restore of the newest backup into a scratch copy on %s: %.1f s by pgBackRest, %.1f s for "
        "pitr_restore.yml (restore, recovery, promotion, checks)"
        % (SCRATCH_HOST, restored["pgbackrest_seconds"] or float("nan"), restored["wall"]),
        flush=True,
    )
    if CLUSTER_PITR:
        restored = cluster_restore(primary, name)
        print(
            "in-place restore of the whole cluster (%s in all databases; restored on the leader, the 3 other members "
            "and the DR standby leader rebuilt from the repository): %.1f s for pitr_restore.yml pitr_mode=cluster; "
            "writes refused on %s for %s; "
            "probe rows between the target and the restore left on the restored cluster: %s (expected 0)"
            % (
                cluster,
                restored["wall"],
                primary,
                "%.1f s" % restored["outage"] if restored["outage"] is not None else "? (never writable again)",
                restored["after_target"],
            ),
            flush=True,
        )
    sql(primary, "DROP DATABASE IF EXISTS %s" % DATABASE)


if __name__ == "__main__":
    main()
