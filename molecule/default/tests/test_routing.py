"""PgBouncer and HAProxy, checked from outside through the public ports, as applications connect:
TLS verified against the lab CA under the service name (hostaddr = the router the client uses),
SCRAM, transaction pooling. A member is identified by its postmaster start time, read directly on
each member and through the router."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid

import psycopg2
import pytest
from labclient import (
    CA_FILE,
    INVENTORY,
    ROOT,
    address,
    api,
    changed_counts,
    cluster,
    converge,
    create_probe_table,
    docker_exec,
    group_hosts,
    healthy_leader,
    marker_count,
    psql,
    secret,
    user_password,
    wait_for,
)

sys.path.insert(0, str(ROOT / "tools" / "lab"))
import pgclients  # noqa: E402

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
ROUTERS = group_hosts("haproxy")
POOLERS = group_hosts("pgbouncer")
SERVICE = secret("keel_postgres_service_name")
POOL = next(p for p in secret("keel_pgbouncer_pools") if p["database"] == "app")
RW, RO, SYNC, PGBOUNCER = 5000, 5001, 5002, 6432
STARTED = "SELECT pg_postmaster_start_time()::text"
BURST = 2000
# Handshakes in flight at once during the burst: all BURST clients end up connected together, but CI
# runs on two loaded cores, where 2000 simultaneous TLS handshakes outlast connect_timeout.
CONNECTING = 50


def _region(host):
    return INVENTORY["_meta"]["hostvars"][host]["keel_region"]


def conninfo(router, port, user="app_user", dbname="app", **extra):
    """psycopg2 keywords for a client of `router`: verify-full against the service name."""
    if "password" not in extra:
        extra["password"] = user_password(user)
    info = {
        "host": SERVICE,
        "hostaddr": address(router),
        "port": port,
        "dbname": dbname,
        "user": user,
        "sslmode": "verify-full",
        "sslrootcert": str(CA_FILE),
        "connect_timeout": 10,
        "application_name": "keel-verify",
    }
    info.update(extra)
    return info


def query(info, sql):
    connection = psycopg2.connect(**info)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        connection.close()


def console(host, sql, user="pgbouncer_stats"):
    """A PgBouncer console command on one host (simple query protocol: psql)."""
    password = next(u["password"] for u in secret("keel_pgbouncer_%s_users" % user.split("_")[1]) if u["name"] == user)
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="5")
    dsn = "host=%s port=%d dbname=pgbouncer user=%s sslmode=verify-full sslrootcert=%s" % (
        address(host),
        PGBOUNCER,
        user,
        CA_FILE,
    )
    result = subprocess.run(
        ["/usr/bin/psql", dsn, "--no-psqlrc", "--csv", "--command", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def reached(router, port, user="app_user"):
    """The member a new client of router:port reaches, or None while that fails."""
    try:
        return fingerprints().get(query(conninfo(router, port, user=user), STARTED)[0][0])
    except psycopg2.Error:
        return None


def fingerprints():
    """postmaster start time -> member, read directly on every member."""
    return {psql(host, STARTED): host for host in PRIMARY}


# --- PgBouncer -----------------------------------------------------------------------------------
@pytest.mark.parametrize("host", POOLERS)
def test_pgbouncer_runs_as_its_own_account_behind_a_private_socket(host):
    assert docker_exec(host, "ps", "-o", "user=", "-C", "pgbouncer").stdout.split() == ["pgbouncer"]
    mode = docker_exec(host, "stat", "-c", "%a %U:%G", "/etc/pgbouncer/userlist.txt").stdout.split()
    assert mode == ["640", "root:pgbouncer"]
    socket = docker_exec(host, "stat", "-c", "%a", "/run/pgbouncer/.s.PGSQL.%d" % PGBOUNCER).stdout.strip()
    assert socket == "770"
    userlist = docker_exec(host, "cat", "/etc/pgbouncer/userlist.txt").stdout
    for user in secret("keel_pgbouncer_admin_users") + secret("keel_pgbouncer_stats_users"):
        assert user["password"] not in userlist and '"%s" "SCRAM-SHA-256$4096:' % user["name"] in userlist


@pytest.mark.parametrize("host", POOLERS)
def test_pgbouncer_is_1_18_with_the_pools_of_the_inventory(host):
    assert console(host, "SHOW VERSION")[0]["version"].startswith("PgBouncer 1.18")
    databases = {row["name"]: row for row in console(host, "SHOW DATABASES")}
    assert set(databases) == {"app", "pgbouncer"}
    app = databases["app"]
    assert (app["host"], app["port"], app["database"]) == ("127.0.0.1", "5432", "app")
    assert int(app["pool_size"]) == POOL["pool_size"]
    assert int(app["reserve_pool"]) == POOL["reserve_pool"]
    assert int(app["max_connections"]) == POOL["max_db_connections"]
    config = {row["key"]: row["value"] for row in console(host, "SHOW CONFIG")}
    assert config["max_client_conn"] == "10000" and config["auth_type"] == "scram-sha-256"
    assert config["pool_mode"] == "transaction" and config["listen_port"] == str(PGBOUNCER)
    assert config["client_tls_sslmode"] == "require" and config["server_tls_sslmode"] == "verify-full"


def test_pool_total_is_the_connection_budget_of_the_sizing():
    record = json.loads(docker_exec(PRIMARY[0], "cat", "/etc/keel/postgresql-tuning.json").stdout)
    assert record["inputs"]["connection_budget"] == POOL["max_db_connections"]


def test_stats_user_cannot_run_admin_commands():
    with pytest.raises(AssertionError, match="admin access needed|not allowed"):
        console(PRIMARY[0], "PAUSE app")


def test_clients_without_tls_or_with_a_wrong_password_are_refused():
    with pytest.raises(psycopg2.OperationalError, match="SSL required|no encryption|pg_hba"):
        query(conninfo(ROUTERS[0], RW, sslmode="disable"), "SELECT 1")
    with pytest.raises(psycopg2.OperationalError, match="SASL authentication failed|password authentication failed"):
        query(conninfo(ROUTERS[0], RW, password="not-the-password"), "SELECT 1")


@pytest.mark.parametrize("user", ["postgres", "replicator"])
def test_the_lookup_gives_no_verifier_for_privileged_roles(user):
    # The lookup function returns no verifier for superusers and replication roles, so PgBouncer
    # refuses them whatever the password.
    password = {
        "postgres": secret("keel_patroni_superuser_password"),
        "replicator": secret("keel_patroni_replication_password"),
    }
    with pytest.raises(psycopg2.OperationalError, match="SASL authentication failed|password authentication failed"):
        query(conninfo(ROUTERS[0], RW, user=user, password=password[user]), "SELECT 1")


def test_the_lookup_role_may_read_nothing_but_verifiers():
    # Its password is in the auth_file (PgBouncer logs in with it), so it can log in through
    # PgBouncer; it reads no table, and the function gives it nothing for privileged roles.
    info = conninfo(ROUTERS[0], RW, user="pgbouncer_auth", password=secret("keel_pgbouncer_auth_password"))
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        query(info, "SELECT count(*) FROM app.keel_probe")
    rows = query(info, "SELECT usename, passwd IS NULL FROM pgbouncer.get_auth('postgres')")
    assert rows == [("postgres", True)]
    rows = query(info, "SELECT passwd LIKE 'SCRAM-SHA-256$%' FROM pgbouncer.get_auth('app_user')")
    assert rows == [(True,)]


def test_the_lookup_function_is_private_to_the_lookup_role():
    leader = healthy_leader(PRIMARY[0])
    acl = psql(
        leader,
        "SELECT p.proacl::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'pgbouncer' AND p.proname = 'get_auth'",
        dbname="app",
    )
    assert acl == "{postgres=X/postgres,pgbouncer_auth=X/postgres}"


# --- routing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("router", ROUTERS)
def test_read_write_endpoint_of_every_router_reaches_the_leader(router):
    leader = healthy_leader(PRIMARY[0])
    create_probe_table(leader)
    marker = "rw-%s-%s" % (router, uuid.uuid4())
    rows = query(
        conninfo(router, RW),
        "INSERT INTO app.keel_probe (marker) VALUES ('%s') RETURNING pg_is_in_recovery(), (%s)" % (marker, STARTED),
    )
    in_recovery, started = rows[0]
    assert in_recovery is False and fingerprints()[started] == leader
    assert marker_count(leader, marker) == "1"


@pytest.mark.parametrize("router", ROUTERS)
def test_read_only_endpoint_never_reaches_the_leader_and_prefers_the_region(router):
    leader = healthy_leader(PRIMARY[0])
    by_start = fingerprints()
    reached = set()
    for _ in range(12):
        in_recovery, started = query(
            conninfo(router, RO, user="app_reader"), "SELECT pg_is_in_recovery(), (%s)" % STARTED
        )[0]
        assert in_recovery is True
        reached.add(by_start[started])
    assert leader not in reached
    same_region = [h for h in PRIMARY if h != leader and _region(h) == _region(router)]
    assert reached == set(same_region) if same_region else reached <= set(PRIMARY) - {leader}


@pytest.mark.parametrize("router", ROUTERS)
def test_synchronous_endpoint_reaches_only_synchronous_standbys(router):
    healthy_leader(PRIMARY[0])
    sync = {m["name"] for m in api(PRIMARY[0], "/cluster")[1]["members"] if m["role"] == "sync_standby"}
    by_start = fingerprints()
    for _ in range(6):
        started = query(conninfo(router, SYNC, user="app_reader"), STARTED)[0][0]
        assert by_start[started] in sync


def test_read_write_endpoint_follows_a_patronictl_switchover():
    leader = healthy_leader(PRIMARY[0])
    candidate = next(
        m["name"]
        for m in api(leader, "/cluster")[1]["members"]
        if m["role"] == "sync_standby" and m["tags"].get("failover_priority", 0) > 0
    )
    ctl = ["/opt/patroni/bin/patronictl", "-c", "/etc/patroni/patroni.yml"]
    for old, new in ((leader, candidate), (candidate, leader)):
        docker_exec(old, *ctl, "switchover", "--leader", old, "--candidate", new, "--force")
        # No step but the switchover: every router's read-write endpoint reaches the new leader.
        for router in ROUTERS:
            try:
                wait_for(
                    lambda router=router, new=new: reached(router, RW) == new,
                    30,
                    interval=0.5,
                    what="%s:%d to reach %s" % (router, RW, new),
                )
            except AssertionError as exc:
                # Say whether the switchover happened at all, and where the route goes instead.
                view = [(m["name"], m["role"], m["state"]) for m in cluster(router)["members"]]
                raise AssertionError("%s; cluster: %s; route reaches %r" % (exc, view, reached(router, RW))) from exc
        healthy_leader(new)


def test_a_burst_of_2000_clients_is_served_within_the_pool_limits():
    leader = healthy_leader(PRIMARY[0])

    def server_connections():
        pools = [row for row in console(leader, "SHOW POOLS") if (row["database"], row["user"]) == ("app", "app_user")]
        return sum(
            int(row[key]) for row in pools for key in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")
        )

    result = pgclients.burst(
        conninfo(leader, RW), BURST, "SELECT pg_sleep(0.05), 1", sampler=server_connections, connecting=CONNECTING
    )
    assert result["errors"] == [], result["errors"][:5]
    assert result["connected"] == BURST and len(result["rows"]) == BURST
    # Server side: never more than the pool (per user) plus its reserve, within the database cap.
    assert 0 < result["sampled_max"] <= min(POOL["pool_size"] + POOL["reserve_pool"], POOL["max_db_connections"])
    backends = psql(leader, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_user'")
    assert int(backends) <= POOL["pool_size"] + POOL["reserve_pool"]


# --- bad input: refused by the preflight, before any host changes -----------------------------------
@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {"keel_connection_budget": 50},
            "may open 80 server connections (sum of max_db_connections) but the connection budget",
        ),
        (
            {"keel_pgbouncer_pools": [{"database": "ledger", "pool_size": 10, "max_db_connections": 20}]},
            "pgbouncer_pools[ledger]: database 'ledger' is not declared in postgresql_databases",
        ),
        (
            {"pgbouncer_tls_cert_file": "/etc/keel/tls/elsewhere.crt"},
            "pgbouncer_tls_cert_file=/etc/keel/tls/elsewhere.crt",
        ),
        ({"pgbouncer_extra_settings": {"auth_dbname": "postgres"}}, "auth_dbname: PgBouncer 1.18 does not know"),
    ],
    ids=["above-budget", "undeclared-database", "missing-tls", "newer-setting"],
)
def test_bad_pgbouncer_input_is_refused_before_any_change(extra_vars, expected):
    result = converge(extra_vars, limit=ROUTERS[0], timeout=600)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout[-3000:]
    assert "PLAY [Operating system baseline]" not in result.stdout
    assert changed_counts(result).get(ROUTERS[0], 0) == 0
