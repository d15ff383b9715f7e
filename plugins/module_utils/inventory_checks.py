# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the inventory that need no host facts, run by playbooks/preflight.yml on the controller.

``validate(groups, hosts, lab)`` takes the inventory groups and, per host, the plain values of the
variables in ``VARIABLES`` that the inventory sets (a variable the inventory does not set, or whose
template cannot be resolved on the controller, e.g. a vault that was not given, is absent). It
returns messages that name the variable, the value found (``<secret>`` for a secret) and the fix.

A role variable set in the inventory wins over its platform-wide ``keel_*`` input, as in the role
defaults (``patroni_superuser_password: "{{ keel_patroni_superuser_password }}"``): both are read,
and the message names the one the inventory set. Values that are the same on every host (group_vars)
give one message, not one per host.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.keel.postgres.plugins.module_utils.pgbouncer import extra_settings_errors, pool_errors
from ansible_collections.keel.postgres.plugins.module_utils.secrets_policy import SECRET
from ansible_collections.keel.postgres.plugins.module_utils.secrets_policy import secret_errors as _policy

POSTGRES_GROUPS = ("postgres", "postgres_dr")
SUPPORTED_VERSIONS = (13, 14, 15, 16, 17)
DEFAULT_VERSION = 15
# Variables that may carry the PostgreSQL major: the platform input and the role variables that
# default from it. Setting a role variable to another major is refused.
VERSION_VARIABLES = ("postgresql_version", "patroni_postgresql_version", "pgbackrest_pg_version")
USER_KINDS = ("app_rw", "read_only", "migration", "monitoring", "backup", "replication")

# (role variable, platform variable, user name or None, minimum length, required)
PATRONI_SECRETS = (
    ("patroni_superuser_password", "keel_patroni_superuser_password", "postgres", 12, True),
    ("patroni_replication_password", "keel_patroni_replication_password", "replicator", 12, True),
    ("patroni_rewind_password", "keel_patroni_rewind_password", "rewinder", 12, True),
    ("patroni_restapi_password", "keel_patroni_restapi_password", "patroni", 12, True),
    ("patroni_etcd_password", "keel_etcd_patroni_password", "patroni", 12, True),
)
ETCD_SECRETS = (
    ("etcd_root_password", "keel_etcd_root_password", "root", 12, True),
    (None, "keel_etcd_patroni_password", "patroni", 12, True),
)
REDIS_USERS = (
    ("redis_cluster_admin_password", "redis_cluster_admin_user", "admin"),
    ("redis_cluster_replication_password", "redis_cluster_replication_user", "replicator"),
    ("redis_cluster_app_password", "redis_cluster_app_user", "app"),
)
REDIS_MIN_LENGTH = 16
# Redis memory inputs (MB) of the redis_cluster role; their arithmetic against the RAM is the role's
# planner (roles/redis_cluster/files/redis_cluster_plan.py), run by the preflight where the RAM is given.
REDIS_MEMORY_MB = (
    "redis_cluster_memory_total_mb",
    "redis_cluster_maxmemory_mb",
    "redis_cluster_os_reserved_mb",
    "redis_cluster_postgres_reserved_mb",
)
REDIS_MIN_MAXMEMORY_MB = 16  # the planner's smallest maxmemory per instance
CIPHER_MIN_LENGTH = 20

# Role defaults the timing and lifetime checks fall back to when the inventory sets only some of
# them; tests/unit keeps them equal to roles/<role>/defaults/main.yml.
PATRONI_TIMINGS = {
    "patroni_ttl": 20,
    "patroni_loop_wait": 2,
    "patroni_retry_timeout": 5,
    "patroni_primary_start_timeout": 30,
}
ETCD_TIMINGS = {
    "etcd_heartbeat_interval": 100,
    "etcd_election_timeout": 1000,
    "etcd_client_port": 2379,
    "etcd_peer_port": 2380,
}
TLS_LIFETIMES = {"tls_cert_valid_days": 365, "tls_renew_days": 30, "tls_ca_valid_days": 3650, "tls_ca_renew_days": 180}

STANZA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
QUEUE_RE = re.compile(r"^[0-9]+(KiB|MiB|GiB|TiB)?$")
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")

