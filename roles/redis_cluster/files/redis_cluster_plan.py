#!/usr/bin/env python3
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the redis_cluster role, as pure functions.

The role runs this file on the controller (``python3 redis_cluster_plan.py <action>``) with a JSON
document on stdin and reads a JSON document from stdout; it never talks to Redis itself. Collection
roles cannot carry filter plugins, hence a script; tests/unit imports the functions directly.

Actions:
  layout     inventory instances per host + replicas -> master count and refusals (preflight)
  memory     host RAM, PostgreSQL reservation, instances -> maxmemory per instance and refusals
  decide     what every instance reports (CLUSTER INFO, DBSIZE, CLUSTER MYID) -> create | check
  plan       one instance's CLUSTER NODES -> health errors, failovers and replica moves
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter

SLOTS = 16384
BAD_FLAGS = ("fail", "fail?", "handshake", "noaddr")
ID_RE = re.compile(r"^[0-9a-f]{40}$")


# --- parsing -------------------------------------------------------------------------------


def parse_info(text):
    """CLUSTER INFO (or INFO) text -> dict of the ``key:value`` lines; numbers become ints."""
    info = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        info[key] = int(value) if value.isdigit() else value
    return info


def parse_instance_report(text):
    """Output of ``CLUSTER INFO``, ``DBSIZE`` and ``CLUSTER MYID`` sent on one connection.

    Returns {"info": {...}, "keys": int | None, "myid": str | None}.
    """
    keys = myid = None
    rest = []
    for line in (text or "").splitlines():
        stripped = line.strip()
        if ID_RE.match(stripped):
            myid = stripped
        elif stripped.isdigit():
            keys = int(stripped)
        else:
            rest.append(line)
    return {"info": parse_info("\n".join(rest)), "keys": keys, "myid": myid}


def _slot_count(fields):
    count = 0
    for field in fields:
        if field.startswith("["):  # importing/migrating marker, not an owned slot
            continue
        low, _, high = field.partition("-")
        count += (int(high) - int(low) + 1) if high else 1
    return count


def parse_nodes(text):
    """CLUSTER NODES text -> list of node dicts (id, endpoint, address, port, flags, role, master_id, link, slots)."""
    nodes = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        address = parts[1].split(",")[0]  # ip:port@cport[,hostname]
        endpoint = address.split("@")[0]
        host, _, port = endpoint.rpartition(":")
        flags = parts[2].split(",")
        nodes.append(
            {
                "id": parts[0],
                "endpoint": endpoint,
                "address": host,
                "port": int(port) if port.isdigit() else 0,
                "flags": flags,
                "role": "master" if "master" in flags else ("replica" if "slave" in flags else "unknown"),
                "master_id": None if parts[3] == "-" else parts[3],
                "link": parts[7],
                "slots": _slot_count(parts[8:]),
                "myself": "myself" in flags,
            }
        )
    return nodes


# --- preflight: layout and memory ----------------------------------------------------------


def layout(instances_per_host, replicas):
    """Check that the inventory can hold a cluster whose replicas never sit beside their master.

    instances_per_host: {host: number of instances}; replicas: replicas per master.
    """
    errors = []
    hosts = {h: int(n) for h, n in instances_per_host.items() if int(n) > 0}
    total = sum(hosts.values())
    replicas = int(replicas)
    if replicas < 1:
        errors.append("redis_cluster_replicas=%d: every master needs at least one replica on another host" % replicas)
        return {"masters": total, "errors": errors}
    if total % (replicas + 1):
        errors.append(
            "redis_cluster_ports gives %d instances, not a multiple of redis_cluster_replicas + 1 = %d; "
            "every master needs exactly %d replica(s)" % (total, replicas + 1, replicas)
        )
    masters = total // (replicas + 1)
    if masters < 3:
        errors.append(
            "%d instances with redis_cluster_replicas=%d make %d master(s); Redis Cluster needs at least 3 "
            "masters to elect a failover: add hosts to the redis group or ports to redis_cluster_ports"
            % (total, replicas, masters)
        )
    if replicas > len(hosts) - 1:
        errors.append(
            "redis_cluster_replicas=%d cannot be placed on hosts other than their master's: the redis group "
            "has %d host(s); lower redis_cluster_replicas or add hosts" % (replicas, len(hosts))
        )
    elif not errors:
        # Masters spread as evenly as the hosts allow, then the replicas a host's masters need must
        # exist on the other hosts (per-host Hall condition; sets spanning two hosts always pass).
        per_host = _spread(hosts, masters)
        replica_total = total - masters
        for host in sorted(hosts):
            needed = per_host[host] * replicas
            available = replica_total - (hosts[host] - per_host[host])
            if needed > available:
                errors.append(
                    "host %s holds %d of %d instances: its %d master(s) need %d replica(s) on other hosts but only "
                    "%d exist there; redis_cluster_replicas=%d cannot be placed, spread redis_cluster_ports more "
                    "evenly" % (host, hosts[host], total, per_host[host], needed, available, replicas)
                )
    return {"masters": masters, "errors": errors}


