# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lsn_diff
short_description: Bytes of WAL between two positions (like pg_wal_lsn_diff)
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Returns the number of bytes from O(older) to the input LSN; negative when O(older) is ahead.
positional: older
options:
  _input:
    description: The newer LSN.
    type: str
    required: true
  older:
    description: The older LSN.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: WAL the standby has not replayed
  ansible.builtin.debug:
    msg: "{{ '0/A000000' | keel.postgres.lsn_diff('0/9000000') }}"   # 16777216
"""

RETURN = r"""
_value:
  description: Bytes from O(older) to the input.
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.lsn import lsn_diff as _lsn_diff


def lsn_diff(newer, older):
    if not isinstance(newer, str) or not isinstance(older, str):
        raise AnsibleFilterError("lsn_diff: expects two LSN strings, got %r and %r" % (newer, older))
    try:
        return _lsn_diff(newer, older)
    except ValueError as exc:
        raise AnsibleFilterError("lsn_diff: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"lsn_diff": lsn_diff}