# Every variable the checks read; the filter resolves these (and only these) from hostvars.
VARIABLES = tuple(
    sorted(
        {
            "keel_postgresql_version",
            *VERSION_VARIABLES,
            "patroni_name",
            "keel_region",
            "keel_regions",
            "postgresql_users",
            "postgresql_databases",
            "keel_postgresql_manager",
            "keel_pgbouncer_pools",
            "pgbouncer_pools",
            "keel_connection_budget",
            "pgbouncer_connection_budget",
            "postgresql_connection_budget",
            "pgbouncer_extra_settings",
            "keel_pgbouncer_auth_password",
            "pgbouncer_auth_password",
            "pgbouncer_auth_user",
            "keel_pgbouncer_admin_users",
            "pgbouncer_admin_users",
            "keel_pgbouncer_stats_users",
            "pgbouncer_stats_users",
            "keel_pgbackrest_stanza",
            "pgbackrest_stanza",
            "keel_pgbackrest_s3_bucket",
            "pgbackrest_s3_bucket",
            "keel_pgbackrest_s3_region",
            "pgbackrest_s3_region",
            "keel_pgbackrest_s3_uri_style",
            "pgbackrest_s3_uri_style",
            "keel_pgbackrest_s3_key_type",
            "pgbackrest_s3_key_type",
            "keel_pgbackrest_s3_key",
            "pgbackrest_s3_key",
            "keel_pgbackrest_s3_key_secret",
            "pgbackrest_s3_key_secret",
            "keel_pgbackrest_cipher_pass",
            "pgbackrest_cipher_pass",
            "pgbackrest_cipher_type",
            "keel_compliance_strict",
            "pgbackrest_strict",
            "pgbackrest_s3_verify_tls",
            "pgbackrest_retention_full_type",
            "pgbackrest_retention_full",
            "pgbackrest_retention_diff",
            "pgbackrest_retention_archive",
            "pgbackrest_archive_push_queue_max",
            "pgbackrest_compress_type",
            "redis_cluster_ports",
            "redis_cluster_bus_port_offset",
            "redis_cluster_replicas",
            "redis_cluster_extra_users",
            *REDIS_MEMORY_MB,
            "redis_cluster_maxmemory_fraction",
            "redis_cluster_postgres_reserved_fraction",
            "tls_ca_key_passphrase",
            *PATRONI_TIMINGS,
            *ETCD_TIMINGS,
            *TLS_LIFETIMES,
            *[name for entry in PATRONI_SECRETS + ETCD_SECRETS for name in entry[:2] if name],
            *[name for entry in REDIS_USERS for name in entry[:2]],
        }
    )
)


class Unresolved:
    """A variable the inventory sets whose template the controller cannot resolve (a vault not given)."""

    def __repr__(self):
        return "<unresolved>"


UNRESOLVED = Unresolved()


def secret_errors(variable, value, **kwargs):
    """The weak-secret policy, skipping a secret the controller cannot resolve (checked on the host)."""
    if isinstance(value, Unresolved):
        return []
    return _policy(variable, value, **kwargs)


def _hosts_of(groups, names):
    out = []
    for name in names:
        for host in groups.get(name) or []:
            if host not in out:
                out.append(host)
    return out


def _pick(hvars, role_var, keel_var, default=None):
    """(name, value) of the variable in effect: the role variable if set, else the keel_* input."""
    if role_var and role_var in hvars:
        return role_var, hvars[role_var]
    if keel_var and keel_var in hvars:
        return keel_var, hvars[keel_var]
    return (keel_var or role_var), default


