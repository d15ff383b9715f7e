"""Destructive, so it runs last of the Redis tests (files are collected in name order): freeze every
Redis instance of a master's host (SIGSTOP: to its peers the host's Redis stops answering, as when
the host hangs or drops off the network), expect its replica (on another host) to take over within
seconds while the cluster keeps serving, then thaw them and expect the old master back as a replica.

The lab's hosts also run etcd and Patroni members that the later tests of this scenario need, so
only the Redis processes are frozen, not the whole container (the Redis scenario of the first wave
killed the container)."""

from __future__ import annotations

import subprocess
import time


def _wait(predicate, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (AssertionError, StopIteration, subprocess.TimeoutExpired) as exc:
            last = exc
        time.sleep(step)
    raise AssertionError("timed out after %ss: %r" % (timeout, last))


def test_killing_a_master_host_promotes_its_replica_and_it_rejoins(lab):
    nodes = lab.nodes()
    victim = [n for n in nodes if "master" in n["flags"] and n["slots"]][-1]
    replica = next(n for n in nodes if n["master"] == victim["id"])
    observer = next(i for i in lab.instances() if i.host not in (victim["host"],))
    assert replica["host"] != victim["host"]

    lab.down.add(victim["host"])
    units = ["redis-cluster@%d.service" % port for port in lab.ports]
    freeze = ["docker", "exec", lab.container(victim["host"]), "systemctl", "kill", "--signal=SIGSTOP", *units]
    subprocess.run(freeze, check=True, capture_output=True)
    killed = time.monotonic()

    def promoted():
        view = {n["id"]: n for n in lab.nodes(observer)}
        ok = lab.info(observer)["cluster_state"] == "ok"
        return ok and "master" in view[replica["id"]]["flags"] and view[replica["id"]]["slots"]

    _wait(promoted, timeout=30)
    took = time.monotonic() - killed
    print("replica %s promoted %.1f s after freezing Redis on %s" % (replica["endpoint"], took, victim["host"]))
    assert took < 20, took

    # The cluster keeps serving every slot while the host is down.
    key = "app:failover:%d" % int(killed)
    assert lab.cli(observer, "SET", key, "x", follow=True) == (0, "OK")
    assert lab.cli(observer, "GET", key, follow=True) == (0, "x")

    thaw = ["docker", "exec", lab.container(victim["host"]), "systemctl", "kill", "--signal=SIGCONT", *units]
    subprocess.run(thaw, check=True, capture_output=True)

    def rejoined():
        view = {n["id"]: n for n in lab.nodes(observer)}
        old = view[victim["id"]]
        healthy = all(n["link"] == "connected" and "fail" not in n["flags"] for n in view.values())
        return healthy and "slave" in old["flags"] and old["master"] == replica["id"]

    _wait(rejoined, timeout=90, step=1)
    for target in lab.instances():
        _wait(lambda t=target: lab.info(t)["cluster_state"] == "ok", timeout=30)
    lab.down.discard(victim["host"])
    assert lab.cli(observer, "DEL", key, follow=True) == (0, "1")
