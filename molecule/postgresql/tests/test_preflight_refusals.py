"""A converge with a bad variable stops in the preflight with a message naming the variable, the
value and the fix, and changes nothing on any host (PLAY RECAP: changed=0).

Runs the scenario's own converge.yml with -e overrides against the 2g host (the smallest).
"""

from __future__ import annotations

import pytest
from conftest import converge, recap

HOST = "pg-aps1"
HBA_OK = {"type": "hostssl", "database": "all", "user": "all", "address": "127.0.0.1/32", "method": "scram-sha-256"}


@pytest.mark.parametrize(
    "extra_vars, messages",
    [
        (
            {"postgresql_workload": "bogus"},
            ["postgresql_workload=bogus (oltp, web, mixed or dw)"],
        ),
        (
            {"postgresql_hba_rules": [dict(HBA_OK, address="10.0.0.300/24")]},
            ["postgresql_hba_rules[0] (hostssl all all): address '10.0.0.300/24' is not an IP network"],
        ),
        (
            {"postgresql_hba_rules": [HBA_OK, dict(HBA_OK, method="md5", address="10.0.0.0/8")]},
            ["postgresql_hba_rules[1] (hostssl all all): method 'md5' is refused", "use scram-sha-256"],
        ),
        (
            # Refused by the controller preflight (it runs under --limit too), before the role's own check.
            {"postgresql_users": [{"name": "nopass", "kind": "monitoring"}]},
            ["inventory refused: postgresql_users[0] (nopass).password is not set"],
        ),
        (
            # One budget for pools and PostgreSQL (a differing postgresql_connection_budget is refused
            # on the controller): 1000 connections do not fit the 2g host.
            {"keel_connection_budget": 1000},
            [
                "sizing refused on pg-aps1",
                "pg_tune: connection_budget: 1013 connections (connection budget 1000 + 3 superuser-reserved",
                "lower connection_budget to at most",
                "postgresql_connection_budget=1000",
            ],
        ),
    ],
    ids=["workload", "cidr", "md5", "password", "budget"],
)
def test_bad_variable_is_refused_before_any_change(extra_vars, messages):
    result = converge(HOST, extra_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    # The YAML callback folds long messages: compare with the whitespace collapsed.
    flat = " ".join(output.split())
    for message in messages:
        assert message in flat, output[-3000:]
    _ok, changed, failed = recap(result, HOST)
    assert (changed, failed) == (0, 1)
    # Refused in the PostgreSQL preflight play, before the os, tls and postgresql plays ran.
    assert "PLAY [Operating system baseline]" not in result.stdout