def _spread(hosts, masters):
    """Masters per host, round robin over the hosts with the most free instances."""
    per_host = dict.fromkeys(hosts, 0)
    for _ in range(masters):
        host = max(sorted(hosts), key=lambda h: (hosts[h] - per_host[h] > 0, -per_host[h], hosts[h]))
        per_host[host] += 1
    return per_host


def memory(total_mb, instances, postgres_host, postgres_fraction, postgres_mb, os_mb, redis_fraction, requested_mb):
    """maxmemory per instance from the RAM PostgreSQL and the OS leave.

    left = total - (max(total * postgres_fraction, postgres_mb) on PostgreSQL hosts, else 0) - os_mb
    auto = floor(left * redis_fraction / instances); an explicit request must fit: request * instances <= left.
    """
    total_mb, instances, os_mb = int(total_mb), int(instances), int(os_mb)
    reserved = int(max(total_mb * float(postgres_fraction), int(postgres_mb))) if postgres_host else 0
    left = total_mb - reserved - os_mb
    auto = int(math.floor(max(left, 0) * float(redis_fraction) / max(instances, 1)))
    requested_mb = int(requested_mb or 0)
    per_instance = requested_mb or auto
    errors = []
    if left <= 0:
        errors.append(
            "no RAM left for Redis: %d MB total - %d MB reserved for PostgreSQL (redis_cluster_postgres_reserved_*) "
            "- %d MB for the OS (redis_cluster_os_reserved_mb) = %d MB" % (total_mb, reserved, os_mb, left)
        )
    elif per_instance * instances > left:
        errors.append(
            "redis_cluster_maxmemory_mb=%d x %d instances = %d MB is above the %d MB left after PostgreSQL (%d MB) "
            "and the OS (%d MB) on a %d MB host; lower redis_cluster_maxmemory_mb to at most %d or leave it at 0 "
            "(auto: %d MB)"
            % (
                per_instance,
                instances,
                per_instance * instances,
                left,
                reserved,
                os_mb,
                total_mb,
                left // instances,
                auto,
            )
        )
    elif per_instance < 16:
        errors.append(
            "maxmemory per instance would be %d MB (left %d MB x redis_cluster_maxmemory_fraction=%s / %d instances); "
            "give the host more RAM or run fewer instances" % (per_instance, left, redis_fraction, instances)
        )
    return {
        "total_mb": total_mb,
        "postgres_reserved_mb": reserved,
        "os_reserved_mb": os_mb,
        "left_mb": left,
        "auto_mb": auto,
        "maxmemory_mb": per_instance,
        "source": "redis_cluster_maxmemory_mb" if requested_mb else "auto",
        "errors": errors,
    }


# --- create or check -----------------------------------------------------------------------


def _interleave(instances):
    """Endpoints ordered host by host (h1:p1, h2:p1, h3:p1, h1:p2 ...) so that redis-cli's first
    picks (the masters) fall on different hosts."""
    by_host = {}
    for inst in sorted(instances, key=lambda i: (i["host"], int(i["port"]))):
        by_host.setdefault(inst["host"], []).append(inst["endpoint"])
    ordered = []
    while any(by_host.values()):
        for host in sorted(by_host):
            if by_host[host]:
                ordered.append(by_host[host].pop(0))
    return ordered


def decide(instances):
    """instances: [{host, endpoint, port, report}] where report is the raw instance report text.

    Create only when every instance is empty, holds no key and knows no other node; check when every
    instance knows exactly the inventory's instances; anything else is refused with the reason.
    """
    total = len(instances)
    states = []
    errors = []
    for inst in instances:
        rep = parse_instance_report(inst.get("report", ""))
        info = rep["info"]
        known = info.get("cluster_known_nodes")
        slots = info.get("cluster_slots_assigned")
        if known is None or slots is None or rep["keys"] is None or rep["myid"] is None:
            errors.append(
                "%s (%s) did not answer CLUSTER INFO / DBSIZE / CLUSTER MYID" % (inst["endpoint"], inst["host"])
            )
            continue
        states.append(dict(inst, known=known, slots=slots, keys=rep["keys"], myid=rep["myid"]))
    if errors:
        return {"action": "refuse", "errors": errors}
    fresh = [s for s in states if s["known"] == 1 and s["slots"] == 0 and s["keys"] == 0]
    if len(fresh) == total:
        return {"action": "create", "errors": [], "endpoints": _interleave(states), "ids": _ids(states)}
    members = [s for s in states if s not in fresh]
    for s in states:
        where = "%s (%s, node %s)" % (s["endpoint"], s["host"], s["myid"][:8])
        if s["known"] == 1 and (s["keys"] or s["slots"]):
            errors.append(
                "%s holds %d key(s) and %d slot(s) but knows no other node: refusing to build a cluster over "
                "data; move the data away or empty that instance by hand" % (where, s["keys"], s["slots"])
            )
        elif s in fresh:
            errors.append(
                "%s is empty and knows no other node while %d instance(s) already form a cluster: adding a node "
                "is a manual step (redis-cli --cluster add-node, docs/redis.md)" % (where, len(members))
            )
        elif s["known"] != total:
            errors.append(
                "%s knows %d node(s) but the inventory has %d instances: nodes were added or removed outside "
                "this role (docs/redis.md)" % (where, s["known"], total)
            )
    if errors:
        return {"action": "refuse", "errors": errors}
    return {"action": "check", "errors": [], "ids": _ids(states)}


