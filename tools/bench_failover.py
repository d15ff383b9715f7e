#!/usr/bin/env python3
"""Failover figures on the running lab (`make lab`): `make bench-failover`.

A client inserts one row every 20 ms through the read-write route (HAProxy's primary port on the
router of a never-promoted member, the path the fault tests in molecule/default/tests/zz_faults
use; reconnecting on errors) while
the leader's container is

* kill:       `docker kill`ed (then `docker start`ed),
* pause:      `docker pause`d (frozen) until a new leader took writes, then unpaused,
* disconnect: `docker network disconnect`ed until a new leader took writes, then reconnected,

KEEL_BENCH_TRIALS times each (default 5). Per trial: seconds from the fault (the docker command
returned) to the new leader in the DCS and to the first acknowledged commit after the fault, and
how many acknowledged commits are missing on the new leader (must be 0). Each trial waits until the
old leader streams again and both synchronous standbys are assigned before the next one. Then the
planned switchover (POST /switchover through Patroni's REST API) the same number of times: the
longest gap between two acknowledged commits. The lab is handed back to its seed leader at the end.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import ssl
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psycopg2

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "lab"))
sys.path.insert(0, str(ROOT / "tools"))
import bench_routing as lab  # noqa: E402  (the lab's inventory, addresses, passwords and client settings)
import pgclients  # noqa: E402

LAB_NAME = lab.LAB_NAME
TRIALS = int(os.environ.get("KEEL_BENCH_TRIALS", "5"))
TABLE = "app.keel_probe"
INVENTORY = lab.INVENTORY
HOSTVARS = lab.HOSTVARS
PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
VARS = HOSTVARS[PRIMARY[0]]
CA_FILE = lab.CA_FILE
REGIONS = VARS["keel_regions"]
SEED_LEADER = next(h for h in PRIMARY if HOSTVARS[h]["keel_region"] == VARS["keel_primary_region"])
# The router clients use: a member that is never promoted, so no fault here touches it.
ROUTER = next(h for h in PRIMARY if REGIONS[HOSTVARS[h]["keel_region"]].get("failover_priority", 0) == 0)
address = lab.address
conninfo = lab.conninfo


def container(host):
    return "%s-%s" % (LAB_NAME, host)


def api(host, path, method="GET", body=None):
    """Patroni REST API over TLS verified against the lab CA; returns (status, JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request("https://%s:8008%s" % (address(host), path), data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
        token = base64.b64encode(("patroni:%s" % VARS["keel_patroni_restapi_password"]).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    context = ssl.create_default_context(cafile=str(CA_FILE))
    try:
        with urllib.request.urlopen(request, timeout=120 if data else 5, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, None


def poll(predicate, timeout, what, interval=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise SystemExit("bench-failover: timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def members():
    status, reply = api(ROUTER, "/cluster")
    if status != 200:
        raise OSError("GET /cluster: %s" % status)
    return {m["name"]: m for m in reply["members"]}


def leader():
    names = [n for n, m in members().items() if m["role"] == "leader"]
    return names[0] if len(names) == 1 else None


def healthy(timeout=300):
    """Wait for one leader, every member streaming or running, and both synchronous standbys."""

    def ready():
        view = members()
        leaders = [n for n, m in view.items() if m["role"] == "leader"]
        syncs = [n for n, m in view.items() if m["role"] == "sync_standby"]
        # A member tagged nostream (never a synchronous candidate) replays from the archive only.
        fine = all(
            m["state"] in ("running", "in archive recovery" if (m.get("tags") or {}).get("nostream") else "streaming")
            for m in view.values()
        )
        return leaders[0] if len(leaders) == 1 and len(syncs) == 2 and fine else None

    return poll(ready, timeout, "a healthy cluster with two synchronous standbys", interval=1)


def docker(*argv):
    subprocess.run(["docker", *argv], check=True, capture_output=True, text=True, timeout=120)


FAULTS = {
    "kill": (lambda h: docker("kill", container(h)), lambda h: docker("start", container(h))),
    "pause": (lambda h: docker("pause", container(h)), lambda h: docker("unpause", container(h))),
    "disconnect": (
        lambda h: docker("network", "disconnect", "%s-net" % LAB_NAME, container(h)),
        lambda h: docker("network", "connect", "--ip", address(h), "--alias", h, "%s-net" % LAB_NAME, container(h)),
    ),
}


def missing_on(host, markers):
    connection = psycopg2.connect(**conninfo(host, 5432, user="app_reader"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM %s WHERE marker = ANY(%%s)" % TABLE, (markers,))
            return len(set(markers)) - cursor.fetchone()[0]
    finally:
        connection.close()


def writer(prefix):
    client = pgclients.Writer(conninfo(ROUTER, 5000), TABLE, prefix, interval=0.02)
    started = time.monotonic()
    client.start()
    client.resumed_after(started, 60)
    return client


def fault_trial(kind, number):
    inject, restore = FAULTS[kind]
    old = healthy()
    client = writer("bench-%s-%d-%d" % (kind, number, time.time()))
    try:
        inject(old)
        fault_at = time.monotonic()
        try:
            new = poll(lambda: (lambda n: n if n and n != old else None)(leader()), 180, "a new leader")
            elected = time.monotonic() - fault_at
            outage = client.resumed_after(fault_at, 120)
        finally:
            restore(old)
        poll(
            lambda: members().get(old, {}).get("state") == "streaming",
            300,
            "%s streaming again" % old,
            interval=1,
        )
        rejoined = time.monotonic() - fault_at
    finally:
        client.stop()
    markers = client.markers()
    return {
        "old": old,
        "new": new,
        "elected": elected,
        "outage": outage,
        "rejoined": rejoined,
        "acknowledged": len(markers),
        "lost": missing_on(new, markers),
        "failures": client.failures,
    }


def switchover_trial(number):
    old = healthy()
    candidate = sorted(n for n, m in members().items() if m["role"] == "sync_standby")[number % 2]
    client = writer("bench-switchover-%d-%d" % (number, time.time()))
    try:
        started = time.monotonic()
        status, reply = api(old, "/switchover", "POST", {"leader": old, "candidate": candidate})
        if status != 200:
            raise SystemExit("bench-failover: switchover %s -> %s: %s %s" % (old, candidate, status, reply))
        posted = time.monotonic() - started
        poll(lambda: api(candidate, "/primary")[0] == 200, 60, "%s as primary" % candidate)
        client.resumed_after(time.monotonic(), 60)
        healthy()
    finally:
        client.stop()
    markers = client.markers()
    return {
        "old": old,
        "new": candidate,
        "gap": client.gap(),
        "posted": posted,
        "acknowledged": len(markers),
        "lost": missing_on(candidate, markers),
        "failures": client.failures,
    }


def hand_back():
    current = healthy()
    if current != SEED_LEADER:
        poll(lambda: api(SEED_LEADER, "/sync")[0] == 200, 120, "%s as sync standby" % SEED_LEADER)
        status, reply = api(current, "/switchover", "POST", {"leader": current, "candidate": SEED_LEADER})
        if status != 200:
            raise SystemExit("bench-failover: hand-back switchover: %s %s" % (status, reply))
        healthy()


def summary(label, values, lost, ttl):
    median, worst = statistics.median(values), max(values)
    aim = "yes" if median <= ttl + 3 else "NO"
    return "%-22s %6d %10.1f %8.1f %10s %6d" % (label, len(values), median, worst, aim, lost)


def main():
    if not CA_FILE.exists():
        raise SystemExit("bench-failover: no lab CA at %s; run `make lab` first" % CA_FILE)
    hand_back()
    status, config = api(ROUTER, "/config")
    ttl, loop_wait = int(config["ttl"]), int(config["loop_wait"])
    connection = psycopg2.connect(**conninfo(SEED_LEADER, 5432, user="app_migrator"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS %s (marker text PRIMARY KEY, at timestamptz DEFAULT now())" % TABLE)
    connection.close()
    print(
        "== %s: ttl %d s, loop_wait %d s, retry_timeout %s s; writer through %s:5000 every 20 ms; %d trials"
        % (LAB_NAME, ttl, loop_wait, config.get("retry_timeout"), ROUTER, TRIALS)
    )
    print(
        "%-11s %-3s %-19s %10s %10s %10s %8s %6s %9s"
        % ("fault", "#", "leader", "elected s", "writes s", "rejoin s", "acked", "lost", "failures")
    )
    rows = []
    for kind in FAULTS:
        for number in range(TRIALS):
            figures = fault_trial(kind, number)
            rows.append((kind, figures))
            print(
                "%-11s %-3d %-19s %10.1f %10.1f %10.1f %8d %6d %9d"
                % (
                    kind,
                    number + 1,
                    "%s>%s" % (figures["old"][3:], figures["new"][3:]),
                    figures["elected"],
                    figures["outage"],
                    figures["rejoined"],
                    figures["acknowledged"],
                    figures["lost"],
                    figures["failures"],
                ),
                flush=True,
            )
    switchovers = []
    for number in range(TRIALS):
        figures = switchover_trial(number)
        switchovers.append(figures)
        print(
            "%-11s %-3d %-19s %10s %10.1f %10s %8d %6d %9d"
            % (
                "switchover",
                number + 1,
                "%s>%s" % (figures["old"][3:], figures["new"][3:]),
                "-",
                figures["gap"],
                "-",
                figures["acknowledged"],
                figures["lost"],
                figures["failures"],
            ),
            flush=True,
        )
    hand_back()

    print("\n== fault to first acknowledged commit (s); aim: median within ttl + 3 = %d s" % (ttl + 3))
    print("%-22s %6s %10s %8s %10s %6s" % ("fault", "trials", "median", "max", "aim met", "lost"))
    for kind in FAULTS:
        figures = [f for k, f in rows if k == kind]
        print(summary(kind, [f["outage"] for f in figures], sum(f["lost"] for f in figures), ttl))
    print(
        summary(
            "switchover (write gap)",
            [f["gap"] for f in switchovers],
            sum(f["lost"] for f in switchovers),
            ttl,
        )
    )
    lost = sum(f["lost"] for _k, f in rows) + sum(f["lost"] for f in switchovers)
    if lost:
        raise SystemExit("bench-failover: %d acknowledged commits are missing on a new leader" % lost)


if __name__ == "__main__":
    main()
