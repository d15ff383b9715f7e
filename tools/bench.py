#!/usr/bin/env python3
"""Platform benchmarks: `make bench` prints the figures the issues ask for.

Converge of the whole platform (site.yml: etcd, Patroni primary + DR clusters, Redis, ...) on
empty lab containers until every Patroni member runs, then an idempotent re-run, with wall time
and changed-task count of each, the time each role took in both (ansible.posix.profile_roles), and
the clusters as patronictl lists them. The lab instance is private to the benchmark
(KEEL_LAB_NAME=keelbench, 172.28.60.0/24) and is removed at the end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# A line of profile_roles' summary: "<role> ---------- 12.34s".
ROLE_LINE = re.compile(r"^(\S+) -+ ([0-9.]+)s$")


def role_times(stdout):
    """{role: seconds} from the ROLES RECAP that ansible.posix.profile_roles prints at the end."""
    recap = stdout.rsplit("ROLES RECAP", 1)
    if len(recap) < 2:
        return {}
    times = {}
    for line in recap[1].splitlines():
        m = ROLE_LINE.match(line.strip())
        if m and m.group(1) != "total":
            times[m.group(1)] = float(m.group(2))
    return times


def playbook(path, env):
    start = time.monotonic()
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), "-i", "inventories/lab", path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - start
    hosts = {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in RECAP.finditer(proc.stdout)}
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit("bench: %s failed (rc %d)" % (path, proc.returncode))
    changed = sum(v[1] for v in hosts.values())
    return elapsed, changed, len([h for h in hosts if h != "localhost"]), role_times(proc.stdout)


def patroni_list(env):
    """The primary and DR clusters as patronictl shows them, from the first member of each."""
    out = []
    for host in ("pg-use1", "pg-dr1"):
        proc = subprocess.run(
            [
                "docker",
                "exec",
                "%s-%s" % (env["KEEL_LAB_NAME"], host),
                "/opt/patroni/bin/patronictl",
                "-c",
                "/etc/patroni/patroni.yml",
                "list",
                "-f",
                "tsv",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        out.append(proc.stdout.strip() or proc.stderr.strip())
    return "\n".join(out)


def main():
    env = dict(
        os.environ,
        KEEL_LAB_NAME=os.environ.get("KEEL_BENCH_LAB", "keelbench"),
        KEEL_LAB_NET=os.environ.get("KEEL_BENCH_NET", "172.28.60"),
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_roles",
        NO_COLOR="1",
    )
    rows = []
    try:
        playbook("playbooks/lab/destroy.yml", env)
        t, _, _, _ = playbook("playbooks/lab/create.yml", env)
        rows.append(("create empty containers", t, None))
        t, changed, hosts, fresh_roles = playbook("site.yml", env)
        rows.append(("site.yml on empty containers (%d hosts)" % hosts, t, changed))
        cluster = patroni_list(env)
        t, changed, hosts, again_roles = playbook("site.yml", env)
        rows.append(("site.yml again, idempotent (%d hosts)" % hosts, t, changed))
    finally:
        playbook("playbooks/lab/destroy.yml", env)
    print("%-46s %10s %8s" % ("benchmark", "seconds", "changed"))
    for name, seconds, changed in rows:
        print("%-46s %10.1f %8s" % (name, seconds, "-" if changed is None else changed))
    print()
    print("%-46s %10s %10s" % ("time per role (s)", "fresh", "re-run"))
    for role in sorted(set(fresh_roles) | set(again_roles), key=lambda r: -fresh_roles.get(r, 0)):
        print("%-46s %10.1f %10.1f" % (role, fresh_roles.get(role, 0.0), again_roles.get(role, 0.0)))
    print()
    print("cluster after the first converge (site.yml returns only once every member runs):")
    print(cluster)
    return 1 if rows[-1][2] else 0


if __name__ == "__main__":
    sys.exit(main())
