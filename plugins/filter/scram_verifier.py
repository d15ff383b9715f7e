# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: scram_verifier
short_description: A SCRAM-SHA-256 verifier of a password, in PostgreSQL's format
version_added: 0.3.0
author: keel.postgres maintainers (@keel)
description:
  - Returns C(SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>), the form PostgreSQL stores and
    PgBouncer's C(auth_file) accepts, so a password need not be written to disk.
  - The salt is derived from the user name and the password, so the same inputs give the same verifier
    (a re-run changes nothing) and different users with the same password get different verifiers.
positional: user
options:
  _input:
    description: The password.
    type: str
    required: true
  user:
    description: The user name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: An auth_file line without the password in clear
  ansible.builtin.set_fact:
    line: '"pgbouncer_admin" "{{ admin_password | keel.postgres.scram_verifier("pgbouncer_admin") }}"'
"""

RETURN = r"""
_value:
  description: The verifier.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.module_utils.scram import ScramError, user_verifier


def scram_verifier(password, user):
    try:
        return user_verifier(user, password)
    except ScramError as exc:
        raise AnsibleFilterError("scram_verifier: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"scram_verifier": scram_verifier}
