# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: patroni_members
short_description: Patroni tags of the members of a keel.postgres cluster, from the region model
version_added: 0.1.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Returns, for every host of the inventory group O(group) (C(postgres), the primary cluster, or
    C(postgres_dr), the DR standby cluster), its region, whether it must never be a synchronous
    standby (Patroni tag C(nosync)), its Patroni C(failover_priority) tag, and whether it is a
    synchronous candidate (may confirm commits and be promoted).
  - "Precedence for a member of C(postgres): the host's C(keel_nosync) / C(keel_failover_priority)
    win; else the entry of its C(keel_region) in the platform's C(keel_regions) (C(nosync) is the
    negation of the entry's C(sync)); else C(nosync=true) and C(failover_priority=0), so that a host of
    a region left out of C(keel_regions) is never synchronous and never promoted."
  - "A member of C(postgres_dr) is always C(nosync=true): a standby cluster is asynchronous to its
    source. Its C(failover_priority) is the host's C(keel_failover_priority), else its region's entry,
    else C(1), so that the DR cluster can elect its standby leader."
  - The inputs are checked for types only (the same messages as P(keel.postgres.topology_errors#filter));
    the preflight validates the whole topology before any role uses this filter.
positional: hosts, platform, group
options:
  _input:
    description: The inventory C(groups) mapping.
    type: dict
    required: true
  hosts:
    description:
      - Mapping of host name to its variables (normally C(hostvars)). Read per member - C(keel_region),
        and the optional overrides C(keel_nosync) (bool) and C(keel_failover_priority) (int >= 0).
    type: dict
    required: true
  platform:
    description:
      - Platform-wide variables. Only C(keel_regions) is read - a mapping of region name to
        C({sync, failover_priority}), C(sync) a bool (members of the region may be synchronous
        standbys, default false) and C(failover_priority) an int >= 0 (0 = never promoted, higher wins
        among equally advanced replicas, default 0).
    type: dict
    required: true
  group:
    description: The cluster's inventory group.
    type: str
    choices: [postgres, postgres_dr]
    default: postgres
"""

EXAMPLES = r"""
- name: Tags of the primary cluster's members
  ansible.builtin.set_fact:
    __members: "{{ groups | keel.postgres.patroni_members(hostvars, {'keel_regions': keel_regions}, 'postgres') }}"

- name: Render this host's Patroni tags
  ansible.builtin.debug:
    msg:
      nosync: "{{ __members[inventory_hostname].nosync }}"
      failover_priority: "{{ __members[inventory_hostname].failover_priority }}"

# With the lab's keel_regions (us-east-1 sync/3, us-west-2 sync/2, eu-west-1 sync/2, ap-south-1
# async/0, dr-site priority 1):
#   groups | keel.postgres.patroni_members(hostvars, platform, 'postgres')
#   -> {pg-use1: {region: us-east-1, nosync: false, failover_priority: 3, sync_candidate: true},
#       pg-usw2: {region: us-west-2, nosync: false, failover_priority: 2, sync_candidate: true},
#       pg-euw1: {region: eu-west-1, nosync: false, failover_priority: 2, sync_candidate: true},
#       pg-aps1: {region: ap-south-1, nosync: true, failover_priority: 0, sync_candidate: false}}
#   groups | keel.postgres.patroni_members(hostvars, platform, 'postgres_dr')
#   -> {pg-dr1: {region: dr-site, nosync: true, failover_priority: 1, sync_candidate: false}}
"""

RETURN = r"""
_value:
  description: Host name to the member's region and Patroni tags, in the group's order.
  type: dict
  contains:
    region:
      description: The host's C(keel_region) (empty when it has none).
      type: str
    nosync:
      description: Patroni tag C(nosync) - the member is never chosen as a synchronous standby.
      type: bool
    failover_priority:
      description: Patroni tag C(failover_priority) - 0 never promoted; higher wins among equally advanced replicas.
      type: int
    sync_candidate:
      description:
        - The member may confirm synchronous commits and may be promoted (not C(nosync), C(failover_priority) > 0).
          Only these members may hold an acknowledged commit; P(keel.postgres.replication_lag#module) treats any
          other standby that confirms commits on the primary as critical.
      type: bool
  sample:
    pg-use1: {region: us-east-1, nosync: false, failover_priority: 3, sync_candidate: true}
    pg-aps1: {region: ap-south-1, nosync: true, failover_priority: 0, sync_candidate: false}
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.topology import patroni_members as _patroni_members


def patroni_members(groups, hosts, platform, group="postgres"):
    if not all(isinstance(arg, Mapping) for arg in (groups, hosts, platform)):
        raise AnsibleFilterError("patroni_members expects groups, hosts and platform as dictionaries")
    if not isinstance(group, str):
        raise AnsibleFilterError("patroni_members expects the group as a string (postgres or postgres_dr)")
    try:
        return _patroni_members(groups, hosts, platform, group)
    except ValueError as exc:
        raise AnsibleFilterError("patroni_members: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"patroni_members": patroni_members}
