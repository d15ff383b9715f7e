# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_tune
short_description: Size PostgreSQL settings from a host profile, workload and connection budget
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Turns the host profile gathered by M(keel.postgres.host_profile) into PostgreSQL settings, each with
    a one-line reason, plus a summary with the worst-case memory commitment, the C(vm.nr_hugepages) the
    settings need and the WAL disk budget.
  - The worst-case memory commitment (shared memory, page tables, every backend's and parallel worker's
    work areas, maintenance, autovacuum, co-located services and an OS floor) never exceeds the host's
    effective memory; when the connections cannot fit, the filter fails and names the largest budget
    that would.
  - Values are ready for C(postgresql.conf) (quote them there) or Patroni C(parameters).
    Every formula is in C(docs/tuning.md).
  - P(keel.postgres.pg_tune_settings#filter) takes the same arguments and returns only name to value.
positional: workload, pg_version, connection_budget
options:
  _input:
    description:
      - The host profile (C(ansible_facts['keel_host_profile'])). Uses C(effective_memory_bytes),
        C(effective_cpus), C(storage_class), C(data_volume_size_bytes), C(hugepage_size_bytes) and
        C(container). Override any of them with P(ansible.builtin.combine#filter) first, for example the
        storage class of a SAN volume.
    type: dict
    required: true
  workload:
    description: Workload the sizing assumes.
    type: str
    choices: [oltp, web, mixed, dw]
    default: mixed
  pg_version:
    description: PostgreSQL major version.
    type: int
    choices: [13, 14, 15, 16, 17]
    default: 15
  connection_budget:
    description:
      - Backend connections the applications really use, normally the sum of the PgBouncer pool sizes.
      - C(max_connections) is this plus C(superuser_reserved_connections) (3) plus O(headroom_connections).
    type: int
    default: 100
  reserved_memory_bytes:
    description: Memory of co-located services (Redis C(maxmemory), PgBouncer, Patroni, etcd) in bytes.
    type: int
    default: 0
  replicas:
    description:
      - Physical replication consumers of a node (other cluster members, the DR standby leader, async
        replicas). Sizes C(max_wal_senders) and C(max_replication_slots).
    type: int
    default: 2
  overrides:
    description:
      - Setting name to value; validated (type, unit, range) and used instead of the computed value.
        Later formulas use the override (for example C(work_mem) is recomputed after a C(shared_buffers)
        override) and the memory invariant is checked again.
    type: dict
    default: {}
  headroom_connections:
    description: Connections kept for Patroni, monitoring, backups and administrators.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Size PostgreSQL for an OLTP workload behind PgBouncer
  ansible.builtin.set_fact:
    __postgresql_tuning: >-
      {{ ansible_facts['keel_host_profile']
         | keel.postgres.pg_tune('oltp', 15, pgbouncer_pool_size_total,
                                 reserved_memory_bytes=redis_maxmemory_bytes + 64 * 1024 * 1024,
                                 replicas=groups['postgres'] | length) }}

- name: Show why each value was chosen
  ansible.builtin.debug:
    msg: "{{ item.key }} = {{ item.value.value }}  # {{ item.value.reason }}"
  loop: "{{ __postgresql_tuning.settings | dict2items }}"

- name: Reserve the huge pages the settings need
  ansible.posix.sysctl:
    name: vm.nr_hugepages
    value: "{{ __postgresql_tuning.summary.vm_nr_hugepages }}"
  when: __postgresql_tuning.summary.vm_nr_hugepages > 0

- name: Declare a SAN volume and pin shared_buffers
  ansible.builtin.set_fact:
    __postgresql_tuning: >-
      {{ ansible_facts['keel_host_profile'] | combine({'storage_class': 'san'})
         | keel.postgres.pg_tune('mixed', 16, 300, overrides={'shared_buffers': '8GB'}) }}
"""

RETURN = r"""
_value:
  description: Settings and summary.
  type: dict
  contains:
    settings:
      description: Setting name to C(value) (string with PostgreSQL units, or integer) and C(reason) (one line).
      type: dict
      sample:
        shared_buffers:
          value: 1GB
          reason: "25% of the 4.0GB left after reservations (PostgreSQL docs: 25% from 1GB of RAM, less below)"
        work_mem:
          value: 12MB
          reason: "1.5GB left for queries / (1/2 work areas per backend x 113 backends + 1 per parallel worker x 1) /
            hash_mem_multiplier, at most 64MB"
    summary:
      description:
        - C(memory_commitment) (bytes per term and C(total)), C(memory_commitment_ratio),
          C(max_connection_budget), C(max_backends), C(vm_nr_hugepages), C(shared_memory_estimate_bytes),
          C(wal_disk) (WAL worst case against the data volume, with a suggested archive queue limit),
          and the inputs that were used.
      type: dict
      sample:
        vm_nr_hugepages: 551
        max_connection_budget: 439
        memory_commitment_ratio: 0.9735
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import DEFAULT_HEADROOM, SizingError, compute


def pg_tune(
    profile,
    workload="mixed",
    pg_version=15,
    connection_budget=100,
    reserved_memory_bytes=0,
    replicas=2,
    overrides=None,
    headroom_connections=DEFAULT_HEADROOM,
):
    """Full result: settings with reasons and the summary."""
    try:
        return compute(
            profile,
            workload=workload,
            pg_version=pg_version,
            connection_budget=connection_budget,
            reserved_memory_bytes=reserved_memory_bytes,
            replicas=replicas,
            overrides=overrides,
            headroom_connections=headroom_connections,
        )
    except SizingError as exc:
        raise AnsibleFilterError("pg_tune: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"pg_tune": pg_tune}
