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
positional: hosts, platform
options:
  _input:
    description: The inventory C(groups) mapping.
    type: dict
    required: true
  hosts:
    description: Mapping of host name to a dict holding at least C(keel_region) and C(keel_address).
    type: dict
    required: true
  platform:
    description: Platform-wide C(keel_*) variables (C(keel_cluster_name), C(keel_dr_cluster_name)).
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
