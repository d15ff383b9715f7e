# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: patroni_config_patch
short_description: The merge patch that turns Patroni's dynamic configuration into the desired one
version_added: 0.2.0
author: keel.postgres maintainers (@keel)
description:
  - Compares the dynamic configuration read from Patroni's C(GET /config) with the desired one and
    returns the smallest JSON merge patch for C(PATCH /config); empty when nothing differs.
  - Only keys of the desired configuration are compared, so keys set by other tools stay. Scalars compare
    as text, case-insensitively, with C(on)/C(true) and C(off)/C(false) equal.
positional: desired
options:
  _input:
    description: The current dynamic configuration (C(GET /config)).
    type: dict
    required: true
  desired:
    description: The desired dynamic configuration.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: PATCH only what differs
  ansible.builtin.uri:
    url: https://db1:8008/config
    method: PATCH
    body: "{{ patch }}"
    body_format: json
  vars:
    patch: "{{ current_config.json | keel.postgres.patroni_config_patch(desired_config) }}"
  when: patch | length > 0
"""

RETURN = r"""
_value:
  description: The merge patch (empty dict when the configurations agree).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.patroni_config import config_patch


def patroni_config_patch(current, desired):
    if not isinstance(desired, Mapping):
        raise AnsibleFilterError("patroni_config_patch: desired must be a dictionary")
    if current is not None and not isinstance(current, Mapping):
        raise AnsibleFilterError("patroni_config_patch: the current configuration must be a dictionary")
    return config_patch(dict(current or {}), dict(desired))


class FilterModule:
    def filters(self):
        return {"patroni_config_patch": patroni_config_patch}
