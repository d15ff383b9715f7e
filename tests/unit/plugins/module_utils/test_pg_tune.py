"""Unit and property tests for module_utils/pg_tune.py.

The validator below is written from the PostgreSQL documentation (units, ranges, cross-setting
rules), independently of pg_tune's own PARAMS table, and checks every computed value.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.keel.postgres.plugins.module_utils import pg_tune
from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import SizingError, compute

KiB, MiB, GiB, TiB = 1024, 1024**2, 1024**3, 1024**4
INT_MAX = 2**31 - 1

# --------------------------------------------------------------------------- independent validator

MEMORY_UNIT = {"kB": KiB, "MB": MiB, "GB": GiB, "TB": TiB}
TIME_UNIT = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}

# name: (base unit in bytes for bare integers, minimum bytes, maximum bytes)
MEMORY_RANGES = {
    "shared_buffers": (8 * KiB, 128 * KiB, (INT_MAX // 2) * 8 * KiB),
    "effective_cache_size": (8 * KiB, 8 * KiB, INT_MAX * 8 * KiB),
    "work_mem": (KiB, 64 * KiB, INT_MAX * KiB),
    "maintenance_work_mem": (KiB, MiB, INT_MAX * KiB),
    "autovacuum_work_mem": (KiB, MiB, INT_MAX * KiB),
    "wal_buffers": (8 * KiB, 32 * KiB, INT_MAX),
    "min_wal_size": (MiB, 32 * MiB, INT_MAX * MiB),
    "max_wal_size": (MiB, 32 * MiB, INT_MAX * MiB),
    "wal_keep_size": (MiB, 0, INT_MAX * MiB),
    "max_slot_wal_keep_size": (MiB, 0, INT_MAX * MiB),  # -1 (unlimited) deliberately not accepted
    "log_temp_files": (KiB, 0, INT_MAX * KiB),
}
# name: (base unit in ms, minimum ms, maximum ms)
TIME_RANGES = {
    "checkpoint_timeout": (1000, 30_000, 86_400_000),
    "log_min_duration_statement": (1, -1, INT_MAX),
    "auto_explain.log_min_duration": (1, -1, INT_MAX),
}
INT_RANGES = {
    "max_connections": (1, 262143),
    "superuser_reserved_connections": (0, 262143),
    "max_worker_processes": (0, 262143),
    "max_parallel_workers": (0, 1024),
    "max_parallel_workers_per_gather": (0, 1024),
    "max_parallel_maintenance_workers": (0, 1024),
    "effective_io_concurrency": (0, 1000),
    "maintenance_io_concurrency": (0, 1000),
    "default_statistics_target": (1, 10000),
    "autovacuum_max_workers": (1, 262143),
    "autovacuum_vacuum_cost_limit": (1, 10000),
    "max_wal_senders": (0, 262143),
    "max_replication_slots": (0, 262143),
    "pg_stat_statements.max": (100, INT_MAX),
}
REAL_RANGES = {
    "hash_mem_multiplier": (1.0, 1000.0),
    "checkpoint_completion_target": (0.0, 1.0),
    "random_page_cost": (0.0, 1e308),
}
ENUMS = {
    "huge_pages": {"on", "off", "try"},
    "pg_stat_statements.track": {"none", "top", "all"},
    "password_encryption": {"scram-sha-256"},
    "jit": {"on", "off"},
    "log_lock_waits": {"on"},
    "log_checkpoints": {"on"},
    "log_connections": {"on"},
    "log_disconnections": {"on"},
    "track_io_timing": {"on"},
}
STRINGS = {"shared_preload_libraries", "log_line_prefix"}
ALL_SETTINGS = set(MEMORY_RANGES) | set(TIME_RANGES) | set(INT_RANGES) | set(REAL_RANGES) | set(ENUMS) | STRINGS


def memory_bytes(name, value):
    base = MEMORY_RANGES[name][0]
    if isinstance(value, int):
        return value * base
    match = re.fullmatch(r"(\d+)(kB|MB|GB|TB)", value)
    assert match, "%s=%r is not <int><kB|MB|GB|TB>" % (name, value)
    return int(match.group(1)) * MEMORY_UNIT[match.group(2)]


def time_ms(name, value):
    if isinstance(value, int):
        return value * TIME_RANGES[name][0]
    match = re.fullmatch(r"(\d+)(ms|s|min|h|d)", value)
    assert match, "%s=%r is not <int><ms|s|min|h|d>" % (name, value)
    return int(match.group(1)) * TIME_UNIT[match.group(2)]


def check_value(name, value):
    """Assert one rendered value is valid for its parameter; return it in bytes/ms/number."""
    if name in MEMORY_RANGES:
        parsed, (_unit, low, high) = memory_bytes(name, value), MEMORY_RANGES[name]
    elif name in TIME_RANGES:
        parsed, (_unit, low, high) = time_ms(name, value), TIME_RANGES[name]
    elif name in INT_RANGES:
        assert isinstance(value, int) and not isinstance(value, bool), (name, value)
        parsed, (low, high) = value, INT_RANGES[name]
    elif name in REAL_RANGES:
        assert isinstance(value, str) and re.fullmatch(r"\d+\.\d+", value), (name, value)
        parsed, (low, high) = float(value), REAL_RANGES[name]
    elif name in ENUMS:
        assert value in ENUMS[name], (name, value)
        return value
    else:
        assert isinstance(value, str) and "'" not in value and "\n" not in value, (name, value)
        return value
    assert low <= parsed <= high, "%s=%r outside %r..%r" % (name, value, low, high)
    return parsed


def check_settings(settings, pg_version):
    """Validate every value and the cross-setting rules from the PostgreSQL docs."""
    assert set(settings) == ALL_SETTINGS
    for name, item in settings.items():
        assert set(item) == {"value", "reason"}
        assert item["reason"] and "\n" not in item["reason"], name
    v = {name: check_value(name, item["value"]) for name, item in settings.items()}
    assert v["superuser_reserved_connections"] < v["max_connections"]
    backends = v["max_connections"] + v["autovacuum_max_workers"] + 1 + v["max_worker_processes"] + v["max_wal_senders"]
    assert backends <= 262143
    assert v["min_wal_size"] <= v["max_wal_size"]
    assert v["max_parallel_workers"] <= v["max_worker_processes"]
    assert v["max_parallel_workers_per_gather"] <= v["max_parallel_workers"]
    assert v["max_parallel_maintenance_workers"] <= v["max_parallel_workers"]
    assert v["shared_preload_libraries"].split(",") == ["pg_stat_statements", "auto_explain"]
    assert 13 <= pg_version <= 17
    return v


# Concurrency factors documented in docs/tuning.md (work areas per backend, worst case).
DOCUMENTED_CONCURRENCY = {"oltp": 0.5, "web": 1.0, "mixed": 1.5, "dw": 3.0}


def check_memory_invariant(result, profile, workload, reserved):
    """The brief's formula, recomputed from the rendered settings, and the summary breakdown."""
    v = {name: check_value(name, item["value"]) for name, item in result["settings"].items()}
    memory = profile["effective_memory_bytes"]
    lower_bound = (
        v["shared_buffers"]
        + v["max_connections"] * v["work_mem"] * v["hash_mem_multiplier"] * DOCUMENTED_CONCURRENCY[workload]
        + v["autovacuum_max_workers"] * v["autovacuum_work_mem"]
        + v["maintenance_work_mem"]
        + v["wal_buffers"]
        + reserved
        + 128 * MiB
        + memory // 20
    )
    assert lower_bound <= memory
    commitment = result["summary"]["memory_commitment"]
    total = commitment.pop("total")
    assert total == sum(commitment.values())
    assert total <= memory
    assert commitment["shared_buffers"] == v["shared_buffers"]
    assert commitment["wal_buffers"] == v["wal_buffers"]
    assert commitment["reserved"] == reserved
    work_areas = v["max_connections"] * v["work_mem"] * v["hash_mem_multiplier"] * DOCUMENTED_CONCURRENCY[workload]
    assert commitment["backend_work_mem"] >= work_areas
    assert all(term >= 0 for term in commitment.values())
    return total


