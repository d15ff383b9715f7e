"""The roles' own preflights apply the weak-secret policy, without the controller preflight.

A play that includes a role without site.yml (so without playbooks/preflight.yml) must refuse the
same weak secrets the controller preflight refuses: each role's preflight.yml runs here through
include_role (tasks_from: preflight.yml) against inventory hosts that are this machine (connection
local, no become), the way a user's own playbook would run it. Every preflight only reads.

Each weak case is one ansible-playbook run that sets, in every role at once, one kind of weak
secret (a common password, the example's CHANGE-ME placeholder, the login's own user name, a lab-only
value of the lab inventory without keel_lab_name, one character below the minimum length); each
role's preflight sits in a block whose rescue lets the next role run, so one run shows every role's
refusal. A refusal must name the variable (the role variable and the inventory variable it comes
from), show <secret>, give the reason, and no weak value may appear anywhere in the output (the
messages are not hidden by no_log: they are read from ansible-core's "[ERROR]: Task failed" line).

Two control runs on three hosts pass every preflight: random secrets of exactly the minimum lengths
of the controller preflight (plugins/module_utils/inventory_checks.py), with one host using none of
the optional secrets (S3 key type auto, no repository encryption, no CA key passphrase); and the lab
inventory's lab-only values in an inventory that defines keel_lab_name. The runs are independent
and run in a thread pool once for the module.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import secrets
import time

import pytest
import yaml
from localplay import LOCAL_HOST, ROOT, run_playbook

from ansible_collections.keel.postgres.plugins.module_utils.inventory_checks import (
    CIPHER_MIN_LENGTH,
    ETCD_SECRETS,
    PATRONI_SECRETS,
    REDIS_MIN_LENGTH,
)
from ansible_collections.keel.postgres.plugins.module_utils.secrets_policy import DEFAULT_MIN_LENGTH

LAB_VARS = ROOT / "inventories" / "lab" / "group_vars" / "all"
ROLES = ("tls", "etcd", "patroni", "postgresql", "pgbouncer", "pgbackrest", "redis_cluster")
HOSTS = ("node-a", "node-b", "node-c")
# The minimum lengths of the controller preflight: the roles must use the same.
PATRONI_MIN = {entry[1]: entry[3] for entry in PATRONI_SECRETS}
ETCD_MIN = {entry[1]: entry[3] for entry in ETCD_SECRETS}
SECRET = "<secret>"

# Non-secret inputs every preflight accepts on this machine.
BASE = {
    **LOCAL_HOST,
    "keel_address": "127.0.0.1",
    "keel_cluster_name": "secrets",
    "keel_postgresql_manager": "patroni",
    "keel_pgbackrest_stanza": "secrets",
    "keel_pgbackrest_s3_bucket": "keel-secret-policy",
    "keel_pgbackrest_s3_region": "us-east-1",
    "keel_pgbackrest_s3_key": "AKIAKEELSECRETPOLICY",
    "postgresql_databases": [{"name": "app", "schemas": ["app"]}],
    "keel_pgbouncer_pools": [
        {"database": "app", "pool_size": 20, "min_pool_size": 2, "reserve_pool": 5, "max_db_connections": 80}
    ],
}


def _random(length):
    return secrets.token_urlsafe(48)[:length]


def _strong():
    """Random secrets of exactly the controller preflight's minimum lengths."""
    return {
        **{name: _random(length) for name, length in {**PATRONI_MIN, **ETCD_MIN}.items()},
        "keel_pgbouncer_auth_password": _random(DEFAULT_MIN_LENGTH),
        "keel_pgbouncer_admin_users": [{"name": "pgbouncer_admin", "password": _random(DEFAULT_MIN_LENGTH)}],
        "keel_pgbouncer_stats_users": [{"name": "pgbouncer_stats", "password": _random(DEFAULT_MIN_LENGTH)}],
        "postgresql_users": [
            {"name": "app_user", "kind": "app_rw", "database": "app", "password": _random(DEFAULT_MIN_LENGTH)},
            {"name": "replicator", "kind": "replication", "password": _random(DEFAULT_MIN_LENGTH)},
        ],
        "keel_pgbackrest_s3_key_secret": _random(DEFAULT_MIN_LENGTH),
        "keel_pgbackrest_cipher_pass": _random(CIPHER_MIN_LENGTH),
        "redis_cluster_admin_password": _random(REDIS_MIN_LENGTH),
        "redis_cluster_replication_password": _random(REDIS_MIN_LENGTH),
        "redis_cluster_app_password": _random(REDIS_MIN_LENGTH),
        "tls_ca_key_passphrase": _random(DEFAULT_MIN_LENGTH),
    }


