from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from ansible_collections.keel.postgres.plugins.module_utils import inventory_checks
from ansible_collections.keel.postgres.plugins.module_utils.inventory_checks import UNRESOLVED, validate

ROOT = pathlib.Path(__file__).resolve().parents[4]

PW = "Zq8-vKd2_LmPz7Rt0wX3"
GROUPS = {
    "all": ["a", "b", "c", "d"],
    "etcd": ["a", "b", "c"],
    "postgres": ["a", "b", "c"],
    "postgres_dr": ["d"],
    "pgbouncer": ["a", "b", "c", "d"],
    "redis": ["a", "b", "c"],
}
COMMON = {
    "keel_postgresql_manager": "patroni",
    "keel_regions": {"r1": {"sync": True, "failover_priority": 1}, "dr": {"failover_priority": 1}},
    "keel_patroni_superuser_password": PW + "1",
    "keel_patroni_replication_password": PW + "2",
    "keel_patroni_rewind_password": PW + "3",
    "keel_patroni_restapi_password": PW + "4",
    "keel_etcd_root_password": PW + "5",
    "keel_etcd_patroni_password": PW + "6",
    "keel_pgbouncer_auth_password": PW + "7",
    "keel_pgbouncer_admin_users": [{"name": "pgbouncer_admin", "password": PW + "8"}],
    "keel_pgbouncer_pools": [{"database": "app", "pool_size": 20, "reserve_pool": 5, "max_db_connections": 80}],
    "postgresql_databases": [{"name": "app"}],
    "postgresql_users": [{"name": "app_user", "kind": "app_rw", "database": "app", "password": PW + "9"}],
    "keel_pgbackrest_stanza": "main",
    "keel_pgbackrest_s3_bucket": "keel-backups",
    "keel_pgbackrest_s3_region": "us-east-1",
    "keel_pgbackrest_s3_key_type": "auto",
    "keel_pgbackrest_cipher_pass": PW + "10",
    "redis_cluster_admin_password": PW + "11",
    "redis_cluster_replication_password": PW + "12",
    "redis_cluster_app_password": PW + "13",
}


def _hosts(**changes):
    hosts = {h: dict(copy.deepcopy(COMMON), keel_region="r1") for h in "abc"}
    hosts["d"] = dict(copy.deepcopy(COMMON), keel_region="dr")
    for key, value in changes.items():
        host, _sep, name = key.partition("__")
        if not name:
            for hvars in hosts.values():
                hvars[key] = value
        else:
            hosts[host][name] = value
    return hosts


def _errors(lab=False, **changes):
    hosts = _hosts(**changes)
    return validate(GROUPS, hosts, lab=lab, regions=hosts["a"]["keel_regions"])


def test_good_inventory():
    assert _errors() == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"keel_patroni_superuser_password": "short"}, "keel_patroni_superuser_password=<secret> is refused"),
        (
            {"patroni_superuser_password": "CHANGE-ME"},
            "patroni_superuser_password (keel: keel_patroni_superuser_password)",
        ),
        ({"keel_etcd_root_password": ""}, "keel_etcd_root_password is not set"),
        ({"redis_cluster_app_password": "fifteen-chars-x"}, "redis_cluster_app_password=<secret>"),
        ({"keel_pgbackrest_cipher_pass": "a" * 19}, "keel_pgbackrest_cipher_pass=<secret>"),
        ({"tls_ca_key_passphrase": "letmein"}, "tls_ca_key_passphrase=<secret>"),
        ({"keel_pgbouncer_admin_users": []}, "keel_pgbouncer_admin_users is empty"),
        ({"postgresql_users": [{"name": "app_user", "kind": "root", "password": PW}]}, "kind='root'"),
        ({"postgresql_users": [{"name": "x", "kind": "backup", "password": PW}] * 2}, "user names must be unique"),
        ({"postgresql_users": "nope"}, "postgresql_users='str' must be a list"),
        ({"keel_connection_budget": 50}, "(keel_connection_budget=50)"),
        ({"postgresql_connection_budget": 70}, "postgresql_connection_budget=70 differs"),
        ({"pgbouncer_extra_settings": {"nope": 1}}, "pgbouncer_extra_settings.nope"),
        ({"keel_pgbackrest_s3_bucket": "Bad_Bucket"}, "keel_pgbackrest_s3_bucket='Bad_Bucket'"),
        ({"keel_pgbackrest_s3_key_type": "shared"}, "keel_pgbackrest_s3_key is not set"),
        ({"pgbackrest_retention_diff": "0"}, "pgbackrest_retention_diff='0'"),
        ({"pgbackrest_cipher_type": "none"}, "pgbackrest_cipher_type=none with keel_compliance_strict"),
        ({"pgbackrest_s3_verify_tls": False}, "pgbackrest_s3_verify_tls=false"),
        ({"pgbackrest_archive_push_queue_max": "lots"}, "pgbackrest_archive_push_queue_max='lots'"),
        ({"redis_cluster_app_user": "admin"}, "Redis ACL user names admin clash"),
        ({"redis_cluster_ports": [7000, 7000]}, "redis_cluster_ports=[7000, 7000]"),
        ({"keel_postgresql_version": 12}, "keel_postgresql_version=12 is not a supported"),
        ({"postgresql_version": 16}, "postgresql_version=16 disagrees with keel_postgresql_version=15"),
        ({"keel_postgresql_version": 16, "pgbackrest_pg_version": "15"}, "pgbackrest_pg_version='15' disagrees"),
        ({"d__patroni_name": "a"}, "host d: patroni_name='a' is also the Patroni member name of a"),
        ({"b__keel_region": "r2"}, "keel_regions has no entry for region 'r2' of b"),
    ],
)
def test_refused(changes, expected):
    errors = _errors(**changes)
    assert any(expected in e for e in errors), errors


