#!/usr/bin/env python3
"""Benchmark the lab's Redis Cluster: GET/SET throughput over TLS, then master failover time.

    tools/bench_redis.py                      # the `make lab` lab (KEEL_LAB_NAME=keel)
    KEEL_LAB_NAME=keelredis KEEL_LAB_NET=172.28.30 tools/bench_redis.py   # molecule converge -s redis

redis-benchmark (cluster mode, TLS, the application user and its key pattern) runs inside one lab
container against another host's instance, so the traffic crosses the lab network. The failover
part kills the container of a master's host (docker kill), times until its replica is master with
cluster_state ok and until a write to the lost master's slots succeeds, then starts the container
again and waits for the old master to rejoin as a replica. Re-run site.yml (or molecule converge)
afterwards to spread mastership again. Needs the venv's ansible-inventory on PATH.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time

CA = "/etc/keel/tls/ca.crt"
SLOTS = 16384


def crc16(data):
    """CRC16-CCITT (XMODEM), the hash of Redis Cluster key slots."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key.encode()) % SLOTS


def slot_ranges(fields):
    ranges = []
    for field in fields:
        if field.startswith("["):
            continue
        low, _, high = field.partition("-")
        ranges.append((int(low), int(high or low)))
    return ranges


class Lab:
    def __init__(self, inventory_dir):
        inv = json.loads(
            subprocess.run(
                ["ansible-inventory", "-i", inventory_dir, "--list"], check=True, capture_output=True, text=True
            ).stdout
        )
        self.name = os.environ.get("KEEL_LAB_NAME", "keel")
        net = os.environ.get("KEEL_LAB_NET", "172.28.10")
        hostvars = inv["_meta"]["hostvars"]
        self.hosts = list(inv["redis"]["hosts"])
        some = hostvars[self.hosts[0]]
        self.address = {h: "%s.%s" % (net, hostvars[h]["keel_lab_host_id"]) for h in self.hosts}
        self.host_of = {a: h for h, a in self.address.items()}
        self.port = int(some.get("redis_cluster_ports", [7000])[0])
        self.user = some.get("redis_cluster_app_user", "app")
        self.password = some["redis_cluster_app_password"]

    def container(self, host):
        return "%s-%s" % (self.name, host)

    def running(self, host):
        out = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Running}}", self.container(host)], capture_output=True, text=True
        )
        return out.stdout.strip() == "true"

    def exec(self, runner, script, timeout=120):
        """Run a shell line in a lab container with the app password in $P (never in docker's argv)."""
        env = dict(os.environ, P=self.password)
        proc = subprocess.run(
            ["docker", "exec", "-e", "P", self.container(runner), "sh", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        return proc.returncode, proc.stdout.strip(), proc.stderr.strip()

    def cli(self, runner, host, *args, follow=False):
        line = 'REDISCLI_AUTH="$P" timeout 2 redis-cli --tls --cacert %s --user %s -h %s -p %d %s %s' % (
            CA,
            self.user,
            self.address[host],
            self.port,
            "-c" if follow else "",
            " ".join("'%s'" % a for a in args),
        )
        try:
            return self.exec(runner, line, timeout=15)[1]
        except subprocess.TimeoutExpired:
            return ""

    def nodes(self, runner, host):
        out = []
        for line in self.cli(runner, host, "CLUSTER", "NODES").splitlines():
            parts = line.split()
            if len(parts) < 8:
                continue
            endpoint = parts[1].split("@")[0]
            out.append(
                {
                    "id": parts[0],
                    "endpoint": endpoint,
                    "host": self.host_of.get(endpoint.rpartition(":")[0]),
                    "flags": parts[2].split(","),
                    "master": None if parts[3] == "-" else parts[3],
                    "link": parts[7],
                    "slots": slot_ranges(parts[8:]),
                }
            )
        return out


def bench(lab, runner, target, requests, clients):
    results = []
    for command in ("SET app:{tag}:__rand_int__ xxxxxxxxxxxxxxxx", "GET app:{tag}:__rand_int__"):
        script = (
            'redis-benchmark --tls --cacert %s --user %s -a "$P" -h %s -p %d --cluster -c %d -n %d -r 100000 --csv %s'
            % (CA, lab.user, lab.address[target], lab.port, clients, requests, command)
        )
        started = time.monotonic()
        rc, out, err = lab.exec(runner, script, timeout=600)
        took = time.monotonic() - started
        rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] not in ("test",) and len(r) >= 8]
        if rc != 0 or not rows:
            raise SystemExit("redis-benchmark failed (rc %d): %s %s" % (rc, out[-500:], err[-500:]))
        row = rows[-1]
        results.append(
            {
                "command": command.split()[0],
                "rps": float(row[1]),
                "avg_ms": float(row[2]),
                "p50_ms": float(row[4]),
                "p99_ms": float(row[6]),
                "seconds": took,
            }
        )
    return results