def _add(errors, new):
    for error in new:
        if error not in errors:
            errors.append(error)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value):
    """An int from an int or a string of digits, else None."""
    if _is_int(value):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _as_fraction(value):
    """A float from a number or a numeric string, else None (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --- versions, member names, regions -------------------------------------------------------


def check_versions(groups, hosts):
    errors = []
    for host in _hosts_of(groups, POSTGRES_GROUPS):
        hvars = hosts.get(host) or {}
        version = hvars.get("keel_postgresql_version", DEFAULT_VERSION)
        major = _as_int(version)
        if major not in SUPPORTED_VERSIONS:
            _add(
                errors,
                [
                    "keel_postgresql_version=%r is not a supported PostgreSQL major: use one of %s "
                    "(Debian 12 ships 15; others need postgresql_pgdg_repository)"
                    % (version, ", ".join(map(str, SUPPORTED_VERSIONS)))
                ],
            )
            continue
        for name in VERSION_VARIABLES:
            if name in hvars and _as_int(hvars[name]) != major:
                _add(
                    errors,
                    [
                        "%s=%r disagrees with keel_postgresql_version=%d: keel_postgresql_version is the one "
                        "input every role reads; remove %s from the inventory and set keel_postgresql_version"
                        % (name, hvars[name], major, name)
                    ],
                )
    return errors


def check_member_names(groups, hosts):
    """Patroni member names (patroni_name, default the inventory name) are unique across both clusters."""
    seen = {}
    errors = []
    for host in _hosts_of(groups, POSTGRES_GROUPS):
        hvars = hosts.get(host) or {}
        name = hvars.get("patroni_name", host)
        if not isinstance(name, str) or not name:
            errors.append(
                "host %s: patroni_name=%r is not a member name; remove it (default: the host name)" % (host, name)
            )
            continue
        if name in seen:
            errors.append(
                "host %s: patroni_name=%r is also the Patroni member name of %s; member names must be unique "
                "across the primary and DR clusters (they share etcd and replication slot names): remove "
                "patroni_name or give each host its own" % (host, name, seen[name])
            )
        seen.setdefault(name, host)
    return errors


def check_region_keys(groups, hosts, regions):
    """Every member's keel_region has an entry in keel_regions and every entry is some host's region.

    A region missing from the model would make its members silently nosync and never promoted, so
    a typo in either the key or the host's keel_region is refused; a region meant to be neither
    synchronous nor promoted is written out as {sync: false, failover_priority: 0}.
    """
    if not isinstance(regions, Mapping) or not regions:
        return []
    errors = []
    members = _hosts_of(groups, POSTGRES_GROUPS)
    used = {}
    for host in members:
        region = (hosts.get(host) or {}).get("keel_region")
        if isinstance(region, str) and region:
            used.setdefault(region, []).append(host)
    for region in sorted(used):
        if region not in regions:
            errors.append(
                "keel_regions has no entry for region %r of %s (keys: %s): a typo in a key or in keel_region would "
                "leave these members never synchronous and never promoted; add %s: {sync: false, "
                "failover_priority: 0} to keel_regions if that is what you want"
                % (region, ", ".join(sorted(used[region])), ", ".join(sorted(map(str, regions))), region)
            )
    every = {(hosts.get(h) or {}).get("keel_region") for h in groups.get("all") or []}
    for region in sorted(map(str, regions)):
        if region not in every:
            errors.append(
                "keel_regions[%r] is the region of no host (hosts' regions: %s): fix the typo in the key "
                "or remove the entry" % (region, ", ".join(sorted(r for r in every if isinstance(r, str))))
            )
    return errors


# --- PostgreSQL access ---------------------------------------------------------------------


def check_users(users, lab, variable="postgresql_users"):
    if isinstance(users, Unresolved):
        return []
    if not isinstance(users, list):
        return ["%s=%r must be a list of {name, password, kind, ...}" % (variable, type(users).__name__)]
    errors = []
    names = []
    for index, user in enumerate(users):
        where = "%s[%d]" % (variable, index)
        if not isinstance(user, Mapping) or not isinstance(user.get("name"), str) or not NAME_RE.match(user["name"]):
            errors.append("%s: name must be a lower-case identifier, e.g. {name: app_user, kind: app_rw, ...}" % where)
            continue
        where = "%s (%s)" % (where, user["name"])
        names.append(user["name"])
        if user.get("kind") not in USER_KINDS:
            errors.append("%s: kind=%r must be one of %s" % (where, user.get("kind"), ", ".join(USER_KINDS)))
        errors += secret_errors(where + ".password", user.get("password"), user=user["name"], lab=lab)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append("%s: user names must be unique, %s appear(s) twice" % (variable, ", ".join(duplicates)))
    return errors


# --- PgBouncer -----------------------------------------------------------------------------


def check_pgbouncer(hvars, lab):
    errors = []
    pools_var, pools = _pick(hvars, "pgbouncer_pools", "keel_pgbouncer_pools", [])
    databases = [d.get("name") for d in hvars.get("postgresql_databases") or [] if isinstance(d, Mapping)]
    if isinstance(pools, Unresolved):
        pools = []
    if isinstance(pools, list):
        total = sum(
            p.get("max_db_connections", 0)
            for p in pools
            if isinstance(p, Mapping) and _is_int(p.get("max_db_connections", 0))
        )
    else:
        total = 0
    budget_var, budget = _pick(hvars, "pgbouncer_connection_budget", "keel_connection_budget", total or 100)
    budget_int = _as_int(budget)
    if budget_int is None or budget_int < 1:
        errors.append("%s=%r is not a positive number of server connections" % (budget_var, budget))
    else:
        errors += [
            e.replace("(keel_connection_budget / postgresql_connection_budget)", "(%s=%d)" % (budget_var, budget_int))
            for e in pool_errors(pools, databases, budget_int, variable=pools_var)
        ]
    pg_budget = hvars.get("postgresql_connection_budget")
    if pg_budget is not None and budget_int is not None and _as_int(pg_budget) != budget_int:
        errors.append(
            "postgresql_connection_budget=%r differs from the pools' budget %s=%d: PostgreSQL would be sized for "
            "another number of connections than PgBouncer opens; set keel_connection_budget once instead"
            % (pg_budget, budget_var, budget_int)
        )
    errors += extra_settings_errors(hvars.get("pgbouncer_extra_settings", {}))
    name, value = _pick(hvars, "pgbouncer_auth_password", "keel_pgbouncer_auth_password", "")
    errors += secret_errors(name, value, user=hvars.get("pgbouncer_auth_user", "pgbouncer_auth"), lab=lab)
    admins_var, admins = _pick(hvars, "pgbouncer_admin_users", "keel_pgbouncer_admin_users", [])
    stats_var, stats = _pick(hvars, "pgbouncer_stats_users", "keel_pgbouncer_stats_users", [])
    if not admins:
        errors.append("%s is empty: list at least one {name, password} console admin user" % admins_var)
    for var, users in ((admins_var, admins), (stats_var, stats)):
        if isinstance(users, Unresolved):
            continue
        if not isinstance(users, list):
            errors.append("%s must be a list of {name, password}" % var)
            continue
        for index, user in enumerate(users):
            where = "%s[%d]" % (var, index)
            if not isinstance(user, Mapping) or not isinstance(user.get("name"), str) or not user["name"]:
                errors.append("%s: needs a name, e.g. {name: pgbouncer_admin, password: ...}" % where)
                continue
            errors += secret_errors(
                "%s (%s).password" % (where, user["name"]), user.get("password"), user=user["name"], lab=lab
            )
    return errors


# --- pgBackRest ----------------------------------------------------------------------------


def check_pgbackrest(hvars, lab):
    if "keel_pgbackrest_stanza" not in hvars:
        return []
    errors = []
    name, stanza = _pick(hvars, "pgbackrest_stanza", "keel_pgbackrest_stanza", "")
    if not isinstance(stanza, str) or not STANZA_RE.match(stanza):
        errors.append("%s=%r must be a name of letters, digits, _ . - (e.g. the cluster name)" % (name, stanza))
    name, bucket = _pick(hvars, "pgbackrest_s3_bucket", "keel_pgbackrest_s3_bucket", "")
    if not isinstance(bucket, str) or not BUCKET_RE.match(bucket):
        errors.append("%s=%r is not a valid S3 bucket name (3-63 of a-z 0-9 . -)" % (name, bucket))
    name, region = _pick(hvars, "pgbackrest_s3_region", "keel_pgbackrest_s3_region", "")
    if not region:
        errors.append("%s is not set: set the bucket's region, e.g. us-east-1" % name)
    name, style = _pick(hvars, "pgbackrest_s3_uri_style", "keel_pgbackrest_s3_uri_style", "host")
    if style not in ("host", "path"):
        errors.append("%s=%r must be host or path" % (name, style))
    key_type_var, key_type = _pick(hvars, "pgbackrest_s3_key_type", "keel_pgbackrest_s3_key_type", "shared")
    if key_type not in ("shared", "auto"):
        errors.append("%s=%r must be shared (key and secret) or auto (an EC2 instance role)" % (key_type_var, key_type))
    elif key_type == "shared":
        name, key = _pick(hvars, "pgbackrest_s3_key", "keel_pgbackrest_s3_key", "")
        if not key:
            errors.append(
                "%s is not set but %s=shared: set the access key (from the vault) or use %s=auto for an EC2 "
                "instance role" % (name, key_type_var, key_type_var)
            )
        name, secret = _pick(hvars, "pgbackrest_s3_key_secret", "keel_pgbackrest_s3_key_secret", "")
        errors += secret_errors(name, secret, lab=lab)
    for var in ("pgbackrest_retention_full", "pgbackrest_retention_diff", "pgbackrest_retention_archive"):
        if var in hvars and (_as_int(hvars[var]) is None or _as_int(hvars[var]) < 1):
            errors.append(
                "%s=%r must be a whole number of at least 1 (0 would expire every backup)" % (var, hvars[var])
            )
    full_type = hvars.get("pgbackrest_retention_full_type", "time")
    if full_type not in ("count", "time"):
        errors.append("pgbackrest_retention_full_type=%r must be count or time" % (full_type,))
    queue = hvars.get("pgbackrest_archive_push_queue_max", "4GiB")
    if not QUEUE_RE.match(str(queue)):
        errors.append(
            "pgbackrest_archive_push_queue_max=%r must be a size such as 4GiB (it bounds pg_wal when S3 is "
            "unreachable)" % (queue,)
        )
    compress = hvars.get("pgbackrest_compress_type", "lz4")
    if compress not in ("gz", "bz2", "lz4", "zst", "none"):
        errors.append("pgbackrest_compress_type=%r must be one of gz, bz2, lz4, zst, none" % (compress,))
    cipher = hvars.get("pgbackrest_cipher_type", "aes-256-cbc")
    strict_var, strict = _pick(hvars, "pgbackrest_strict", "keel_compliance_strict", True)
    if cipher not in ("aes-256-cbc", "none"):
        errors.append("pgbackrest_cipher_type=%r must be aes-256-cbc or none" % (cipher,))
    elif cipher == "none" and strict is not False:
        errors.append(
            "pgbackrest_cipher_type=none with %s=%r: compliance mode needs an encrypted repository; "
            "set pgbackrest_cipher_type: aes-256-cbc" % (strict_var, strict)
        )
    if strict is not False and hvars.get("pgbackrest_s3_verify_tls", True) is False:
        errors.append(
            "pgbackrest_s3_verify_tls=false with %s=%r: compliance mode verifies the S3 endpoint's certificate; "
            "give the endpoint's CA in keel_pgbackrest_s3_ca_file_src instead" % (strict_var, strict)
        )
    if cipher == "aes-256-cbc":
        name, passphrase = _pick(hvars, "pgbackrest_cipher_pass", "keel_pgbackrest_cipher_pass", "")
        errors += secret_errors(name, passphrase, min_length=CIPHER_MIN_LENGTH, lab=lab)
    return errors


# --- Patroni, etcd, Redis, TLS secrets -----------------------------------------------------


def check_secret_table(hvars, table, lab):
    errors = []
    for role_var, keel_var, user, min_length, required in table:
        name, value = _pick(hvars, role_var, keel_var, "")
        if role_var and name == role_var and keel_var:
            name = "%s (keel: %s)" % (role_var, keel_var)
        errors += secret_errors(name, value, user=user, min_length=min_length, lab=lab, required=required)
    return errors


def check_redis(hvars, lab):
    errors = []
    users = []
    for password_var, user_var, default_user in REDIS_USERS:
        user = hvars.get(user_var, default_user)
        users.append(user)
        errors += secret_errors(
            password_var, hvars.get(password_var, ""), user=user, min_length=REDIS_MIN_LENGTH, lab=lab
        )
    extra = hvars.get("redis_cluster_extra_users", [])
    if not isinstance(extra, list):
        errors.append("redis_cluster_extra_users must be a list of {name, password, acl}")
        extra = []
    for index, entry in enumerate(extra):
        where = "redis_cluster_extra_users[%d]" % index
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
            errors.append("%s: needs a name, a password and acl rules" % where)
            continue
        users.append(entry["name"])
        errors += secret_errors(
            "%s (%s).password" % (where, entry["name"]),
            entry.get("password"),
            user=entry["name"],
            min_length=REDIS_MIN_LENGTH,
            lab=lab,
        )
    clashes = sorted({u for u in users if users.count(u) > 1 or u == "default"}, key=str)
    if clashes:
        errors.append(
            "Redis ACL user names %s clash (with each other or with the disabled 'default' user): give "
            "redis_cluster_admin_user, redis_cluster_replication_user, redis_cluster_app_user and the names of "
            "redis_cluster_extra_users distinct values" % ", ".join(map(str, clashes))
        )
    errors += check_redis_sizes(hvars)
    replicas = hvars.get("redis_cluster_replicas", 1)
    if _as_int(replicas) is None:
        errors.append(
            "redis_cluster_replicas=%r must be a whole number of replicas per master (at least 1)" % (replicas,)
        )
    ports = hvars.get("redis_cluster_ports", [7000, 7001])
    offset = _as_int(hvars.get("redis_cluster_bus_port_offset", 10000))
    ints = [_as_int(p) for p in ports] if isinstance(ports, list) else [None]
    if not ints or None in ints or len(set(ints)) != len(ints) or min(ints) < 1024 or max(ints) + (offset or 0) > 65535:
        errors.append(
            "redis_cluster_ports=%r must be distinct ports >= 1024 whose bus ports (+ redis_cluster_bus_port_offset="
            "%r) stay <= 65535" % (ports, offset)
        )
    return errors


def check_redis_sizes(hvars):
    """Types and ranges of the Redis memory inputs a host's inventory gives (the planner does the sums)."""
    errors = []
    for name in REDIS_MEMORY_MB:
        if name in hvars and (_as_int(hvars[name]) is None or _as_int(hvars[name]) < 0):
            errors.append(
                "%s=%r must be a whole number of MB, 0 or more (0: %s)"
                % (name, hvars[name], "sized by the role" if name in REDIS_MEMORY_MB[:2] else "none reserved")
            )
    maxmemory = _as_int(hvars.get("redis_cluster_maxmemory_mb", 0))
    if maxmemory is not None and 0 < maxmemory < REDIS_MIN_MAXMEMORY_MB:
        errors.append(
            "redis_cluster_maxmemory_mb=%d is below %d MB per instance: give at least %d or leave it at 0 "
            "(sized from the RAM left after PostgreSQL)" % (maxmemory, REDIS_MIN_MAXMEMORY_MB, REDIS_MIN_MAXMEMORY_MB)
        )
    for name, low_open, high_open, example in (
        ("redis_cluster_maxmemory_fraction", True, False, "greater than 0 and at most 1, e.g. 0.6"),
        ("redis_cluster_postgres_reserved_fraction", False, True, "at least 0 and below 1, e.g. 0.5"),
    ):
        if name not in hvars:
            continue
        value = _as_fraction(hvars[name])
        if value is None or value < 0 or value > 1 or (low_open and value == 0) or (high_open and value == 1):
            errors.append("%s=%r must be a fraction %s" % (name, hvars[name], example))
    return errors


