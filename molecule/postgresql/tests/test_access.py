"""TLS, pg_hba and the role model, checked from outside with psql as each login role.

The role checks run against pg-use1 (the future primary); TLS and the plain-TCP refusal against
every host.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from conftest import CA_FILE, PSQL, lab_host

PRIMARY = "pg-use1"
PEER = "pg-usw2"


@pytest.fixture(scope="module")
def primary(pg_hosts):
    return pg_hosts[PRIMARY]


@pytest.fixture(scope="module")
def app_table(psql, primary):
    """A table created the way migrations create them: by the migration role."""
    psql.run(
        primary, "app_migrator", "CREATE TABLE IF NOT EXISTS app.items (id bigserial PRIMARY KEY, note text NOT NULL)"
    )
    return "app.items"


def test_tls_is_used_and_verified_on_every_host(psql, pg_hosts):
    for address in pg_hosts.values():
        row = psql.value(address, "app_user", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row in ("t|TLSv1.3", "t|TLSv1.2"), (address, row)


def test_tcp_without_tls_is_refused_on_every_host(psql, pg_hosts):
    for address in pg_hosts.values():
        error = psql.refused(address, "app_user", "SELECT 1", sslmode="disable")
        assert "pg_hba.conf rejects connection" in error and "no encryption" in error, error


def test_a_wrong_password_is_refused(psql, primary):
    error = psql.refused(primary, "app_user", "SELECT 1", password="not-the-password")
    assert 'password authentication failed for user "app_user"' in error, error


def test_an_unknown_role_is_refused(psql, primary):
    assert "pg_hba.conf rejects connection" in psql.refused(primary, "intruder", "SELECT 1")


def test_migration_tables_belong_to_the_nologin_owner(psql, primary, app_table):
    owner = psql.value(
        primary, "app_migrator", "SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = 'app.items'"
    )
    assert owner == "app_owner"
    assert psql.value(primary, "app_migrator", "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app_owner'") == "f"


def test_app_role_reads_and_writes_app_tables(psql, primary, app_table):
    psql.run(
        primary,
        "app_user",
        "INSERT INTO app.items (note) VALUES ('verify'); UPDATE app.items SET note = 'verified' WHERE note = 'verify'; "
        "SELECT count(*) FROM app.items; DELETE FROM app.items WHERE note = 'verified'",
    )


@pytest.mark.parametrize(
    "sql, error",
    [
        ("CREATE TABLE app.intruder (id int)", "permission denied for schema app"),
        ("CREATE TABLE public.intruder (id int)", "permission denied for schema public"),
        ("CREATE ROLE intruder", "permission denied to create role"),
        ("CREATE DATABASE intruder", "permission denied to create database"),
        ("DROP TABLE app.items", "must be owner of table items"),
        ("TRUNCATE app.items", "permission denied for table items"),
    ],
)
def test_app_role_cannot_change_the_schema_or_create_roles(psql, primary, app_table, sql, error):
    assert error in psql.refused(primary, "app_user", sql)


def test_read_only_role_reads_but_cannot_write(psql, primary, app_table):
    psql.run(primary, "app_reader", "SELECT count(*) FROM app.items")
    assert "permission denied for table items" in psql.refused(
        primary, "app_reader", "INSERT INTO app.items (note) VALUES ('x')"
    )
    assert "permission denied for table items" in psql.refused(primary, "app_reader", "DELETE FROM app.items")


def test_monitoring_sees_other_sessions_but_not_application_data(psql, primary, app_table):
    env = dict(os.environ, PGPASSWORD=psql.passwords["app_user"], PGSSLROOTCERT=str(CA_FILE), PGSSLMODE="verify-full")
    sleeper = subprocess.Popen(
        [
            PSQL,
            "-X",
            "host=%s dbname=app user=app_user" % primary,
            "-c",
            "SELECT pg_sleep(20) /* keel-verify-sleeper */",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = ""
        for _attempt in range(40):
            seen = psql.value(
                primary,
                "monitor",
                "SELECT query FROM pg_stat_activity WHERE usename = 'app_user' AND query LIKE '%keel-verify-sleeper%'",
                dbname="postgres",
            )
            if seen:
                break
            time.sleep(0.5)
        assert "pg_sleep(20)" in seen, "monitor cannot see app_user's query: %r" % seen
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "permission denied for schema app" in psql.refused(primary, "monitor", "SELECT * FROM app.items")
    assert "permission denied" in psql.refused(
        primary, "monitor", "SELECT pg_read_file('postgresql.conf')", dbname="postgres"
    )


def test_backup_role_runs_backup_functions_only(psql, primary):
    assert (
        psql.value(primary, "backup", "SELECT pg_create_restore_point('keel-verify') IS NOT NULL", dbname="postgres")
        == "t"
    )
    assert (
        psql.value(
            primary,
            "backup",
            "SELECT has_function_privilege('pg_backup_start(text, boolean)', 'EXECUTE')",
            dbname="postgres",
        )
        == "t"
    )
    assert 'permission denied for database "app"' in psql.refused(primary, "backup", "SELECT 1", dbname="app")
    assert "permission denied" in psql.refused(
        primary, "backup", "SELECT pg_read_file('postgresql.conf')", dbname="postgres"
    )


def test_replication_role_cannot_reach_databases(psql, primary):
    for dbname in ("app", "postgres"):
        error = psql.refused(primary, "replicator", "SELECT * FROM app.items", dbname=dbname)
        assert "pg_hba.conf rejects connection" in error, error


def test_replication_role_streams_from_a_cluster_host_only(psql, pg_hosts):
    # From the Docker host (not a cluster host) a replication connection is refused...
    error = psql.refused(
        pg_hosts[PRIMARY], "replicator", "IDENTIFY_SYSTEM", dbname="replication", extra="replication=true"
    )
    assert "pg_hba.conf rejects replication connection" in error, error
    # ...from another cluster host it is accepted, over verified TLS.
    peer = lab_host(PEER)
    result = peer.run(
        "PGPASSWORD=%s psql -XAt 'host=%s dbname=replication user=replicator replication=true sslmode=verify-full "
        "sslrootcert=/etc/keel/tls/ca.crt' -c IDENTIFY_SYSTEM",
        psql.passwords["replicator"],
        pg_hosts[PRIMARY],
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.count("|") == 3  # systemid|timeline|xlogpos|dbname


def test_public_has_no_access(psql, primary):
    checks = {
        "app": "SELECT has_database_privilege('public', 'app', 'CONNECT'),"
        " has_schema_privilege('public', 'public', 'CREATE'), has_schema_privilege('public', 'app', 'USAGE')",
        "postgres": "SELECT has_database_privilege('public', 'postgres', 'CONNECT'),"
        " has_schema_privilege('public', 'public', 'CREATE')",
    }
    for dbname, sql in checks.items():
        user = "app_user" if dbname == "app" else "monitor"
        assert set(psql.value(primary, user, sql, dbname=dbname).split("|")) == {"f"}, dbname
