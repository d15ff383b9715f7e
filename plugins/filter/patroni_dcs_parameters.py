# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: patroni_dcs_parameters
short_description: Cluster-wide PostgreSQL parameters for Patroni's DCS from every member's sizing
version_added: 0.2.0
author: keel.postgres maintainers (@keel)
description:
  - Takes the sizing records that keel.postgres.postgresql writes on each member
    (C(/etc/keel/postgresql-tuning.json)) and returns, for each setting Patroni keeps identical on all
    members (C(max_connections), C(max_worker_processes), C(max_wal_senders), ...), the value of the
    smallest member, so that every member can run it and a standby never needs more than it has.
  - C(-1) (unlimited, e.g. C(max_slot_wal_keep_size)) counts as the largest value.
positional: names
options:
  _input:
    description: The sizing records (each with C(settings) name to C({value, reason}) and C(dcs_parameters)).
    type: list
    elements: dict
    required: true
  names:
    description: Settings to return; default the C(dcs_parameters) every record lists.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Settings for the DCS
  ansible.builtin.set_fact:
    dcs_parameters: "{{ records | keel.postgres.patroni_dcs_parameters }}"
"""

RETURN = r"""
_value:
  description: Setting name to value (as rendered in the records), for the names every record sets.
  type: dict
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.patroni_config import cluster_parameters


def patroni_dcs_parameters(records, names=None):
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise AnsibleFilterError("patroni_dcs_parameters: expects the list of sizing records")
    if not all(isinstance(record, Mapping) for record in records):
        raise AnsibleFilterError("patroni_dcs_parameters: every sizing record must be a dictionary")
    return cluster_parameters([dict(record) for record in records], None if names is None else list(names))


class FilterModule:
    def filters(self):
        return {"patroni_dcs_parameters": patroni_dcs_parameters}