# --- timings and lifetimes the role preflights would refuse late ------------------------------


def _numbers(hvars, defaults):
    """(values, errors): the inventory's values over the role defaults, as ints; None when none is set."""
    given = [hvars[name] for name in defaults if name in hvars]
    if not given or any(isinstance(value, Unresolved) for value in given):
        return None, []
    values, errors = {}, []
    for name, default in defaults.items():
        value = hvars.get(name, default)
        number = _as_int(value)
        if number is None:
            errors.append("%s=%r must be a whole number (default %d)" % (name, value, default))
        values[name] = number
    return (None if errors else values), errors


def check_patroni_timings(hvars):
    """What roles/patroni/tasks/preflight.yml refuses, before any host: Patroni 4 would adjust these silently."""
    v, errors = _numbers(hvars, PATRONI_TIMINGS)
    if v is None:
        return errors
    ttl, loop, retry = v["patroni_ttl"], v["patroni_loop_wait"], v["patroni_retry_timeout"]
    if ttl < 20 or loop < 1 or retry < 3 or loop + 2 * retry > ttl or v["patroni_primary_start_timeout"] < 0:
        errors.append(
            "patroni_ttl=%d, patroni_loop_wait=%d, patroni_retry_timeout=%d, patroni_primary_start_timeout=%d: "
            "Patroni 4 needs ttl >= 20, loop_wait >= 1, retry_timeout >= 3, loop_wait + 2 x retry_timeout <= ttl "
            "and primary_start_timeout >= 0 (it would adjust the values silently); raise patroni_ttl or lower the "
            "others" % (ttl, loop, retry, v["patroni_primary_start_timeout"])
        )
    return errors


