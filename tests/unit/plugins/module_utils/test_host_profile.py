"""Unit tests for module_utils/host_profile.py against fixture /proc and /sys trees."""

from __future__ import annotations

import os

import pytest

from ansible_collections.keel.postgres.plugins.module_utils import host_profile as hp

GiB = 1024**3
MiB = 1024**2
V1_UNLIMITED = "9223372036854771712"


# --------------------------------------------------------------------------- fixture builders


def write(root, path, text):
    """Create ``<root>/<path>`` with ``text`` (parents included)."""
    target = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)
    return target


def link(root, path, target):
    """Create a symlink ``<root>/<path>`` pointing at the relative ``target``."""
    source = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(source), exist_ok=True)
    os.symlink(target, source)


def mount_line(mount_id, dev, mount_point, fstype, source, root="/", options="rw"):
    return "%d 1 %s %s %s rw,relatime - %s %s %s" % (mount_id, dev, root, mount_point, fstype, source, options)


def base_host(root, mem_total=8 * GiB, online="0-7", allowed=None, hugepage_kb=2048, mounts=(), cgroup=""):
    """A host with meminfo, CPUs, mountinfo (root on sda1 unless given) and /proc/self/cgroup."""
    meminfo = "MemTotal:       %d kB\nMemFree:        1000 kB\nHugePages_Total:       0\n" % (mem_total // 1024)
    if hugepage_kb:
        meminfo += "Hugepagesize:       %d kB\n" % hugepage_kb
    write(root, "/proc/meminfo", meminfo)
    write(root, "/sys/devices/system/cpu/online", online + "\n")
    write(root, "/proc/self/status", "Name:\tpython3\nCpus_allowed_list:\t%s\n" % (allowed or online))
    lines = list(mounts) or [mount_line(20, "8:1", "/", "ext4", "/dev/sda1")]
    write(root, "/proc/self/mountinfo", "\n".join(lines) + "\n")
    write(root, "/proc/self/cgroup", cgroup)


def v1_mounts():
    return [
        mount_line(20, "8:1", "/", "ext4", "/dev/sda1"),
        mount_line(30, "0:30", "/sys/fs/cgroup/memory", "cgroup", "cgroup", options="rw,memory"),
        mount_line(31, "0:31", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cgroup", options="rw,cpu,cpuacct"),
        mount_line(32, "0:32", "/sys/fs/cgroup/cpuset", "cgroup", "cgroup", options="rw,cpuset"),
    ]


def cgroup_v1_host(root, limit, path="/docker/abc123", quota="-1", period="100000", **host):
    """cgroup v1 as in the lab: cgroupns=host, hierarchy mounted from the host."""
    cgroup = "9:cpuset:/\n5:cpu,cpuacct:%s\n4:memory:%s\n1:name=systemd:%s\n0::/\n" % (path, path, path)
    base_host(root, mounts=v1_mounts(), cgroup=cgroup, **host)
    write(root, "/sys/fs/cgroup/memory/memory.limit_in_bytes", V1_UNLIMITED + "\n")
    write(root, "/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % path.rstrip("/"), str(limit) + "\n")
    write(root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    write(root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    write(root, "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_quota_us" % path.rstrip("/"), quota + "\n")
    write(root, "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_period_us" % path.rstrip("/"), period + "\n")


def cgroup_v2_host(root, memory_max, cpu_max="max 100000", path="/system.slice/postgresql.scope", **host):
    """Pure cgroup v2 (unified hierarchy at /sys/fs/cgroup)."""
    mounts = [
        mount_line(20, "8:1", "/", "ext4", "/dev/sda1"),
        mount_line(30, "0:26", "/sys/fs/cgroup", "cgroup2", "cgroup2", options="rw,nsdelegate"),
    ]
    base_host(root, mounts=mounts, cgroup="0::%s\n" % path, **host)
    write(root, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
    write(root, "/sys/fs/cgroup%s/memory.max" % path.rstrip("/"), memory_max + "\n")
    write(root, "/sys/fs/cgroup%s/cpu.max" % path.rstrip("/"), cpu_max + "\n")


def block_disk(root, dev, name, rotational, sectors, bus="pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"):
    """A whole disk under /sys/devices with /sys/block and /sys/dev/block links, like the kernel's."""
    device_dir = "/sys/devices/%s/block/%s" % (bus, name)
    write(root, device_dir + "/size", "%d\n" % sectors)
    write(root, device_dir + "/queue/rotational", "%d\n" % rotational)
    link(root, "/sys/block/" + name, "../devices/%s/block/%s" % (bus, name))
    link(root, "/sys/dev/block/" + dev, "../../devices/%s/block/%s" % (bus, name))
    return device_dir


def block_partition(root, dev, disk_dir, name, sectors, number=1):
    """A partition directory inside its disk's sysfs directory."""
    partition_dir = "%s/%s" % (disk_dir, name)
    write(root, partition_dir + "/size", "%d\n" % sectors)
    write(root, partition_dir + "/partition", "%d\n" % number)
    link(root, "/sys/dev/block/" + dev, "../.." + partition_dir[len("/sys") :])


def nvme_data_volume(root, part_sectors=2 * 10**9):
    """/var/lib/postgresql on nvme0n1p2 (SSD); / on sda1 (HDD)."""
    sda = block_disk(root, "8:0", "sda", 1, 10**9)
    block_partition(root, "8:1", sda, "sda1", 9 * 10**8)
    nvme = block_disk(root, "259:0", "nvme0n1", 0, 4 * 10**9, bus="pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0")
    block_partition(root, "259:2", nvme, "nvme0n1p2", part_sectors, number=2)
    return [
        mount_line(20, "8:1", "/", "ext4", "/dev/sda1"),
        mount_line(40, "259:2", "/var/lib/postgresql", "xfs", "/dev/nvme0n1p2"),
    ]


def overlay_root(root):
    """A container: / on overlay, no block device."""
    return [mount_line(500, "0:52", "/", "overlay", "overlay", options="rw,lowerdir=/l,upperdir=/u,workdir=/w")]


# --------------------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0-3", 4),
        ("0", 1),
        ("0-3,8,10-11", 7),
        ("0-127", 128),
        ("", None),
        ("garbage", None),
    ],
)
def test_count_cpu_list(text, expected):
    assert hp.count_cpu_list(text) == expected


def test_parse_meminfo_converts_kb_and_keeps_counts():
    info = hp.parse_meminfo("MemTotal:  2048 kB\nHugePages_Total:  12\nHugepagesize:  2048 kB\nBogus line\n")
    assert info == {"MemTotal": 2048 * 1024, "HugePages_Total": 12, "Hugepagesize": 2 * MiB}


def test_parse_mountinfo_decodes_escapes_and_optional_fields():
    line = "36 35 98:0 /mnt1 /mnt/my\\040data rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue"
    (mount,) = hp.parse_mountinfo(line)
    assert mount["mount_point"] == "/mnt/my data"
    assert (mount["major"], mount["minor"], mount["fstype"], mount["root"]) == (98, 0, "ext3", "/mnt1")


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/var/lib/postgresql/15/main", "/var/lib/postgresql"),
        ("/var/lib/postgresql", "/var/lib/postgresql"),
        ("/var/lib/postgresql2/data", "/"),
        ("/srv", "/"),
    ],
)
def test_find_mount_longest_prefix_on_component_boundary(path, expected):
    mounts = hp.parse_mountinfo(
        "\n".join(
            [
                mount_line(1, "8:1", "/", "ext4", "/dev/sda1"),
                mount_line(2, "259:2", "/var/lib/postgresql", "xfs", "/dev/nvme0n1p2"),
            ]
        )
    )
    assert hp.find_mount(mounts, path)["mount_point"] == expected


def test_find_mount_prefers_the_later_of_stacked_mounts():
    mounts = hp.parse_mountinfo(
        "\n".join(
            [mount_line(1, "8:1", "/data", "ext4", "/dev/sda1"), mount_line(2, "8:17", "/data", "xfs", "/dev/sdb1")]
        )
    )
    assert hp.find_mount(mounts, "/data/pg")["source"] == "/dev/sdb1"


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize(
    "builder, expected_version, expected_limit",
    [
        pytest.param(lambda r: cgroup_v1_host(r, 2 * GiB), 1, 2 * GiB, id="v1-limited"),
        pytest.param(lambda r: cgroup_v1_host(r, V1_UNLIMITED), 1, None, id="v1-unlimited"),
        pytest.param(lambda r: cgroup_v2_host(r, str(3 * GiB)), 2, 3 * GiB, id="v2-limited"),
        pytest.param(lambda r: cgroup_v2_host(r, "max"), 2, None, id="v2-max"),
        pytest.param(base_host, None, None, id="no-cgroup"),
    ],
)
def test_memory_limit_by_cgroup_flavour(tmp_path, builder, expected_version, expected_limit):
    builder(tmp_path)
    profile = hp.gather(str(tmp_path))
    assert profile["cgroup_version"] == expected_version
    assert profile["cgroup_memory_limit_bytes"] == expected_limit
    assert profile["mem_total_bytes"] == 8 * GiB
    assert profile["effective_memory_bytes"] == min(8 * GiB, expected_limit or 8 * GiB)


def test_v1_private_namespace_reads_the_mount_point_itself(tmp_path):
    cgroup_v1_host(tmp_path, 6 * GiB, path="/")
    # In a private namespace the mount point *is* the container's cgroup.
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "%d\n" % (1536 * MiB))
    assert hp.gather(str(tmp_path))["effective_memory_bytes"] == 1536 * MiB


def test_v1_host_path_missing_in_private_namespace_falls_back_to_mount_point(tmp_path):
    cgroup_v1_host(tmp_path, 6 * GiB)
    write(tmp_path, "/proc/self/cgroup", "4:memory:/docker/not-visible-here\n")
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "%d\n" % GiB)
    assert hp.gather(str(tmp_path))["cgroup_memory_limit_bytes"] == GiB