def _lab_secrets():
    """The lab inventory's secrets (lab-only values), read from its group_vars."""
    values = {}
    for name in ("patroni", "pgbouncer", "pgbackrest", "redis", "postgresql"):
        values.update(yaml.safe_load((LAB_VARS / ("%s.yml" % name)).read_text()))
    wanted = set(_strong()) | {"keel_pgbackrest_s3_key"}
    lab = {name: value for name, value in values.items() if name in wanted}
    # The lab leaves its CA key unencrypted: a lab-style passphrase for the tls role.
    lab["tls_ca_key_passphrase"] = "lab-only-ca-key-passphrase-not-secret"
    return lab


# Labels the messages must carry: the role variable and the inventory variable it comes from.
TLS = "tls_ca_key_passphrase"
ETCD_ROOT = "etcd_root_password (keel_etcd_root_password)"
ETCD_PATRONI = "etcd_users[0] (patroni).password (keel_etcd_patroni_password)"
PATRONI = "patroni_%s_password (keel_patroni_%s_password)"
PATRONI_ETCD = "patroni_etcd_password (keel_etcd_patroni_password)"
PG_USER = "postgresql_users[%d] (%s).password"
PGB_AUTH = "pgbouncer_auth_password (keel_pgbouncer_auth_password)"
PGB_USERS = "pgbouncer_%s_users[0] (pgbouncer_%s).password (keel_pgbouncer_%s_users)"
S3_SECRET = "pgbackrest_s3_key_secret (keel_pgbackrest_s3_key_secret)"
CIPHER = "pgbackrest_cipher_pass (keel_pgbackrest_cipher_pass)"
REDIS = "redis_cluster_%s_password"

COMMON = "it is a common password"
PLACEHOLDER = "it is a placeholder of the example inventory (CHANGE-ME)"
USER_NAME = "it is the login's own user name"
LAB_ONLY = "it is a throw-away value of the lab inventory"


def _short(length):
    return "it has %d characters, fewer than the %d required" % (length - 1, length)