def _ids(states):
    return {s["endpoint"]: s["myid"] for s in states}


# --- health and placement ------------------------------------------------------------------


def health(nodes, expected_ids, replicas):
    """Errors in one instance's view of the cluster (CLUSTER NODES), against the inventory."""
    errors = []
    by_endpoint = {n["endpoint"]: n for n in nodes}
    for endpoint in sorted(set(expected_ids) - set(by_endpoint)):
        errors.append("%s is not a member of the cluster" % endpoint)
    for endpoint in sorted(set(by_endpoint) - set(expected_ids)):
        errors.append("%s is a member of the cluster but not of the inventory" % endpoint)
    for endpoint, node_id in sorted(expected_ids.items()):
        if endpoint in by_endpoint and node_id and by_endpoint[endpoint]["id"] != node_id:
            errors.append(
                "%s reports node id %s but the cluster knows %s there: two clusters are mixed"
                % (endpoint, node_id[:8], by_endpoint[endpoint]["id"][:8])
            )
    for n in nodes:
        bad = [f for f in n["flags"] if f in BAD_FLAGS]
        if bad:
            errors.append("%s is flagged %s" % (n["endpoint"], ",".join(bad)))
        elif not n["myself"] and n["link"] != "connected":
            errors.append("%s link is %s" % (n["endpoint"], n["link"]))
    covered = sum(n["slots"] for n in nodes if n["role"] == "master")
    if covered != SLOTS:
        errors.append("%d of %d slots are assigned" % (covered, SLOTS))
    masters = [n for n in nodes if n["role"] == "master" and n["slots"] > 0]
    want = len(expected_ids) // (int(replicas) + 1)
    if len(masters) != want:
        errors.append("%d masters hold slots, the inventory layout expects %d" % (len(masters), want))
    ids = {n["id"] for n in nodes}
    for n in nodes:
        if n["role"] == "replica" and n["master_id"] not in ids:
            errors.append("%s replicates unknown node %s" % (n["endpoint"], n["master_id"]))
    return errors


