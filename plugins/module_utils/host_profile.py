# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather the host facts that PostgreSQL sizing needs and Ansible facts lack.

Every function takes ``root`` (default ``/``) and reads ``<root>/proc/...`` and
``<root>/sys/...``, so unit tests can point it at a fixture tree. Only the
standard library is used: the code runs on target hosts with the system Python.

``gather()`` returns a plain dict with these keys (``None`` = unknowable):

``mem_total_bytes``            MemTotal from /proc/meminfo.
``cgroup_version``             1, 2 or None (no memory cgroup found).
``cgroup_memory_limit_bytes``  Smallest memory limit on the process's cgroup
                               and its ancestors; None when unlimited.
``effective_memory_bytes``     min(MemTotal, cgroup limit).
``online_cpus``                CPUs online (/sys/devices/system/cpu/online,
                               else /proc/cpuinfo).
``allowed_cpus``               CPUs this process may run on (Cpus_allowed_list).
``cgroup_cpu_quota``           CFS quota in CPUs (e.g. 1.5); None when unlimited.
``effective_cpus``             ceil(quota) capped by allowed/online CPUs, >= 1.
``data_directory``             The path that was asked about.
``data_mount_point``           Mount point holding it (longest-prefix match).
``data_fstype``                File system type of that mount.
``data_device``                Block device of the mount (e.g. nvme0n1p2).
``data_disk``                  Whole disk under it (e.g. nvme0n1).
``data_rotational``            True/False from queue/rotational, None if unknown.
``data_volume_size_bytes``     Device size (512-byte sectors), or file system
                               size from statvfs for overlay/tmpfs/unknown.
``hugepage_size_bytes``        Hugepagesize from /proc/meminfo.
``hugepages_total``            HugePages_Total (already reserved pages).
``container``                  Container technology detected, or None.
``storage_class``              "hdd", "ssd" or "unknown" (inventory may override).
"""

from __future__ import annotations

import math
import os
import re

DEFAULT_DATA_DIRECTORY = "/var/lib/postgresql"

# cgroup v1 reports "no limit" as PAGE_COUNTER_MAX * PAGE_SIZE (about 2**63);
# anything this large is not a real limit.
CGROUP_V1_UNLIMITED = 2**62
SECTOR_BYTES = 512
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


class HostProfileError(Exception):
    """A fact that sizing cannot do without could not be read."""


# --------------------------------------------------------------------------- files


def host_path(root, path):
    """Return ``path`` (absolute on the target) inside ``root``."""
    return os.path.join(root, path.lstrip("/"))


def read_text(root, path):
    """Return the stripped text of a file under ``root``, or None if unreadable."""
    try:
        with open(host_path(root, path), encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def read_int(root, path):
    """Return the integer in a one-value file, or None."""
    text = read_text(root, path)
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- memory


def parse_meminfo(text):
    """Parse /proc/meminfo: values with a kB suffix become bytes, others stay counts."""
    info = {}
    for line in (text or "").splitlines():
        name, _sep, rest = line.partition(":")
        fields = rest.split()
        if not fields or not fields[0].isdigit():
            continue
        value = int(fields[0])
        info[name.strip()] = value * 1024 if fields[1:2] == ["kB"] else value
    return info


def memory_facts(root, mounts, cgroups):
    """MemTotal, cgroup memory limit, effective memory and huge page facts."""
    meminfo = parse_meminfo(read_text(root, "/proc/meminfo"))
    mem_total = meminfo.get("MemTotal")
    if not mem_total:
        raise HostProfileError("cannot read MemTotal from %s" % host_path(root, "/proc/meminfo"))
    version, limit = cgroup_memory_limit(root, mounts, cgroups)
    return {
        "mem_total_bytes": mem_total,
        "cgroup_version": version,
        "cgroup_memory_limit_bytes": limit,
        "effective_memory_bytes": min(mem_total, limit) if limit else mem_total,
        "hugepage_size_bytes": meminfo.get("Hugepagesize"),
        "hugepages_total": meminfo.get("HugePages_Total", 0),
    }


# --------------------------------------------------------------------------- mounts


def unescape_mount_field(field):
    r"""Decode the octal escapes (``\040`` for a space) used in mountinfo."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_mountinfo(text):
    """Parse /proc/self/mountinfo into a list of dicts, in file order."""
    mounts = []
    for line in (text or "").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 2:
            continue
        major, _sep, minor = fields[2].partition(":")
        mounts.append(
            {
                "major": int(major),
                "minor": int(minor),
                "root": unescape_mount_field(fields[3]),
                "mount_point": unescape_mount_field(fields[4]),
                "fstype": tail[0],
                "source": unescape_mount_field(tail[1]),
                "super_options": tail[2].split(",") if len(tail) > 2 else [],
            }
        )
    return mounts