def check_etcd_timings(hvars):
    v, errors = _numbers(hvars, ETCD_TIMINGS)
    if v is None:
        return errors
    if v["etcd_election_timeout"] < 5 * v["etcd_heartbeat_interval"]:
        errors.append(
            "etcd_election_timeout=%d must be at least 5 x etcd_heartbeat_interval=%d (etcd's tuning guide): "
            "raise etcd_election_timeout to %d or lower the heartbeat"
            % (v["etcd_election_timeout"], v["etcd_heartbeat_interval"], 5 * v["etcd_heartbeat_interval"])
        )
    if v["etcd_client_port"] == v["etcd_peer_port"]:
        errors.append(
            "etcd_client_port=%d equals etcd_peer_port: give clients and peers different ports (2379, 2380)"
            % v["etcd_client_port"]
        )
    return errors


def check_tls_lifetimes(hvars):
    v, errors = _numbers(hvars, TLS_LIFETIMES)
    if v is None:
        return errors
    cert, renew = v["tls_cert_valid_days"], v["tls_renew_days"]
    ca, ca_renew = v["tls_ca_valid_days"], v["tls_ca_renew_days"]
    if not (cert > renew > 0 and ca > ca_renew > 0 and ca > cert):
        errors.append(
            "tls_cert_valid_days=%d must exceed tls_renew_days=%d (> 0), tls_ca_valid_days=%d must exceed "
            "tls_ca_renew_days=%d (> 0) and tls_cert_valid_days; otherwise every run would re-issue the certificates"
            % (cert, renew, ca, ca_renew)
        )
    return errors


