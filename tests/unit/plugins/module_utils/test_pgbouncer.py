"""PgBouncer pools against the connection budget, and 1.18-only extra settings."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.filter import pgbouncer_pool_errors as plugin
from ansible_collections.keel.postgres.plugins.module_utils import pgbouncer

FILTER = plugin.FilterModule().filters()["pgbouncer_pool_errors"]


def _pool(**changes):
    pool = {"database": "app", "pool_size": 20, "min_pool_size": 2, "reserve_pool": 5, "max_db_connections": 60}
    pool.update(changes)
    return pool


def test_good_pools_have_no_errors():
    pools = [_pool(), _pool(database="ledger", max_db_connections=40)]
    assert pgbouncer.pool_errors(pools, ["app", "ledger"], 100) == []
    assert pgbouncer.pools_total(pools) == 100


def test_pools_above_the_budget_name_both_numbers():
    errors = pgbouncer.pool_errors([_pool(), _pool(database="ledger")], ["app", "ledger"], 100)
    assert len(errors) == 1
    assert "pgbouncer_pools" in errors[0] and "120" in errors[0] and "100" in errors[0]


def test_a_pool_for_an_undeclared_database():
    (error,) = pgbouncer.pool_errors([_pool(database="ledgr")], ["app", "ledger"], 100)
    assert "pgbouncer_pools[ledgr]" in error and "postgresql_databases" in error and "app, ledger" in error


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pool_size": 50, "reserve_pool": 20}, "exceed max_db_connections 60"),
        ({"max_db_connections": 0}, "cap of at least 1"),
        ({"pool_size": 0, "min_pool_size": 0}, "pool_size: must be at least 1"),
        ({"min_pool_size": 30}, "min_pool_size: 30 is larger than pool_size 20"),
        ({"pool_size": -1}, "pool_size: must be a non-negative integer"),
        ({"pool_size": "20"}, "pool_size: must be a non-negative integer"),
        ({"pool_size": True}, "pool_size: must be a non-negative integer"),
        ({"pool_mode": "statement"}, "pool_mode: transaction or session"),
        ({"poolsize": 3}, "unknown keys poolsize"),
    ],
)
def test_bad_pool_values(changes, expected):
    errors = pgbouncer.pool_errors([_pool(**changes)], ["app"], 1000)
    assert any(expected in error for error in errors), errors


def test_shape_errors():
    assert "must be a list" in pgbouncer.pool_errors({"app": {}}, ["app"], 10)[0]
    assert "needs a database name" in pgbouncer.pool_errors([{"pool_size": 1}], ["app"], 10)[0]
    errors = pgbouncer.pool_errors([_pool(), _pool()], ["app"], 1000)
    assert any("declared twice" in error for error in errors)


def test_extra_settings_only_1_18_keys_not_owned_by_the_role():
    assert pgbouncer.extra_settings_errors({"server_lifetime": 3600, "tcp_keepalive": 1}) == []
    errors = pgbouncer.extra_settings_errors(
        {"auth_dbname": "postgres", "max_prepared_statements": 100, "auth_type": "trust"}
    )
    assert len(errors) == 3
    assert "auth_dbname: PgBouncer 1.18 does not know" in errors[0]
    assert "auth_type: set by the role" in errors[1]
    assert "max_prepared_statements" in errors[2]
    assert "must be a mapping" in pgbouncer.extra_settings_errors(["x"])[0]


def test_filter_combines_both_checks_and_refuses_a_bad_budget():
    errors = FILTER([_pool(database="x")], ["app"], "100", {"auth_dbname": "x"})
    assert len(errors) == 2
    assert FILTER([_pool()], ["app"], 60) == []
    with pytest.raises(AnsibleFilterError, match="budget"):
        FILTER([_pool()], ["app"], "lots")
    with pytest.raises(AnsibleFilterError, match="databases"):
        FILTER([_pool()], "app", 60)