def _weak_cases():
    """case id -> (overrides of the strong secrets, {role: [(label, reason), ...]})."""
    strong = _strong()
    placeholder = "CHANGE-ME-CHANGE-ME-CHANGE-ME"
    cases = {
        # Long enough for the old length-only checks, found in every password list.
        "common": (
            {
                "tls_ca_key_passphrase": "Password123456",
                "keel_etcd_root_password": "Welcome12345678",
                "keel_patroni_superuser_password": "Postgres2024-2025",
                "postgresql_users": [dict(strong["postgresql_users"][0], password="Password123456")],
                "keel_pgbouncer_auth_password": "Letmein1234567",
                "keel_pgbackrest_cipher_pass": "Password123456789012",
                "redis_cluster_admin_password": "Qwerty1234567890",
            },
            {
                "tls": [(TLS, COMMON)],
                "etcd": [(ETCD_ROOT, COMMON)],
                "patroni": [(PATRONI % ("superuser", "superuser"), COMMON)],
                "postgresql": [(PG_USER % (0, "app_user"), COMMON)],
                "pgbouncer": [(PGB_AUTH, COMMON)],
                "pgbackrest": [(CIPHER, COMMON)],
                "redis_cluster": [(REDIS % "admin", COMMON)],
            },
        ),
        # The example inventory's vault.yml.example left as it is, and longer spellings of it.
        "placeholder": (
            {
                "tls_ca_key_passphrase": "CHANGE-ME",
                "keel_etcd_patroni_password": placeholder,
                "postgresql_users": [dict(strong["postgresql_users"][0], password="CHANGE-ME")],
                "keel_pgbouncer_admin_users": [{"name": "pgbouncer_admin", "password": placeholder}],
                "keel_pgbackrest_s3_key_secret": "CHANGE-ME",
                "redis_cluster_replication_password": placeholder,
            },
            {
                "tls": [(TLS, PLACEHOLDER)],
                "etcd": [(ETCD_PATRONI, PLACEHOLDER)],
                "patroni": [(PATRONI_ETCD, PLACEHOLDER)],
                "postgresql": [(PG_USER % (0, "app_user"), PLACEHOLDER)],
                "pgbouncer": [(PGB_USERS % ("admin", "admin", "admin"), PLACEHOLDER)],
                "pgbackrest": [(S3_SECRET, PLACEHOLDER)],
                "redis_cluster": [(REDIS % "replication", PLACEHOLDER)],
            },
        ),
        # The login's own name (spelt differently where the message names the login, so that the
        # value itself never appears in the output); tls and pgbackrest secrets belong to no login.
        "user-name": (
            {
                "etcd_users": [{"name": "keel_dcs_client", "password": "Keel-DCS-Client", "prefix": "/service/"}],
                "patroni_restapi_username": "keel_rest_operator",
                "keel_patroni_restapi_password": "keel_rest_operator",
                "postgresql_users": [
                    dict(strong["postgresql_users"][0], name="app_user_login", password="App-User-Login")
                ],
                "pgbouncer_auth_user": "keel_pool_lookup",
                "keel_pgbouncer_auth_password": "keel_pool_lookup",
                "redis_cluster_app_user": "keel_cache_application",
                "redis_cluster_app_password": "keel_cache_application",
            },
            {
                "etcd": [("etcd_users[0] (keel_dcs_client).password", USER_NAME)],
                "patroni": [(PATRONI % ("restapi", "restapi"), USER_NAME)],
                "postgresql": [(PG_USER % (0, "app_user_login"), USER_NAME)],
                "pgbouncer": [(PGB_AUTH, USER_NAME)],
                "redis_cluster": [(REDIS % "app", USER_NAME)],
            },
        ),
        # Every secret of the lab inventory, in an inventory that does not define keel_lab_name.
        "lab-only-outside-the-lab": (
            _lab_secrets(),
            {
                "tls": [(TLS, LAB_ONLY)],
                "etcd": [(ETCD_ROOT, LAB_ONLY), (ETCD_PATRONI, LAB_ONLY)],
                "patroni": [(PATRONI % (n, n), LAB_ONLY) for n in ("restapi", "superuser", "replication", "rewind")]
                + [(PATRONI_ETCD, LAB_ONLY)],
                "postgresql": [
                    (PG_USER % (i, n), LAB_ONLY)
                    for i, n in enumerate(("app_user", "app_reader", "app_migrator", "monitor", "backup", "replicator"))
                ],
                "pgbouncer": [(PGB_AUTH, LAB_ONLY)] + [(PGB_USERS % (k, k, k), LAB_ONLY) for k in ("admin", "stats")],
                "pgbackrest": [(S3_SECRET, LAB_ONLY), (CIPHER, LAB_ONLY)],
                "redis_cluster": [(REDIS % n, LAB_ONLY) for n in ("admin", "replication", "app")],
            },
        ),
        # One character below the controller preflight's minimum for that secret.
        "below-the-minimum-length": (
            {
                "tls_ca_key_passphrase": _random(DEFAULT_MIN_LENGTH - 1),
                "keel_etcd_root_password": _random(ETCD_MIN["keel_etcd_root_password"] - 1),
                "keel_patroni_rewind_password": _random(PATRONI_MIN["keel_patroni_rewind_password"] - 1),
                "postgresql_users": [dict(strong["postgresql_users"][0], password=_random(DEFAULT_MIN_LENGTH - 1))],
                "keel_pgbouncer_stats_users": [
                    {"name": "pgbouncer_stats", "password": _random(DEFAULT_MIN_LENGTH - 1)}
                ],
                "keel_pgbackrest_cipher_pass": _random(CIPHER_MIN_LENGTH - 1),
                "redis_cluster_app_password": _random(REDIS_MIN_LENGTH - 1),
            },
            {
                "tls": [(TLS, _short(DEFAULT_MIN_LENGTH))],
                "etcd": [(ETCD_ROOT, _short(ETCD_MIN["keel_etcd_root_password"]))],
                "patroni": [(PATRONI % ("rewind", "rewind"), _short(PATRONI_MIN["keel_patroni_rewind_password"]))],
                "postgresql": [(PG_USER % (0, "app_user"), _short(DEFAULT_MIN_LENGTH))],
                "pgbouncer": [(PGB_USERS % ("stats", "stats", "stats"), _short(DEFAULT_MIN_LENGTH))],
                "pgbackrest": [(CIPHER, _short(CIPHER_MIN_LENGTH))],
                "redis_cluster": [(REDIS % "app", _short(REDIS_MIN_LENGTH))],
            },
        ),
    }
    return {
        case_id: (dict(strong, **overrides), expected, overrides) for case_id, (overrides, expected) in cases.items()
    }


