#!/usr/bin/env python3
"""DR round-trip figures on the running lab (`make lab`): `make bench-dr`.

Each trial, with a client writing one row every 50 ms through HAProxy's read-write port on a
primary-region host that is not the leader (the route an application uses; the DR members are
its backup servers):

1. `playbooks/dr_promote.yml` fences the primary region and promotes the DR standby cluster.
   Reported: Patroni's promotion time (the playbook's own figure, PATCH to first write), the
   playbook's wall time, the client's write gap (last acknowledged commit before the fence to
   the first one on the DR cluster), and acknowledged commits missing on the DR leader.
2. `playbooks/dr_failback.yml -e dr_failback_switch_back=true` rejoins the primary region as a
   standby cluster and switches back. Reported: its wall time, the client's write gap, and
   acknowledged commits missing on the primary region's leader afterwards.

KEEL_BENCH_DR_TRIALS (default 3) sets the number of trials.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_routing as lab  # noqa: E402  (the lab's inventory, addresses and passwords)

TRIALS = int(os.environ.get("KEEL_BENCH_DR_TRIALS", "3"))
DR = sorted(lab.INVENTORY["postgres_dr"]["hosts"])
PRIMARY = sorted(lab.INVENTORY["postgres"]["hosts"])


def playbook(name, extra):
    started = time.monotonic()
    result = subprocess.run(
        [str(lab.BIN / "ansible-playbook"), "-i", "inventories/lab", "playbooks/%s" % name, "-e", json.dumps(extra)],
        cwd=lab.ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, KEEL_LAB_NAME=lab.LAB_NAME),
    )
    if result.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, result.stdout[-4000:]))
    return result.stdout, time.monotonic() - started


def missing(host, markers):
    connection = psycopg2.connect(**lab.conninfo(host, 5432, user="app_reader"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT marker FROM app.keel_probe WHERE marker = ANY(%s)", (list(markers),))
            found = {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
    return len(set(markers) - found)


def trial(number):
    leader, _ = lab.wait_healthy()
    router = next(h for h in PRIMARY if h != leader)
    prefix = "dr-bench-%d-%s" % (number, uuid.uuid4().hex[:8])

    writer = lab.pgclients.Writer(lab.conninfo(router, 5000), "app.keel_probe", prefix + "-promote", interval=0.05)
    writer.start()
    time.sleep(3)
    out, promote_wall = playbook("dr_promote.yml", {"dr_promote_confirm": lab.VARS["keel_dr_cluster_name"]})
    deadline = time.monotonic() + 120
    count = len(writer.acknowledged)
    while time.monotonic() < deadline and len(writer.acknowledged) < count + 20:
        time.sleep(0.5)
    writer.stop()
    promoted = re.search(r"promoted in ([0-9.]+) s", out)
    promote = {
        "patroni": float(promoted.group(1)) if promoted else float("nan"),
        "wall": promote_wall,
        "gap": writer.gap(),
        "lost": missing(DR[0], [m for m, _ in writer.acknowledged]),
        "acked": len(writer.acknowledged),
    }

    writer = lab.pgclients.Writer(lab.conninfo(router, 5000), "app.keel_probe", prefix + "-back", interval=0.05)
    writer.start()
    time.sleep(3)
    _, back_wall = playbook(
        "dr_failback.yml", {"dr_failback_confirm": lab.VARS["keel_cluster_name"], "dr_failback_switch_back": True}
    )
    deadline = time.monotonic() + 120
    count = len(writer.acknowledged)
    while time.monotonic() < deadline and len(writer.acknowledged) < count + 20:
        time.sleep(0.5)
    writer.stop()
    new_leader, _ = lab.wait_healthy()
    back = {
        "wall": back_wall,
        "gap": writer.gap(),
        "lost": missing(new_leader, [m for m, _ in writer.acknowledged]),
        "acked": len(writer.acknowledged),
    }
    return promote, back


def main():
    rows = []
    for number in range(1, TRIALS + 1):
        promote, back = trial(number)
        rows.append((promote, back))
        print(
            "trial %d: promote %.1f s (Patroni), dr_promote.yml %.1f s, write gap %.1f s, lost %d of %d | "
            "dr_failback.yml (rejoin + switch back) %.1f s, write gap %.1f s, lost %d of %d"
            % (
                number,
                promote["patroni"],
                promote["wall"],
                promote["gap"],
                promote["lost"],
                promote["acked"],
                back["wall"],
                back["gap"],
                back["lost"],
                back["acked"],
            ),
            flush=True,
        )

    def summary(values):
        return "median %.1f s, max %.1f s" % (statistics.median(values), max(values))

    print("\nDR round trip over %d trials (lab %s)" % (TRIALS, lab.LAB_NAME))
    print("  DR promotion, Patroni (PATCH to first write): %s" % summary([p["patroni"] for p, _ in rows]))
    print("  dr_promote.yml wall time:                     %s" % summary([p["wall"] for p, _ in rows]))
    print("  client write gap during the promotion:        %s" % summary([p["gap"] for p, _ in rows]))
    print("  dr_failback.yml wall time (rejoin + back):    %s" % summary([b["wall"] for _, b in rows]))
    print("  client write gap during the switch back:      %s" % summary([b["gap"] for _, b in rows]))
    print("  acknowledged commits lost:                    %d" % sum(p["lost"] + b["lost"] for p, b in rows))


if __name__ == "__main__":
    main()