def profile_of(memory, cpus=4, storage="ssd", volume=200 * GiB, hugepage=2 * MiB, container=None):
    return {
        "effective_memory_bytes": memory,
        "effective_cpus": cpus,
        "storage_class": storage,
        "data_volume_size_bytes": volume,
        "hugepage_size_bytes": hugepage,
        "container": container,
    }


def values(result):
    return {name: item["value"] for name, item in result["settings"].items()}


# --------------------------------------------------------------------------- hand-computed profiles


def test_4gb_oltp_ssd_hand_computed():
    """4 GiB, 2 CPUs, SSD, 100 GiB volume, budget 100 (docs/tuning.md worked example)."""
    result = compute(profile_of(4 * GiB, cpus=2, volume=100 * GiB), "oltp", 15, 100)
    got = values(result)
    expected = {
        "max_connections": 113,  # 100 + 3 + 10
        "shared_buffers": "1GB",  # 25% of 4GB
        "huge_pages": "on",  # 1GB >= 1GB, not a container, 2MB pages known
        "effective_cache_size": "3GB",  # 75% of 4GB
        "maintenance_work_mem": "256MB",  # 4GB / 16
        "autovacuum_work_mem": "42MB",  # floor(4096MB / (32 * 3 workers))
        "wal_buffers": "16MB",  # min(16MB, 1GB/32)
        "max_parallel_workers": 1,  # 2 CPUs x 1/2
        "max_parallel_workers_per_gather": 0,  # 2 CPUs x 1/4
        "max_worker_processes": 5,  # parallel workers + 4
        "max_wal_size": "8GB",  # min(oltp 8GB, 10% of 100GB)
        "min_wal_size": "2GB",
        "wal_keep_size": "2560MB",  # 2.5% of 100GB
        "max_slot_wal_keep_size": "10GB",  # 10% of 100GB
        "random_page_cost": "1.1",
        "effective_io_concurrency": 200,
        "autovacuum_vacuum_cost_limit": 1000,
    }
    assert {name: got[name] for name in expected} == expected
    # shared memory estimate by hand: 1GB + 16MB + ceil(3% of 1GB) + 128 backends x 40kB + 10000 x 1kB + 16MB
    # (128 backends = 113 connections + 3 autovacuum + launcher + 5 workers + 6 WAL senders)
    shm = 1073741824 + 16777216 + 32212255 + 128 * 40 * KiB + 10000 * KiB + 16 * MiB
    assert result["summary"]["shared_memory_estimate_bytes"] == shm == 1154991391
    assert result["summary"]["vm_nr_hugepages"] == 551  # ceil(1154991391 / 2MB)
    # work_mem by hand: 4GB - 551 huge pages - 136 processes x (3MB private + 551 x 8B page tables)
    # - 2 x 256MB maintenance - 2 x 3 x 42MB autovacuum - (128MB + 5% of 4GB) floor - 64kB slack
    # = 1560874356 bytes for 113 x 1/2 + 1 parallel worker = 57.5 work areas x 2 (hash_mem_multiplier)
    # = 12.9MB per work area, rounded down to whole MB
    assert got["work_mem"] == "12MB"
    assert result["summary"]["memory_commitment"]["total"] == 4181062284


