# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pgbouncer_pool_errors
short_description: Errors in PgBouncer pools and extra settings, before any host changes
version_added: 0.3.0
author: keel.postgres maintainers (@keel)
description:
  - Returns a list of messages, each naming the variable and what is wrong; empty when all is well.
  - Pools must name a database of O(databases), keep C(pool_size + reserve_pool <= max_db_connections),
    and their C(max_db_connections) must sum to at most O(budget), the connection budget the sizing used.
  - Extra settings must be C([pgbouncer]) keys PgBouncer 1.18 knows, and not keys the role sets itself.
positional: databases, budget, extra_settings
options:
  _input:
    description: The pools (C(pgbouncer_pools)).
    type: list
    elements: dict
    required: true
  databases:
    description: Names of the declared databases.
    type: list
    elements: str
    required: true
  budget:
    description: The connection budget (server connections) the sizing used.
    type: int
    required: true
  extra_settings:
    description: Extra C([pgbouncer]) settings (C(pgbouncer_extra_settings)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Refuse bad pools
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors }}"
  vars:
    errors: "{{ pgbouncer_pools | keel.postgres.pgbouncer_pool_errors(['app'], 80, {}) }}"
"""

RETURN = r"""
_value:
  description: One message per problem.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.pgbouncer import extra_settings_errors, pool_errors


def pgbouncer_pool_errors(pools, databases, budget, extra_settings=None):
    try:
        budget = int(budget)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("pgbouncer_pool_errors: budget must be an integer, got %r" % (budget,)) from exc
    if not isinstance(databases, (list, tuple)):
        raise AnsibleFilterError("pgbouncer_pool_errors: databases must be a list of names")
    return pool_errors(pools, list(databases), budget) + extra_settings_errors(extra_settings or {})


class FilterModule:
    def filters(self):
        return {"pgbouncer_pool_errors": pgbouncer_pool_errors}
