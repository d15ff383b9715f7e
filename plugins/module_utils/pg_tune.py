# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL sizing: host profile + workload + connection budget -> settings.

Pure functions, standard library only. ``compute()`` returns::

    {"settings": {name: {"value": <str|int>, "reason": "<one line>"}, ...},
     "summary": {... memory commitment breakdown, vm_nr_hugepages, WAL disk budget ...}}

Values are postgresql.conf-ready and unquoted (quote them when writing the
file; Patroni ``parameters`` take them as they are). Every formula is stated in
docs/tuning.md. The central guarantee: the worst-case memory commitment (see
``memory_commitment``) never exceeds the effective memory of the host.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

INT_MAX = 2**31 - 1
MAX_BACKENDS = 2**18 - 1
# PostgreSQL's own limits on what it will start with (guc_tables.c), in bytes or counts.
SHARED_BUFFERS_MAX = (INT_MAX // 2) * 8 * KiB  # ~8TB
EFFECTIVE_CACHE_SIZE_MAX = INT_MAX * 8 * KiB  # ~16TB
PARALLEL_WORKERS_MAX = 1024  # MAX_PARALLEL_WORKER_LIMIT
# No host has more; a larger effective_memory_bytes is a broken host profile, not a big host.
MAX_MEMORY = 2**50  # 1PB
SUPPORTED_VERSIONS = (13, 14, 15, 16, 17)
STORAGE_CLASSES = ("hdd", "ssd", "san", "unknown")

# --- memory model constants (docs/tuning.md "Memory model") ----------------------
OS_FLOOR_BASE = 128 * MiB  # kernel, sshd, systemd, agents
OS_FLOOR_SHARE = Fraction(1, 20)  # plus 5% of RAM kept for page cache / slab
SMALL_HOST = 1 * GiB  # below this, shared_buffers gets 15% instead of 25%
WORK_MEM_FLOOR = 1 * MiB  # refuse to size below this: every non-trivial sort spills
MAINTENANCE_CAP = 2 * GiB
AUTOVACUUM_WORK_MEM_CAP = 1 * GiB  # dead-TID store limit up to PG 16
GIN_FACTOR = 2  # VACUUM of a GIN index may take the budget twice (pending list)
HUGE_PAGES_ON_MIN = 1 * GiB
BASE_PAGE = 4 * KiB
PTE_BYTES = 8
AUX_PROCESSES = 8  # postmaster, checkpointer, bgwriter, walwriter, archiver, logger, ...
BACKEND_PRIVATE = 3 * MiB  # per process; 2.5-2.7MB private dirty measured on PG 15.18 backends
SHM_PER_BACKEND = 40 * KiB  # PGPROC, lock table (64 locks), predicate locks
SHM_PER_PGSS_ENTRY = 1 * KiB
SHM_FIXED = 16 * MiB  # SLRU buffers, stats, misc fixed structures
SHM_BUFFER_SHARE = Fraction(3, 100)  # descriptors, buffer mapping hash, checkpoint array
SLACK = 64 * KiB  # rounding margin so the recomputed commitment stays below the limit

# --- WAL disk model ---------------------------------------------------------------
MIN_VOLUME = 1 * GiB
MAX_WAL_SHARE = Fraction(1, 10)
SLOT_KEEP_SHARE = Fraction(1, 10)
WAL_KEEP_SHARE = Fraction(1, 40)
ARCHIVE_QUEUE_SHARE = Fraction(1, 20)
WAL_DISK_LIMIT = Fraction(1, 3)

SUPERUSER_RESERVED = 3
DEFAULT_HEADROOM = 10
LOG_LINE_PREFIX = "%m [%p] %q%u@%d app=%a client=%h "


class SizingError(ValueError):
    """The inputs cannot produce a safe configuration; ``field`` names the culprit."""

    def __init__(self, field, message, max_connection_budget=None):
        super().__init__("%s: %s" % (field, message))
        self.field = field
        self.max_connection_budget = max_connection_budget


@dataclass(frozen=True)
class Workload:
    """Per-workload policy; see docs/tuning.md for the reasoning behind each number."""

    name: str
    active: Fraction  # share of backends running a sort/hash at the same moment
    nodes: int  # sort/hash nodes per such query, each up to work_mem (x hash_mem_multiplier)
    work_mem_cap: int
    max_wal_size: int
    checkpoint_minutes: int
    parallel_share: Fraction  # max_parallel_workers = CPUs x share
    gather_share: Fraction  # max_parallel_workers_per_gather = CPUs x share ...
    gather_cap: int  # ... capped here
    maintenance_workers_cap: int
    statistics_target: int
    jit: bool
    log_all_temp_files: bool

    @property
    def concurrency_factor(self):
        """Work areas per backend in the worst case the model assumes."""
        return self.active * self.nodes


F = Fraction
WORKLOADS = {
    row[0]: Workload(*row)
    for row in (
        # name   active  nodes work_mem_cap max_wal   ckpt par   gather   cap maint stats jit    log_temp_files=0
        ("oltp", F(1, 2), 1, 64 * MiB, 8 * GiB, 15, F(1, 2), F(1, 4), 2, 4, 100, False, True),
        ("web", F(1, 2), 2, 64 * MiB, 4 * GiB, 15, F(1, 2), F(1, 4), 2, 4, 100, False, True),
        ("mixed", F(3, 4), 2, 256 * MiB, 8 * GiB, 15, F(1), F(1, 2), 4, 4, 100, True, False),
        ("dw", F(1), 3, 1 * GiB, 16 * GiB, 30, F(1), F(1, 2), 16, 8, 500, True, False),
    )
}

STORAGE_POLICY = {
    # class: (random_page_cost, effective_io_concurrency, maintenance_io_concurrency, vacuum cost per 3 workers)
    "hdd": ("4.0", 2, 10, 200),
    "ssd": ("1.1", 200, 200, 1000),
    "san": ("1.1", 300, 300, 800),
}


# =================================================================== parameter specs


@dataclass(frozen=True)
class Param:
    """Type, base unit and valid range of one setting (from the PostgreSQL docs)."""

    kind: str  # int, real, memory, time, enum, bool, string
    unit: int = 1  # memory: bytes per base unit; time: ms per base unit
    minimum: float | None = None  # in base units
    maximum: float | None = None
    special: tuple = ()  # values allowed outside the range, e.g. -1
    choices: tuple = ()
    since: int = 13


def _int(minimum, maximum, special=()):
    return Param("int", minimum=minimum, maximum=maximum, special=special)


def _mem(unit, minimum, maximum=INT_MAX, special=()):
    return Param("memory", unit=unit, minimum=minimum, maximum=maximum, special=special)


def _time(unit, minimum, maximum=INT_MAX, special=()):
    return Param("time", unit=unit, minimum=minimum, maximum=maximum, special=special)


def _real(minimum, maximum):
    return Param("real", minimum=minimum, maximum=maximum)


BOOL = Param("bool")
STRING = Param("string")

# Output order is this order.
PARAMS = {
    "max_connections": _int(1, MAX_BACKENDS),
    "superuser_reserved_connections": _int(0, MAX_BACKENDS),
    "shared_buffers": _mem(8 * KiB, 16, INT_MAX // 2),
    "huge_pages": Param("enum", choices=("off", "on", "try")),
    "effective_cache_size": _mem(8 * KiB, 1),
    "work_mem": _mem(KiB, 64),
    "hash_mem_multiplier": _real(1.0, 1000.0),
    "maintenance_work_mem": _mem(KiB, 1024),
    "autovacuum_work_mem": _mem(KiB, 1024, special=(-1,)),
    "wal_buffers": _mem(8 * KiB, 4, INT_MAX // (8 * KiB), special=(-1,)),
    "max_worker_processes": _int(0, MAX_BACKENDS),
    "max_parallel_workers": _int(0, 1024),
    "max_parallel_workers_per_gather": _int(0, 1024),
    "max_parallel_maintenance_workers": _int(0, 1024),
    "min_wal_size": _mem(MiB, 32),
    "max_wal_size": _mem(MiB, 32),
    "wal_keep_size": _mem(MiB, 0),
    "max_slot_wal_keep_size": _mem(MiB, 0),
    "checkpoint_timeout": _time(1000, 30, 86400),
    "checkpoint_completion_target": _real(0.0, 1.0),
    "random_page_cost": _real(0.0, 1e300),
    "effective_io_concurrency": _int(0, 1000),
    "maintenance_io_concurrency": _int(0, 1000),
    "default_statistics_target": _int(1, 10000),
    "jit": BOOL,
    "autovacuum_max_workers": _int(1, MAX_BACKENDS),
    "autovacuum_vacuum_cost_limit": _int(1, 10000, special=(-1,)),
    "max_wal_senders": _int(0, MAX_BACKENDS),
    "max_replication_slots": _int(0, MAX_BACKENDS),
    "shared_preload_libraries": STRING,
    "pg_stat_statements.max": _int(100, INT_MAX),
    "pg_stat_statements.track": Param("enum", choices=("none", "top", "all")),
    "auto_explain.log_min_duration": _time(1, -1),
    "log_min_duration_statement": _time(1, -1),
    "log_lock_waits": BOOL,
    "log_checkpoints": BOOL,
    "log_connections": BOOL,
    "log_disconnections": BOOL,
    "log_line_prefix": STRING,
    "log_temp_files": _mem(KiB, 0, special=(-1,)),
    "track_io_timing": BOOL,
    "password_encryption": Param("enum", choices=("md5", "scram-sha-256")),
}

MEMORY_UNITS = {"B": 1, "kB": KiB, "MB": MiB, "GB": GiB, "TB": TiB}
TIME_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
BOOL_WORDS = {"on": True, "true": True, "yes": True, "1": True, "off": False, "false": False, "no": False, "0": False}
_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?\d+)\s*([A-Za-z]*)\s*$")


# =================================================================== units


def parse_quantity(text, units, default_unit):
    """Parse "<int>[unit]" with PostgreSQL unit names; return the amount in the smallest unit."""
    if isinstance(text, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(text, int):
        return text * default_unit
    match = _NUMBER_WITH_UNIT.match(str(text))
    if not match or (match.group(2) and match.group(2) not in units):
        raise ValueError("%r is not an integer with one of the units %s" % (text, ", ".join(units)))
    number = int(match.group(1))
    return number * (units[match.group(2)] if match.group(2) else default_unit)


def render_memory(nbytes):
    """Render bytes with the largest PostgreSQL unit that divides them exactly (kB minimum)."""
    if nbytes <= 0:
        return nbytes
    for unit in ("TB", "GB", "MB", "kB"):
        if nbytes and nbytes % MEMORY_UNITS[unit] == 0:
            return "%d%s" % (nbytes // MEMORY_UNITS[unit], unit)
    return "%dkB" % (nbytes // KiB)


def render_time(ms):
    """Render milliseconds with the largest PostgreSQL unit that divides them exactly."""
    if ms <= 0:
        return ms
    for unit in ("d", "h", "min", "s", "ms"):
        if ms % TIME_UNITS[unit] == 0:
            return "%d%s" % (ms // TIME_UNITS[unit], unit)
    return "%dms" % ms


def round_size(nbytes):
    """Round down to whole GB from 8GB, to whole MB below, so values read well."""
    return floor_to(nbytes, GiB if nbytes >= 8 * GiB else MiB)


def human_size(nbytes):
    """Approximate size for messages and reasons (not for postgresql.conf)."""
    if nbytes >= 10 * GiB:
        return "%dGB" % (nbytes // GiB)
    if nbytes >= GiB:
        return "%.1fGB" % (nbytes / GiB)
    return "%dMB" % (nbytes // MiB)


def floor_to(value, step):
    """Round ``value`` down to a multiple of ``step`` (result is an int)."""
    return int(value // step) * step


# =================================================================== parse / validate one setting


def _special_or_scaled(name, spec, text, units):
    amount = parse_quantity(text, units, spec.unit)
    if amount in [s * spec.unit for s in spec.special]:
        return -1
    if amount < spec.minimum * spec.unit or amount > spec.maximum * spec.unit:
        raise ValueError(
            "%s=%r is outside %s..%s"
            % (name, text, _render_bound(spec, spec.minimum), _render_bound(spec, spec.maximum))
        )
    return amount


def _render_bound(spec, bound):
    if spec.kind == "memory":
        return render_memory(int(bound) * spec.unit)
    if spec.kind == "time":
        return render_time(int(bound) * spec.unit)
    return bound


def _parse_number(name, spec, value, cast):
    if isinstance(value, bool):
        raise ValueError("%s must be a number, not a boolean" % name)
    try:
        number = cast(value)
    except (TypeError, ValueError):
        raise ValueError("%s=%r is not a valid %s" % (name, value, spec.kind)) from None
    if number in spec.special:
        return number
    if not spec.minimum <= number <= spec.maximum:
        raise ValueError("%s=%r is outside %s..%s" % (name, value, spec.minimum, spec.maximum))
    return number


def _parse_word(name, spec, value):
    word = str(value).strip().lower()
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if word not in BOOL_WORDS:
            raise ValueError("%s=%r is not a boolean (on/off)" % (name, value))
        return BOOL_WORDS[word]
    if word not in spec.choices:
        raise ValueError("%s=%r is not one of %s" % (name, value, ", ".join(spec.choices)))
    return word


def parse_setting(name, value, pg_version=15):
    """Validate one setting and return it in canonical form.

    Memory -> bytes, time -> milliseconds, bool -> bool, real -> float, the
    special value -1 stays -1. Raises ValueError naming the setting.
    """
    spec = PARAMS.get(name)
    if spec is None:
        raise ValueError("%s is not a setting pg_tune computes; set it in the role's parameters instead" % name)
    if pg_version < spec.since:
        raise ValueError("%s needs PostgreSQL %d or later" % (name, spec.since))
    if spec.kind == "memory":
        return _special_or_scaled(name, spec, value, MEMORY_UNITS)
    if spec.kind == "time":
        return _special_or_scaled(name, spec, value, TIME_UNITS)
    if spec.kind == "int":
        return _parse_number(name, spec, value, int)
    if spec.kind == "real":
        return _parse_number(name, spec, value, float)
    if spec.kind == "string":
        return str(value)
    return _parse_word(name, spec, value)


def render_setting(name, value):
    """Render a canonical value (see parse_setting) for postgresql.conf."""
    kind = PARAMS[name].kind
    if kind == "memory":
        return render_memory(value)
    if kind == "time":
        return render_time(value)
    if kind == "bool":
        return "on" if value else "off"
    if kind == "real":
        return repr(float(value))
    return value


def parse_overrides(overrides, pg_version):
    """Validate the overrides mapping; return name -> canonical value."""
    if overrides is None:
        return {}
    if not hasattr(overrides, "items"):
        raise SizingError("overrides", "must be a mapping of setting name to value, got %r" % (overrides,))
    parsed = {}
    for name, value in overrides.items():
        if name == "max_slot_wal_keep_size" and str(value).strip() == "-1":
            raise SizingError("overrides.max_slot_wal_keep_size", "-1 lets replication slots fill the data volume")
        try:
            parsed[name] = parse_setting(name, value, pg_version)
        except ValueError as exc:
            raise SizingError("overrides.%s" % name, str(exc)) from None
    return parsed


# =================================================================== inputs


@dataclass(frozen=True)
class Inputs:
    """Validated inputs of one sizing run."""

    memory: int
    cpus: int
    storage: str
    storage_assumed: bool
    volume: int
    hugepage: int | None
    container: bool
    workload: Workload
    version: int
    budget: int
    reserved: int
    replicas: int
    headroom: int

    @property
    def available(self):
        """Memory PostgreSQL may plan with: effective memory minus co-located services."""
        return self.memory - self.reserved


def _non_negative_int(field, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int):
        raise SizingError(field, "must be an integer, got %r" % (value,))
    if value < minimum:
        qualifier = "negative" if value < 0 else "below %d" % minimum
        raise SizingError(field, "must not be %s, got %d" % (qualifier, value))
    return value


def _version(pg_version):
    text = str(pg_version).strip()
    if isinstance(pg_version, bool) or not text.isdigit() or int(text) not in SUPPORTED_VERSIONS:
        raise SizingError(
            "pg_version",
            "PostgreSQL %r is not supported; use one of %s" % (pg_version, ", ".join(map(str, SUPPORTED_VERSIONS))),
        )
    return int(text)


def _workload(name):
    if not isinstance(name, str):
        raise SizingError(
            "workload",
            "must be one workload name (%s), got the %s %r" % (", ".join(WORKLOADS), type(name).__name__, name),
        )
    if name not in WORKLOADS:
        raise SizingError("workload", "unknown workload %r; use one of %s" % (name, ", ".join(WORKLOADS)))
    return WORKLOADS[name]


def _profile_fields(profile):
    if not hasattr(profile, "get"):
        raise SizingError("profile", "must be the host profile mapping, got %r" % (profile,))
    storage = profile.get("storage_class") or "unknown"
    if storage not in STORAGE_CLASSES:
        raise SizingError("profile.storage_class", "%r is not one of %s" % (storage, ", ".join(STORAGE_CLASSES)))
    hugepage = profile.get("hugepage_size_bytes")
    if hugepage is not None:
        _non_negative_int("profile.hugepage_size_bytes", hugepage, 4 * KiB)
    volume = _non_negative_int("profile.data_volume_size_bytes", profile.get("data_volume_size_bytes"))
    if volume < MIN_VOLUME:
        raise SizingError("profile.data_volume_size_bytes", "%d bytes is below the 1GB minimum data volume" % volume)
    memory = _non_negative_int("profile.effective_memory_bytes", profile.get("effective_memory_bytes"), 1)
    if memory > MAX_MEMORY:
        raise SizingError(
            "profile.effective_memory_bytes",
            "%d bytes is more than any host has (limit %s); the host profile is wrong: check MemTotal and the cgroup "
            "memory limit the host_profile module read" % (memory, human_size(MAX_MEMORY)),
        )
    return {
        "memory": memory,
        "cpus": _non_negative_int("profile.effective_cpus", profile.get("effective_cpus"), 1),
        "storage": "ssd" if storage == "unknown" else storage,
        "storage_assumed": storage == "unknown",
        "volume": volume,
        "hugepage": hugepage or None,
        "container": bool(profile.get("container")),
    }


def make_inputs(
    profile, workload, pg_version, connection_budget, reserved_memory_bytes, replicas, headroom_connections
):
    """Validate every input and return an Inputs record (raises SizingError)."""
    return Inputs(
        workload=_workload(workload),
        version=_version(pg_version),
        budget=_non_negative_int("connection_budget", connection_budget),
        reserved=_non_negative_int("reserved_memory_bytes", reserved_memory_bytes),
        replicas=_non_negative_int("replicas", replicas),
        headroom=_non_negative_int("headroom_connections", headroom_connections),
        **_profile_fields(profile),
    )


# =================================================================== choices


class Choices:
    """Computed values, the overrides that replace them, and one reason per setting."""

    def __init__(self, overrides):
        self.overrides = overrides
        self.values = {}
        self.computed = {}
        self.reasons = {}

    def pick(self, name, computed, reason):
        """Record the computed value and reason; return the final (possibly overridden) value."""
        self.computed[name] = computed
        self.reasons[name] = reason
        self.values[name] = self.overrides.get(name, computed)
        return self.values[name]

    def __getitem__(self, name):
        return self.values[name]

    def render(self):
        """name -> {"value", "reason"} in PARAMS order."""
        settings = {}
        for name in PARAMS:
            reason = self.reasons[name]
            if name in self.overrides:
                reason = "override (computed %s: %s)" % (render_setting(name, self.computed[name]), reason)
            settings[name] = {"value": render_setting(name, self.values[name]), "reason": reason}
        return settings


# =================================================================== connections and processes


def pick_connections(ch, inp):
    """max_connections = budget + superuser-reserved + headroom; WAL senders are separate (PG 12+)."""
    reserved = ch.pick(
        "superuser_reserved_connections",
        SUPERUSER_RESERVED,
        "PostgreSQL default; keeps slots for an administrator when the pools are exhausted",
    )
    ch.pick(
        "max_connections",
        inp.budget + reserved + inp.headroom,
        "connection budget %d (pooler pools) + %d superuser-reserved + %d for Patroni, monitoring, backup and admins"
        % (inp.budget, reserved, inp.headroom),
    )


def pick_parallelism(ch, inp):
    """Parallel query workers by CPU count and workload."""
    w, cpus = inp.workload, inp.cpus
    workers = ch.pick(
        "max_parallel_workers",
        min(PARALLEL_WORKERS_MAX, int(cpus * w.parallel_share)),
        "%s: %s x %d CPUs may run parallel workers, at most PostgreSQL's limit %d"
        % (w.name, w.parallel_share, cpus, PARALLEL_WORKERS_MAX),
    )
    ch.pick(
        "max_parallel_workers_per_gather",
        min(w.gather_cap, int(cpus * w.gather_share), workers),
        "%s: %s of the CPUs per query, at most %d" % (w.name, w.gather_share, w.gather_cap),
    )
    ch.pick(
        "max_parallel_maintenance_workers",
        min(w.maintenance_workers_cap, cpus // 2, workers),
        "half the CPUs for CREATE INDEX / VACUUM, at most %d; they share maintenance_work_mem"
        % w.maintenance_workers_cap,
    )
    ch.pick(
        "max_worker_processes",
        ch["max_parallel_workers"] + 4,
        "parallel workers + 4 for the logical replication launcher, its apply workers and extension workers",
    )


def pick_autovacuum_workers(ch, inp):
    """One autovacuum worker per 4 CPUs, between the default 3 and 8."""
    ch.pick(
        "autovacuum_max_workers",
        max(3, min(8, inp.cpus // 4)),
        "one per 4 CPUs (%d), between the default 3 and 8" % inp.cpus,
    )


def pick_replication(ch, inp):
    """WAL senders and slots: one per replica, plus base backup streams and spares."""
    ch.pick(
        "max_wal_senders",
        inp.replicas + 4,
        "%d replicas + 2 for a base backup with streamed WAL + 2 spare for reconnects" % inp.replicas,
    )
    ch.pick(
        "max_replication_slots",
        inp.replicas + 4,
        "%d replica slots + 2 for base backups' temporary slots + 2 spare" % inp.replicas,
    )


def max_backends(v, max_connections):
    """PostgreSQL's MaxBackends: connections + autovacuum + launcher + bgworkers + WAL senders."""
    return max_connections + v["autovacuum_max_workers"] + 1 + v["max_worker_processes"] + v["max_wal_senders"]


# =================================================================== memory


def os_floor(memory):
    """Memory always left to the kernel and page cache: 128MB + 5% of RAM."""
    return OS_FLOOR_BASE + int(memory * OS_FLOOR_SHARE)


def effective_wal_buffers(v):
    """wal_buffers in bytes; -1 means 1/32 of shared_buffers between 64kB and 16MB."""
    if v["wal_buffers"] != -1:
        return v["wal_buffers"]
    return max(64 * KiB, min(16 * MiB, floor_to(v["shared_buffers"] // 32, 8 * KiB)))


def effective_autovacuum_work_mem(v):
    """autovacuum_work_mem in bytes; -1 means maintenance_work_mem."""
    return v["maintenance_work_mem"] if v["autovacuum_work_mem"] == -1 else v["autovacuum_work_mem"]


def shared_memory_estimate(v, max_connections):
    """Conservative size of the main shared memory segment (docs/tuning.md)."""
    overhead = math.ceil(v["shared_buffers"] * SHM_BUFFER_SHARE)
    overhead += max_backends(v, max_connections) * SHM_PER_BACKEND
    overhead += v["pg_stat_statements.max"] * SHM_PER_PGSS_ENTRY + SHM_FIXED
    return v["shared_buffers"] + effective_wal_buffers(v) + overhead


def huge_page_count(inp, v, max_connections):
    """vm.nr_hugepages needed when huge_pages=on, else 0."""
    if v["huge_pages"] != "on":
        return 0
    return math.ceil(shared_memory_estimate(v, max_connections) / inp.hugepage)


def fixed_commitment(inp, v, max_connections):
    """Every worst-case memory term except the query work areas, in bytes."""
    shm = shared_memory_estimate(v, max_connections)
    pages = huge_page_count(inp, v, max_connections)
    committed_shm = pages * inp.hugepage if pages else shm
    page = inp.hugepage if pages else BASE_PAGE
    processes = max_backends(v, max_connections) + AUX_PROCESSES
    wal_buffers = effective_wal_buffers(v)
    return {
        "shared_buffers": v["shared_buffers"],
        "wal_buffers": wal_buffers,
        "shared_memory_overhead": committed_shm - v["shared_buffers"] - wal_buffers,
        "page_tables": processes * math.ceil(committed_shm / page) * PTE_BYTES,
        "backend_private": processes * BACKEND_PRIVATE,
        "maintenance": GIN_FACTOR * v["maintenance_work_mem"],
        "autovacuum": GIN_FACTOR * v["autovacuum_max_workers"] * effective_autovacuum_work_mem(v),
        "reserved": inp.reserved,
        "os_floor": os_floor(inp.memory),
    }


def work_area_weights(inp, v, max_connections):
    """Work areas (each work_mem x hash_mem_multiplier) of backends and of parallel workers."""
    w, multiplier = inp.workload, Fraction(str(v["hash_mem_multiplier"]))
    backends = max_connections * w.concurrency_factor * multiplier
    parallel = v["max_parallel_workers"] * w.nodes * multiplier
    return backends, parallel


def query_commitment(inp, v, max_connections, work_mem):
    """Worst-case memory of the query work areas, in bytes."""
    backends, parallel = work_area_weights(inp, v, max_connections)
    return {"backend_work_mem": math.ceil(backends * work_mem), "parallel_work_mem": math.ceil(parallel * work_mem)}


def query_memory_budget(inp, v, max_connections):
    """Memory left for work areas after every fixed term (may be negative)."""
    return inp.memory - sum(fixed_commitment(inp, v, max_connections).values()) - SLACK


def fits(inp, v, max_connections, work_mem):
    """True when ``max_connections`` backends at ``work_mem`` satisfy the memory invariant."""
    if max_backends(v, max_connections) > MAX_BACKENDS:
        return False
    backends, parallel = work_area_weights(inp, v, max_connections)
    return (backends + parallel) * work_mem <= query_memory_budget(inp, v, max_connections)


def largest_fitting_connections(inp, v):
    """Largest max_connections that fits at WORK_MEM_FLOOR (0 if none), by bisection."""
    low, high = 0, MAX_BACKENDS
    while low < high:
        middle = (low + high + 1) // 2
        if fits(inp, v, middle, WORK_MEM_FLOOR):
            low = middle
        else:
            high = middle - 1
    return low


def max_connection_budget(inp, v):
    """Largest connection_budget compute() accepts with these settings (negative: none)."""
    return largest_fitting_connections(inp, v) - v["superuser_reserved_connections"] - inp.headroom


def pick_shared_memory(ch, inp):
    """shared_buffers, wal_buffers and huge pages."""
    share = Fraction(15, 100) if inp.available < SMALL_HOST else Fraction(25, 100)
    shared = ch.pick(
        "shared_buffers",
        min(SHARED_BUFFERS_MAX, max(128 * KiB, round_size(inp.available * share))),
        "%d%% of the %s left after reservations (PostgreSQL docs: 25%% from 1GB of RAM, less below), at most "
        "PostgreSQL's limit %s" % (share * 100, human_size(inp.available), human_size(SHARED_BUFFERS_MAX)),
    )
    ch.pick(
        "wal_buffers",
        effective_wal_buffers({"wal_buffers": -1, "shared_buffers": shared}),
        "what -1 would choose (1/32 of shared_buffers, 64kB..16MB), explicit so the commitment is exact",
    )
    if ch.pick("huge_pages", *huge_pages_choice(inp, shared)) == "on" and not inp.hugepage:
        raise SizingError("overrides.huge_pages", "on needs profile.hugepage_size_bytes to size vm.nr_hugepages")


def huge_pages_choice(inp, shared):
    """Return (huge_pages value, reason)."""
    if not inp.hugepage:
        return "try", "huge page size unknown; no pages reserved"
    if inp.container:
        return "try", "in a container vm.nr_hugepages is host-wide; no pages reserved here"
    if shared < HUGE_PAGES_ON_MIN:
        return "try", "shared_buffers below 1GB: page tables stay small; no pages reserved"
    return (
        "on",
        "vm.nr_hugepages is reserved from an over-estimate of shared memory before start, so 'on' cannot fall "
        "back to 4kB pages silently",
    )


def pick_maintenance_memory(ch, inp):
    """maintenance_work_mem, autovacuum_work_mem, hash_mem_multiplier, pg_stat_statements.max."""
    maintenance = ch.pick(
        "maintenance_work_mem",
        max(MiB, min(MAINTENANCE_CAP, floor_to(inp.available // 16, MiB))),
        "1/16 of available memory, at most 2GB; parallel maintenance workers share it",
    )
    workers = ch["autovacuum_max_workers"]
    ch.pick(
        "autovacuum_work_mem",
        max(MiB, min(AUTOVACUUM_WORK_MEM_CAP, maintenance, floor_to(inp.available // (32 * workers), MiB))),
        "all %d workers together (x2 for GIN cleanup) take at most 1/16 of available memory; 1GB cap" % workers,
    )
    ch.pick("hash_mem_multiplier", 2.0, "hash tables gain more from memory than sorts; PostgreSQL 15+ default")
    ch.pick(
        "pg_stat_statements.max",
        10000 if inp.available >= 2 * GiB else 5000,
        "enough distinct statements to avoid eviction churn; the default 5000 on hosts under 2GB",
    )


MEMORY_OVERRIDES = (
    "shared_buffers",
    "wal_buffers",
    "maintenance_work_mem",
    "autovacuum_work_mem",
    "autovacuum_max_workers",
    "hash_mem_multiplier",
    "max_parallel_workers",
    "max_worker_processes",
    "max_wal_senders",
    "huge_pages",
)


def _without_parallel(v):
    """The settings with no parallel workers (to tell whether the CPU count is what does not fit)."""
    return dict(
        v,
        max_parallel_workers=0,
        max_parallel_workers_per_gather=0,
        max_parallel_maintenance_workers=0,
        max_worker_processes=4,
    )


def ram_error(inp, v, overridden):
    """SizingError naming the input to change when work_mem would fall below the floor.

    In order: a max_connections override; overrides that take memory; the connection budget when a
    smaller one fits; the reservation when the budget fits without it; else the host's memory.
    """
    budget = max_connection_budget(inp, v)
    connections = "%d connections (connection budget %d + %d superuser-reserved + %d headroom)" % (
        v["max_connections"],
        inp.budget,
        v["superuser_reserved_connections"],
        inp.headroom,
    )
    memory_overrides = [name for name in MEMORY_OVERRIDES if name in overridden]
    if "max_connections" in overridden:
        field, advice = "overrides.max_connections", "lower the max_connections override"
        connections = "max_connections=%d (override)" % v["max_connections"]
    elif memory_overrides:
        field = "overrides.%s" % memory_overrides[0]
        advice = "lower the override(s) %s or remove them" % ", ".join(memory_overrides)
    else:
        unreserved = max_connection_budget(replace(inp, reserved=0), v) if inp.reserved else budget
        if inp.reserved and unreserved >= inp.budget:
            field, advice = "reserved_memory_bytes", "reserve less memory for co-located services"
        elif budget >= 0:
            field, advice = "connection_budget", "lower connection_budget to at most %d" % budget
        elif fits(inp, _without_parallel(v), v["max_connections"], WORK_MEM_FLOOR):
            field = "profile.effective_cpus"
            advice = (
                "the %d CPUs ask for %d parallel workers whose processes and work areas do not fit; check the CPU "
                "count of the host profile or cap them with a max_parallel_workers override"
                % (inp.cpus, v["max_parallel_workers"])
            )
        elif unreserved >= 0:
            field = "connection_budget"
            advice = (
                "lower connection_budget and reserved_memory_bytes (without the reservation about %d connections of "
                "budget would fit)" % unreserved
            )
        else:
            field, advice = "profile.effective_memory_bytes", "give the host more memory"
    message = (
        "%s do not fit in %s of effective memory (%s reserved for other services) at the minimum work_mem of %s; %s"
        % (
            connections,
            human_size(inp.memory),
            human_size(inp.reserved),
            render_memory(WORK_MEM_FLOOR),
            advice,
        )
    )
    return SizingError(field, message, max_connection_budget=budget)


def round_work_mem(value):
    """Round down to whole MB from 8MB, to 64kB below (both keep the 1MB floor exact)."""
    return floor_to(value, MiB if value >= 8 * MiB else 64 * KiB)


def pick_work_mem(ch, inp):
    """work_mem = what is left after every fixed term, shared by the modelled work areas."""
    v = ch.values
    connections = v["max_connections"]
    backends, parallel = work_area_weights(inp, v, connections)
    budget = query_memory_budget(inp, v, connections)
    work_mem = max(0, min(inp.workload.work_mem_cap, round_work_mem(Fraction(budget) / (backends + parallel))))
    if work_mem < WORK_MEM_FLOOR and "work_mem" not in ch.overrides:
        raise ram_error(inp, v, ch.overrides)
    ch.pick(
        "work_mem",
        work_mem,
        "%s left for queries / (%s work areas per backend x %d backends + %d per parallel worker x %d) / "
        "hash_mem_multiplier, at most %s"
        % (
            human_size(max(budget, 0)),
            inp.workload.concurrency_factor,
            connections,
            inp.workload.nodes,
            v["max_parallel_workers"],
            render_memory(inp.workload.work_mem_cap),
        ),
    )


# =================================================================== planner, I/O, WAL, logging


def pick_planner(ch, inp):
    """effective_cache_size, cost and I/O settings by storage class, statistics, JIT."""
    w = inp.workload
    ch.pick(
        "effective_cache_size",
        min(EFFECTIVE_CACHE_SIZE_MAX, max(ch["shared_buffers"], round_size(inp.available * 3 // 4))),
        "75%% of the memory left after reservations (shared_buffers + expected page cache; a planner hint), at most "
        "PostgreSQL's limit %s" % human_size(EFFECTIVE_CACHE_SIZE_MAX),
    )
    cost, io, maintenance_io = STORAGE_POLICY[inp.storage][:3]
    assumed = " (storage class unknown: assumed ssd, set it in the inventory)" if inp.storage_assumed else ""
    ch.pick("random_page_cost", float(cost), "%s storage%s" % (inp.storage, assumed))
    ch.pick(
        "effective_io_concurrency",
        io,
        "%s storage: concurrent prefetch requests it can serve%s" % (inp.storage, assumed),
    )
    ch.pick(
        "maintenance_io_concurrency",
        maintenance_io,
        "%s storage, for VACUUM and ANALYZE prefetch%s" % (inp.storage, assumed),
    )
    ch.pick("default_statistics_target", w.statistics_target, "%s: %s" % (w.name, _stats_reason(w)))
    ch.pick(
        "jit",
        w.jit,
        "%s: %s"
        % (w.name, "long analytic queries gain" if w.jit else "JIT compile time exceeds short queries' run time"),
    )


def _stats_reason(w):
    return "finer histograms for skewed analytic data" if w.statistics_target > 100 else "PostgreSQL default"


def pick_wal(ch, inp):
    """WAL sizes bounded by shares of the data volume so pg_wal can never fill it."""
    w, volume = inp.workload, inp.volume
    maximum = ch.pick(
        "max_wal_size",
        max(64 * MiB, min(w.max_wal_size, round_size(volume * MAX_WAL_SHARE))),
        "%s target %s, at most 10%% of the %s data volume"
        % (w.name, render_memory(w.max_wal_size), human_size(volume)),
    )
    ch.pick("min_wal_size", max(32 * MiB, round_size(maximum // 4)), "a quarter of max_wal_size stays recycled")
    ch.pick(
        "wal_keep_size",
        round_size(volume * WAL_KEEP_SHARE),
        "2.5% of the data volume for replicas without a slot (archive covers the rest)",
    )
    ch.pick(
        "max_slot_wal_keep_size",
        round_size(volume * SLOT_KEEP_SHARE),
        "10% of the data volume: a lagging slot is invalidated before it can fill the disk",
    )
    ch.pick(
        "checkpoint_timeout",
        w.checkpoint_minutes * 60_000,
        "%s: fewer full-page writes; crash recovery bounded by max_wal_size" % w.name,
    )
    ch.pick("checkpoint_completion_target", 0.9, "spread checkpoint writes over 90% of the interval (PG 14+ default)")


def pick_autovacuum_cost(ch, inp):
    """autovacuum_vacuum_cost_limit: per-worker I/O budget by storage, scaled by worker count."""
    workers = ch["autovacuum_max_workers"]
    per_three = STORAGE_POLICY[inp.storage][3]
    limit = min(10000, per_three * workers // 3)
    ch.pick(
        "autovacuum_vacuum_cost_limit",
        limit,
        "%s storage: %d per 3 workers, scaled to %d workers so adding workers does not slow each one"
        % (inp.storage, per_three, workers),
    )


def pick_logging(ch, inp):
    """Monitoring and logging settings (fixed policy, see docs/tuning.md)."""
    ch.pick("shared_preload_libraries", "pg_stat_statements,auto_explain", "statement statistics and slow-plan logging")
    ch.pick("pg_stat_statements.track", "top", "top-level statements only; nested ones would crowd out the table")
    ch.pick(
        "auto_explain.log_min_duration", 5000, "plans of statements over 5s (log_analyze stays off: no timing overhead)"
    )
    ch.pick("log_min_duration_statement", 1000, "statements over 1s are logged with their duration")
    ch.pick("log_lock_waits", True, "waits longer than deadlock_timeout are logged")
    ch.pick("log_checkpoints", True, "checkpoint frequency and duration show WAL sizing problems")
    ch.pick("log_connections", True, "audit trail; the pooler keeps connection churn low")
    ch.pick("log_disconnections", True, "session duration per connection")
    ch.pick("log_line_prefix", LOG_LINE_PREFIX, "time, pid, user@db, application and client address")
    w = inp.workload
    if w.log_all_temp_files:
        ch.pick("log_temp_files", 0, "%s: any temporary file means a query outgrew work_mem" % w.name)
    else:
        ch.pick("log_temp_files", ch["work_mem"], "%s: spills at least as large as work_mem" % w.name)
    ch.pick("track_io_timing", True, "I/O time per statement in pg_stat_statements and EXPLAIN")
    ch.pick("password_encryption", "scram-sha-256", "SCRAM everywhere (pg_hba uses scram-sha-256)")


# =================================================================== consistency and summary


COMPUTED_FROM = {"max_connections": "connection_budget"}


def check_consistency(ch, inp):
    """Cross-setting rules PostgreSQL enforces or that make a setting useless."""
    v = ch.values
    rules = (
        (
            "superuser_reserved_connections",
            v["superuser_reserved_connections"] < v["max_connections"],
            "must be below max_connections",
        ),
        (
            "max_connections",
            max_backends(v, v["max_connections"]) <= MAX_BACKENDS,
            "total backends exceed %d" % MAX_BACKENDS,
        ),
        ("min_wal_size", v["min_wal_size"] <= v["max_wal_size"], "must not exceed max_wal_size"),
        (
            "max_parallel_workers",
            v["max_parallel_workers"] <= v["max_worker_processes"],
            "exceeds max_worker_processes",
        ),
        (
            "max_parallel_workers_per_gather",
            v["max_parallel_workers_per_gather"] <= v["max_parallel_workers"],
            "exceeds max_parallel_workers",
        ),
        (
            "max_parallel_maintenance_workers",
            v["max_parallel_maintenance_workers"] <= v["max_parallel_workers"],
            "exceeds max_parallel_workers",
        ),
    )
    for name, ok, problem in rules:
        if not ok:
            raise SizingError("overrides.%s" % name if name in ch.overrides else COMPUTED_FROM.get(name, name), problem)


def check_limits(ch, inp):
    """Every value, rendered as postgresql.conf gets it, must be one PostgreSQL accepts."""
    for name in PARAMS:
        if name in ch.overrides:
            continue
        try:
            parse_setting(name, render_setting(name, ch.values[name]), inp.version)
        except ValueError as exc:
            raise SizingError("internal", "computed %s is outside PostgreSQL's limits (%s)" % (name, exc)) from None


def wal_disk_summary(inp, v):
    """Worst-case pg_wal (+ archive queue) against the data volume."""
    queue = floor_to(inp.volume * ARCHIVE_QUEUE_SHARE, MiB)
    worst = v["max_wal_size"] + max(v["wal_keep_size"], v["max_slot_wal_keep_size"]) + queue
    return {
        "volume_bytes": inp.volume,
        "max_wal_size_bytes": v["max_wal_size"],
        "wal_keep_size_bytes": v["wal_keep_size"],
        "max_slot_wal_keep_size_bytes": v["max_slot_wal_keep_size"],
        "archive_queue_max_bytes": queue,
        "worst_case_bytes": worst,
        "worst_case_ratio": round(worst / inp.volume, 4),
    }


def memory_summary(inp, v):
    """Worst-case memory commitment breakdown; ``total`` must not exceed effective memory."""
    terms = fixed_commitment(inp, v, v["max_connections"])
    terms.update(query_commitment(inp, v, v["max_connections"], v["work_mem"]))
    terms["total"] = sum(terms.values())
    return terms


def build_summary(inp, v):
    """Everything the roles need besides the settings."""
    memory = memory_summary(inp, v)
    return {
        "workload": inp.workload.name,
        "pg_version": inp.version,
        "storage_class": inp.storage,
        "storage_class_assumed": inp.storage_assumed,
        "effective_memory_bytes": inp.memory,
        "reserved_memory_bytes": inp.reserved,
        "effective_cpus": inp.cpus,
        "connection_budget": inp.budget,
        "max_connection_budget": max_connection_budget(inp, v),
        "max_backends": max_backends(v, v["max_connections"]),
        "concurrency_factor": float(inp.workload.concurrency_factor),
        "nodes_per_query": inp.workload.nodes,
        "memory_commitment": memory,
        "memory_commitment_ratio": round(memory["total"] / inp.memory, 4),
        "shared_memory_estimate_bytes": shared_memory_estimate(v, v["max_connections"]),
        "hugepage_size_bytes": inp.hugepage,
        "vm_nr_hugepages": huge_page_count(inp, v, v["max_connections"]),
        "wal_disk": wal_disk_summary(inp, v),
    }


def check_invariants(summary, overridden):
    """Raise SizingError if memory or WAL disk limits are broken (only overrides can do that)."""
    field = "overrides" if overridden else "internal"
    memory = summary["memory_commitment"]
    if memory["total"] > summary["effective_memory_bytes"]:
        raise SizingError(
            field,
            "worst-case memory commitment %s exceeds effective memory %s"
            % (
                human_size(memory["total"]),
                human_size(summary["effective_memory_bytes"]),
            ),
        )
    if summary["wal_disk"]["worst_case_ratio"] > WAL_DISK_LIMIT:
        raise SizingError(
            field,
            "WAL could take %.0f%% of the data volume (limit 33%%)" % (summary["wal_disk"]["worst_case_ratio"] * 100),
        )


# =================================================================== entry point


def compute(
    profile,
    workload="mixed",
    pg_version=15,
    connection_budget=100,
    reserved_memory_bytes=0,
    replicas=2,
    overrides=None,
    headroom_connections=DEFAULT_HEADROOM,
):
    """Size PostgreSQL for one host; return {"settings": ..., "summary": ...}.

    profile: host profile dict (module_utils.host_profile.gather); uses
        effective_memory_bytes, effective_cpus, storage_class (hdd|ssd|san|unknown),
        data_volume_size_bytes, hugepage_size_bytes and container.
    workload: oltp, web, mixed or dw.
    pg_version: PostgreSQL major, 13..17.
    connection_budget: backend connections the applications really use (the sum
        of the pooler's pool sizes). max_connections adds superuser_reserved_connections
        and headroom_connections (Patroni, monitoring, backups, admins).
    reserved_memory_bytes: memory of co-located services (Redis maxmemory, PgBouncer, ...).
    replicas: physical replication consumers of this node (other members, DR, async).
    overrides: name -> value; validated, wins over computed values, feeds later formulas.
    Raises SizingError (a ValueError) naming the input that is wrong.
    """
    inp = make_inputs(
        profile, workload, pg_version, connection_budget, reserved_memory_bytes, replicas, headroom_connections
    )
    ch = Choices(parse_overrides(overrides, inp.version))
    pick_connections(ch, inp)
    pick_parallelism(ch, inp)
    pick_autovacuum_workers(ch, inp)
    pick_replication(ch, inp)
    pick_shared_memory(ch, inp)
    pick_maintenance_memory(ch, inp)
    pick_work_mem(ch, inp)
    pick_planner(ch, inp)
    pick_wal(ch, inp)
    pick_autovacuum_cost(ch, inp)
    pick_logging(ch, inp)
    check_consistency(ch, inp)
    check_limits(ch, inp)
    summary = build_summary(inp, ch.values)
    check_invariants(summary, bool(ch.overrides))
    return {"settings": ch.render(), "summary": summary}


def settings_only(result):
    """name -> value, for templating."""
    return {name: item["value"] for name, item in result["settings"].items()}
