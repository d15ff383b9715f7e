"""Tests for the keel.postgres.pg_hba_errors filter (the access policy of the postgresql role)."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.filter import pg_hba_errors as plugin

FILTER = plugin.FilterModule().filters()["pg_hba_errors"]


def _tcp(**changes):
    rule = {"type": "hostssl", "database": "app", "user": "+app_rw", "address": "10.0.0.0/24"}
    rule["method"] = "scram-sha-256"
    rule.update(changes)
    return rule


def test_registers_only_its_own_filter():
    assert list(plugin.FilterModule().filters()) == ["pg_hba_errors"]


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "local", "database": "all", "user": "all", "method": "peer"},
        {"type": "local", "database": "app", "user": "app", "method": "peer", "options": {"map": "admins"}},
        {"type": "local", "database": "all", "user": "all", "method": "reject", "comment": "no socket logins"},
        _tcp(),
        _tcp(address="172.28.50.11/32"),
        _tcp(address="::1/128"),
        _tcp(address="fd00:10::/64"),
        _tcp(address="0.0.0.0/0", method="reject"),
        _tcp(database=["app", "reports"], user=["+app_rw", "monitor"]),
        _tcp(database="app,reports", user="monitor, backup"),
        _tcp(database="replication", user="replicator"),
        _tcp(database="sameuser", user="all"),
        _tcp(options={"clientcert": "verify-full"}),
    ],
)
def test_accepts_rules_within_the_policy(rule):
    assert FILTER([rule]) == []


def test_accepts_an_empty_list():
    assert FILTER([]) == []


@pytest.mark.parametrize(
    "rule, text",
    [
        # CIDRs are checked with ipaddress: out of range, missing prefix, host bits, names.
        (_tcp(address="10.0.0.300/24"), "address '10.0.0.300/24' is not an IP network"),
        (_tcp(address="10.0.0.0/33"), "address '10.0.0.0/33' is not an IP network"),
        (_tcp(address="10.0.0.5"), "address '10.0.0.5' needs a CIDR prefix length"),
        (_tcp(address="10.0.0.5/24"), "has host bits set; write the network 10.0.0.0/24"),
        (_tcp(address="db.example.com/32"), "is not an IP network"),
        (_tcp(address=None), "address None needs a CIDR prefix length"),
        (
            {"type": "local", "database": "all", "user": "all", "method": "peer", "address": "10.0.0.0/8"},
            "local rules take no address",
        ),
        # Methods: the refused ones get their reason and the fix.
        (_tcp(method="md5"), "method 'md5' is refused (MD5 hashes are replayable and deprecated); use scram-sha-256"),
        (_tcp(method="password"), "method 'password' is refused (it sends the password in clear text)"),
        (_tcp(method="trust"), "method 'trust' is refused"),
        (_tcp(method="ident"), "method 'ident' is refused"),
        ({"type": "local", "database": "all", "user": "all", "method": "trust"}, "'trust' is refused (it lets anyone"),
        (
            {"type": "local", "database": "all", "user": "all", "method": "scram-sha-256"},
            "method 'scram-sha-256' is not allowed for local rules; use one of peer, reject",
        ),
        (_tcp(method="peer"), "method 'peer' is not allowed for hostssl rules; use one of scram-sha-256, reject"),
        (_tcp(method="ldap"), "method 'ldap' is not allowed for hostssl rules"),
        # Connection types: TCP is hostssl only.
        (_tcp(type="host"), "type 'host' is refused (it also accepts connections without TLS); TCP rules are hostssl"),
        (_tcp(type="hostnossl"), "type 'hostnossl' is refused"),
        (_tcp(type="tcp"), "type 'tcp' must be local or hostssl"),
        # Names.
        (_tcp(database=""), "database must be a non-empty name"),
        (_tcp(database="app,"), "database must be a non-empty name"),
        (_tcp(user="@admins"), "@file inclusions are not supported"),
        (_tcp(user='"Mixed Case"'), "user item '\"Mixed Case\"' is not a keyword"),
        (_tcp(database="+app"), "database item '+app' is not a keyword"),
        (_tcp(database=5), "database must be a non-empty name"),
        # Options.
        (_tcp(options={"clientcert": "yes"}), "option clientcert='yes' must be one of verify-ca, verify-full"),
        (_tcp(options={"map": "x"}), "option 'map' is not allowed with method scram-sha-256"),
        (_tcp(options="clientcert=verify-full"), "options must be a mapping"),
        # Typos in keys are caught rather than silently ignored.
        (_tcp(adress="10.0.0.0/24"), "unknown key 'adress'"),
    ],
)
def test_refuses_rules_outside_the_policy(rule, text):
    errors = FILTER([rule])
    assert errors, rule
    assert any(text in error for error in errors), errors


def test_messages_name_the_variable_the_index_and_the_rule():
    rules = [_tcp(), _tcp(address="10.0.0.300/24", method="md5")]
    errors = FILTER(rules)
    assert len(errors) == 2
    assert all(error.startswith("postgresql_hba_rules[1] (hostssl app +app_rw): ") for error in errors)


def test_variable_name_is_configurable():
    assert FILTER([_tcp(method="md5")], "pgbouncer_hba_rules")[0].startswith("pgbouncer_hba_rules[0]")


@pytest.mark.parametrize("rules", [None, "local all all peer", {"type": "local"}])
def test_refuses_something_that_is_not_a_list(rules):
    assert FILTER(rules) == ["postgresql_hba_rules must be a list of rules, got %r" % (rules,)]


def test_refuses_a_rule_that_is_not_a_mapping():
    assert "must be a mapping" in FILTER(["local all all peer"])[0]


def test_refuses_a_variable_name_that_is_not_a_string():
    with pytest.raises(AnsibleFilterError, match="variable must be a string"):
        FILTER([], 5)


def test_documentation_is_complete():
    documentation = yaml.safe_load(plugin.DOCUMENTATION)
    assert documentation["name"] == "pg_hba_errors"
    assert set(documentation["options"]) == {"_input", "variable"}
    assert documentation["options"]["variable"]["default"] == "postgresql_hba_rules"
    assert yaml.safe_load(plugin.RETURN)["_value"]["type"] == "list"
    assert yaml.safe_load(plugin.EXAMPLES)