# --- everything ------------------------------------------------------------------------------


def validate(groups, hosts, lab=False, regions=None):
    """All controller checks. hosts: host -> {variable: plain value} for the variables the inventory sets."""
    errors = []
    _add(errors, check_versions(groups, hosts))
    _add(errors, check_member_names(groups, hosts))
    _add(errors, check_region_keys(groups, hosts, regions))
    for host in _hosts_of(groups, POSTGRES_GROUPS):
        hvars = hosts.get(host) or {}
        if "postgresql_users" in hvars:
            _add(errors, check_users(hvars["postgresql_users"], lab))
        if hvars.get("keel_postgresql_manager") == "patroni":
            _add(errors, check_secret_table(hvars, PATRONI_SECRETS, lab))
            _add(errors, check_patroni_timings(hvars))
        _add(errors, check_pgbackrest(hvars, lab))
    for host in _hosts_of(groups, ("pgbouncer",)):
        _add(errors, check_pgbouncer(hosts.get(host) or {}, lab))
    for host in _hosts_of(groups, ("etcd",)):
        _add(errors, check_secret_table(hosts.get(host) or {}, ETCD_SECRETS, lab))
        _add(errors, check_etcd_timings(hosts.get(host) or {}))
    for host in _hosts_of(groups, ("redis",)):
        _add(errors, check_redis(hosts.get(host) or {}, lab))
    for host in _hosts_of(groups, ("all",)):
        hvars = hosts.get(host) or {}
        _add(errors, check_tls_lifetimes(hvars))
        _add(
            errors,
            secret_errors("tls_ca_key_passphrase", hvars.get("tls_ca_key_passphrase", ""), lab=lab, required=False),
        )
    return errors


__all__ = ["SECRET", "UNRESOLVED", "VARIABLES", "validate"]