def path_is_under(path, prefix):
    """True when ``path`` equals ``prefix`` or lies below it."""
    if prefix == "/":
        return path.startswith("/")
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def find_mount(mounts, path):
    """Return the mount holding ``path``: longest mount point prefix, last one wins."""
    best = None
    for mount in mounts:
        if not path_is_under(path, mount["mount_point"]):
            continue
        if best is None or len(mount["mount_point"]) >= len(best["mount_point"]):
            best = mount
    return best


# --------------------------------------------------------------------------- cgroups


def parse_proc_cgroup(text):
    """Parse /proc/self/cgroup into (hierarchy_id, [controllers], path) tuples."""
    entries = []
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            controllers = [c for c in parts[1].split(",") if c]
            entries.append((parts[0], controllers, parts[2]))
    return entries


def cgroup_v1_mount(mounts, controller):
    """Return the cgroup v1 mount serving ``controller``, or None."""
    for mount in mounts:
        if mount["fstype"] == "cgroup" and controller in mount["super_options"]:
            return mount
    return None


def cgroup_v2_mount(mounts):
    """Return the cgroup2 mount, or None."""
    for mount in mounts:
        if mount["fstype"] == "cgroup2":
            return mount
    return None


def cgroup_leaf_dir(root, mount, cgroup_path, fallback):
    """Map the process's cgroup path to a directory under ``root``.

    With cgroupns=host the path is e.g. ``/docker/<id>`` and the mount root is
    ``/``; with a private namespace both are ``/`` and the mount point itself is
    the container's cgroup. A path that does not exist under the mount (a host
    hierarchy seen from a private namespace) is harmless: cgroup_chain() walks
    up to the mount point and missing files are skipped.
    """
    mount_point = mount["mount_point"] if mount else fallback
    mount_root = mount["root"] if mount else "/"
    if path_is_under(cgroup_path, mount_root):
        relative = cgroup_path[len(mount_root.rstrip("/")) :]
    else:
        relative = cgroup_path
    return host_path(root, mount_point.rstrip("/") + "/" + relative.lstrip("/"))


def cgroup_chain(root, leaf, mount_point):
    """Directories from ``leaf`` up to the hierarchy's mount point, inclusive."""
    top = os.path.normpath(host_path(root, mount_point))
    chain, current = [], os.path.normpath(leaf)
    while True:
        chain.append(current)
        if current == top or len(current) <= len(top):
            return chain
        current = os.path.dirname(current)


def cgroup_dirs(root, mounts, cgroups, controller, v1_fallback):
    """Return (version, [cgroup dirs leaf first]) for ``controller``; (None, []) if absent."""
    for _hierarchy, controllers, path in cgroups:
        if controller in controllers:
            mount = cgroup_v1_mount(mounts, controller)
            mount_point = mount["mount_point"] if mount else v1_fallback
            leaf = cgroup_leaf_dir(root, mount, path, v1_fallback)
            return 1, cgroup_chain(root, leaf, mount_point)
    for hierarchy, controllers, path in cgroups:
        if hierarchy == "0" and not controllers:
            mount = cgroup_v2_mount(mounts)
            mount_point = mount["mount_point"] if mount else "/sys/fs/cgroup"
            enabled = read_text(root, mount_point + "/cgroup.controllers") or ""
            if controller in enabled.split():
                leaf = cgroup_leaf_dir(root, mount, path, "/sys/fs/cgroup")
                return 2, cgroup_chain(root, leaf, mount_point)
    return None, []