# Measured with `postgres -C shared_memory_size` / `-C shared_memory_size_in_huge_pages` on
# PostgreSQL 15.18 (Debian 15.18-0+deb12u1), wal_buffers=-1, pg_stat_statements preloaded when pgss > 0.
MEASURED_PG15_SHARED_MEMORY = [
    # shared_buffers, max_connections, autovacuum workers, worker processes, wal senders, pgss.max, MB, 2MB pages
    (128 * MiB, 100, 3, 8, 10, 0, 143, 72),
    (76 * MiB, 33, 3, 4, 10, 5000, 87, 44),
    (1 * GiB, 113, 3, 5, 10, 10000, 1078, 539),
    (4 * GiB, 313, 3, 8, 10, 10000, 4227, 2114),
    (16 * GiB, 1013, 8, 36, 12, 10000, 16822, 8411),
    (32 * GiB, 3013, 8, 68, 12, 10000, 33659, 16830),
]


@pytest.mark.parametrize(
    "shared, connections, autovacuum, workers, senders, pgss, size_mb, pages", MEASURED_PG15_SHARED_MEMORY
)
def test_shared_memory_estimate_covers_what_postgresql_15_allocates(
    shared, connections, autovacuum, workers, senders, pgss, size_mb, pages
):
    v = {
        "shared_buffers": shared,
        "wal_buffers": -1,
        "autovacuum_max_workers": autovacuum,
        "max_worker_processes": workers,
        "max_wal_senders": senders,
        "pg_stat_statements.max": pgss,
    }
    estimate = pg_tune.shared_memory_estimate(v, connections)
    assert estimate >= size_mb * MiB
    assert -(-estimate // (2 * MiB)) >= pages  # vm.nr_hugepages from the estimate is enough
    assert estimate <= size_mb * MiB * 1.05 + 32 * MiB  # and not wildly above


def test_same_host_in_a_container_pays_for_page_tables():
    host = compute(profile_of(4 * GiB, cpus=2, volume=100 * GiB), "oltp", 15, 100)
    container = compute(profile_of(4 * GiB, cpus=2, volume=100 * GiB, container="docker"), "oltp", 15, 100)
    assert values(container)["huge_pages"] == "try"
    assert container["summary"]["vm_nr_hugepages"] == 0
    # 136 processes x ceil(1154991391 / 4kB) page-table entries x 8 bytes
    assert container["summary"]["memory_commitment"]["page_tables"] == 136 * 281981 * 8
    assert values(container)["work_mem"] == "10MB"
    assert host["summary"]["memory_commitment"]["page_tables"] < MiB


def test_512mb_hdd_small_host():
    result = compute(profile_of(512 * MiB, cpus=1, storage="hdd", volume=20 * GiB), "oltp", 15, 5)
    got = values(result)
    assert got["shared_buffers"] == "76MB"  # 15% of 512MB below 1GB, rounded down to MB
    assert got["huge_pages"] == "try"
    assert got["random_page_cost"] == "4.0"
    assert got["effective_io_concurrency"] == 2
    assert got["max_parallel_workers"] == 0
    assert got["pg_stat_statements.max"] == 5000
    assert result["summary"]["vm_nr_hugepages"] == 0
    check_memory_invariant(result, profile_of(512 * MiB), "oltp", 0)


def test_256gb_dw_san_parallelism():
    result = compute(profile_of(256 * GiB, cpus=64, storage="san", volume=10 * TiB), "dw", 16, 60)
    got = values(result)
    assert got["shared_buffers"] == "64GB"
    assert got["max_parallel_workers"] == 64
    assert got["max_parallel_workers_per_gather"] == 16  # min(16, 64/2)
    assert got["max_parallel_maintenance_workers"] == 8
    assert got["max_worker_processes"] == 68
    assert got["autovacuum_max_workers"] == 8  # min(8, 64/4)
    assert got["autovacuum_vacuum_cost_limit"] == 2133  # 800 x 8 / 3
    # 157GB left for queries over 2 x (73 backends x 3 + 64 parallel workers x 3) work areas
    assert got["work_mem"] == "195MB"
    assert got["maintenance_work_mem"] == "2GB"
    assert got["autovacuum_work_mem"] == "1GB"
    assert got["max_wal_size"] == "16GB"
    assert got["checkpoint_timeout"] == "30min"
    assert got["default_statistics_target"] == 500
    assert got["huge_pages"] == "on"
    assert result["summary"]["vm_nr_hugepages"] * 2 * MiB >= 64 * GiB + 16 * MiB


# --------------------------------------------------------------------------- tables


@pytest.mark.parametrize(
    "storage, page_cost, io_concurrency",
    [("hdd", "4.0", 2), ("ssd", "1.1", 200), ("san", "1.1", 300), ("unknown", "1.1", 200)],
)
def test_storage_class_drives_planner_costs(storage, page_cost, io_concurrency):
    result = compute(profile_of(8 * GiB, storage=storage), "mixed")
    got = values(result)
    assert (got["random_page_cost"], got["effective_io_concurrency"]) == (page_cost, io_concurrency)
    assert result["summary"]["storage_class_assumed"] is (storage == "unknown")
    if storage == "unknown":
        assert "set it in the inventory" in result["settings"]["random_page_cost"]["reason"]


@pytest.mark.parametrize(
    "workload, cpus, parallel, per_gather, maintenance",
    [
        ("oltp", 1, 0, 0, 0),
        ("oltp", 16, 8, 2, 4),
        ("web", 8, 4, 2, 4),
        ("mixed", 8, 8, 4, 4),
        ("mixed", 3, 3, 1, 1),
        ("dw", 8, 8, 4, 4),
        ("dw", 48, 48, 16, 8),
    ],
)
def test_parallelism_by_workload_and_cpus(workload, cpus, parallel, per_gather, maintenance):
    got = values(compute(profile_of(32 * GiB, cpus=cpus), workload, 15, 50))
    assert got["max_parallel_workers"] == parallel
    assert got["max_parallel_workers_per_gather"] == per_gather
    assert got["max_parallel_maintenance_workers"] == maintenance
    assert got["max_worker_processes"] == parallel + 4


@pytest.mark.parametrize(
    "cpus, workers, cost_limit", [(1, 3, 1000), (8, 3, 1000), (16, 4, 1333), (32, 8, 2666), (128, 8, 2666)]
)
def test_autovacuum_scales_with_cpus(cpus, workers, cost_limit):
    got = values(compute(profile_of(64 * GiB, cpus=cpus), "oltp", 15, 100))
    assert (got["autovacuum_max_workers"], got["autovacuum_vacuum_cost_limit"]) == (workers, cost_limit)


@pytest.mark.parametrize("replicas, senders", [(0, 4), (2, 6), (7, 11), (20, 24)])
def test_replication_slots_and_senders(replicas, senders):
    got = values(compute(profile_of(8 * GiB), "oltp", 15, 50, replicas=replicas))
    assert got["max_wal_senders"] == senders
    assert got["max_replication_slots"] == senders


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17, "15"])
def test_supported_versions(version):
    result = compute(profile_of(8 * GiB), "web", version, 100)
    check_settings(result["settings"], int(version))
    assert result["summary"]["pg_version"] == int(version)


