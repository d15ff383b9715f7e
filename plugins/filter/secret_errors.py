# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: secret_errors
short_description: Why a secret may not be used (the keel.postgres weak-secret policy)
version_added: 0.4.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Returns the reasons a secret is refused; empty when it is accepted. Messages show the value as
    C(<secret>), so they may be printed by a task that is not hidden by no_log.
  - "Refused: not a string, shorter than O(min_length), a common password, a placeholder of the example
    inventory (C(CHANGE-ME)), the user name itself, and, unless O(lab), a C(lab-only) value of the lab
    inventory."
positional: variable, user, min_length, lab, required
options:
  _input:
    description: The secret.
    type: raw
    required: true
  variable:
    description: The variable name used in the messages.
    type: str
    required: true
  user:
    description: The login the secret belongs to (refused as the secret itself).
    type: str
  min_length:
    description: Shortest accepted length.
    type: int
    default: 12
  lab:
    description: The inventory is the lab's (defines C(keel_lab_name)).
    type: bool
    default: false
  required:
    description: Refuse an empty value; when false, empty means the secret is not used.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Refuse a weak CA passphrase
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join(' | ') }}"
  vars:
    errors: "{{ tls_ca_key_passphrase | keel.postgres.secret_errors('tls_ca_key_passphrase', required=false) }}"
"""

RETURN = r"""
_value:
  description: The reasons the secret is refused.
  type: list
  elements: str
  sample: ["tls_ca_key_passphrase=<secret> has 6 characters, fewer than the 12 required; set a random value ..."]
"""

from ansible_collections.keel.postgres.plugins.module_utils.secrets_policy import DEFAULT_MIN_LENGTH, secret_errors


def secret_errors_filter(value, variable, user=None, min_length=DEFAULT_MIN_LENGTH, lab=False, required=True):
    return secret_errors(
        str(variable), value, user=user, min_length=int(min_length), lab=bool(lab), required=bool(required)
    )


class FilterModule:
    def filters(self):
        return {"secret_errors": secret_errors_filter}
