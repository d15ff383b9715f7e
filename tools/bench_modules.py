#!/usr/bin/env python3
"""Run time of the custom modules per lab host: `make bench-modules` (lab from `make lab`).

Each module runs as an ad-hoc Ansible call against each PostgreSQL host of the running lab
(KEEL_LAB_NAME, default keel), ROUNDS times; the table shows the median and maximum wall time of
the whole call (connection through `docker exec`, module transfer, execution) and the status the
module returned, so the figure is what a playbook task costs per host.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
ROUNDS = int(os.environ.get("KEEL_BENCH_ROUNDS", "5"))

MODULES = {
    "replication_lag": ("keel.postgres.replication_lag", {"fail_on": "never"}, True),
    "replication_slots": ("keel.postgres.replication_slots", {"fail_on": "never"}, True),
    "patroni_cluster": (
        "keel.postgres.patroni_cluster",
        {"api_url": "https://{address}:8008", "ca_cert": "/etc/keel/tls/ca.crt", "action": "status"},
        False,
    ),
}


def inventory():
    out = subprocess.run(
        [os.path.join(BIN, "ansible-inventory"), "-i", "inventories/lab", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def run(host, module, args, become):
    command = [os.path.join(BIN, "ansible"), "-i", "inventories/lab", host, "-m", module, "-a", json.dumps(args), "-o"]
    if become:
        command += ["--become", "--become-user", "postgres"]
    start = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(
            "bench-modules: %s on %s failed:\n%s%s" % (module, host, proc.stdout[-2000:], proc.stderr[-2000:])
        )
    line = next((ln for ln in proc.stdout.splitlines() if " => " in ln), "")
    reply = json.loads(line.split(" => ", 1)[1]) if line else {}
    return elapsed, reply.get("status") or reply.get("cluster", {}).get("scope") or "ok"


def main():
    env_lab = os.environ.setdefault("KEEL_LAB_NAME", "keel")
    os.environ.setdefault("ANSIBLE_CONFIG", os.path.join(ROOT, "ansible.cfg"))
    # ansible.cfg's profile_tasks callback only adds a timing line; the JSON reply is parsed below.
    inv = inventory()
    hosts = sorted(inv["postgres"]["hosts"] + inv.get("postgres_dr", {}).get("hosts", []))
    hostvars = inv["_meta"]["hostvars"]
    print(
        "keel.postgres module run time per host, lab %s, %d rounds (wall time of one ad-hoc task)" % (env_lab, ROUNDS)
    )
    print("%-18s %-9s %-10s %9s %9s  %s" % ("module", "host", "region", "median s", "max s", "result"))
    for name, (module, args, become) in MODULES.items():
        for host in hosts:
            address = "%s.%s" % (os.environ.get("KEEL_LAB_NET", "172.28.10"), hostvars[host]["keel_lab_host_id"])
            host_args = {k: (v.format(address=address) if isinstance(v, str) else v) for k, v in args.items()}
            times, result = [], None
            for _ in range(ROUNDS):
                elapsed, result = run(host, module, host_args, become)
                times.append(elapsed)
            print(
                "%-18s %-9s %-10s %9.2f %9.2f  %s"
                % (name, host, hostvars[host]["keel_region"], statistics.median(times), max(times), result)
            )


if __name__ == "__main__":
    main()