WEAK = _weak_cases()


def _playbook(path):
    """Every role's preflight in a block whose rescue lets the next role's preflight run."""
    tasks = [
        {
            "name": "Preflight of keel.postgres.%s" % role,
            "block": [
                {
                    "name": "Include the preflight of keel.postgres.%s" % role,
                    "ansible.builtin.include_role": {"name": "keel.postgres.%s" % role, "tasks_from": "preflight.yml"},
                }
            ],
            "rescue": [{"name": "Go on with the next role", "ansible.builtin.meta": "noop"}],
        }
        for role in ROLES
    ]
    play = {
        "name": "Role preflights without the controller preflight",
        "hosts": "all",
        "gather_facts": True,
        "gather_subset": ["!all", "min"],
        "tasks": tasks,
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def _run(tmp, case_id, variables, hosts, host_vars=None):
    directory = tmp / case_id
    directory.mkdir()
    common = dict(BASE, keel_tls_ca_dir=str(directory / "ca"), **variables)
    groups = {name: {"hosts": dict.fromkeys(hosts)} for name in ("etcd", "postgres", "pgbouncer", "redis")}
    inventory = {"all": {"vars": common, "hosts": {h: (host_vars or {}).get(h) for h in hosts}, "children": groups}}
    started = time.monotonic()
    result = run_playbook(directory, inventory, _playbook(directory / "preflights.yml"), timeout=600)
    return result, time.monotonic() - started


# The control run's third host uses none of the optional secrets.
OPTIONAL_UNSET = {
    "keel_pgbackrest_s3_key_type": "auto",
    "keel_pgbackrest_s3_key": "",
    "keel_pgbackrest_s3_key_secret": "",
    "pgbackrest_cipher_type": "none",
    "pgbackrest_strict": False,
    "keel_pgbackrest_cipher_pass": "",
    "tls_ca_key_passphrase": "",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """case id -> (CompletedProcess, seconds) of every run, in parallel."""
    tmp = tmp_path_factory.mktemp("role-secrets")
    jobs = {case_id: (variables, HOSTS[:1]) for case_id, (variables, _expected, _overrides) in WEAK.items()}
    jobs["control-strong"] = (_strong(), HOSTS, {HOSTS[2]: OPTIONAL_UNSET})
    jobs["control-lab"] = (dict(_strong(), keel_lab_name="secretpolicy", **_lab_secrets()), HOSTS)
    workers = max(2, min(4, (os.cpu_count() or 2) * 2))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {case_id: pool.submit(_run, tmp, case_id, *job) for case_id, job in jobs.items()}
        return {case_id: future.result() for case_id, future in futures.items()}


def _refusals(stdout):
    """role -> the messages of its failed tasks (ansible-core prints each on one "[ERROR]: Task failed" line)."""
    out = {}
    role = None
    for line in stdout.splitlines():
        task = re.match(r"^TASK \[keel\.postgres\.(\w+) : ", line)
        if task:
            role = task.group(1)
        elif line.startswith("TASK ["):
            role = None
        error = re.match(r"^\[ERROR\]: Task failed: (?:Action failed: )?(.*)$", line)
        if error:
            out.setdefault(role, []).append(error.group(1))
    return out


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _weak_values(overrides):
    """The weak secrets a case sets (not the names and prefixes around them)."""
    values = set()
    for name, value in overrides.items():
        if name.endswith(("_users", "_password", "_passphrase", "_pass", "_secret")):
            if isinstance(value, list):
                values.update(entry["password"] for entry in value if isinstance(entry.get("password"), str))
            elif isinstance(value, str):
                values.add(value)
    return {value for value in values if "{{" not in value}


@pytest.mark.parametrize(
    "case_id, role",
    [(case_id, role) for case_id, (_v, expected, _o) in WEAK.items() for role in ROLES if role in expected],
)
def test_a_weak_secret_is_refused_by_the_role_preflight(runs, case_id, role):
    result, _seconds = runs[case_id]
    output = result.stdout + result.stderr
    _variables, expected, overrides = WEAK[case_id]
    messages = _refusals(result.stdout).get(role, [])
    assert len(messages) == 1, "keel.postgres.%s: expected one refusal, got %r\n%s" % (role, messages, output[-6000:])
    segments = messages[0].split(" | ")
    for label, reason in expected[role]:
        segment = next((s for s in segments if (label + "=" + SECRET + " is refused: ") in s), None)
        assert segment, "%s not refused by keel.postgres.%s: %s" % (label, role, messages[0])
        assert reason in segment, segment
    # The message names the variables and shows <secret>: no weak value anywhere in the output (but for
    # the policy's own words: "a placeholder of the example inventory (CHANGE-ME)").
    shown = output.replace("(CHANGE-ME)", "")
    for value in _weak_values(overrides):
        assert value not in shown, "a weak value of %s appears in the output" % case_id


def test_every_role_refuses_at_least_one_weak_secret_of_each_applicable_kind():
    covered = {role for _v, expected, _o in WEAK.values() for role in expected}
    assert covered == set(ROLES)
    kinds = {case_id: set(expected) for case_id, (_v, expected, _o) in WEAK.items()}
    # tls and pgbackrest secrets belong to no login: every other kind covers every role.
    assert all(kinds[case_id] == set(ROLES) for case_id in kinds if case_id != "user-name")
    assert kinds["user-name"] == set(ROLES) - {"tls", "pgbackrest"}


@pytest.mark.parametrize("case_id", ["control-strong", "control-lab"])
def test_strong_secrets_and_the_lab_inside_the_lab_are_accepted(runs, case_id):
    """Random secrets of the minimum lengths (one host without the optional ones), and lab-only values
    where keel_lab_name is defined, pass every role preflight on all three hosts."""
    result, _seconds = runs[case_id]
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert _refusals(result.stdout) == {}, output[-6000:]
    recap = dict(
        re.findall(
            r"^(\S+)\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0\s+skipped=\d+\s+rescued=(\d+)",
            result.stdout,
            re.M,
        )
    )
    assert recap == dict.fromkeys(HOSTS, "0"), output[-6000:]
    for task in (
        "keel.postgres.tls : Refuse a weak CA key passphrase",
        "keel.postgres.etcd : Refuse weak etcd secrets",
        "keel.postgres.patroni : Refuse missing or weak secrets",
        "keel.postgres.postgresql : Refuse bad postgresql_users entries",
        "keel.postgres.pgbouncer : Refuse missing or weak secrets",
        "keel.postgres.pgbackrest : Refuse a weak S3 secret key or repository passphrase",
        "keel.postgres.redis_cluster : Refuse missing or weak ACL passwords",
        # The last tasks of the preflights: every check after the secrets passed too.
        "keel.postgres.postgresql : Record that this host passed the preflight in this run",
        "keel.postgres.redis_cluster : Record that this host passed the preflight in this run",
        "keel.postgres.patroni : Record that this member passed the preflight in this run",
    ):
        assert "TASK [%s]" % task in result.stdout, task
