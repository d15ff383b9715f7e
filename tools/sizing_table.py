#!/usr/bin/env python3
"""Print the pg_tune sizing for a spread of host profiles; exit 1 if any breaks the memory invariant.

Usage: python tools/sizing_table.py

Imports plugins/module_utils/pg_tune.py straight from this repository (the same
.build/pytest symlink tree tests/conftest.py uses).
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".build", "pytest")
LINK = os.path.join(BUILD, "ansible_collections", "keel", "postgres")
if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
sys.path.insert(0, BUILD)

from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import SizingError, compute  # noqa: E402

MiB, GiB, TiB = 1024**2, 1024**3, 1024**4

# (label, RAM, CPUs, storage, volume, container, workload, connection budget, reserved, replicas)
PROFILES = (
    ("tiny VM", 512 * MiB, 1, "hdd", 20 * GiB, False, "oltp", 5, 0, 1),
    ("small VM", 1 * GiB, 1, "ssd", 40 * GiB, False, "web", 30, 0, 2),
    ("lab container", 2 * GiB, 2, "unknown", 60 * GiB, True, "mixed", 50, 256 * MiB, 4),
    ("4GB HDD", 4 * GiB, 2, "hdd", 500 * GiB, False, "oltp", 100, 0, 2),
    ("8GB SAN + Redis", 8 * GiB, 4, "san", 1 * TiB, False, "mixed", 150, 2 * GiB, 4),
    ("16GB container", 16 * GiB, 8, "ssd", 500 * GiB, True, "oltp", 300, 0, 4),
    ("32GB web", 32 * GiB, 16, "ssd", 2 * TiB, False, "web", 400, 4 * GiB, 4),
    ("64GB DW SAN", 64 * GiB, 32, "san", 8 * TiB, False, "dw", 60, 0, 2),
    ("128GB OLTP", 128 * GiB, 48, "ssd", 4 * TiB, False, "oltp", 800, 0, 6),
    ("256GB DW HDD", 256 * GiB, 64, "hdd", 32 * TiB, False, "dw", 100, 16 * GiB, 2),
)

COLUMNS = (
    ("profile", 15),
    ("RAM", 5),
    ("CPU", 3),
    ("disk", 10),
    ("load", 5),
    ("budget", 6),
    ("max_conn", 8),
    ("shared_buf", 10),
    ("work_mem", 8),
    ("maint", 6),
    ("av_mem", 6),
    ("huge(nr)", 11),
    ("max_wal", 7),
    ("slot_keep", 9),
    ("par w/g/m", 9),
    ("commit/RAM", 18),
)


def size(nbytes):
    """Compact size for the table."""
    if nbytes >= GiB:
        return ("%.1fG" % (nbytes / GiB)).replace(".0G", "G")
    return "%dM" % (nbytes // MiB)


def row_for(profile):
    """Compute one profile; return (cells, problem or None)."""
    label, memory, cpus, storage, volume, container, workload, budget, reserved, replicas = profile
    host = {
        "effective_memory_bytes": memory,
        "effective_cpus": cpus,
        "storage_class": storage,
        "data_volume_size_bytes": volume,
        "hugepage_size_bytes": 2 * MiB,
        "container": "docker" if container else None,
    }
    head = [label, size(memory), str(cpus), storage + ("/ct" if container else ""), workload, str(budget)]
    try:
        result = compute(host, workload, 15, budget, reserved, replicas)
    except SizingError as exc:
        return head + ["%s" % exc], "REFUSED"
    v = {name: item["value"] for name, item in result["settings"].items()}
    summary = result["summary"]
    total = summary["memory_commitment"]["total"]
    cells = head + [
        str(v["max_connections"]),
        v["shared_buffers"],
        v["work_mem"],
        v["maintenance_work_mem"],
        v["autovacuum_work_mem"],
        "%s(%d)" % (v["huge_pages"], summary["vm_nr_hugepages"]),
        v["max_wal_size"],
        v["max_slot_wal_keep_size"],
        "%d/%d/%d"
        % (v["max_parallel_workers"], v["max_parallel_workers_per_gather"], v["max_parallel_maintenance_workers"]),
        "%s/%s %3.0f%%" % (size(total), size(memory), 100 * total / memory),
    ]
    return cells, None if total <= memory else "INVARIANT VIOLATED"


def render(cells):
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=False)).rstrip()


def main():
    print(render([name for name, _ in COLUMNS]))
    print(render(["-" * width for _, width in COLUMNS]))
    failures = 0
    for profile in PROFILES:
        cells, problem = row_for(profile)
        failures += problem is not None
        print(render(cells) + ("   <-- %s" % problem if problem else ""))
    print()
    print("commit = worst-case memory commitment (shared memory, page tables, private backend memory, work areas,")
    print("maintenance, autovacuum, reservations, OS floor); it must not exceed RAM. %d problem(s)." % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