def test_v1_mount_root_is_stripped_from_the_cgroup_path(tmp_path):
    """A hierarchy mounted with root /docker/abc: that cgroup is the mount point itself."""
    mounts = [
        mount_line(20, "8:1", "/", "ext4", "/dev/sda1"),
        mount_line(30, "0:30", "/sys/fs/cgroup/memory", "cgroup", "cgroup", root="/docker/abc", options="rw,memory"),
    ]
    base_host(tmp_path, mounts=mounts, cgroup="4:memory:/docker/abc\n")
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "%d\n" % GiB)
    # decoy: only read if the mount root were not stripped
    write(tmp_path, "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "%d\n" % (512 * MiB))
    assert hp.gather(str(tmp_path))["cgroup_memory_limit_bytes"] == GiB


def test_v2_parent_limit_applies_to_child(tmp_path):
    cgroup_v2_host(tmp_path, "max", path="/machine.slice/pg.scope")
    write(tmp_path, "/sys/fs/cgroup/machine.slice/memory.max", "%d\n" % (768 * MiB))
    assert hp.gather(str(tmp_path))["effective_memory_bytes"] == 768 * MiB


def test_limit_above_memtotal_leaves_memtotal(tmp_path):
    cgroup_v2_host(tmp_path, str(64 * GiB))
    profile = hp.gather(str(tmp_path))
    assert profile["cgroup_memory_limit_bytes"] == 64 * GiB
    assert profile["effective_memory_bytes"] == 8 * GiB


def test_hybrid_host_prefers_v1_memory_controller(tmp_path):
    cgroup_v1_host(tmp_path, 2 * GiB)
    # the unified hierarchy exists but carries no controllers (hybrid layout)
    write(tmp_path, "/sys/fs/cgroup/unified/cgroup.controllers", "\n")
    assert hp.gather(str(tmp_path))["cgroup_version"] == 1


def test_hugepage_facts(tmp_path):
    base_host(tmp_path, hugepage_kb=1048576)
    profile = hp.gather(str(tmp_path))
    assert profile["hugepage_size_bytes"] == GiB
    assert profile["hugepages_total"] == 0


def test_no_hugepages_support_gives_none(tmp_path):
    base_host(tmp_path, hugepage_kb=None)
    assert hp.gather(str(tmp_path))["hugepage_size_bytes"] is None


def test_missing_memtotal_raises(tmp_path):
    base_host(tmp_path)
    write(tmp_path, "/proc/meminfo", "MemFree: 10 kB\n")
    with pytest.raises(hp.HostProfileError, match="MemTotal"):
        hp.gather(str(tmp_path))


# --------------------------------------------------------------------------- CPUs


@pytest.mark.parametrize(
    "quota, period, online, allowed, expected_quota, expected_cpus",
    [
        ("-1", "100000", "0-7", None, None, 8),
        ("150000", "100000", "0-7", None, 1.5, 2),
        ("50000", "100000", "0-7", None, 0.5, 1),
        ("1600000", "100000", "0-3", None, 16.0, 4),
        ("-1", "100000", "0-7", "0-1", None, 2),
        ("400000", "100000", "0-15", "0-2", 4.0, 3),
    ],
)
def test_effective_cpus_v1(tmp_path, quota, period, online, allowed, expected_quota, expected_cpus):
    cgroup_v1_host(tmp_path, 2 * GiB, quota=quota, period=period, online=online, allowed=allowed)
    profile = hp.gather(str(tmp_path))
    assert profile["cgroup_cpu_quota"] == expected_quota
    assert profile["effective_cpus"] == expected_cpus


@pytest.mark.parametrize(
    "cpu_max, expected_quota, expected_cpus",
    [("max 100000", None, 8), ("250000 100000", 2.5, 3), ("10000 100000", 0.1, 1)],
)
def test_effective_cpus_v2(tmp_path, cpu_max, expected_quota, expected_cpus):
    cgroup_v2_host(tmp_path, "max", cpu_max=cpu_max)
    profile = hp.gather(str(tmp_path))
    assert profile["cgroup_cpu_quota"] == expected_quota
    assert profile["effective_cpus"] == expected_cpus


def test_online_cpus_falls_back_to_cpuinfo(tmp_path):
    base_host(tmp_path)
    os.remove(os.path.join(str(tmp_path), "sys/devices/system/cpu/online"))
    write(tmp_path, "/proc/cpuinfo", "".join("processor\t: %d\nmodel name\t: x\n\n" % n for n in range(6)))
    assert hp.online_cpus(str(tmp_path)) == 6


# --------------------------------------------------------------------------- storage


def test_nvme_partition_climbs_to_parent_disk(tmp_path):
    base_host(tmp_path, mounts=nvme_data_volume(tmp_path, part_sectors=2 * 10**9))
    profile = hp.gather(str(tmp_path), "/var/lib/postgresql/15/main")
    assert (profile["data_device"], profile["data_disk"]) == ("nvme0n1p2", "nvme0n1")
    assert profile["data_mount_point"] == "/var/lib/postgresql"
    assert profile["data_fstype"] == "xfs"
    assert profile["data_rotational"] is False
    assert profile["storage_class"] == "ssd"
    # the partition's own size, not the disk's
    assert profile["data_volume_size_bytes"] == 2 * 10**9 * 512


def test_sda_is_rotational_hdd(tmp_path):
    block_disk(tmp_path, "8:16", "sdb", 1, 7814037168)
    base_host(tmp_path, mounts=[mount_line(20, "8:16", "/", "ext4", "/dev/sdb")])
    profile = hp.gather(str(tmp_path))
    assert (profile["data_device"], profile["data_disk"]) == ("sdb", "sdb")
    assert profile["data_rotational"] is True
    assert profile["storage_class"] == "hdd"
    assert profile["data_volume_size_bytes"] == 7814037168 * 512


def test_overlay_root_is_unknown_with_statvfs_size(tmp_path):
    base_host(tmp_path, mounts=overlay_root(tmp_path))
    profile = hp.gather(str(tmp_path), "/var/lib/postgresql/15/main")
    stats = os.statvfs(str(tmp_path))
    assert profile["data_fstype"] == "overlay"
    assert profile["data_device"] is None and profile["data_disk"] is None
    assert profile["data_rotational"] is None
    assert profile["storage_class"] == "unknown"
    assert profile["data_volume_size_bytes"] == stats.f_blocks * stats.f_frsize


def test_block_device_missing_from_sysfs_is_unknown(tmp_path):
    base_host(tmp_path, mounts=[mount_line(20, "253:7", "/", "ext4", "/dev/mapper/vg-root")])
    profile = hp.gather(str(tmp_path))
    assert profile["data_rotational"] is None
    assert profile["storage_class"] == "unknown"
    assert profile["data_volume_size_bytes"] > 0


def test_symlinked_data_directory_follows_the_link(tmp_path):
    mounts = nvme_data_volume(tmp_path)
    mounts[1] = mount_line(40, "259:2", "/data", "xfs", "/dev/nvme0n1p2")
    base_host(tmp_path, mounts=mounts)
    os.makedirs(os.path.join(str(tmp_path), "data/pg"))
    link(tmp_path, "/var/lib/postgresql", "../../data/pg")
    profile = hp.gather(str(tmp_path), "/var/lib/postgresql")
    assert profile["data_mount_point"] == "/data"
    assert profile["storage_class"] == "ssd"


# --------------------------------------------------------------------------- container and whole profile


@pytest.mark.parametrize(
    "path, content, expected",
    [
        ("/.dockerenv", "", "docker"),
        ("/run/.containerenv", "", "podman"),
        ("/run/systemd/container", "lxc\n", "lxc"),
        ("/proc/1/environ", "PATH=/bin\0container=systemd-nspawn\0", "systemd-nspawn"),
        ("/etc/hostname", "db1\n", None),
    ],
)
def test_detect_container(tmp_path, path, content, expected):
    write(tmp_path, path, content)
    assert hp.detect_container(str(tmp_path)) == expected


def test_lab_like_container_profile(tmp_path):
    """cgroup v1 with cgroupns=host, overlay root, 2 CPUs, memory limit: what the lab containers see."""
    cgroup_v1_host(tmp_path, 1536 * MiB, quota="200000", mem_total=23 * GiB, online="0-1")
    write(tmp_path, "/proc/self/mountinfo", "\n".join(overlay_root(tmp_path) + v1_mounts()[1:]) + "\n")
    write(tmp_path, "/.dockerenv", "")
    profile = hp.gather(str(tmp_path))
    assert profile["effective_memory_bytes"] == 1536 * MiB
    assert profile["effective_cpus"] == 2
    assert profile["container"] == "docker"
    assert profile["storage_class"] == "unknown"
    documented = {
        "mem_total_bytes", "cgroup_version", "cgroup_memory_limit_bytes", "effective_memory_bytes",
        "hugepage_size_bytes", "hugepages_total", "online_cpus", "allowed_cpus", "cgroup_cpu_quota",
        "effective_cpus", "data_directory", "data_mount_point", "data_fstype", "data_device", "data_disk",
        "data_rotational", "data_volume_size_bytes", "storage_class", "container",
    }  # fmt: skip
    assert set(profile) == documented


def test_gather_on_this_machine_is_self_consistent():
    profile = hp.gather("/")
    assert 0 < profile["effective_memory_bytes"] <= profile["mem_total_bytes"]
    assert 1 <= profile["effective_cpus"] <= (profile["online_cpus"] or profile["effective_cpus"])
    assert profile["storage_class"] in ("hdd", "ssd", "unknown")