def read_dir_text(directory, name):
    """Read ``name`` inside an already-rooted directory, or None."""
    return read_text("/", os.path.join(directory, name))


def v1_memory_limit(directory):
    """memory.limit_in_bytes of one v1 cgroup; None when unlimited or absent."""
    value = read_dir_text(directory, "memory.limit_in_bytes")
    if value is None or not value.isdigit() or int(value) >= CGROUP_V1_UNLIMITED:
        return None
    return int(value)


def v2_memory_limit(directory):
    """memory.max of one v2 cgroup; None when "max" or absent."""
    value = read_dir_text(directory, "memory.max")
    return int(value) if value and value.isdigit() else None


def smallest(values):
    """Smallest non-None value, or None."""
    present = [value for value in values if value is not None]
    return min(present) if present else None


def cgroup_memory_limit(root, mounts, cgroups):
    """Return (cgroup version, smallest memory limit along the chain or None)."""
    version, chain = cgroup_dirs(root, mounts, cgroups, "memory", "/sys/fs/cgroup/memory")
    reader = v1_memory_limit if version == 1 else v2_memory_limit
    return version, smallest(reader(directory) for directory in chain)


def v1_cpu_quota(directory):
    """cpu.cfs_quota_us / cpu.cfs_period_us in CPUs; None when -1 or absent."""
    quota = read_dir_text(directory, "cpu.cfs_quota_us")
    period = read_dir_text(directory, "cpu.cfs_period_us")
    if not quota or not period or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None
    return int(quota) / int(period)


def v2_cpu_quota(directory):
    """cpu.max ("<quota> <period>" or "max <period>") in CPUs; None when unlimited."""
    fields = (read_dir_text(directory, "cpu.max") or "").split()
    if len(fields) != 2 or not fields[0].isdigit() or not fields[1].isdigit() or int(fields[1]) == 0:
        return None
    return int(fields[0]) / int(fields[1])


def cgroup_cpu_quota(root, mounts, cgroups):
    """Smallest CFS quota along the process's cpu cgroup chain, in CPUs, or None."""
    version, chain = cgroup_dirs(root, mounts, cgroups, "cpu", "/sys/fs/cgroup/cpu")
    reader = v1_cpu_quota if version == 1 else v2_cpu_quota
    return smallest(reader(directory) for directory in chain)


# --------------------------------------------------------------------------- CPUs


def count_cpu_list(text):
    """Count CPUs in a kernel list such as ``0-3,8,10-11``; None if unparsable."""
    total = 0
    for part in (text or "").split(","):
        low, _sep, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        total += int(high or low) - int(low) + 1
    return total or None


def online_cpus(root):
    """CPUs online on the host the root describes."""
    count = count_cpu_list(read_text(root, "/sys/devices/system/cpu/online"))
    if count:
        return count
    cpuinfo = read_text(root, "/proc/cpuinfo") or ""
    count = sum(1 for line in cpuinfo.splitlines() if re.match(r"processor\s*:", line))
    if count:
        return count
    return os.cpu_count() if os.path.realpath(root) == "/" else None


def allowed_cpus(root):
    """CPUs the process may run on (cpuset / affinity), from /proc/self/status."""
    for line in (read_text(root, "/proc/self/status") or "").splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return count_cpu_list(line.split(":", 1)[1])
    return None


def effective_cpus(online, allowed, quota):
    """ceil(quota), capped by the CPUs the process can use, at least 1."""
    usable = smallest([online, allowed]) or 1
    if quota is None:
        return usable
    return max(1, min(usable, math.ceil(quota)))


def cpu_facts(root, mounts, cgroups):
    """Online, allowed and effective CPUs plus the cgroup quota."""
    online, allowed = online_cpus(root), allowed_cpus(root)
    quota = cgroup_cpu_quota(root, mounts, cgroups)
    return {
        "online_cpus": online,
        "allowed_cpus": allowed,
        "cgroup_cpu_quota": quota,
        "effective_cpus": effective_cpus(online, allowed, quota),
    }


