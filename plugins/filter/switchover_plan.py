# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: switchover_plan
short_description: The member a planned switchover should promote, or why none may
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Takes the result of M(keel.postgres.patroni_cluster) (action status) and returns the plan - C(leader),
    C(candidate), C(reason), C(errors) (empty when the switchover may run) and C(considered) (every member with its
    verdict).
  - A member may take over when it is a standby of the cluster, streaming or running, has C(failover_priority) above 0
    and no C(nofailover), is one of the synchronous standbys when there are any, and lags at most O(max_lag) bytes.
  - Without O(candidate), the eligible member with the highest C(failover_priority) (the region model), then the least
    lag, then the first name wins.
positional: candidate, max_lag
options:
  _input:
    description: The registered result of M(keel.postgres.patroni_cluster).
    type: dict
    required: true
  candidate:
    description: A member requested by name (checked, never replaced by another).
    type: str
  max_lag:
    description: Largest replication lag in bytes a candidate may have.
    type: int
    default: 1048576
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    plan: "{{ cluster | keel.postgres.switchover_plan(switchover_candidate | default(none), 1048576) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.switchover import plan


def switchover_plan(status, candidate=None, max_lag=1048576):
    if not isinstance(status, dict) or "members" not in status:
        raise AnsibleFilterError("switchover_plan: expects the registered result of keel.postgres.patroni_cluster")
    try:
        max_lag = int(max_lag)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("switchover_plan: max_lag must be a number of bytes, not %r" % (max_lag,)) from exc
    return plan(status["members"], status.get("leader"), status.get("sync_standbys") or [], candidate or None, max_lag)


class FilterModule:
    def filters(self):
        return {"switchover_plan": switchover_plan}
