"""keel's side of every departure from PGTune listed in docs/tuning.md §7.

Each test pins what the table's "here" column says, so that the table and the code cannot drift
apart unnoticed. PGTune's own values are in the docs, not computed here.
"""

from __future__ import annotations

import pytest

from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import SizingError, compute

KiB, MiB, GiB = 1024, 1024**2, 1024**3
WORKLOADS = ("oltp", "web", "mixed", "dw")


def profile(memory, cpus=4, storage="ssd", container=False):
    return {
        "effective_memory_bytes": memory,
        "effective_cpus": cpus,
        "storage_class": storage,
        "data_volume_size_bytes": 500 * GiB,
        "hugepage_size_bytes": 2 * MiB,
        "container": container,
    }


def settings(memory, cpus=4, storage="ssd", workload="oltp", budget=50, container=False):
    result = compute(profile(memory, cpus, storage, container), workload, 15, budget, replicas=2)
    return {name: item["value"] for name, item in result["settings"].items()}


@pytest.mark.parametrize("storage, cost", [("hdd", "4.0"), ("ssd", "1.1"), ("san", "1.1"), ("unknown", "1.1")])
def test_random_page_cost_depends_on_the_storage_alone(storage, cost):
    # PGTune does the same (no special value for data warehouses).
    assert {str(settings(16 * GiB, 8, storage, w)["random_page_cost"]) for w in WORKLOADS} == {cost}


@pytest.mark.parametrize("workload", WORKLOADS)
def test_maintenance_work_mem_is_a_sixteenth_capped_at_2gb_for_every_workload(workload):
    assert settings(16 * GiB, 8, workload=workload)["maintenance_work_mem"] == "1GB"
    # PGTune: 16 GB (dw: RAM/8) capped at 8 GB on a 256 GB host.
    assert settings(256 * GiB, 32, workload=workload, budget=100)["maintenance_work_mem"] == "2GB"


@pytest.mark.parametrize("memory", [1 * GiB, 4 * GiB, 64 * GiB, 512 * GiB])
def test_autovacuum_work_mem_is_set_on_every_host_and_at_most_1gb(memory):
    values = settings(memory, 16, budget=20)
    workers = values["autovacuum_max_workers"]
    autovacuum = _bytes(values["autovacuum_work_mem"])
    assert MiB <= autovacuum <= GiB
    assert autovacuum <= _bytes(values["maintenance_work_mem"])
    assert 2 * workers * autovacuum <= memory // 16


def test_work_mem_below_1mb_is_refused_not_clamped_to_a_floor():
    with pytest.raises(SizingError) as refused:
        settings(1 * GiB, 2, budget=2000)
    assert refused.value.field == "connection_budget"


@pytest.mark.parametrize("cpus, per_gather", [(1, 0), (2, 0), (3, 0)])
def test_parallelism_is_sized_below_4_cpus_too(cpus, per_gather):
    # PGTune leaves PostgreSQL's defaults (8 workers, 2 per gather) below 4 CPUs.
    values = settings(4 * GiB, cpus)
    assert values["max_parallel_workers"] == cpus // 2
    assert values["max_parallel_workers_per_gather"] == per_gather
    assert values["max_worker_processes"] == cpus // 2 + 4


@pytest.mark.parametrize("cpus, workers", [(8, 3), (16, 4), (32, 8), (64, 8)])
def test_autovacuum_workers_one_per_4_cpus_between_3_and_8(cpus, workers):
    assert settings(64 * GiB, cpus, budget=100)["autovacuum_max_workers"] == workers


@pytest.mark.parametrize("workload, jit", [("oltp", "off"), ("web", "off"), ("mixed", "on"), ("dw", "on")])
def test_jit_off_for_oltp_and_web_only(workload, jit):
    assert settings(8 * GiB, 4, workload=workload)["jit"] == jit


def test_wal_compression_is_left_to_postgresql():
    assert "wal_compression" not in settings(8 * GiB, 4)


@pytest.mark.parametrize("workload, max_wal", [("oltp", "8GB"), ("web", "4GB"), ("mixed", "8GB"), ("dw", "16GB")])
def test_max_wal_size_by_workload(workload, max_wal):
    values = settings(16 * GiB, 8, workload=workload)
    assert values["max_wal_size"] == max_wal
    assert _bytes(values["min_wal_size"]) == _bytes(max_wal) // 4


@pytest.mark.parametrize(
    "memory, container, huge_pages",
    [(2 * GiB, False, "try"), (8 * GiB, False, "on"), (8 * GiB, True, "try")],
)
def test_huge_pages_on_from_1gb_of_shared_buffers_outside_containers(memory, container, huge_pages):
    assert settings(memory, 4, container=container)["huge_pages"] == huge_pages


def test_there_is_no_desktop_profile():
    with pytest.raises(SizingError) as refused:
        settings(8 * GiB, 4, workload="desktop")
    assert refused.value.field == "workload"


def _bytes(text):
    units = {"kB": KiB, "MB": MiB, "GB": GiB, "TB": 1024 * GiB}
    for unit, size in units.items():
        if str(text).endswith(unit):
            return int(str(text)[: -len(unit)]) * size
    return int(text)
