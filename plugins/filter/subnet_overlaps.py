# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: subnet_overlaps
short_description: List the networks that overlap a subnet
version_added: 0.1.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Returns the entries of a list of CIDR networks that overlap the input subnet. Entries that are
    not networks are ignored. Used by the lab to refuse a subnet another Docker network holds.
positional: others
options:
  _input:
    description: The subnet in CIDR notation.
    type: str
    required: true
  others:
    description: CIDR networks to compare with.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse a taken subnet
  ansible.builtin.assert:
    that: "'172.28.10.0/24' | keel.postgres.subnet_overlaps(['172.28.0.0/16']) | length == 0"
"""

RETURN = r"""
_value:
  description: The overlapping networks, as given.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.topology import overlapping_subnets


def subnet_overlaps(subnet, others):
    try:
        return overlapping_subnets(subnet, others or [])
    except ValueError as exc:
        raise AnsibleFilterError("subnet_overlaps: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"subnet_overlaps": subnet_overlaps}
