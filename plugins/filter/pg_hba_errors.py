# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: pg_hba_errors
short_description: Validate structured pg_hba rules against the platform's access policy
version_added: 0.1.0
author: keel.postgres maintainers (@keel-postgres)
description:
  - Checks a list of structured C(pg_hba.conf) rules and returns the problems found, each naming the
    variable, the rule's index, the offending value and the fix. An empty list means every rule is
    acceptable.
  - "The policy: C(local) rules authenticate with C(peer) (or C(reject)); TCP rules are C(hostssl) with
    C(scram-sha-256) (or C(reject)). C(trust), C(md5), C(password) and C(ident) are refused, and so are
    C(host), C(hostnossl) and the other connection types: the role renders its own TLS-only and final
    C(reject) lines around these rules."
  - Addresses must be CIDR networks with an explicit prefix length and no host bits set, checked with
    Python's C(ipaddress). C(10.0.0.300/24) and C(10.0.0.5/24) are refused (the message for the second
    suggests C(10.0.0.0/24)). Host names are refused, so that a rule never depends on DNS.
  - Database and user fields take a string (comma-separated) or a list; each item is a keyword
    (C(all), C(sameuser), C(samerole), C(replication) for databases; C(all) for users), a plain
    identifier, or for users C(+group) (members of a role). Quoted names and C(@file) inclusions are
    refused.
  - Used by the preflight of the P(keel.postgres.postgresql#role) role before any host is changed.
positional: variable
options:
  _input:
    description:
      - The rules. Each is a mapping with C(type) (C(local) or C(hostssl)), C(database), C(user),
        C(address) (C(hostssl) only), C(method) and optionally C(options) (C(map) for C(peer),
        C(clientcert) C(verify-ca)/C(verify-full) for C(scram-sha-256)) and C(comment).
    type: list
    elements: dict
    required: true
  variable:
    description: Name of the variable the rules come from, used in the messages.
    type: str
    default: postgresql_hba_rules
"""

EXAMPLES = r"""
- name: Refuse pg_hba rules that break the access policy
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join(' | ') }}"
  vars:
    __errors: "{{ postgresql_hba_rules | keel.postgres.pg_hba_errors }}"

- name: Name another variable in the messages
  ansible.builtin.debug:
    msg: "{{ [{'type': 'hostssl', 'database': 'app', 'user': 'app', 'address': '10.0.0.300/24',
               'method': 'md5'}] | keel.postgres.pg_hba_errors('pgbouncer_hba_rules') }}"
"""

RETURN = r"""
_value:
  description: The problems found, one line each; empty when every rule is acceptable.
  type: list
  elements: str
  sample:
    - "postgresql_hba_rules[0] (hostssl app app): address '10.0.0.300/24' is not an IP network
      (Octet 300 (> 255) not permitted in '10.0.0.300'); write a network such as 10.0.0.0/24"
    - "postgresql_hba_rules[0] (hostssl app app): method 'md5' is refused (MD5 hashes are replayable
      and deprecated); use scram-sha-256"
"""

import ipaddress
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

KEYS = {"type", "database", "user", "address", "method", "options", "comment"}
METHODS = {"local": ("peer", "reject"), "hostssl": ("scram-sha-256", "reject")}
OPTIONS = {"peer": {"map"}, "scram-sha-256": {"clientcert"}, "reject": set()}
CLIENTCERT = ("verify-ca", "verify-full")
REFUSED_METHODS = {
    "trust": "it lets anyone who reaches the socket in without a password",
    "md5": "MD5 hashes are replayable and deprecated",
    "password": "it sends the password in clear text",
    "ident": "the identity comes from the client host, which anyone on the network can fake",
}
REFUSED_TYPES = {
    "host": "it also accepts connections without TLS",
    "hostnossl": "it matches only connections without TLS",
    "hostgssenc": "GSSAPI encryption is not part of the platform",
    "hostnogssenc": "GSSAPI encryption is not part of the platform",
}
DATABASE_KEYWORDS = {"all", "sameuser", "samerole", "replication"}
USER_KEYWORDS = {"all"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
OPTION_VALUE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _items(value):
    """Split a comma-separated string or a list into stripped items; None when neither."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",")]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value]
    return None


