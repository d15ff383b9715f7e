"""Every host runs the settings the sizing computed for ITS OWN profile.

Three sources must agree: what the server reports (SHOW, over TLS from outside), what the role
recorded in /etc/keel/postgresql-tuning.json, and an independent recomputation with pg_tune's
Python function from the profile that keel.postgres.host_profile reports now. Hosts of different
sizes (4g/2 CPUs, 3g/1, 2g/1) must get different values.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import INVENTORY, PG_NAMES

from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import compute

# The headline settings, compared as SHOW prints them.
SHOWN = [
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "max_connections",
    "maintenance_work_mem",
    "max_worker_processes",
    "random_page_cost",
    "huge_pages",
]
# The lab's inputs: role defaults (oltp, 128MB reserved), the connection budget = the PgBouncer
# pools' max_db_connections total (keel_pgbouncer_pools, one source for pools and max_connections),
# no Redis reservation (keel_redis_reserved_memory_bytes is not set in the lab); 5 PostgreSQL hosts
# -> 4 replicas each.
_POOLS = INVENTORY["_meta"]["hostvars"][PG_NAMES[0]]["keel_pgbouncer_pools"]
INPUTS = {
    "workload": "oltp",
    "pg_version": 15,
    "connection_budget": sum(pool["max_db_connections"] for pool in _POOLS),
    "reserved_memory_bytes": 128 * 1024**2,
    "replicas": 4,
}
UNITS = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _record(lab):
    return json.loads(lab.file("/etc/keel/postgresql-tuning.json").content_string)


def _bytes(text):
    match = re.fullmatch(r"(\d+)(kB|MB|GB|TB)", text)
    assert match, text
    return int(match.group(1)) * UNITS[match.group(2)]


def _docker_size(text):
    return int(text[:-1]) * {"k": 1024, "m": 1024**2, "g": 1024**3}[text[-1].lower()]


def _normal(value):
    """SHOW prints reals without a trailing .0 (hash_mem_multiplier 2): compare numbers as numbers."""
    text = str(value)
    try:
        return float(text)
    except ValueError:
        return text


def _live(psql, address, names):
    sql = "SELECT json_object_agg(n, current_setting(n)) FROM unnest(ARRAY[%s]) AS n" % ", ".join(
        "'%s'" % name for name in names
    )
    return json.loads(psql.value(address, "monitor", sql, dbname="postgres"))


def test_every_sized_setting_is_live(pg_name, pg_host, psql, pg_hosts):
    record = _record(pg_host)
    live = _live(psql, pg_hosts[pg_name], list(record["settings"]))
    for setting, item in record["settings"].items():
        assert _normal(live[setting]) == _normal(item["value"]), "%s on %s" % (setting, pg_name)
    for setting in SHOWN:
        shown = psql.value(pg_hosts[pg_name], "monitor", "SHOW %s" % setting, dbname="postgres")
        assert shown == str(record["settings"][setting]["value"]), "%s on %s" % (setting, pg_name)


def test_sizing_recomputed_from_the_module_profile(pg_name, pg_host, hostvars, profiles):
    name, profile = pg_name, profiles[pg_name]
    # The module sees the container's limits, not the Docker host's 23GB and 2 CPUs.
    assert profile["effective_memory_bytes"] == _docker_size(hostvars[name]["keel_lab_memory"])
    assert profile["effective_cpus"] == int(hostvars[name]["keel_lab_cpus"])
    assert profile["container"] == "docker"

    record = _record(pg_host)
    assert {key: record["inputs"][key] for key in INPUTS} == INPUTS
    expected = compute(profile, **INPUTS)
    assert {k: v["value"] for k, v in record["settings"].items()} == {
        k: v["value"] for k, v in expected["settings"].items()
    }
    assert record["summary"]["vm_nr_hugepages"] == expected["summary"]["vm_nr_hugepages"] == 0
    assert record["summary"]["memory_commitment"]["total"] <= profile["effective_memory_bytes"]


def test_hosts_of_different_sizes_got_different_settings(psql, pg_hosts, hostvars, profiles):
    live = {name: _live(psql, address, SHOWN) for name, address in pg_hosts.items()}
    size = {
        name: (_docker_size(hostvars[name]["keel_lab_memory"]), int(hostvars[name]["keel_lab_cpus"])) for name in live
    }
    assert len(set(size.values())) == 3, size  # the lab has 4g/2, 3g/1 and 2g/1 hosts
    for a in live:
        for b in live:
            (mem_a, cpu_a), (mem_b, cpu_b) = size[a], size[b]
            if mem_a > mem_b:
                for setting in ("shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem"):
                    assert _bytes(live[a][setting]) > _bytes(live[b][setting]), (setting, a, b, live[a], live[b])
            if cpu_a > cpu_b:
                assert int(live[a]["max_worker_processes"]) > int(live[b]["max_worker_processes"]), (a, b)
            if size[a] == size[b]:
                assert live[a] == live[b], (a, b)
    # Same connection budget everywhere: max_connections does not depend on the host's size; it is the
    # budget (the pools' max_db_connections total) plus the reserved and headroom connections.
    expected = {str(compute(profiles[name], **INPUTS)["settings"]["max_connections"]["value"]) for name in live}
    assert len(expected) == 1 and int(next(iter(expected))) > INPUTS["connection_budget"]
    assert {values["max_connections"] for values in live.values()} == expected


@pytest.mark.parametrize(
    "setting, value", [("data_checksums", "on"), ("server_encoding", "UTF8"), ("lc_collate", "C.UTF-8")]
)
def test_cluster_was_initialised_as_specified(psql, pg_hosts, setting, value):
    for address in pg_hosts.values():
        assert psql.value(address, "monitor", "SHOW %s" % setting, dbname="postgres") == value
