"""Unit tests of roles/redis_cluster/files/redis_cluster_plan.py (the role's decisions)."""

from __future__ import annotations

import importlib.util
import io
import json
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

PLAN_FILE = pathlib.Path(__file__).resolve().parents[3] / "roles" / "redis_cluster" / "files" / "redis_cluster_plan.py"
_spec = importlib.util.spec_from_file_location("redis_cluster_plan", PLAN_FILE)
rcp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rcp)


def _id(n):
    return ("%x" % n).rjust(40, "0")


def _nodes_text(layout):
    """layout: list of (n, address, port, role, master n or None, slots string)."""
    lines = []
    for n, address, port, role, master, slots in layout:
        flags = ("myself," if n == 1 else "") + ("master" if role == "M" else "slave")
        line = "%s %s:%d@%d %s %s 0 1700000000000 %d connected %s" % (
            _id(n),
            address,
            port,
            port + 10000,
            flags,
            _id(master) if master else "-",
            n,
            slots,
        )
        lines.append(line.rstrip())
    return "\n".join(lines)


HOSTS = {"10.0.0.1": "a", "10.0.0.2": "b", "10.0.0.3": "c"}
GOOD = [
    (1, "10.0.0.1", 7000, "M", None, "0-5460"),
    (2, "10.0.0.2", 7000, "M", None, "5461-10922"),
    (3, "10.0.0.3", 7000, "M", None, "10923-16383"),
    (4, "10.0.0.1", 7001, "S", 3, ""),
    (5, "10.0.0.2", 7001, "S", 1, ""),
    (6, "10.0.0.3", 7001, "S", 2, ""),
]
EXPECTED = {"%s:%d" % (a, p): _id(n) for n, a, p, *_rest in GOOD}


# --- parsing -------------------------------------------------------------------------------


def test_parse_nodes_reads_roles_masters_slots_and_markers():
    text = (
        _nodes_text(GOOD)
        + "\n"
        + "%s 10.0.0.9:7002@17002,cache-9 master - 0 0 9 connected 7 9-10 [11->-%s]"
        % (
            _id(9),
            _id(1),
        )
    )
    nodes = {n["id"]: n for n in rcp.parse_nodes(text)}
    assert nodes[_id(1)]["myself"] and nodes[_id(1)]["slots"] == 5461
    assert nodes[_id(4)]["role"] == "replica" and nodes[_id(4)]["master_id"] == _id(3)
    assert nodes[_id(9)]["endpoint"] == "10.0.0.9:7002" and nodes[_id(9)]["slots"] == 3


def test_parse_instance_report_splits_info_keys_and_id():
    report = rcp.parse_instance_report("cluster_state:fail\r\ncluster_known_nodes:1\r\n0\n%s\n" % _id(7))
    assert report == {"info": {"cluster_state": "fail", "cluster_known_nodes": 1}, "keys": 0, "myid": _id(7)}


# --- layout and memory (preflight) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("per_host", "replicas", "masters", "error"),
    [
        ({"a": 2, "b": 2, "c": 2}, 1, 3, None),
        ({"a": 3, "b": 3, "c": 3}, 2, 3, None),
        ({"a": 2, "b": 2}, 1, 2, "at least 3 masters"),
        ({"a": 3, "b": 3, "c": 3}, 1, 4, "not a multiple"),
        ({"a": 3, "b": 3}, 2, 2, "redis_cluster_replicas=2 cannot be placed"),
        ({"a": 4, "b": 1, "c": 1}, 1, 3, "host a holds 4 of 6 instances"),
        ({"a": 2, "b": 2, "c": 2}, 0, 6, "at least one replica"),
    ],
)
def test_layout(per_host, replicas, masters, error):
    out = rcp.layout(per_host, replicas)
    assert out["masters"] == masters
    if error is None:
        assert out["errors"] == []
    else:
        assert any(error in e for e in out["errors"]), out["errors"]


def _memory(**kw):
    args = dict(
        total_mb=16384,
        instances=2,
        postgres_host=True,
        postgres_fraction=0.5,
        postgres_mb=0,
        os_mb=512,
        redis_fraction=0.6,
        requested_mb=0,
    )
    args.update(kw)
    return rcp.memory(**args)


def test_memory_auto_size_after_postgres_and_os():
    out = _memory()
    assert (out["postgres_reserved_mb"], out["left_mb"], out["maxmemory_mb"], out["errors"]) == (8192, 7680, 2304, [])
    assert out["source"] == "auto"