def plan(nodes, host_of, replicas, rebalance_masters=True):
    """Actions that put every replica on a host other than its master's (and spread masters).

    nodes: parse_nodes() output; host_of: {address: inventory host}; replicas: replicas per master.
    Returns failovers (CLUSTER FAILOVER on the listed replica, run first) and moves
    (CLUSTER REPLICATE <master id> on the listed node), each with the reason.
    """
    replicas = int(replicas)
    node = {n["id"]: n for n in nodes}

    def host(node_id):
        return host_of.get(node[node_id]["address"], node[node_id]["address"])

    masters = sorted(
        (n["id"] for n in nodes if n["role"] == "master" and n["slots"] > 0), key=lambda i: node[i]["endpoint"]
    )
    master_of = {n["id"]: n["master_id"] for n in nodes if n["role"] == "replica"}
    failovers, moves, errors = [], [], []

    if rebalance_masters and masters:
        hosts = sorted({host(i) for i in node})
        limit = math.ceil(len(masters) / len(hosts))
        for _ in range(len(nodes)):
            counts = Counter(host(m) for m in masters)
            crowded = [h for h in hosts if counts[h] > limit]
            if not crowded:
                break
            swap = None
            for m in (m for m in masters if host(m) == crowded[0]):
                ours = sorted((r for r, mm in master_of.items() if mm == m), key=lambda i: node[i]["endpoint"])
                free = [r for r in ours if counts[host(r)] < limit]
                if free:
                    swap = (m, free[0])
                    break
            if swap is None:
                break
            old, new = swap
            failovers.append(
                {
                    "node": node[new]["endpoint"],
                    "id": new,
                    "reason": "host %s holds %d masters (at most %d): promote %s, replica of %s"
                    % (crowded[0], counts[crowded[0]], limit, node[new]["endpoint"], node[old]["endpoint"]),
                }
            )
            masters = sorted([new if m == old else m for m in masters], key=lambda i: node[i]["endpoint"])
            for r, mm in list(master_of.items()):
                if mm == old:
                    master_of[r] = new
            del master_of[new]
            master_of[old] = new

    pool = sorted((i for i in node if i not in masters), key=lambda i: node[i]["endpoint"])
    assigned = {}
    load = Counter()

    def allowed(r, m):
        return host(r) != host(m)

    for r in pool:  # keep every placement that is already right
        m = master_of.get(r)
        if m in masters and allowed(r, m) and load[m] < replicas:
            assigned[r] = m
            load[m] += 1

    def augment(r, seen):
        hosts_of = {m: {host(x) for x, mm in assigned.items() if mm == m} for m in masters}
        order = sorted(masters, key=lambda m: (load[m], host(r) in hosts_of[m], node[m]["endpoint"]))
        for m in order:
            if m in seen or not allowed(r, m):
                continue
            seen.add(m)
            if load[m] < replicas:
                assigned[r] = m
                load[m] += 1
                return True
            for other in sorted(x for x, mm in assigned.items() if mm == m):
                del assigned[other]
                if augment(other, seen):
                    assigned[r] = m
                    return True
                assigned[other] = m
        return False

    for r in pool:
        if r not in assigned and not augment(r, set()):
            spare = sorted((m for m in masters if allowed(r, m)), key=lambda m: (load[m], node[m]["endpoint"]))
            if spare:  # more replicas than masters x replicas: extra copies, still off the master's host
                assigned[r] = spare[0]
                load[spare[0]] += 1
            else:
                errors.append("%s cannot replicate any master on another host" % node[r]["endpoint"])

    for r in pool:
        m = assigned.get(r)
        if m and master_of.get(r) != m:
            current = master_of.get(r)
            why = (
                "beside its master %s on %s" % (node[current]["endpoint"], host(r))
                if current in node and not allowed(r, current)
                else ("an empty master" if current is None else "rebalancing replicas")
            )
            moves.append(
                {
                    "node": node[r]["endpoint"],
                    "id": r,
                    "master": m,
                    "master_endpoint": node[m]["endpoint"],
                    "reason": "%s is %s: replicate %s on %s" % (node[r]["endpoint"], why, node[m]["endpoint"], host(m)),
                }
            )
    for m in masters:
        if load[m] < replicas:
            errors.append(
                "master %s has %d replica(s) on other hosts, wants %d" % (node[m]["endpoint"], load[m], replicas)
            )
    return {"failovers": failovers, "moves": moves, "errors": errors}


def plan_report(nodes_text, host_of, expected_ids, replicas, rebalance_masters=True):
    nodes = parse_nodes(nodes_text)
    errors = health(nodes, expected_ids, replicas)
    actions = plan(nodes, host_of, replicas, rebalance_masters) if not errors else {"failovers": [], "moves": []}
    endpoint_of = {n["id"]: n["endpoint"] for n in nodes}
    by_host = {}
    for n in nodes:
        if n["role"] == "master":
            label = "%s M" % n["endpoint"]
        else:
            label = "%s S of %s" % (n["endpoint"], endpoint_of.get(n["master_id"], "?"))
        by_host.setdefault(host_of.get(n["address"], n["address"]), []).append(label)
    return {
        "errors": errors + actions.get("errors", []),
        "failovers": actions["failovers"],
        "moves": actions["moves"],
        "layout": {h: sorted(v) for h, v in sorted(by_host.items())},
    }


# --- command line --------------------------------------------------------------------------


def instances_from_reports(reports):
    """{host: {"address:port": report text}} -> [{host, endpoint, port, report}] (what the role gathers)."""
    return [
        {"host": host, "endpoint": endpoint, "port": int(endpoint.rpartition(":")[2]), "report": text}
        for host, by_endpoint in sorted(reports.items())
        for endpoint, text in sorted(by_endpoint.items())
    ]


def main(argv=None, stdin=None, stdout=None):
    argv = sys.argv[1:] if argv is None else argv
    data = json.load(stdin or sys.stdin)
    action = argv[0] if argv else ""
    if action == "layout":
        out = layout(data["instances_per_host"], data["replicas"])
    elif action == "memory":
        out = memory(**data)
    elif action == "decide":
        out = decide(instances_from_reports(data["reports"]))
    elif action == "plan":
        instances = instances_from_reports(data["reports"])
        host_of = {i["endpoint"].rpartition(":")[0]: i["host"] for i in instances}
        expected = {i["endpoint"]: parse_instance_report(i["report"])["myid"] for i in instances}
        out = plan_report(data["nodes"], host_of, expected, data["replicas"], data.get("rebalance_masters", True))
    else:
        raise SystemExit("usage: redis_cluster_plan.py layout|memory|decide|plan < input.json")
    stdout = stdout or sys.stdout
    json.dump(out, stdout, sort_keys=True)
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
