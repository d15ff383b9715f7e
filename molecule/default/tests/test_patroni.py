"""The Patroni clusters checked from outside: REST API over TLS, psql with verify-full, and
patronictl inside a member as an operator would run it. Read-only; the tests that change the
cluster are in test_zz_patroni_changes.py (run last)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import time
import uuid

import pytest
from conftest import INVENTORY, on_group
from labclient import (
    ALL_VARS,
    address,
    ansible_env,
    api,
    cluster,
    create_probe_table,
    docker_exec,
    leader,
    member_healthy,
    psql,
    wait_for_marker,
    write_marker,
)

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
DR = sorted(INVENTORY["postgres_dr"]["hosts"])
SCOPE = ALL_VARS["keel_cluster_name"]
DR_SCOPE = ALL_VARS["keel_dr_cluster_name"]
REGIONS = ALL_VARS["keel_regions"]
DR_SLOT = DR_SCOPE.replace("-", "_")


def _region(host):
    return INVENTORY["_meta"]["hostvars"][host]["keel_region"]


def _candidate(host):
    """The region model: a synchronous candidate may confirm commits and be promoted."""
    region = REGIONS[_region(host)]
    return bool(region.get("sync")) and region.get("failover_priority", 0) > 0


# With keel_archive_only_replicas (opt-in), the members that are not candidates replay from the archive
# (Patroni nostream); the lab leaves it off, so every member streams.
ARCHIVE_ONLY = [h for h in PRIMARY if not _candidate(h)] if ALL_VARS.get("keel_archive_only_replicas") else []


def test_primary_cluster_has_exactly_one_leader_in_the_primary_region():
    views = [cluster(host) for host in PRIMARY]
    for view in views:
        assert view["scope"] == SCOPE
        assert sorted(m["name"] for m in view["members"]) == PRIMARY
        leaders = [m["name"] for m in view["members"] if m["role"] == "leader"]
        assert len(leaders) == 1, view
        assert _region(leaders[0]) == ALL_VARS["keel_primary_region"]
        assert all(member_healthy(m) for m in view["members"]), view
        states = {m["name"]: m["state"] for m in view["members"] if m["role"] != "leader"}
        assert {h for h, state in states.items() if state == "in archive recovery"} == set(ARCHIVE_ONLY), states


def test_dr_cluster_is_a_standby_cluster_with_its_own_scope():
    for host in DR:
        view = cluster(host)
        assert view["scope"] == DR_SCOPE != SCOPE
        roles = {m["name"]: m["role"] for m in view["members"]}
        assert sorted(roles) == DR
        assert list(roles.values()).count("standby_leader") == 1, view
        status, _ = api(host, "/primary")
        assert status == 503, "a member of the DR cluster must never answer /primary"


def test_tags_follow_the_region_model():
    members = {m["name"]: m for m in cluster(PRIMARY[0])["members"]}
    for host in PRIMARY:
        region = REGIONS[_region(host)]
        tags = members[host].get("tags", {})
        assert tags.get("failover_priority") == region["failover_priority"], (host, tags)
        assert bool(tags.get("nosync", False)) == (not region["sync"]), (host, tags)
        assert tags.get("region") == _region(host)
        assert bool(tags.get("nostream", False)) is (host in ARCHIVE_ONLY), (host, tags)


def test_patronictl_lists_roles_and_tags():
    out = docker_exec(PRIMARY[0], "/opt/patroni/bin/patronictl", "-c", "/etc/patroni/patroni.yml", "list", "-f", "json")
    rows = {row["Member"]: row for row in json.loads(out.stdout)}
    assert sorted(rows) == PRIMARY
    by_region = {_region(host): rows[host] for host in PRIMARY}
    assert by_region["us-east-1"]["Role"] == "Leader"
    assert by_region["us-west-2"]["Role"] == "Sync Standby"
    assert by_region["eu-west-1"]["Role"] == "Sync Standby"
    assert by_region["ap-south-1"]["Role"] == "Replica"
    assert "nosync: true" in by_region["ap-south-1"]["Tags"] or by_region["ap-south-1"]["Tags"].get("nosync")


def test_dynamic_configuration_matches_the_inventory():
    status, config = api(PRIMARY[0], "/config")
    assert status == 200
    assert config["synchronous_mode"] in ("on", True)
    assert config["synchronous_node_count"] == ALL_VARS["keel_synchronous_node_count"] == 2
    assert config["synchronous_mode_strict"] is True
    assert config["failsafe_mode"] is True
    assert config["ttl"] >= 20 and config["loop_wait"] + 2 * config["retry_timeout"] <= config["ttl"]
    assert config["postgresql"]["use_pg_rewind"] is True and config["postgresql"]["use_slots"] is True
    assert config["slots"][DR_SLOT]["type"] == "physical"
    parameters = config["postgresql"]["parameters"]
    for name in ("max_connections", "max_worker_processes", "max_wal_senders", "max_replication_slots"):
        assert name in parameters, name


def test_leader_replicates_synchronously_to_two_regions_and_async_to_the_rest():
    primary = leader(PRIMARY[0])
    # Patroni writes `2 ("a","b")`: without a keyword PostgreSQL reads it as FIRST 2 (priority order).
    names = psql(primary, "SHOW synchronous_standby_names")
    match = re.match(r"^(FIRST )?2 \((.*)\)$", names)
    assert match, names
    listed = sorted(name.strip('"') for name in match.group(2).split(","))
    assert listed == sorted(h for h in PRIMARY if h != primary and REGIONS[_region(h)]["sync"]), names
    rows = dict(
        line.split("|")
        for line in psql(primary, "SELECT application_name, sync_state FROM pg_stat_replication").splitlines()
    )
    for host in PRIMARY:
        if host == primary:
            continue
        # An archive-only member has no walsender: it could confirm commits under '*'.
        expected = None if host in ARCHIVE_ONLY else ("sync" if REGIONS[_region(host)]["sync"] else "async")
        assert rows.get(host) == expected, rows
    for host in ARCHIVE_ONLY:
        receivers = psql(host, "SELECT count(*) FROM pg_stat_wal_receiver")
        assert receivers == "0", (host, receivers)
        assert psql(host, "SHOW restore_command").startswith("/usr/bin/pgbackrest"), host
    # The DR standby leader streams through the permanent slot and is never a sync standby.
    dr_rows = [name for name in rows if name in DR]
    assert len(dr_rows) == 1 and rows[dr_rows[0]] == "async", rows
    slot = psql(primary, "SELECT active, slot_type FROM pg_replication_slots WHERE slot_name = '%s'" % DR_SLOT)
    assert slot == "t|physical", slot


def test_a_committed_row_reaches_every_replica_and_the_dr_cluster():
    primary = leader(PRIMARY[0])
    marker = str(uuid.uuid4())
    create_probe_table(primary)
    write_marker(primary, marker)
    started = time.monotonic()
    for host in [h for h in PRIMARY + DR if h not in ARCHIVE_ONLY]:
        wait_for_marker(host, marker, timeout=60, what="the row on %s" % host)
    # The archive-only members get it once the segment is archived: archive_timeout (60 s) + push + get.
    for host in ARCHIVE_ONLY:
        wait_for_marker(host, marker, timeout=180, what="the row on %s (from the archive)" % host)
        print("%s replayed the row from the archive %.1f s after the commit" % (host, time.monotonic() - started))


def test_switchover_to_the_never_promoted_region_is_refused():
    primary = leader(PRIMARY[0])
    target = next(h for h in PRIMARY if REGIONS[_region(h)]["failover_priority"] == 0)
    status, reply = api(primary, "/switchover", "POST", {"leader": primary, "candidate": target}, auth=True)
    assert status in (400, 412), (status, reply)
    assert leader(PRIMARY[0]) == primary


def test_unauthenticated_writes_to_the_rest_api_are_refused():
    status, _ = api(PRIMARY[0], "/restart", "POST", {})
    assert status == 401
    status, _ = api(PRIMARY[0], "/config", "PATCH", {"ttl": 30})
    assert status == 401


@pytest.mark.parametrize("host", PRIMARY + DR)
def test_every_member_uses_tls_and_scram_only(host):
    assert psql(host, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == "t"
    assert psql(host, "SHOW password_encryption") == "scram-sha-256"


@on_group("postgres")
def test_patroni_is_the_pypi_release_in_its_venv(lab_host):
    assert lab_host.run("/opt/patroni/bin/patroni --version").stdout.strip() == "patroni 4.1.5"
    assert not lab_host.package("patroni").is_installed
    config = lab_host.file("/etc/patroni/patroni.yml")
    assert config.user == "root" and config.group == "postgres" and config.mode == 0o640
    unit = lab_host.file("/etc/systemd/system/patroni.service")
    assert unit.contains("^User=postgres") and unit.contains("KillMode=process")
    assert lab_host.service("patroni").is_running and lab_host.service("patroni").is_enabled
    # Debian's tools never start this cluster behind Patroni's back.
    assert lab_host.file("/etc/postgresql/15/keel/start.conf").contains("^disabled")
    assert not lab_host.service("postgresql@15-keel").is_running


def _module(host, args):
    """keel.postgres.patroni_cluster as a one-off task on a lab member (as on-call would run it)."""
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible"),
            "-i",
            inventory,
            host,
            "-m",
            "keel.postgres.patroni_cluster",
            "-a",
            json.dumps(args),
            "-o",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=ansible_env(),
    )
    line = next((ln for ln in result.stdout.splitlines() if " => " in ln), "")
    assert line, result.stdout + result.stderr
    return line.split(" | ")[1].split(" => ")[0], json.loads(line.split(" => ", 1)[1])


def test_patroni_cluster_module_reads_the_real_cluster_and_is_idempotent():
    host = PRIMARY[0]
    connection = {"api_url": "https://%s:8008" % address(host), "ca_cert": "/etc/keel/tls/ca.crt"}
    outcome, status = _module(host, dict(connection, action="status"))
    assert outcome == "SUCCESS", status
    current = leader(host)
    assert status["leader"] == current
    assert sorted(m["name"] for m in status["members"]) == PRIMARY
    assert sorted(status["sync_standbys"]) == sorted(h for h in PRIMARY if h != current and REGIONS[_region(h)]["sync"])
    # A switchover to the current leader is already done: ok, unchanged, nothing sent.
    outcome, reply = _module(
        host,
        dict(
            connection,
            action="switchover",
            candidate=current,
            username="patroni",
            password=ALL_VARS["keel_patroni_restapi_password"],
        ),
    )
    assert outcome == "SUCCESS" and reply["changed"] is False, reply
    assert leader(host) == current
    # A switchover to the never-promoted region fails loudly with the reason, before sending anything.
    target = next(h for h in PRIMARY if REGIONS[_region(h)]["failover_priority"] == 0)
    outcome, reply = _module(
        host,
        dict(
            connection,
            action="switchover",
            candidate=target,
            username="patroni",
            password=ALL_VARS["keel_patroni_restapi_password"],
        ),
    )
    assert outcome.startswith("FAILED"), reply
    assert target in reply["msg"]
    assert leader(host) == current
