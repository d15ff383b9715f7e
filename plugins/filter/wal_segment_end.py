# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: wal_segment_end
short_description: The WAL position where the furthest of some WAL segment files ends
version_added: 0.1.0
author: keel.postgres maintainers (@keel)
description:
  - Takes WAL file names (24 hexadecimal digits - timeline, log, segment; for instance the C(max) of each archive
    in C(pgbackrest info --output=json)) and returns the LSN at the end of the furthest one.
  - An empty list gives an empty string.
positional: segment_size
options:
  _input:
    description: WAL segment file names.
    type: list
    elements: str
    required: true
  segment_size:
    description: Bytes per WAL segment (initdb --wal-segsize).
    type: int
    default: 16777216
"""

EXAMPLES = r"""
- name: Where the archive ends
  ansible.builtin.debug:
    msg: "{{ ['000000010000000000000009'] | keel.postgres.wal_segment_end }}"   # 0/A000000
"""

RETURN = r"""
_value:
  description: An LSN, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.lsn import wal_segment_end as _wal_segment_end


def wal_segment_end(names, segment_size=16777216):
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("wal_segment_end: expects a list of WAL file names, got %r" % (names,))
    try:
        return _wal_segment_end(names, int(segment_size))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("wal_segment_end: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"wal_segment_end": wal_segment_end}
