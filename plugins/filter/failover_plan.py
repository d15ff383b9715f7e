# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: failover_plan
short_description: The member a manual failover (no running leader) should promote, or why none may
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Takes the result of M(keel.postgres.patroni_cluster) (action status) and returns C(candidate), C(reason), C(errors)
    (empty when the failover may run) and C(considered) (every member with its verdict and WAL position).
  - Refused while a leader runs (that is a switchover). Eligible - a standby that runs, may be promoted, reports its WAL
    position and, when the cluster had synchronous standbys, is one of them, so it holds every acknowledged commit.
  - The most advanced eligible member wins, then the highest C(failover_priority), then the name. A named O(candidate)
    must be as advanced as the most advanced eligible member.
positional: candidate
options:
  _input:
    description: The registered result of M(keel.postgres.patroni_cluster).
    type: dict
    required: true
  candidate:
    description: A member requested by name (checked, never replaced by another).
    type: str
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    plan: "{{ cluster | keel.postgres.failover_plan(failover_candidate | default(none)) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.switchover import plan_failover


def failover_plan(status, candidate=None):
    if not isinstance(status, dict) or "members" not in status:
        raise AnsibleFilterError("failover_plan: expects the registered result of keel.postgres.patroni_cluster")
    return plan_failover(status["members"], status.get("sync_standbys") or [], candidate or None)


class FilterModule:
    def filters(self):
        return {"failover_plan": failover_plan}
