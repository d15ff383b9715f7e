# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: topology_errors
short_description: Validate the keel.postgres inventory topology
version_added: 0.1.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Checks the inventory groups and platform variables of a keel.postgres platform and returns
    the list of problems found, each naming the variable or group, the value and the fix.
  - Used by the preflight play before any host is changed.
  - "Groups: C(etcd) is non-empty with an odd count; no host is in both C(postgres) and
    C(postgres_dr); a non-empty C(postgres) needs C(keel_cluster_name), a non-empty C(postgres_dr)
    needs C(keel_dr_cluster_name), different from C(keel_cluster_name)."
  - "Hosts: every host has a C(keel_region) and, if set, a unique C(keel_address) IP; C(keel_nosync) is a
    bool and C(keel_failover_priority) an int >= 0."
  - "Region model, checked when C(postgres) has members (tags as computed by
    P(keel.postgres.patroni_members#filter)): some member has C(failover_priority) > 0;
    C(keel_primary_region) is the region of a member that may become leader; with
    C(keel_synchronous_mode) C(on) or C(quorum), at least C(keel_synchronous_node_count) + 1 members
    are synchronous-eligible (one of them is the leader) and one of them has C(failover_priority) > 0
    (Patroni promotes only a synchronous standby automatically). Some member of C(postgres_dr) has
    C(failover_priority) > 0 (it must elect a standby leader)."
positional: hosts, platform
options:
  _input:
    description: The inventory C(groups) mapping.
    type: dict
    required: true
  hosts:
    description:
      - Mapping of host name to a dict holding C(keel_region), C(keel_address) and optionally
        C(keel_nosync) and C(keel_failover_priority) (normally C(hostvars)).
    type: dict
    required: true
  platform:
    description:
      - Platform-wide C(keel_*) variables. A key that is absent or C(None) takes its default.
      - C(keel_cluster_name), C(keel_dr_cluster_name) - the Patroni scopes of the primary and DR clusters.
      - C(keel_primary_region) - the region where the leader normally runs.
      - C(keel_regions) - mapping of region name to C({sync, failover_priority}); C(sync) bool (default
        false), C(failover_priority) int >= 0 (default 0; C(postgres_dr) members default to 1). A region
        left out is never synchronous and never promoted.
      - C(keel_synchronous_mode) - C(on), C(quorum) or C(off) (default C(on)); quote it in YAML.
      - C(keel_synchronous_node_count) - int >= 1 (default 2, C(FIRST 2)).
      - C(keel_synchronous_mode_strict) - bool (default true).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse a bad topology
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join('; ') }}"
  vars:
    errors: "{{ groups | keel.postgres.topology_errors(host_summary, platform_summary) }}"
"""

RETURN = r"""
_value:
  description: The problems found; empty when the topology is acceptable.
  type: list
  elements: str
  sample:
    - "group 'etcd' has 4 members (e1, e2, e3, e4): an even count adds no fault tolerance and can split
      the vote; use an odd number (3 or 5)"
    - "keel_synchronous_node_count=3 (keel_synchronous_mode=on) needs 4 synchronous-eligible members in
      group 'postgres' (one of them is the leader, which cannot be its own standby), but 3 are eligible
      (pg-euw1, pg-use1, pg-usw2); lower keel_synchronous_node_count to 2 or make more regions sync: true
      in keel_regions"
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.topology import validate


def topology_errors(groups, hosts, platform):
    if not all(isinstance(arg, Mapping) for arg in (groups, hosts, platform)):
        raise AnsibleFilterError("topology_errors expects groups, hosts and platform as dictionaries")
    return validate(groups, hosts, platform)


class FilterModule:
    def filters(self):
        return {"topology_errors": topology_errors}