def _name_errors(field, value, keywords, allow_group):
    items = _items(value)
    if not items or any(not item for item in items):
        return ["%s must be a non-empty name, comma-separated names or a list of names, got %r" % (field, value)]
    errors = []
    for item in items:
        name = item[1:] if allow_group and item.startswith("+") else item
        if item in keywords or IDENTIFIER.match(name):
            continue
        hint = " (@file inclusions are not supported)" if item.startswith("@") else ""
        errors.append(
            "%s item %r is not a keyword (%s)%s or a plain identifier%s"
            % (field, item, ", ".join(sorted(keywords)), ", +group" if allow_group else "", hint)
        )
    return errors


def _address_errors(address):
    if not isinstance(address, str) or "/" not in address:
        return ["address %r needs a CIDR prefix length, e.g. 10.0.0.0/24 or 10.0.0.5/32" % (address,)]
    try:
        ipaddress.ip_network(address, strict=True)
    except ValueError as exc:
        try:
            suggestion = str(ipaddress.ip_network(address, strict=False))
        except ValueError:
            return ["address %r is not an IP network (%s); write a network such as 10.0.0.0/24" % (address, exc)]
        return ["address %r has host bits set; write the network %s" % (address, suggestion)]
    return []


def _method_errors(kind, method):
    if method in REFUSED_METHODS:
        fix = "use peer" if kind == "local" else "use scram-sha-256 (over hostssl)"
        return ["method %r is refused (%s); %s" % (method, REFUSED_METHODS[method], fix)]
    if method not in METHODS.get(kind, ()):
        return ["method %r is not allowed for %s rules; use one of %s" % (method, kind, ", ".join(METHODS[kind]))]
    return []


def _option_errors(method, options):
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return ["options must be a mapping such as {clientcert: verify-full}, got %r" % (options,)]
    errors = []
    for name, value in options.items():
        if name not in OPTIONS.get(method, set()):
            allowed = ", ".join(sorted(OPTIONS.get(method, set()))) or "none"
            errors.append("option %r is not allowed with method %s (allowed: %s)" % (name, method, allowed))
        elif name == "clientcert" and value not in CLIENTCERT:
            errors.append("option clientcert=%r must be one of %s" % (value, ", ".join(CLIENTCERT)))
        elif not isinstance(value, str) or not OPTION_VALUE.match(value):
            errors.append("option %s=%r must be a single word" % (name, value))
    return errors


def rule_errors(rule):
    """Problems of one rule (without the variable/index prefix)."""
    if not isinstance(rule, Mapping):
        return ["must be a mapping with type, database, user, address and method, got %r" % (rule,)]
    errors = ["unknown key %r (known: %s)" % (key, ", ".join(sorted(KEYS))) for key in rule if key not in KEYS]
    kind = rule.get("type")
    if kind in REFUSED_TYPES:
        return errors + ["type %r is refused (%s); TCP rules are hostssl" % (kind, REFUSED_TYPES[kind])]
    if kind not in METHODS:
        return errors + ["type %r must be local or hostssl" % (kind,)]
    errors += _name_errors("database", rule.get("database"), DATABASE_KEYWORDS, allow_group=False)
    errors += _name_errors("user", rule.get("user"), USER_KEYWORDS, allow_group=True)
    if kind == "local" and "address" in rule:
        errors.append("local rules take no address (got %r); remove it" % (rule["address"],))
    if kind == "hostssl":
        errors += _address_errors(rule.get("address"))
    method = rule.get("method")
    method_errors = _method_errors(kind, method)
    errors += method_errors
    if not method_errors:
        errors += _option_errors(method, rule.get("options"))
    return errors


def _label(rule):
    if not isinstance(rule, Mapping):
        return ""
    parts = [rule.get(key) for key in ("type", "database", "user")]
    return " (%s)" % " ".join(str(part) for part in parts if part is not None)


def hba_errors(rules, variable="postgresql_hba_rules"):
    """Problems of every rule, each prefixed with ``variable[index] (type database user)``."""
    if not isinstance(rules, (list, tuple)):
        return ["%s must be a list of rules, got %r" % (variable, rules)]
    return [
        "%s[%d]%s: %s" % (variable, index, _label(rule), error)
        for index, rule in enumerate(rules)
        for error in rule_errors(rule)
    ]


def pg_hba_errors(rules, variable="postgresql_hba_rules"):
    if not isinstance(variable, str):
        raise AnsibleFilterError("pg_hba_errors: variable must be a string, got %r" % (variable,))
    return hba_errors(rules, variable)


class FilterModule:
    def filters(self):
        return {"pg_hba_errors": pg_hba_errors}
