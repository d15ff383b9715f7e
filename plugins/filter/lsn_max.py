# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lsn_max
short_description: The furthest of a list of WAL positions (LSN)
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Compares LSNs such as C(16/B374D848) by position (not as text) and returns the furthest in PostgreSQL's text form.
  - Empty items are skipped; an empty list gives an empty string.
options:
  _input:
    description: LSN strings.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: The furthest position the fenced members wrote
  ansible.builtin.set_fact:
    furthest: "{{ ['0/9000028', '0/A000000', ''] | keel.postgres.lsn_max }}"   # 0/A000000
"""

RETURN = r"""
_value:
  description: The furthest LSN, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.lsn import lsn_max as _lsn_max


def lsn_max(positions):
    if isinstance(positions, str) or not isinstance(positions, (list, tuple)):
        raise AnsibleFilterError("lsn_max: expects a list of LSN strings, got %r" % (positions,))
    try:
        return _lsn_max(positions)
    except ValueError as exc:
        raise AnsibleFilterError("lsn_max: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"lsn_max": lsn_max}