@pytest.mark.parametrize(
    "kwargs, field, text",
    [
        ({"workload": "batch"}, "workload", "unknown workload"),
        ({"pg_version": 12}, "pg_version", "not supported"),
        ({"pg_version": 18}, "pg_version", "not supported"),
        ({"pg_version": "15.4"}, "pg_version", "not supported"),
        ({"connection_budget": -1}, "connection_budget", "negative"),
        ({"connection_budget": True}, "connection_budget", "integer"),
        ({"reserved_memory_bytes": -5}, "reserved_memory_bytes", "negative"),
        ({"replicas": -2}, "replicas", "negative"),
        ({"headroom_connections": -1}, "headroom_connections", "negative"),
        ({"overrides": ["shared_buffers"]}, "overrides", "mapping"),
    ],
)
def test_bad_arguments_name_the_input(kwargs, field, text):
    arguments = {"workload": "oltp", "pg_version": 15, "connection_budget": 100}
    arguments.update(kwargs)
    with pytest.raises(SizingError, match=text) as error:
        compute(profile_of(8 * GiB), **arguments)
    assert error.value.field == field
    assert str(error.value).startswith(field)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"effective_memory_bytes": -1}, "profile.effective_memory_bytes"),
        ({"effective_memory_bytes": None}, "profile.effective_memory_bytes"),
        ({"effective_cpus": 0}, "profile.effective_cpus"),
        ({"storage_class": "nvme"}, "profile.storage_class"),
        ({"data_volume_size_bytes": None}, "profile.data_volume_size_bytes"),
        ({"data_volume_size_bytes": 512 * MiB}, "profile.data_volume_size_bytes"),
        ({"hugepage_size_bytes": -2}, "profile.hugepage_size_bytes"),
    ],
)
def test_bad_profiles_name_the_key(change, field):
    profile = profile_of(8 * GiB)
    profile.update(change)
    with pytest.raises(SizingError) as error:
        compute(profile, "oltp")
    assert error.value.field == field


