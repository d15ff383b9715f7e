# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: packages_missing
short_description: The apt package specifications that the package facts do not show installed
version_added: 0.2.0
author: keel.postgres maintainers (@keel)
description:
  - Returns the specifications of the input that O(installed) does not satisfy, so that an
    C(ansible.builtin.apt) task can be skipped when every package it wants is already there.
  - A bare name is satisfied by any installed version, C(name=version) by that version (a trailing
    C(*) matches any rest); any other relation counts as missing, so apt decides.
  - With O(installed) undefined or none (no package facts gathered) every specification is missing.
positional: installed
options:
  _input:
    description: Package specifications, as C(ansible.builtin.apt) takes them in O(name).
    type: list
    elements: str
    required: true
  installed:
    description: C(ansible_facts.packages) from C(ansible.builtin.package_facts), or none.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Install PgBouncer
  ansible.builtin.apt:
    name: [pgbouncer]
    state: present
  when: >-
    ['pgbouncer'] | keel.postgres.packages_missing(ansible_facts.packages | default(none)) | length > 0
"""

RETURN = r"""
_value:
  description: The specifications not satisfied, in the input's order.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.packages import missing_packages


def packages_missing(wanted, installed):
    try:
        return missing_packages(wanted, installed)
    except ValueError as exc:
        raise AnsibleFilterError("packages_missing: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"packages_missing": packages_missing}