def failover(lab, runner, timeout=60):
    nodes = lab.nodes(runner, runner)
    victim = next(n for n in nodes if "master" in n["flags"] and n["slots"] and n["host"] != runner)
    replica = next(n for n in nodes if n["master"] == victim["id"])
    low = victim["slots"][0][0]
    key = next("app:bench:failover:%d" % i for i in range(100000) if key_slot("app:bench:failover:%d" % i) == low)

    subprocess.run(["docker", "kill", lab.container(victim["host"])], check=True, capture_output=True)
    killed = time.monotonic()
    promoted = writable = None
    try:
        while time.monotonic() - killed < timeout and (promoted is None or writable is None):
            if promoted is None:
                view = {n["id"]: n for n in lab.nodes(runner, runner)}
                state = lab.cli(runner, runner, "CLUSTER", "INFO")
                me = view.get(replica["id"], {})
                if "cluster_state:ok" in state and "master" in me.get("flags", []) and me.get("slots"):
                    promoted = time.monotonic() - killed
            if writable is None and lab.cli(runner, runner, "SET", key, "1", follow=True) == "OK":
                writable = time.monotonic() - killed
            time.sleep(0.05)
    finally:
        subprocess.run(["docker", "start", lab.container(victim["host"])], check=True, capture_output=True)
    started = time.monotonic()
    rejoined = None
    while time.monotonic() - started < 120:
        view = {n["id"]: n for n in lab.nodes(runner, runner)}
        old = view.get(victim["id"], {})
        if "slave" in old.get("flags", []) and old.get("link") == "connected" and "fail" not in old.get("flags", []):
            rejoined = time.monotonic() - started
            break
        time.sleep(0.5)
    lab.cli(runner, runner, "DEL", key, follow=True)
    return {
        "victim": "%s (%s)" % (victim["endpoint"], lab.container(victim["host"])),
        "replica": "%s (%s)" % (replica["endpoint"], replica["host"]),
        "promoted_s": promoted,
        "writable_s": writable,
        "rejoined_s": rejoined,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--inventory", default=os.path.join(root, "inventories", "lab"))
    parser.add_argument("--requests", type=int, default=20000, help="requests per command (default 20000)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--no-failover", action="store_true", help="skip the destructive failover measurement")
    args = parser.parse_args(argv)

    lab = Lab(args.inventory)
    down = [h for h in lab.hosts if not lab.running(h)]
    if down:
        raise SystemExit(
            "lab '%s': containers %s are not running; create the lab first (make lab, or "
            "KEEL_LAB_NAME=keelredis KEEL_LAB_NET=172.28.30 molecule converge -s redis)"
            % (lab.name, ", ".join(lab.container(h) for h in down))
        )
    runner, target = lab.hosts[0], lab.hosts[1]
    state = lab.cli(runner, target, "CLUSTER", "INFO")
    if "cluster_state:ok" not in state:
        raise SystemExit("lab '%s': the Redis Cluster is not ok: %s" % (lab.name, state[:300]))

    print(
        "lab %s: redis-benchmark over TLS from %s to %s:%d, cluster mode, user %s, %d clients, %d requests"
        % (lab.name, lab.container(runner), lab.address[target], lab.port, lab.user, args.clients, args.requests)
    )
    for r in bench(lab, runner, target, args.requests, args.clients):
        print(
            "  %-4s %10.0f req/s  avg %.2f ms  p50 %.2f ms  p99 %.2f ms  (%.1f s)"
            % (r["command"], r["rps"], r["avg_ms"], r["p50_ms"], r["p99_ms"], r["seconds"])
        )
    if args.no_failover:
        return 0
    f = failover(lab, runner)

    def fmt(value):
        return "%.2f s" % value if value is not None else "not within the timeout"

    print("failover: killed %s; replica %s" % (f["victim"], f["replica"]))
    print("  replica promoted, cluster_state ok after %s" % fmt(f["promoted_s"]))
    print("  writes to the lost master's slots resumed after %s" % fmt(f["writable_s"]))
    print("  old master back as a replica %s after docker start" % fmt(f["rejoined_s"]))
    print("  (re-run site.yml / molecule converge to spread mastership over the hosts again)")
    return 0 if f["promoted_s"] is not None and f["writable_s"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
