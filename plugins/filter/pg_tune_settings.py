# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_tune_settings
short_description: PostgreSQL settings (name to value only) from a host profile
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Same sizing and the same arguments as P(keel.postgres.pg_tune#filter), but returns only
    setting name to value, ready for a C(postgresql.conf) template or Patroni C(parameters).
  - Fails with the same message as P(keel.postgres.pg_tune#filter) when the inputs cannot produce a
    configuration whose worst-case memory commitment fits the host.
positional: workload, pg_version, connection_budget
options:
  _input:
    description: The host profile (C(ansible_facts['keel_host_profile'])).
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
    description: Backend connections the applications really use (sum of the PgBouncer pool sizes).
    type: int
    default: 100
  reserved_memory_bytes:
    description: Memory of co-located services in bytes.
    type: int
    default: 0
  replicas:
    description: Physical replication consumers of a node.
    type: int
    default: 2
  overrides:
    description: Setting name to value; validated and used instead of the computed value.
    type: dict
    default: {}
  headroom_connections:
    description: Connections kept for Patroni, monitoring, backups and administrators.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Render the tuned settings into a PostgreSQL include file
  ansible.builtin.copy:
    dest: /etc/postgresql/15/main/conf.d/tuning.conf
    content: |
      {% for name, value in settings.items() %}
      {{ name }} = '{{ value }}'
      {% endfor %}
    mode: "0644"
  vars:
    settings: "{{ ansible_facts['keel_host_profile'] | keel.postgres.pg_tune_settings('oltp', 15, 200) }}"
"""

RETURN = r"""
_value:
  description: Setting name to value (string with PostgreSQL units, or integer), in a stable order.
  type: dict
  sample:
    max_connections: 113
    shared_buffers: 1GB
    huge_pages: "on"
    work_mem: 12MB
"""

from ansible_collections.keel.postgres.plugins.filter.pg_tune import pg_tune
from ansible_collections.keel.postgres.plugins.module_utils.pg_tune import DEFAULT_HEADROOM, settings_only


def pg_tune_settings(
    profile,
    workload="mixed",
    pg_version=15,
    connection_budget=100,
    reserved_memory_bytes=0,
    replicas=2,
    overrides=None,
    headroom_connections=DEFAULT_HEADROOM,
):
    """Only name -> value, for templating postgresql.conf or Patroni parameters."""
    result = pg_tune(
        profile,
        workload,
        pg_version,
        connection_budget,
        reserved_memory_bytes,
        replicas,
        overrides,
        headroom_connections,
    )
    return settings_only(result)


class FilterModule:
    def filters(self):
        return {"pg_tune_settings": pg_tune_settings}