def test_region_key_typo():
    hosts = _hosts()
    regions = {"r1": {"sync": True}, "dr": {}, "r1-typo": {"sync": True}}
    errors = validate(GROUPS, hosts, regions=regions)
    assert errors == [
        "keel_regions['r1-typo'] is the region of no host (hosts' regions: dr, r1): fix the typo in the key "
        "or remove the entry"
    ]


@pytest.mark.parametrize("version", [15, "15", 17])
def test_agreeing_versions(version):
    assert (
        _errors(keel_postgresql_version=version, postgresql_version=version, patroni_postgresql_version=version) == []
    )


def test_lab_values_only_in_the_lab():
    changes = {"keel_patroni_rewind_password": "lab-only-pg-rewinder-not-secret"}
    assert _errors(lab=True, **changes) == []
    assert "throw-away value of the lab inventory" in _errors(**changes)[0]


def test_unresolved_secrets_are_left_to_the_hosts():
    assert _errors(keel_patroni_superuser_password=UNRESOLVED, postgresql_users=UNRESOLVED) == []


def test_one_message_for_a_value_shared_by_every_host():
    errors = _errors(keel_etcd_root_password="short")
    assert len(errors) == 1


def test_standalone_needs_no_patroni_secrets():
    assert _errors(keel_postgresql_manager="standalone", keel_patroni_restapi_password="") == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"a__redis_cluster_memory_total_mb": "lots"}, "redis_cluster_memory_total_mb='lots' must be a whole number"),
        ({"redis_cluster_maxmemory_mb": -1}, "redis_cluster_maxmemory_mb=-1 must be a whole number of MB"),
        ({"redis_cluster_maxmemory_mb": 8}, "redis_cluster_maxmemory_mb=8 is below 16 MB per instance"),
        ({"redis_cluster_os_reserved_mb": 1.5}, "redis_cluster_os_reserved_mb=1.5 must be a whole number"),
        ({"redis_cluster_postgres_reserved_mb": True}, "redis_cluster_postgres_reserved_mb=True must be"),
        ({"redis_cluster_maxmemory_fraction": 0}, "redis_cluster_maxmemory_fraction=0 must be a fraction greater"),
        ({"redis_cluster_maxmemory_fraction": "1.5"}, "redis_cluster_maxmemory_fraction='1.5' must be a fraction"),
        ({"redis_cluster_postgres_reserved_fraction": 1}, "redis_cluster_postgres_reserved_fraction=1 must be"),
        ({"redis_cluster_postgres_reserved_fraction": "half"}, "redis_cluster_postgres_reserved_fraction='half'"),
        ({"redis_cluster_replicas": "one"}, "redis_cluster_replicas='one' must be a whole number"),
    ],
)
def test_refused_redis_sizes(changes, expected):
    errors = _errors(**changes)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    "changes",
    [
        {"redis_cluster_memory_total_mb": 8192, "redis_cluster_maxmemory_mb": 1024},
        {"redis_cluster_maxmemory_mb": "16", "redis_cluster_os_reserved_mb": 0},
        {"redis_cluster_maxmemory_fraction": 1, "redis_cluster_postgres_reserved_fraction": 0},
        {"redis_cluster_maxmemory_fraction": "0.6", "redis_cluster_postgres_reserved_fraction": 0.5},
        {"redis_cluster_maxmemory_mb": 0, "redis_cluster_memory_total_mb": 0, "redis_cluster_replicas": "1"},
    ],
)
def test_accepted_redis_sizes(changes):
    assert _errors(**changes) == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"patroni_retry_timeout": 10}, "patroni_ttl=20, patroni_loop_wait=2, patroni_retry_timeout=10"),
        ({"patroni_ttl": 10}, "Patroni 4 needs ttl >= 20"),
        ({"patroni_loop_wait": "soon"}, "patroni_loop_wait='soon' must be a whole number (default 2)"),
        ({"etcd_election_timeout": 300}, "etcd_election_timeout=300 must be at least 5 x etcd_heartbeat_interval=100"),
        ({"etcd_peer_port": 2379}, "etcd_client_port=2379 equals etcd_peer_port"),
        ({"tls_renew_days": 400}, "tls_cert_valid_days=365 must exceed tls_renew_days=400"),
        ({"tls_cert_valid_days": 4000}, "tls_ca_valid_days=3650 must exceed tls_ca_renew_days=180 (> 0) and"),
    ],
)
def test_refused_timings_and_lifetimes(changes, expected):
    errors = _errors(**changes)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    "changes",
    [
        {"patroni_ttl": 30, "patroni_loop_wait": 10, "patroni_retry_timeout": 10},
        {"patroni_ttl": "20"},
        {"etcd_heartbeat_interval": 200, "etcd_election_timeout": 1000},
        {"tls_cert_valid_days": 90, "tls_renew_days": 30},
        {"patroni_ttl": UNRESOLVED},
    ],
)
def test_accepted_timings_and_lifetimes(changes):
    assert _errors(**changes) == []


def test_patroni_timings_only_for_patroni_clusters():
    assert _errors(keel_postgresql_manager="standalone", patroni_ttl=5) == []


@pytest.mark.parametrize(
    "role, table",
    [
        ("patroni", inventory_checks.PATRONI_TIMINGS),
        ("etcd", inventory_checks.ETCD_TIMINGS),
        ("tls", inventory_checks.TLS_LIFETIMES),
    ],
)
def test_fallback_values_are_the_role_defaults(role, table):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    assert {name: defaults[name] for name in table} == table
