# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic behind the pgbouncer role: pool checks against the connection budget, and the
PgBouncer 1.18 settings the role accepts as extra settings.

PgBouncer 1.18 refuses to start on a key it does not know ("unknown parameter"), so extra settings
are checked against the keys of its 1.18 documentation (doc/config.md at pgbouncer_1_18_0), not
newer versions' (auth_dbname 1.19, max_prepared_statements 1.21, ...).
"""

from __future__ import annotations

# [pgbouncer] section keys of PgBouncer 1.18.
KNOWN_1_18 = frozenset(
    """
    logfile pidfile listen_addr listen_port unix_socket_dir unix_socket_mode unix_socket_group user
    pool_mode max_client_conn default_pool_size min_pool_size reserve_pool_size reserve_pool_timeout
    max_db_connections max_user_connections server_round_robin track_extra_parameters
    ignore_startup_parameters peer_id disable_pqexec application_name_add_host conffile service_name
    job_name stats_period auth_type auth_hba_file auth_file auth_user auth_query syslog syslog_ident
    syslog_facility log_connections log_disconnections log_pooler_errors log_stats verbose admin_users
    stats_users server_reset_query server_reset_query_always server_check_delay server_check_query
    server_fast_close server_lifetime server_idle_timeout server_connect_timeout server_login_retry
    client_login_timeout autodb_idle_timeout dns_max_ttl dns_nxdomain_ttl dns_zone_check_period
    resolv_conf query_timeout query_wait_timeout client_idle_timeout idle_transaction_timeout
    suspend_timeout pkt_buf max_packet_size listen_backlog sbuf_loopcnt so_reuseport tcp_defer_accept
    tcp_socket_buffer tcp_keepalive tcp_keepcnt tcp_keepidle tcp_keepintvl tcp_user_timeout
    client_tls_sslmode client_tls_key_file client_tls_cert_file client_tls_ca_file client_tls_protocols
    client_tls_ciphers client_tls_ecdhcurve client_tls_dheparams server_tls_sslmode server_tls_ca_file
    server_tls_key_file server_tls_cert_file server_tls_protocols server_tls_ciphers
    """.split()
)

# Keys the role itself owns: set through the role's variables, never as extra settings.
OWNED = frozenset(
    """
    listen_addr listen_port unix_socket_dir unix_socket_mode unix_socket_group user pool_mode
    auth_type auth_file auth_user auth_query admin_users stats_users logfile pidfile
    client_tls_sslmode client_tls_key_file client_tls_cert_file client_tls_ca_file
    server_tls_sslmode server_tls_ca_file max_client_conn
    """.split()
)

POOL_INTS = ("pool_size", "min_pool_size", "reserve_pool", "max_db_connections")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def extra_settings_errors(settings, variable="pgbouncer_extra_settings"):
    """Errors for extra [pgbouncer] settings: unknown to 1.18, or owned by the role."""
    if not isinstance(settings, dict):
        return ["%s: must be a mapping of PgBouncer setting -> value" % variable]
    errors = []
    for key in sorted(settings):
        if key not in KNOWN_1_18:
            errors.append(
                "%s.%s: PgBouncer 1.18 does not know this setting and would refuse to start" % (variable, key)
            )
        elif key in OWNED:
            errors.append("%s.%s: set by the role from its own variable, not as an extra setting" % (variable, key))
    return errors


def pool_errors(pools, databases, budget, variable="pgbouncer_pools"):
    """Errors for the pools: shape, undeclared databases, sizes, and their total against the budget.

    A pool's server connections are bounded by max_db_connections (pool_size applies per database
    *and user*), so the sum of max_db_connections is what PostgreSQL must accept: it may not exceed
    the connection budget the sizing used for max_connections.
    """
    if not isinstance(pools, list):
        return ["%s: must be a list of pools" % variable]
    errors = []
    seen = set()
    total = 0
    declared = set(databases or [])
    for index, pool in enumerate(pools):
        where = "%s[%d]" % (variable, index)
        if not isinstance(pool, dict) or not isinstance(pool.get("database"), str) or not pool["database"]:
            errors.append("%s: each pool needs a database name (database: <name>)" % where)
            continue
        name = pool["database"]
        where = "%s[%s]" % (variable, name)
        if name in seen:
            errors.append("%s: declared twice" % where)
        seen.add(name)
        if name not in declared:
            errors.append(
                "%s: database %r is not declared in postgresql_databases (%s)"
                % (where, name, ", ".join(sorted(declared)) or "none")
            )
        unknown = sorted(set(pool) - {"database", "pool_mode"} - set(POOL_INTS))
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        values = {}
        for key in POOL_INTS:
            value = pool.get(key, 0)
            if not _is_int(value) or value < 0:
                errors.append("%s.%s: must be a non-negative integer, got %r" % (where, key, value))
                value = 0
            values[key] = value
        if "pool_mode" in pool and pool["pool_mode"] not in ("transaction", "session"):
            errors.append("%s.pool_mode: transaction or session, got %r" % (where, pool["pool_mode"]))
        if values["max_db_connections"] < 1:
            errors.append("%s.max_db_connections: every pool needs a cap of at least 1 server connection" % where)
        elif values["pool_size"] + values["reserve_pool"] > values["max_db_connections"]:
            errors.append(
                "%s: pool_size %d + reserve_pool %d exceed max_db_connections %d"
                % (where, values["pool_size"], values["reserve_pool"], values["max_db_connections"])
            )
        if values["min_pool_size"] > values["pool_size"]:
            errors.append(
                "%s.min_pool_size: %d is larger than pool_size %d"
                % (where, values["min_pool_size"], values["pool_size"])
            )
        if values["pool_size"] < 1:
            errors.append("%s.pool_size: must be at least 1" % where)
        total += values["max_db_connections"]
    if _is_int(budget) and total > budget:
        errors.append(
            "%s: the pools may open %d server connections (sum of max_db_connections) but the connection "
            "budget the sizing used is %d (keel_connection_budget / postgresql_connection_budget)"
            % (variable, total, budget)
        )
    return errors


def pools_total(pools):
    """Server connections the pools may open (sum of max_db_connections)."""
    return sum(pool.get("max_db_connections", 0) for pool in pools or [])