def test_memory_without_postgres_on_the_host_and_with_a_larger_absolute_reservation():
    assert _memory(postgres_host=False)["left_mb"] == 16384 - 512
    assert _memory(postgres_mb=12000)["postgres_reserved_mb"] == 12000


def test_memory_refuses_a_maxmemory_above_the_ram_left():
    out = _memory(requested_mb=4000)
    assert any("redis_cluster_maxmemory_mb=4000" in e and "7680 MB left" in e for e in out["errors"]), out
    assert _memory(requested_mb=3840)["errors"] == []


def test_memory_refuses_when_nothing_is_left():
    assert any("no RAM left" in e for e in _memory(total_mb=1000, postgres_mb=900)["errors"])


# --- create or check -----------------------------------------------------------------------


def _report(known, slots, keys, n, state="ok"):
    return "cluster_state:%s\ncluster_slots_assigned:%d\ncluster_known_nodes:%d\n%d\n%s" % (
        state,
        slots,
        known,
        keys,
        _id(n),
    )


def _instances(reports):
    return [
        {"host": HOSTS[a], "endpoint": "%s:%d" % (a, p), "port": p, "report": reports[n]} for n, a, p, *_rest in GOOD
    ]


def test_decide_creates_only_when_every_instance_is_empty_and_alone():
    out = rcp.decide(_instances({n: _report(1, 0, 0, n, "fail") for n in range(1, 7)}))
    assert out["action"] == "create"
    # interleaved by host, so redis-cli picks masters on different hosts first
    assert out["endpoints"][:3] == ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]
    assert out["ids"] == EXPECTED


def test_decide_checks_an_existing_cluster():
    out = rcp.decide(_instances({n: _report(6, 16384, 10, n) for n in range(1, 7)}))
    assert out["action"] == "check" and out["ids"] == EXPECTED


def test_decide_refuses_a_new_empty_node_beside_a_cluster():
    reports = {n: _report(5, 16384, 3, n) for n in range(1, 6)}
    reports[6] = _report(1, 0, 0, 6, "fail")
    out = rcp.decide(_instances(reports))
    assert out["action"] == "refuse"
    assert any("10.0.0.3:7001" in e and "add-node" in e for e in out["errors"]), out
    assert any("knows 5 node(s)" in e for e in out["errors"]), out


def test_decide_never_builds_over_a_standalone_node_holding_data():
    reports = {n: _report(1, 0, 0, n, "fail") for n in range(1, 7)}
    reports[2] = _report(1, 0, 42, 2, "fail")
    out = rcp.decide(_instances(reports))
    assert out["action"] == "refuse"
    assert any("holds 42 key(s)" in e for e in out["errors"]), out


def test_decide_refuses_an_instance_that_did_not_answer():
    reports = {n: _report(6, 16384, 0, n) for n in range(1, 7)}
    reports[3] = "NOAUTH Authentication required."
    assert rcp.decide(_instances(reports))["action"] == "refuse"


# --- health and placement ------------------------------------------------------------------


def test_a_good_cluster_needs_nothing():
    out = rcp.plan_report(_nodes_text(GOOD), HOSTS, EXPECTED, 1)
    assert (out["errors"], out["failovers"], out["moves"]) == ([], [], [])
    assert out["layout"]["a"] == ["10.0.0.1:7000 M", "10.0.0.1:7001 S of 10.0.0.3:7000"]


def test_a_replica_beside_its_master_is_moved_to_the_master_without_one():
    bad = [row if row[0] != 4 else (4, "10.0.0.1", 7001, "S", 1, "") for row in GOOD]
    out = rcp.plan_report(_nodes_text(bad), HOSTS, EXPECTED, 1)
    assert out["failovers"] == [] and out["errors"] == []
    assert [(m["node"], m["master_endpoint"]) for m in out["moves"]] == [("10.0.0.1:7001", "10.0.0.3:7000")]
    assert "beside its master" in out["moves"][0]["reason"]


