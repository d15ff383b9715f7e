#!/usr/bin/env python3
"""Routing figures on the running lab (`make lab`): `make bench-routing`.

1. The client-visible write gap during a planned switchover: a client writes one row every 20 ms
   through the read-write endpoint of the leader region's router, reconnecting on errors, while
   `patronictl switchover` moves the leader to a synchronous standby (and back). Reported: the
   longest time between two acknowledged commits, failed attempts, and whether every acknowledged
   row is on the new leader.
2. Connection set-up rate, direct to PostgreSQL versus through PgBouncer (and HAProxy): sequential
   connections, and a burst of many clients at once (the direct burst is limited to what
   max_connections leaves room for).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import psycopg2

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "lab"))
import pgclients  # noqa: E402

LAB_NAME = os.environ.get("KEEL_LAB_NAME", "keel")
BIN = pathlib.Path(sys.executable).parent
BURST = int(os.environ.get("KEEL_BENCH_BURST", "2000"))
SEQUENTIAL = int(os.environ.get("KEEL_BENCH_SEQUENTIAL", "200"))
CTL = ["/opt/patroni/bin/patronictl", "-c", "/etc/patroni/patroni.yml"]


def inventory():
    out = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", "inventories/lab", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, KEEL_LAB_NAME=LAB_NAME),
    ).stdout
    return json.loads(out)


INVENTORY = inventory()
HOSTVARS = INVENTORY["_meta"]["hostvars"]
VARS = HOSTVARS[INVENTORY["postgres"]["hosts"][0]]
CA_FILE = pathlib.Path(os.environ.get("KEEL_LAB_DIR", str(ROOT / ".lab"))) / LAB_NAME / "ca" / "ca.crt"


def address(host):
    return "%s.%s" % (os.environ.get("KEEL_LAB_NET", "172.28.10"), HOSTVARS[host]["keel_lab_host_id"])


def password(user):
    return next(u["password"] for u in VARS["postgresql_users"] if u["name"] == user)


def conninfo(host, port, user="app_user"):
    return {
        "host": VARS["keel_postgres_service_name"] if port != 5432 else host,
        "hostaddr": address(host),
        "port": port,
        "dbname": "app",
        "user": user,
        "password": password(user),
        "sslmode": "verify-full",
        "sslrootcert": str(CA_FILE),
        "connect_timeout": 10,
    }


def members():
    out = docker(INVENTORY["postgres"]["hosts"][0], *CTL, "list", "-f", "json")
    return {row["Member"]: row for row in json.loads(out)}


def docker(host, *argv):
    return subprocess.run(
        ["docker", "exec", "%s-%s" % (LAB_NAME, host), *argv], capture_output=True, text=True, check=True
    ).stdout


def wait_healthy(timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = members()
        leaders = [name for name, row in rows.items() if row["Role"] == "Leader"]
        syncs = [name for name, row in rows.items() if row["Role"] == "Sync Standby"]
        healthy = ("running", "streaming", "in archive recovery")
        if len(leaders) == 1 and len(syncs) == 2 and all(r["State"] in healthy for r in rows.values()):
            return leaders[0], sorted(syncs)
        time.sleep(2)
    raise SystemExit("bench-routing: the cluster did not become healthy")


def switchover_gap(router, old, new):
    prefix = "bench-%s" % uuid.uuid4().hex[:8]
    writer = pgclients.Writer(conninfo(router, 5000), "app.keel_probe", prefix, interval=0.02)
    writer.start()
    time.sleep(3)
    started = time.monotonic()
    docker(old, *CTL, "switchover", "--leader", old, "--candidate", new, "--force")
    switch_seconds = time.monotonic() - started
    time.sleep(15)
    writer.stop()
    markers = [marker for marker, _at in writer.acknowledged]
    connection = psycopg2.connect(**conninfo(new, 5432, user="app_reader"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM app.keel_probe WHERE marker = ANY(%s)", (markers,))
        found = cursor.fetchone()[0]
    connection.close()
    return {
        "gap": writer.gap(),
        "failures": writer.failures,
        "acknowledged": len(markers),
        "found": found,
        "patronictl": switch_seconds,
    }


def main():
    if not CA_FILE.exists():
        raise SystemExit("bench-routing: no lab CA at %s; run `make lab` first" % CA_FILE)
    leader, syncs = wait_healthy()
    router = leader  # the primary region's router
    connection = psycopg2.connect(**conninfo(leader, 5432, user="app_migrator"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS app.keel_probe (marker text PRIMARY KEY, at timestamptz DEFAULT now())"
        )
    connection.close()

    print("== write gap through %s:5000 during a planned switchover (one INSERT every 20 ms)" % router)
    print(
        "%-24s %10s %9s %13s %12s %12s" % ("switchover", "gap (s)", "failures", "acknowledged", "on leader", "ctl (s)")
    )
    for old, new in ((leader, syncs[0]), (syncs[0], leader)):
        figures = switchover_gap(router, old, new)
        print(
            "%-24s %10.2f %9d %13d %12d %12.1f"
            % (
                "%s -> %s" % (old, new),
                figures["gap"],
                figures["failures"],
                figures["acknowledged"],
                figures["found"],
                figures["patronictl"],
            )
        )
        if figures["found"] != figures["acknowledged"]:
            raise SystemExit("bench-routing: acknowledged commits are missing on the new leader")
        wait_healthy()

    leader, _syncs = wait_healthy()
    print("\n== connection set-up (TLS verify-full + SCRAM), app_user to the leader %s" % leader)
    print("%-40s %8s %12s %8s" % ("path", "clients", "conn/s", "errors"))
    paths = (("direct PostgreSQL :5432", 5432), ("PgBouncer :6432", 6432), ("HAProxy -> PgBouncer :5000", 5000))
    for label, port in paths:
        rate = pgclients.sequential_connects(conninfo(leader, port), SEQUENTIAL)
        print("%-40s %8d %12.1f %8d" % ("sequential, " + label, SEQUENTIAL, rate, 0))
    direct_room = int(VARS["keel_pgbouncer_pools"][0]["max_db_connections"]) // 2
    for label, port, clients in (
        ("burst, direct PostgreSQL :5432", 5432, direct_room),
        ("burst, HAProxy -> PgBouncer :5000", 5000, BURST),
    ):
        result = pgclients.burst(conninfo(leader, port), clients, "SELECT 1")
        print("%-40s %8d %12.1f %8d" % (label, clients, result["connect_rate"], len(result["errors"])))
    print("(direct burst limited to %d clients: max_connections has no room for %d)" % (direct_room, BURST))


if __name__ == "__main__":
    main()