# --------------------------------------------------------------------------- storage


def resolve_in_root(root, path):
    """Resolve symlinks of ``path`` inside ``root``; keep ``path`` if it escapes."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(host_path(root, path))
    if real_root == "/":
        return real
    if path_is_under(real, real_root):
        relative = os.path.relpath(real, real_root)
        return "/" if relative == "." else "/" + relative
    return path


def block_device(root, major, minor):
    """Return (device, disk, sysfs dir) for MAJ:MIN; (None, None, None) if not a block device."""
    if major == 0:
        return None, None, None
    link = host_path(root, "/sys/dev/block/%d:%d" % (major, minor))
    if not os.path.exists(link):
        return None, None, None
    real = os.path.realpath(link)
    device = os.path.basename(real)
    is_partition = os.path.exists(os.path.join(real, "partition"))
    disk = os.path.basename(os.path.dirname(real)) if is_partition else device
    return device, disk, real


def disk_rotational(root, disk):
    """queue/rotational of a whole disk as a bool, or None."""
    value = read_int(root, "/sys/block/%s/queue/rotational" % disk)
    return None if value is None else value == 1


def device_size_bytes(sysfs_dir):
    """Size of the device itself (a partition's own size), from 512-byte sectors."""
    sectors = read_dir_text(sysfs_dir, "size")
    return int(sectors) * SECTOR_BYTES if sectors and sectors.isdigit() and int(sectors) else None


def statvfs_size_bytes(root, path):
    """File system size at ``path`` or its nearest existing ancestor, or None."""
    current = host_path(root, path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    stats = os.statvfs(current)
    return stats.f_blocks * stats.f_frsize or None


def storage_class(rotational):
    """Guess the storage class from the rotational flag."""
    if rotational is None:
        return "unknown"
    return "hdd" if rotational else "ssd"


def storage_facts(root, mounts, data_directory):
    """Mount, device, rotational flag and size of the volume under ``data_directory``."""
    path = resolve_in_root(root, data_directory)
    mount = find_mount(mounts, path) or {}
    device, disk, sysfs_dir = block_device(root, mount.get("major", 0), mount.get("minor", 0))
    rotational = disk_rotational(root, disk) if disk else None
    size = device_size_bytes(sysfs_dir) if sysfs_dir else None
    return {
        "data_directory": data_directory,
        "data_mount_point": mount.get("mount_point"),
        "data_fstype": mount.get("fstype"),
        "data_device": device,
        "data_disk": disk,
        "data_rotational": rotational,
        "data_volume_size_bytes": size or statvfs_size_bytes(root, path),
        "storage_class": storage_class(rotational),
    }


# --------------------------------------------------------------------------- container


def detect_container(root):
    """Name the container technology (docker, podman, lxc, ...) or return None."""
    if os.path.exists(host_path(root, "/.dockerenv")):
        return "docker"
    if os.path.exists(host_path(root, "/run/.containerenv")):
        return "podman"
    marker = read_text(root, "/run/systemd/container")
    if marker:
        return marker
    environ = read_text(root, "/proc/1/environ") or ""
    for item in environ.split("\0"):
        if item.startswith("container=") and item[len("container=") :]:
            return item[len("container=") :]
    return None


# --------------------------------------------------------------------------- entry point


def gather(root="/", data_directory=DEFAULT_DATA_DIRECTORY):
    """Return the host profile dict described in the module docstring."""
    mounts = parse_mountinfo(read_text(root, "/proc/self/mountinfo"))
    cgroups = parse_proc_cgroup(read_text(root, "/proc/self/cgroup"))
    profile = memory_facts(root, mounts, cgroups)
    profile.update(cpu_facts(root, mounts, cgroups))
    profile.update(storage_facts(root, mounts, data_directory))
    profile["container"] = detect_container(root)
    return profile