# --------------------------------------------------------------------------- RAM too small


def test_too_many_connections_reports_the_largest_budget_that_fits():
    profile = profile_of(1 * GiB, cpus=2)
    with pytest.raises(SizingError, match="lower connection_budget to at most") as error:
        compute(profile, "oltp", 15, 5000)
    largest = error.value.max_connection_budget
    assert error.value.field == "connection_budget"
    assert 0 < largest < 5000
    fitting = compute(profile, "oltp", 15, largest)
    assert fitting["summary"]["max_connection_budget"] == largest
    assert values(fitting)["work_mem"] == "1MB"
    with pytest.raises(SizingError):
        compute(profile, "oltp", 15, largest + 1)


def test_reservations_that_leave_nothing_blame_the_reservation():
    with pytest.raises(SizingError) as error:
        compute(profile_of(2 * GiB), "oltp", 15, 10, reserved_memory_bytes=2 * GiB)
    assert error.value.field == "reserved_memory_bytes"
    assert error.value.max_connection_budget < 0


def test_tiny_memory_without_reservation_blames_the_host():
    with pytest.raises(SizingError) as error:
        compute(profile_of(128 * MiB), "oltp", 15, 0)
    assert error.value.field == "profile.effective_memory_bytes"


def test_reservations_shrink_postgresql():
    alone = compute(profile_of(16 * GiB), "oltp", 15, 200)
    shared = compute(profile_of(16 * GiB), "oltp", 15, 200, reserved_memory_bytes=6 * GiB)
    assert values(alone)["shared_buffers"] == "4GB"
    assert values(shared)["shared_buffers"] == "2560MB"  # 25% of the 10GB left
    check_memory_invariant(shared, profile_of(16 * GiB), "oltp", 6 * GiB)


