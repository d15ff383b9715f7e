"""What the role leaves on every PostgreSQL host: the cluster, its files, the kernel settings and
the pg_hba rules as the server parsed them."""

from __future__ import annotations

import json

UNIT = "postgresql@15-keel"
CONF_DIR = "/etc/postgresql/15/keel"
BAD_METHODS = {"trust", "md5", "password", "ident"}


def _as_postgres(pg_host, sql):
    result = pg_host.run("runuser -u postgres -- psql -XAt -c %s", sql)
    assert result.rc == 0, result.stderr
    return result.stdout.strip()


def test_cluster_unit_runs_and_is_enabled(pg_host):
    unit = pg_host.service(UNIT)
    assert unit.is_running
    assert unit.is_enabled


def test_only_the_keel_cluster_exists(pg_host):
    clusters = json.loads(pg_host.check_output("pg_lsclusters --json"))
    assert [(c["version"], c["cluster"]) for c in clusters] == [(15, "keel")]
    assert pg_host.file("/etc/postgresql-common/createcluster.d/00-keel.conf").contains("^create_main_cluster = false")
    assert not pg_host.file("/var/lib/postgresql/15/main").exists


def test_files_have_safe_owners_and_modes(pg_host):
    hba = pg_host.file(CONF_DIR + "/pg_hba.conf")
    assert (hba.user, hba.group, hba.mode) == ("postgres", "postgres", 0o640)
    tuning = pg_host.file("/etc/keel/postgresql-tuning.json")
    assert (tuning.user, tuning.mode) == ("root", 0o644)
    key = pg_host.file("/etc/keel/tls/host.key")
    assert (key.user, key.group, key.mode) == ("root", "keel-tls", 0o640)
    assert "keel-tls" in pg_host.user("postgres").groups


def test_tuning_record_explains_every_value(pg_host):
    record = json.loads(pg_host.file("/etc/keel/postgresql-tuning.json").content_string)
    assert record["settings"] and all(item["reason"] for item in record["settings"].values())
    assert record["summary"]["max_connection_budget"] >= record["inputs"]["connection_budget"]
    assert "max_connections" in record["dcs_parameters"]


def test_kernel_settings_follow_the_sizing_and_the_redis_rule(pg_name, pg_host, inventory):
    name = pg_name
    record = json.loads(pg_host.file("/etc/keel/postgresql-tuning.json").content_string)
    sysctl = pg_host.file("/etc/sysctl.d/61-keel-postgresql.conf")
    assert sysctl.mode == 0o644
    assert sysctl.contains("^vm.nr_hugepages = %d$" % record["summary"]["vm_nr_hugepages"])
    assert sysctl.contains("^vm.swappiness = 1$")
    assert sysctl.contains("^vm.dirty_background_bytes = 67108864$")
    if name in inventory["redis"]["hosts"]:
        assert not sysctl.contains("^vm.overcommit_memory")  # Redis needs mode 1 (redis_cluster role)
    else:
        assert sysctl.contains("^vm.overcommit_memory = 2$")
        assert sysctl.contains("^vm.overcommit_ratio = %d$" % record["kernel"]["vm.overcommit_ratio"])
        assert 50 <= record["kernel"]["vm.overcommit_ratio"] <= 100
    # Containers share the host kernel: the file is written but not loaded.
    assert record["kernel_applied"] is False


def test_pg_hba_parses_cleanly_is_tls_only_and_ends_with_reject(pg_host):
    rules = json.loads(
        _as_postgres(
            pg_host,
            "SELECT json_agg(json_build_object('line', line_number, 'type', type, 'database', database,"
            " 'user', user_name, 'method', auth_method, 'error', error) ORDER BY line_number) FROM pg_hba_file_rules",
        )
    )
    assert [rule for rule in rules if rule["error"]] == []
    assert not {rule["method"] for rule in rules} & BAD_METHODS
    for rule in rules:
        if rule["type"] == "local":
            assert rule["method"] in ("peer", "reject"), rule
        elif rule["method"] != "reject":
            assert (rule["type"], rule["method"]) == ("hostssl", "scram-sha-256"), rule
    # Non-TLS TCP is refused first; everything else falls through to reject lines at the end.
    assert [(r["type"], r["method"]) for r in rules[:4]] == [("hostnossl", "reject")] * 4
    tail = rules[-5:]
    assert all(rule["method"] == "reject" for rule in tail)
    assert {(r["type"], r["database"][0], r["user"][0]) for r in tail} >= {
        ("host", "all", "all"),
        ("host", "replication", "all"),
        ("local", "all", "all"),
    }


def test_configuration_is_applied_without_errors_or_alter_system(pg_host):
    assert _as_postgres(pg_host, "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL") == "0"
    assert _as_postgres(pg_host, "SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"
    assert _as_postgres(pg_host, "SELECT count(*) FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf'") == "0"
    assert _as_postgres(pg_host, "SHOW ssl") == "on"
    assert _as_postgres(pg_host, "SHOW password_encryption") == "scram-sha-256"
    assert (
        _as_postgres(
            pg_host, "SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolpassword NOT LIKE 'SCRAM-SHA-256$%'"
        )
        == "0"
    )
