# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: inventory_errors
short_description: Refusals of a keel.postgres inventory that need no host facts
version_added: 0.4.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Run by playbooks/preflight.yml on the controller before any host is contacted. Returns the problems
    found, each naming the variable, the value (C(<secret>) for a secret) and the fix; safe to print.
  - "Secrets (weak-secret policy, P(keel.postgres.secret_errors#filter)): PostgreSQL login roles, Patroni,
    etcd, PgBouncer, Redis ACL users, the pgBackRest S3 secret and cipher passphrase, the CA passphrase."
  - "PostgreSQL users (names, kinds, unique), PgBouncer pools against the connection budget and extra
    settings, pgBackRest repository, retention and cipher, Redis users and ports, the PostgreSQL major
    (C(keel_postgresql_version) is the only input; a role variable that disagrees is refused), unique
    Patroni member names across both clusters, and every member's region present in C(keel_regions) and
    every C(keel_regions) key used by a host."
  - A variable whose template cannot be resolved on the controller (a vault that was not given) is
    skipped here; the role preflights refuse it on the host.
positional: hosts, lab
options:
  _input:
    description: The inventory C(groups) mapping.
    type: dict
    required: true
  hosts:
    description: C(hostvars).
    type: dict
    required: true
  lab:
    description: The inventory is the lab's (it defines C(keel_lab_name)); its C(lab-only) secrets are allowed.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Refuse the inventory
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "inventory refused: {{ errors | join(' | ') }}"
  vars:
    errors: "{{ groups | keel.postgres.inventory_errors(hostvars, keel_lab_name is defined) }}"
"""

RETURN = r"""
_value:
  description: The problems found; empty when the inventory is acceptable.
  type: list
  elements: str
  sample:
    - "keel_patroni_superuser_password=<secret> is a placeholder of the example inventory (CHANGE-ME); set a
      random value from the vault (e.g. `openssl rand -base64 33`)"
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from jinja2 import Undefined

from ansible_collections.keel.postgres.plugins.module_utils.inventory_checks import UNRESOLVED, VARIABLES, validate


class _Unresolved(Exception):
    pass


def _plain(value):
    """Tagged Ansible containers and scalars as plain Python values; _Unresolved on an undefined one."""
    if isinstance(value, Undefined):
        raise _Unresolved()
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


def _resolve(hvars, name):
    """(True, value) when the inventory sets the variable, else (False, None); UNRESOLVED if not templatable."""
    try:
        if name not in hvars:
            return False, None
        return True, _plain(hvars[name])
    except Exception:  # noqa: BLE001 - an undefined variable in a template (vault not given): checked on the host
        return True, UNRESOLVED


def inventory_errors(groups, hostvars, lab=False):
    if not isinstance(groups, Mapping) or not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("inventory_errors expects groups and hostvars as dictionaries")
    groups = {name: list(members or []) for name, members in groups.items()}
    hosts = {}
    for host in groups.get("all", []):
        hvars = hostvars.get(host) or {}
        values = {}
        for name in VARIABLES:
            found, value = _resolve(hvars, name)
            if found:
                values[name] = value
        hosts[host] = values
    # Platform-wide values as the first PostgreSQL member sees them (else the first host), as in
    # playbooks/preflight.yml: the same answer whatever --limit puts first.
    regions = None
    reference = [h for name in ("postgres", "postgres_dr", "all") for h in groups.get(name, [])]
    if reference:
        found, regions = _resolve(hostvars.get(reference[0]) or {}, "keel_regions")
    return validate(groups, hosts, lab=bool(lab), regions=regions if isinstance(regions, Mapping) else None)


class FilterModule:
    def filters(self):
        return {"inventory_errors": inventory_errors}