# --------------------------------------------------------------------------- overrides


def test_override_wins_and_feeds_later_formulas():
    base = compute(profile_of(8 * GiB), "oltp", 15, 100)
    pinned = compute(profile_of(8 * GiB), "oltp", 15, 100, overrides={"shared_buffers": "512MB"})
    assert values(pinned)["shared_buffers"] == "512MB"
    reason = pinned["settings"]["shared_buffers"]["reason"]
    assert reason.startswith("override (computed 2GB")
    # less shared memory leaves more for the work areas
    assert check_value("work_mem", values(pinned)["work_mem"]) > check_value("work_mem", values(base)["work_mem"])
    check_memory_invariant(pinned, profile_of(8 * GiB), "oltp", 0)


@pytest.mark.parametrize(
    "overrides, normalised",
    [
        ({"work_mem": 8192}, ("work_mem", "8MB")),  # bare integer = kB
        ({"shared_buffers": 65536}, ("shared_buffers", "512MB")),  # bare integer = 8kB blocks
        ({"checkpoint_timeout": "1h"}, ("checkpoint_timeout", "1h")),
        ({"checkpoint_timeout": 600}, ("checkpoint_timeout", "10min")),  # bare integer = s
        ({"jit": "true"}, ("jit", "on")),
        ({"huge_pages": "OFF"}, ("huge_pages", "off")),
        ({"random_page_cost": 2}, ("random_page_cost", "2.0")),
        ({"autovacuum_work_mem": -1}, ("autovacuum_work_mem", -1)),
    ],
)
def test_overrides_are_normalised(overrides, normalised):
    result = compute(profile_of(8 * GiB), "oltp", 15, 100, overrides=overrides)
    name, value = normalised
    assert values(result)[name] == value


@pytest.mark.parametrize(
    "overrides, field, text",
    [
        ({"fsync": "off"}, "overrides.fsync", "not a setting pg_tune computes"),
        ({"work_mem": "32kB"}, "overrides.work_mem", "outside"),
        ({"work_mem": "4XB"}, "overrides.work_mem", "units"),
        ({"work_mem": "1.5MB"}, "overrides.work_mem", "units"),
        ({"max_connections": 0}, "overrides.max_connections", "outside"),
        ({"max_connections": "many"}, "overrides.max_connections", "not a valid int"),
        ({"checkpoint_timeout": "10s"}, "overrides.checkpoint_timeout", "outside"),
        ({"huge_pages": "maybe"}, "overrides.huge_pages", "not one of"),
        ({"jit": "perhaps"}, "overrides.jit", "boolean"),
        ({"max_slot_wal_keep_size": -1}, "overrides.max_slot_wal_keep_size", "fill the data volume"),
        ({"max_worker_processes": 4, "max_parallel_workers": 8}, "overrides.max_parallel_workers", "exceeds"),
        ({"min_wal_size": "80GB"}, "overrides.min_wal_size", "must not exceed"),
        ({"work_mem": "1GB"}, "overrides", "exceeds effective memory"),
        ({"max_wal_size": "60GB"}, "overrides", "WAL could take"),
        ({"max_connections": 5000}, "overrides.max_connections", "lower the max_connections override"),
    ],
)
def test_bad_overrides_are_rejected(overrides, field, text):
    with pytest.raises(SizingError, match=text) as error:
        compute(profile_of(8 * GiB, volume=200 * GiB), "oltp", 15, 100, overrides=overrides)
    assert error.value.field == field


def test_huge_pages_on_without_page_size_is_rejected():
    with pytest.raises(SizingError) as error:
        compute(profile_of(8 * GiB, hugepage=None), "oltp", overrides={"huge_pages": "on"})
    assert error.value.field == "overrides.huge_pages"


