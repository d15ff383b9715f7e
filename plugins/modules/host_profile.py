#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_profile
short_description: Gather the host facts PostgreSQL sizing needs
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Reads C(/proc) and C(/sys) to report what Ansible facts lack for sizing PostgreSQL
    with the P(keel.postgres.pg_tune#filter) filter.
  - Memory is C(min(MemTotal, cgroup limit)); the cgroup (v1 C(memory.limit_in_bytes) or
    v2 C(memory.max)) is found from C(/proc/self/cgroup) and C(/proc/self/mountinfo), for a
    host cgroup namespace (path such as C(/docker/<id>)) as well as a private one (path C(/)).
    Limits on parent cgroups are honoured.
  - CPUs are the online CPUs, reduced by the cpuset and rounded-up CFS quota
    (v1 C(cpu.cfs_quota_us)/C(cpu.cfs_period_us), v2 C(cpu.max)).
  - The data volume is the mount holding O(data_directory) (longest prefix in mountinfo). Its
    block device is looked up in C(/sys/dev/block), a partition is traced to its disk for the
    C(rotational) flag, and the size comes from the device's 512-byte sectors. Overlay, tmpfs,
    network and other device-less file systems report C(rotational=null) and the size from
    C(statvfs) of the nearest existing directory.
  - The module only reads files; it never changes anything.
options:
  data_directory:
    description:
      - Path of the PostgreSQL data directory (or a parent of it). It does not need to exist yet.
    type: path
    default: /var/lib/postgresql
  root:
    description:
      - Directory that stands for C(/) when reading C(/proc) and C(/sys). Only useful for testing.
    type: path
    default: /
attributes:
  check_mode:
    support: full
    description: The module never changes anything, so it runs unchanged in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show as a diff.
  platform:
    support: full
    platforms: posix
    description: Linux only (reads C(/proc) and C(/sys)).
notes:
  - Virtual disks (virtio, some cloud volumes) often report C(rotational=1) although they are
    backed by SSDs; override the storage class in the inventory when the guess is wrong.
  - RV(profile.effective_memory_bytes) is based on MemTotal and does not subtract huge pages
    that are already reserved, so sizing stays stable after vm.nr_hugepages has been applied.
seealso:
  - plugin: keel.postgres.pg_tune
    plugin_type: filter
    description: Turns this profile into PostgreSQL settings.
"""

EXAMPLES = r"""
- name: Gather the sizing profile of the PostgreSQL hosts
  keel.postgres.host_profile:
    data_directory: /var/lib/postgresql/15/main

- name: Show the effective memory the sizing will use
  ansible.builtin.debug:
    msg: "{{ ansible_facts['keel_host_profile']['effective_memory_bytes'] | human_readable }}"

- name: Size PostgreSQL from the profile
  ansible.builtin.set_fact:
    __postgresql_tuning: >-
      {{ ansible_facts['keel_host_profile']
         | keel.postgres.pg_tune(workload='oltp', pg_version=15, connection_budget=200) }}
"""

RETURN = r"""
profile:
  description: The host profile; also set as the fact C(keel_host_profile).
  returned: always
  type: dict
  contains:
    mem_total_bytes:
      description: MemTotal from C(/proc/meminfo).
      type: int
      returned: always
      sample: 25276063744
    cgroup_version:
      description: cgroup version of the memory controller (1 or 2), null when none was found.
      type: int
      returned: always
      sample: 1
    cgroup_memory_limit_bytes:
      description: Smallest memory limit on the process's cgroup and its parents; null when unlimited.
      type: int
      returned: always
      sample: 4294967296
    effective_memory_bytes:
      description: min(MemTotal, cgroup memory limit); what sizing plans with.
      type: int
      returned: always
      sample: 4294967296
    hugepage_size_bytes:
      description: Default huge page size (Hugepagesize), null when the kernel has no huge pages.
      type: int
      returned: always
      sample: 2097152
    hugepages_total:
      description: Huge pages currently reserved (HugePages_Total).
      type: int
      returned: always
      sample: 0
    online_cpus:
      description: CPUs online on the host.
      type: int
      returned: always
      sample: 16
    allowed_cpus:
      description: CPUs the process may run on (cpuset/affinity, C(Cpus_allowed_list)); null if unknown.
      type: int
      returned: always
      sample: 16
    cgroup_cpu_quota:
      description: CFS quota in CPUs (quota / period), smallest along the cgroup chain; null when unlimited.
      type: float
      returned: always
      sample: 2.5
    effective_cpus:
      description: The quota rounded up, capped by the allowed and online CPUs, at least 1.
      type: int
      returned: always
      sample: 3
    data_directory:
      description: The O(data_directory) that was examined.
      type: str
      returned: always
      sample: /var/lib/postgresql/15/main
    data_mount_point:
      description: Mount point holding the data directory.
      type: str
      returned: always
      sample: /var/lib/postgresql
    data_fstype:
      description: File system type of that mount.
      type: str
      returned: always
      sample: ext4
    data_device:
      description: Block device of the mount (a partition, a whole disk or a device-mapper volume); null when none.
      type: str
      returned: always
      sample: nvme0n1p2
    data_disk:
      description: Whole disk under RV(profile.data_device); null when none.
      type: str
      returned: always
      sample: nvme0n1
    data_rotational:
      description: Whether the disk is rotational; null when unknown (overlay, tmpfs, network file systems).
      type: bool
      returned: always
      sample: false
    data_volume_size_bytes:
      description: Size of the data volume in bytes (device size, else file system size); null if unknown.
      type: int
      returned: always
      sample: 536870912000
    storage_class:
      description: C(hdd) when rotational, C(ssd) when not, C(unknown) otherwise. The inventory may override it.
      type: str
      returned: always
      sample: ssd
    container:
      description: Container technology detected (C(docker), C(podman), C(lxc), ...), null on a host or VM.
      type: str
      returned: always
      sample: docker
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils.host_profile import HostProfileError, gather


def main():
    module = AnsibleModule(
        argument_spec={
            "data_directory": {"type": "path", "default": "/var/lib/postgresql"},
            "root": {"type": "path", "default": "/"},
        },
        supports_check_mode=True,
    )
    try:
        profile = gather(root=module.params["root"], data_directory=module.params["data_directory"])
    except HostProfileError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, profile=profile, ansible_facts={"keel_host_profile": profile})


if __name__ == "__main__":
    main()