def test_two_masters_on_one_host_are_spread_with_a_failover():
    # b's replica was promoted (a failover): b holds two masters, a none.
    crowded = [
        (1, "10.0.0.1", 7000, "S", 5, ""),
        (2, "10.0.0.2", 7000, "M", None, "5461-10922"),
        (3, "10.0.0.3", 7000, "M", None, "10923-16383"),
        (4, "10.0.0.1", 7001, "S", 3, ""),
        (5, "10.0.0.2", 7001, "M", None, "0-5460"),
        (6, "10.0.0.3", 7001, "S", 2, ""),
    ]
    out = rcp.plan_report(_nodes_text(crowded), HOSTS, EXPECTED, 1)
    assert [f["node"] for f in out["failovers"]] == ["10.0.0.1:7000"]
    assert out["moves"] == [] and out["errors"] == []
    assert rcp.plan_report(_nodes_text(crowded), HOSTS, EXPECTED, 1, rebalance_masters=False)["failovers"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace(" slave %s" % _id(1), " slave,fail %s" % _id(1)), "flagged fail"),
        (lambda t: "\n".join(t.splitlines()[:-1]), "10.0.0.3:7001 is not a member"),
        (lambda t: t.replace("0-5460", "0-5000"), "15924 of 16384 slots"),
        (lambda t: t.replace(_id(6), _id(66)), "two clusters are mixed"),
    ],
)
def test_an_unhealthy_cluster_is_reported_and_not_touched(change, message):
    out = rcp.plan_report(change(_nodes_text(GOOD)), HOSTS, EXPECTED, 1)
    assert any(message in e for e in out["errors"]), out["errors"]
    assert out["failovers"] == [] and out["moves"] == []


def test_main_speaks_json():
    out = io.StringIO()
    data = {"instances_per_host": {"a": 2, "b": 2, "c": 2}, "replicas": 1}
    assert rcp.main(["layout"], io.StringIO(json.dumps(data)), out) == 0
    assert json.loads(out.getvalue()) == {"errors": [], "masters": 3}


# --- property: whatever redis-cli produced, the plan ends with replicas off their master's host


def _apply(nodes, plan):
    """Apply failovers then moves to parsed nodes, the way Redis does."""
    by_id = {n["id"]: dict(n) for n in nodes}
    for f in plan["failovers"]:
        new = by_id[f["id"]]
        old = by_id[new["master_id"]]
        new.update(role="master", master_id=None, slots=old["slots"])
        for n in by_id.values():
            if n["master_id"] == old["id"]:
                n["master_id"] = new["id"]
        old.update(role="replica", master_id=new["id"], slots=0)
    for m in plan["moves"]:
        by_id[m["id"]].update(role="replica", master_id=m["master"], slots=0)
    return list(by_id.values())


@st.composite
def clusters(draw):
    hosts = draw(st.integers(min_value=3, max_value=5))
    per_host = draw(st.integers(min_value=1, max_value=3))
    replicas = draw(st.integers(min_value=1, max_value=min(2, hosts - 1)))
    total = hosts * per_host
    if total % (replicas + 1) or total // (replicas + 1) < 3:
        replicas = 1
        if total % 2:
            per_host, total = 2, hosts * 2
    nodes = [("10.0.1.%d" % (h + 1), 7000 + p) for h in range(hosts) for p in range(per_host)]
    order = draw(st.permutations(range(len(nodes))))
    masters = order[: total // (replicas + 1)]
    rows = []
    for rank, i in enumerate(masters):
        rows.append((i + 1, nodes[i][0], nodes[i][1], "M", None, "%d" % rank))
    for j, i in enumerate(order[len(masters) :]):
        master = masters[draw(st.integers(min_value=0, max_value=len(masters) - 1)) if j % 2 else j % len(masters)]
        rows.append((i + 1, nodes[i][0], nodes[i][1], "S", master + 1, ""))
    host_of = {"10.0.1.%d" % (h + 1): "h%d" % h for h in range(hosts)}
    return rows, host_of, replicas


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_plan_rounds_converge_with_every_replica_off_its_masters_host(cluster):
    # The role runs up to 4 rounds of read, plan, act; three acting rounds must be enough.
    rows, host_of, replicas = cluster
    nodes = rcp.parse_nodes(_nodes_text(rows))
    for _round in range(3):
        out = rcp.plan(nodes, host_of, replicas)
        assert out["errors"] == []
        if not out["failovers"] and not out["moves"]:
            break
        nodes = _apply(nodes, out)
    final = {n["id"]: n for n in nodes}
    again = rcp.plan(nodes, host_of, replicas)
    assert again["failovers"] == [] and again["moves"] == [], again
    for n in final.values():
        if n["role"] == "replica":
            assert host_of[n["address"]] != host_of[final[n["master_id"]]["address"]]
    for m in (n for n in final.values() if n["role"] == "master" and n["slots"]):
        assert sum(1 for n in final.values() if n["master_id"] == m["id"]) >= replicas