def test_forcing_huge_pages_in_a_container_reserves_pages():
    result = compute(profile_of(8 * GiB, container="docker"), "oltp", overrides={"huge_pages": "on"})
    summary = result["summary"]
    assert summary["vm_nr_hugepages"] * 2 * MiB >= summary["shared_memory_estimate_bytes"]


# --------------------------------------------------------------------------- WAL disk


@pytest.mark.parametrize("volume", [1 * GiB, 10 * GiB, 100 * GiB, 2 * TiB, 64 * TiB])
def test_wal_never_fills_the_volume(volume):
    result = compute(profile_of(16 * GiB, volume=volume), "dw", 15, 50)
    got = {name: check_value(name, value) for name, value in values(result).items()}
    assert got["max_slot_wal_keep_size"] > 0  # never unlimited
    retained = got["max_wal_size"] + max(got["wal_keep_size"], got["max_slot_wal_keep_size"])
    assert retained <= volume * 0.21
    assert result["summary"]["wal_disk"]["worst_case_bytes"] <= volume / 3


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "nbytes, text",
    [
        (64 * KiB, "64kB"),
        (1536 * KiB, "1536kB"),
        (16 * MiB, "16MB"),
        (2560 * MiB, "2560MB"),
        (4 * GiB, "4GB"),
        (TiB, "1TB"),
    ],
)
def test_render_memory_uses_the_largest_exact_unit(nbytes, text):
    assert pg_tune.render_memory(nbytes) == text
    assert pg_tune.parse_quantity(text, pg_tune.MEMORY_UNITS, KiB) == nbytes


@pytest.mark.parametrize(
    "ms, text", [(1000, "1s"), (5000, "5s"), (900_000, "15min"), (3_600_000, "1h"), (1500, "1500ms")]
)
def test_render_time_uses_the_largest_exact_unit(ms, text):
    assert pg_tune.render_time(ms) == text


# --------------------------------------------------------------------------- properties

# profile.effective_cpus: a host whose CPU count asks for more parallel workers than its memory holds is
# refused naming the CPU count, not the memory (issue 16: effective_cpus=10**6 blamed the memory).
RAM_FIELDS = {"connection_budget", "reserved_memory_bytes", "profile.effective_memory_bytes", "profile.effective_cpus"}


@st.composite
def sizing_inputs(draw):
    memory = draw(st.integers(512 * MiB, 512 * GiB))
    profile = profile_of(
        memory,
        cpus=draw(st.integers(1, 128)),
        storage=draw(st.sampled_from(["hdd", "ssd", "san", "unknown"])),
        volume=draw(st.integers(1 * GiB, 64 * TiB)),
        hugepage=draw(st.sampled_from([None, 2 * MiB, 1 * GiB])),
        container=draw(st.sampled_from([None, "docker"])),
    )
    return {
        "profile": profile,
        "workload": draw(st.sampled_from(["oltp", "web", "mixed", "dw"])),
        "pg_version": draw(st.integers(13, 17)),
        "connection_budget": draw(st.integers(0, 3000)),
        "reserved_memory_bytes": draw(st.integers(0, memory * 6 // 10)),
        "replicas": draw(st.integers(0, 12)),
    }


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizing_inputs())
def test_every_input_fits_in_memory_or_is_refused_for_memory(inputs):
    try:
        result = compute(**inputs)
    except SizingError as error:
        # Refused only for memory, and only when the asked budget really exceeds what fits...
        event("refused: %s" % error.field)
        assert error.field in RAM_FIELDS, str(error)
        assert error.max_connection_budget < inputs["connection_budget"]
        # ...and the largest budget it names does fit.
        if error.max_connection_budget >= 0:
            compute(**dict(inputs, connection_budget=error.max_connection_budget))
        return
    event("sized")
    check_settings(result["settings"], inputs["pg_version"])
    check_memory_invariant(result, inputs["profile"], inputs["workload"], inputs["reserved_memory_bytes"])
    assert result["summary"]["max_connection_budget"] >= inputs["connection_budget"]
    assert result["summary"]["wal_disk"]["worst_case_ratio"] <= 0.25


@settings(max_examples=100, deadline=None, database=None)
@given(sizing_inputs())
def test_more_memory_never_means_smaller_buffers_or_capacity(inputs):
    try:
        small = compute(**inputs)
    except SizingError:
        return
    bigger = dict(
        inputs, profile=dict(inputs["profile"], effective_memory_bytes=inputs["profile"]["effective_memory_bytes"] * 2)
    )
    large = compute(**bigger)
    for name in ("shared_buffers", "maintenance_work_mem", "effective_cache_size"):
        assert check_value(name, values(large)[name]) >= check_value(name, values(small)[name]), name
    assert large["summary"]["max_connection_budget"] >= small["summary"]["max_connection_budget"]


@settings(max_examples=100, deadline=None, database=None)
@given(sizing_inputs(), st.integers(1, 500))
def test_more_connections_never_means_more_work_mem(inputs, extra):
    try:
        more = compute(**dict(inputs, connection_budget=inputs["connection_budget"] + extra))
    except SizingError:
        return
    fewer = compute(**inputs)
    assert check_value("work_mem", values(more)["work_mem"]) <= check_value("work_mem", values(fewer)["work_mem"])


def test_work_mem_is_the_largest_step_that_fits():
    """Maximality: one more rounding step of work_mem would break the invariant (when not capped)."""
    profile = profile_of(4 * GiB, cpus=2, volume=100 * GiB)
    result = compute(profile, "oltp", 15, 100)
    work_mem = check_value("work_mem", values(result)["work_mem"])
    step = MiB if work_mem >= 8 * MiB else 64 * KiB
    with pytest.raises(SizingError, match="exceeds effective memory"):
        compute(profile, "oltp", 15, 100, overrides={"work_mem": "%dkB" % ((work_mem + step) // KiB)})


# --------------------------------------------------------------------------- issue 16: limits and blame


def test_very_large_hosts_stay_within_postgresql_limits():
    result = compute(profile_of(64 * TiB, cpus=4096), "dw", 17, 100)
    v = {name: check_value(name, item["value"]) for name, item in result["settings"].items()}
    assert v["shared_buffers"] <= (2**31 - 1) // 2 * 8 * KiB
    assert v["effective_cache_size"] <= (2**31 - 1) * 8 * KiB
    assert v["max_parallel_workers"] == 1024
    assert v["max_parallel_workers_per_gather"] <= 1024
    assert v["max_parallel_maintenance_workers"] <= 1024
    check_settings(result["settings"], 17)


@pytest.mark.parametrize("memory", [2**51, 2**80])
def test_absurd_memory_is_refused_naming_the_profile(memory):
    with pytest.raises(SizingError, match="more than any host has") as error:
        compute(profile_of(memory), "oltp", 15, 100)
    assert error.value.field == "profile.effective_memory_bytes"


@pytest.mark.parametrize("workload", [["oltp"], {"oltp": 1}, 3, None])
def test_a_workload_that_is_not_a_name_is_refused_clearly(workload):
    with pytest.raises(SizingError, match="must be one workload name") as error:
        compute(profile_of(8 * GiB), workload, 15, 100)
    assert error.value.field == "workload"


@pytest.mark.parametrize(
    "profile, kwargs, field, text, absent",
    [
        # A million CPUs: the parallel workers do not fit, not the memory.
        (profile_of(8 * GiB, cpus=10**6), {}, "profile.effective_cpus", "1000000 CPUs ask for 1024", None),
        # A shared_buffers override that takes the memory: the override, not the profile.
        (
            profile_of(8 * GiB),
            {"overrides": {"shared_buffers": "7GB"}},
            "overrides.shared_buffers",
            "shared_buffers",
            None,
        ),
        # A max_connections override: its own value, not the budget.
        (
            profile_of(8 * GiB),
            {"overrides": {"max_connections": 100000}},
            "overrides.max_connections",
            "max_connections=100000 (override)",
            "connection budget",
        ),
        # A 512MB host with a small reservation: the connection budget.
        (
            profile_of(512 * MiB),
            {"reserved_memory_bytes": 64 * MiB},
            "connection_budget",
            "lower connection_budget",
            None,
        ),
        (profile_of(512 * MiB), {}, "connection_budget", "lower connection_budget to at most", None),
    ],
)
def test_memory_refusals_blame_the_right_input(profile, kwargs, field, text, absent):
    with pytest.raises(SizingError) as error:
        compute(profile, "oltp", 15, 100, **kwargs)
    assert error.value.field == field, str(error.value)
    assert text in str(error.value)
    if absent:
        assert absent not in str(error.value)
