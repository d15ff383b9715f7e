"""pgBackRest to the lab's S3, checked from outside: the bucket through boto3 from the Docker host,
the repository through `pgbackrest info --output=json`, the schedule through systemd. The bucket,
path and credentials are read from the deployed configuration, so the test checks what the hosts
really use."""

from __future__ import annotations

import configparser
import json
import os
import pathlib
import sys
import time

import boto3
import pytest
from botocore.config import Config
from labclient import (
    CA_FILE,
    INVENTORY,
    ROOT,
    address,
    api,
    changed_counts,
    converge,
    create_probe_table,
    docker_exec,
    failures,
    group_hosts,
    healthy_leader,
    psql,
    run_playbook,
    superuser_sql,
    switch_and_wait_archived,
    user_password,
    wait_for,
    write_marker,
)

sys.path.insert(0, str(ROOT / "tools" / "lab"))
import pgclients  # noqa: E402

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
DR = group_hosts("postgres_dr")
CONFIG = "/etc/pgbackrest/pgbackrest.conf"
S3_PORT = int(os.environ.get("KEEL_S3_PORT", "9443"))
S3_CA = pathlib.Path(os.environ.get("KEEL_S3_STATE_DIR", ".lab/s3")) / "ca.crt"


def deployed_config(host):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(docker_exec(host, "cat", CONFIG).stdout)
    return parser


GLOBAL = deployed_config(PRIMARY[0])["global"]
STANZA = next(s for s in deployed_config(PRIMARY[0]).sections() if not s.startswith("global"))
REPO = GLOBAL["repo1-path"].strip("/")
BUCKET = GLOBAL["repo1-s3-bucket"]


def s3():
    return boto3.client(
        "s3",
        endpoint_url="https://localhost:%d" % S3_PORT,
        region_name=GLOBAL["repo1-s3-region"],
        aws_access_key_id=GLOBAL["repo1-s3-key"],
        aws_secret_access_key=GLOBAL["repo1-s3-key-secret"],
        verify=str(S3_CA),
        config=Config(s3={"addressing_style": "path"}),
    )


def keys(prefix):
    paginator = s3().get_paginator("list_objects_v2")
    return [o["Key"] for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix) for o in page.get("Contents", [])]


def pgbackrest(host, *argv, check=True):
    return docker_exec(host, "runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=" + STANZA, *argv, check=check)


def info(host):
    (stanza,) = json.loads(pgbackrest(host, "--output=json", "info").stdout)
    return stanza


def systemctl_start(host, unit):
    """Start a oneshot unit and wait for it; returns its journal for this run."""
    since = docker_exec(host, "date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    result = docker_exec(host, "systemctl", "start", unit, check=False)
    journal = docker_exec(host, "journalctl", "--no-pager", "-o", "cat", "-u", unit, "--since", since).stdout
    return result.returncode, journal


# --- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize("host", PRIMARY + DR)
def test_configuration_holds_secrets_privately_and_encrypts_the_repository(host):
    stat = docker_exec(host, "stat", "-c", "%U:%G %a", CONFIG).stdout.split()
    assert stat == ["root:postgres", "640"]
    conf = deployed_config(host)["global"]
    assert conf["repo1-type"] == "s3" and conf["repo1-cipher-type"] == "aes-256-cbc"
    assert conf["repo1-storage-verify-tls"] == "y" and conf["archive-async"] == "y"
    assert conf["archive-push-queue-max"]  # a dead S3 can never fill pg_wal
    assert conf["repo1-cipher-pass"] == GLOBAL["repo1-cipher-pass"]  # every host reads the one repository


def test_the_bucket_is_private_versioned_encrypted_and_keeps_repository_metadata_hot():
    client = s3()
    block = client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rule = client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert set(rules) == {"wal-cold", "backups-cold", "noncurrent-and-uploads"}
    for name in ("wal-cold", "backups-cold"):
        assert rules[name]["Transitions"][0]["Days"] >= 35
        assert rules[name]["Expiration"]["Days"] >= 2557  # 7 years
    # archive.info is written once, at stanza-create: no rule may move it to a cold class or expire it.
    metadata = [k for k in keys(REPO) if k.endswith((".info", ".info.copy"))]
    assert any(k.endswith("archive.info") for k in metadata), metadata
    for key in metadata:
        for name in ("wal-cold", "backups-cold"):
            prefix = rules[name].get("Filter", {}).get("Prefix", rules[name].get("Prefix"))
            assert prefix and not key.startswith(prefix), (key, name)


def test_patroni_archives_through_pgbackrest_and_replicas_can_read_the_archive():
    leader = healthy_leader(PRIMARY[0])
    parameters = api(leader, "/config")[1]["postgresql"]["parameters"]
    assert parameters["archive_mode"] == "on"
    assert "archive-push %p" in parameters["archive_command"] and "--stanza=" + STANZA in parameters["archive_command"]
    for host in PRIMARY:
        if host != leader:
            assert "archive-get %f" in psql(host, "SHOW restore_command")
    for host in DR:
        assert "archive-get %f" in api(host, "/config")[1]["standby_cluster"]["restore_command"]


def test_wal_segments_reach_the_bucket_encrypted():
    leader = healthy_leader(PRIMARY[0])
    create_probe_table(leader)
    write_marker(leader, "backup-wal-%d" % time.time_ns())
    segment = psql(leader, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    docker_exec(leader, "runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT pg_switch_wal()")
    prefix = "%s/archive/%s/" % (REPO, STANZA)
    wait_for(
        lambda: [k for k in keys(prefix) if k.rsplit("/", 1)[-1].startswith(segment + "-")],
        90,
        interval=2,
        what="WAL segment %s in s3://%s/%s" % (segment, BUCKET, prefix),
    )
    key = next(k for k in keys(prefix) if k.rsplit("/", 1)[-1].startswith(segment + "-"))
    body = s3().get_object(Bucket=BUCKET, Key=key)["Body"].read(16)
    assert body.startswith(b"Salted__"), body  # aes-256-cbc on the client: S3 never sees the WAL


# --- scheduled backups ----------------------------------------------------------------------------
def test_backup_timers_exist_on_the_primary_cluster_only():
    for host in PRIMARY:
        for timer in ("keel-backup-full.timer", "keel-backup-diff.timer"):
            assert docker_exec(host, "systemctl", "is-enabled", timer).stdout.strip() == "enabled"
            assert docker_exec(host, "systemctl", "is-active", timer).stdout.strip() == "active"
    for host in DR:
        assert docker_exec(host, "systemctl", "cat", "keel-backup@.service", check=False).returncode != 0


def test_site_yml_took_the_first_full_backup_so_the_platform_is_restorable_at_once():
    # Before any test starts a backup: the converge (and its idempotent re-run, which must not
    # take another) left exactly one full backup, taken from the replica the backup unit picks.
    fulls = [b for b in info(PRIMARY[0])["backup"] if b["type"] == "full"]
    assert len(fulls) == 1 and fulls[0]["error"] is False, fulls
    logs = {
        host: docker_exec(host, "cat", "/var/log/pgbackrest/%s-backup.log" % STANZA, check=False).stdout
        for host in PRIMARY
    }
    runs = {host: log.count("backup command begin") for host, log in logs.items()}
    assert sum(runs.values()) == 1, runs
    (ran,) = [host for host, n in runs.items() if n]
    assert "--type=full" in logs[ran] and "--backup-standby" in logs[ran], logs[ran][-2000:]


@pytest.fixture(scope="module")
def full_backup():
    """Start the full backup on every member, as the timers would: it must run on exactly one."""
    healthy_leader(PRIMARY[0])
    runs = {host: systemctl_start(host, "keel-backup@full.service") for host in PRIMARY}
    return runs


def test_a_scheduled_full_backup_runs_on_exactly_one_member_an_async_replica(full_backup):
    ran = [host for host, (_rc, journal) in full_backup.items() if "backup on %s" % host in journal]
    assert ran == ["pg-aps1"], {h: j[-400:] for h, (_rc, j) in full_backup.items()}
    for host, (rc, journal) in full_backup.items():
        assert rc == 0, journal
        if host != "pg-aps1":
            assert "skipped on %s: the backup runs on pg-aps1" % host in journal


def test_the_full_backup_is_in_the_repository_and_was_copied_from_the_standby(full_backup):
    stanza = info(PRIMARY[0])
    assert stanza["status"]["code"] == 0, stanza["status"]
    fulls = [b for b in stanza["backup"] if b["type"] == "full"]
    assert len(fulls) >= 1 and fulls[-1]["error"] is False
    log = docker_exec("pg-aps1", "cat", "/var/log/pgbackrest/%s-backup.log" % STANZA).stdout
    last_run = log.rsplit("backup command begin", 1)[-1]
    assert "--backup-standby" in last_run and "wait for replay on the standby" in last_run, last_run[:2000]


def test_a_differential_backup_builds_on_the_full(full_backup):
    runs = {host: systemctl_start(host, "keel-backup@diff.service") for host in PRIMARY}
    assert all(rc == 0 for rc, _ in runs.values()), runs
    backups = info(PRIMARY[0])["backup"]
    diff = backups[-1]
    assert diff["type"] == "diff" and diff["prior"] == [b for b in backups if b["type"] == "full"][-1]["label"]


def test_backup_playbook_takes_an_incremental_now_on_the_chosen_member_and_reports_it(full_backup):
    """playbooks/backup.yml: in check mode it names the member and takes nothing; then one incr
    backup, on the member the timers use (the async replica), reported with its label."""
    before = [b["label"] for b in info(PRIMARY[0])["backup"]]
    planned = run_playbook("backup.yml", {"backup_type": "incr"}, check=True, timeout=300)
    assert planned.returncode == 0, failures(planned)
    assert "incr backup on pg-aps1" in planned.stdout, planned.stdout[-3000:]
    assert [b["label"] for b in info(PRIMARY[0])["backup"]] == before
    taken = run_playbook("backup.yml", {"backup_type": "incr"}, timeout=900)
    assert taken.returncode == 0, failures(taken)
    backups = info(PRIMARY[0])["backup"]
    new = [b for b in backups if b["label"] not in before]
    assert [b["type"] for b in new] == ["incr"], new
    assert "incr backup %s on pg-aps1" % new[0]["label"] in " ".join(taken.stdout.split())
    assert {host: n for host, n in changed_counts(taken).items() if n} == {"pg-aps1": 1}, changed_counts(taken)


def test_backup_playbook_refuses_an_unknown_type_before_contacting_a_host():
    result = run_playbook("backup.yml", {"backup_type": "snapshot"}, timeout=120)
    assert result.returncode != 0
    assert "backup_type=snapshot is not a pgBackRest backup type" in result.stdout, result.stdout[-3000:]
    assert "Ask every member" not in result.stdout


# --- point-in-time restore into a scratch copy ----------------------------------------------------
PITR_HOST = "pg-aps1"
PITR_PORT = 5499


def pitr(extra_vars, timeout=900):
    return run_playbook("pitr_restore.yml", extra_vars, timeout=timeout)


@pytest.fixture(scope="module")
def two_batches(full_backup):
    """100 rows, the target time, 100 more rows; then the WAL holding both is in the archive."""
    leader = healthy_leader(PRIMARY[0])
    run = "pitr-%d" % time.time_ns()
    # Created by the migration role, like application tables: its default privileges give app_rw and
    # app_ro their grants, so a later converge finds nothing to change.
    psql(leader, "CREATE TABLE IF NOT EXISTS app.pitr_probe (run text, batch text, n int)", "app_migrator", "app")
    superuser_sql(leader, "INSERT INTO app.pitr_probe SELECT '%s', 'first', g FROM generate_series(1, 100) g" % run)
    target = superuser_sql(leader, "SELECT clock_timestamp()")
    time.sleep(1.5)
    superuser_sql(leader, "INSERT INTO app.pitr_probe SELECT '%s', 'second', g FROM generate_series(1, 100) g" % run)
    switch_and_wait_archived(leader, 120, "both batches archived")
    return {"run": run, "target": target, "leader": leader}


def test_pitr_to_a_time_between_two_batches_holds_exactly_the_first(two_batches):
    history_before = [k for k in keys("%s/archive/%s/" % (REPO, STANZA)) if k.endswith(".history")]
    result = pitr({"pitr_host": PITR_HOST, "pitr_target_time": two_batches["target"], "pitr_scratch_replace": True})
    assert result.returncode == 0, failures(result)
    try:
        counts = superuser_sql(
            PITR_HOST,
            "SELECT batch, count(*) FROM app.pitr_probe WHERE run = '%s' GROUP BY 1 ORDER BY 1" % two_batches["run"],
            port=PITR_PORT,
        )
        assert counts == "first|100", counts
        assert superuser_sql(PITR_HOST, "SELECT pg_is_in_recovery()", port=PITR_PORT) == "f"
        # The live cluster is untouched and still has both batches.
        assert healthy_leader(PRIMARY[0]) == two_batches["leader"]
        live = superuser_sql(
            two_batches["leader"], "SELECT count(*) FROM app.pitr_probe WHERE run = '%s'" % two_batches["run"]
        )
        assert live == "200"
        # The promoted copy archived nothing: no new timeline history reached the repository.
        time.sleep(5)
        history_after = [k for k in keys("%s/archive/%s/" % (REPO, STANZA)) if k.endswith(".history")]
        assert history_after == history_before
    finally:
        docker_exec(
            PITR_HOST,
            "runuser",
            "-u",
            "postgres",
            "--",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "-D",
            "/var/lib/postgresql/pitr",
            "-m",
            "fast",
            "stop",
            check=False,
        )


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"pitr_host": PITR_HOST}, "give exactly one of pitr_target_time, pitr_target_lsn"),
        ({"pitr_host": "nowhere", "pitr_target_immediate": True}, "pitr_host=nowhere must be a member"),
        ({"pitr_host": PITR_HOST, "pitr_target_name": "x", "pitr_mode": "cluster"}, "give -e pitr_confirm="),
        ({"pitr_host": PITR_HOST, "pitr_target_name": "x", "pitr_mode": "copy"}, "must be scratch or cluster"),
        (
            {"pitr_host": PITR_HOST, "pitr_target_immediate": True},
            "holds an earlier copy",
        ),
    ],
    ids=["no-target", "unknown-host", "live-cluster-unconfirmed", "unknown-mode", "earlier-copy-kept"],
)
def test_pitr_refuses_unclear_requests_and_keeps_an_earlier_copy(extra_vars, expected):
    result = pitr(extra_vars, timeout=300)
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split()), result.stdout[-3000:]


# --- S3 outage ------------------------------------------------------------------------------------
HOSTS_FILE_EDIT = (
    "import sys; p = '/etc/hosts'; text = open(p).read(); "
    "open(p, 'w').write(text.replace(sys.argv[1], sys.argv[2]))"  # in place: /etc/hosts is a bind mount
)


def point_s3_at(host, old, new):
    docker_exec(host, "python3", "-c", HOSTS_FILE_EDIT, old, new)


def pg_wal_ready(host):
    """WAL segments waiting for the archiver on host."""
    listing = docker_exec(host, "ls", "/var/lib/postgresql/15/keel/pg_wal/archive_status").stdout.split()
    return len([name for name in listing if name.endswith(".ready")])


def test_with_s3_down_the_primary_stays_writable_and_pg_wal_stays_bounded():
    leader = healthy_leader(PRIMARY[0])
    queue_max = GLOBAL["archive-push-queue-max"]
    assert queue_max.endswith("MiB")
    queue_segments = int(queue_max[:-3]) // 16
    psql(
        leader,
        "CREATE TABLE IF NOT EXISTS app.outage_probe (marker text, at timestamptz DEFAULT now())",
        "app_migrator",
        "app",
    )
    writer = pgclients.Writer(
        {
            "host": address(leader),
            "port": 5432,
            "dbname": "app",
            "user": "app_user",
            "password": user_password("app_user"),
            "sslmode": "verify-full",
            "sslrootcert": str(CA_FILE),
        },
        "app.outage_probe",
        "outage",
    )
    async_log = "/var/log/pgbackrest/%s-archive-push-async.log" % STANZA
    dropped_before = docker_exec(leader, "cat", async_log).stdout.count("because archive queue exceeded")
    most_ready = 0

    def dropped():
        nonlocal most_ready
        most_ready = max(most_ready, pg_wal_ready(leader))
        log = docker_exec(leader, "cat", async_log).stdout
        return log.count("because archive queue exceeded") > dropped_before

    # S3 down for this host: its name resolves to a closed port (connections refused at once). A
    # black-holed endpoint behaves the same, only slower: see docs/backup.md.
    s3_line = next(line for line in docker_exec(leader, "cat", "/etc/hosts").stdout.splitlines() if "s3mock" in line)
    point_s3_at(leader, s3_line, "127.0.0.9\ts3mock")
    try:
        writer.start()
        # Three times the queue, one segment at a time, while S3 answers nothing.
        for _ in range(queue_segments * 3):
            superuser_sql(
                leader, "INSERT INTO app.pitr_probe SELECT 'outage', 'bulk', g FROM generate_series(1, 200000) g"
            )
            superuser_sql(leader, "SELECT pg_switch_wal()", dbname="postgres")
            most_ready = max(most_ready, pg_wal_ready(leader))
        # The archiver's next attempt after a push times out finds more than the queue waiting and drops it.
        wait_for(dropped, 300, interval=3, what="pgBackRest to drop WAL beyond archive-push-queue-max")
        # ...and PostgreSQL recycles what was dropped: pg_wal is back within the bound while S3 is still dead.
        wait_for(
            lambda: pg_wal_ready(leader) <= queue_segments + 1,
            120,
            interval=2,
            what="unarchived WAL on %s back within %s" % (leader, queue_max),
        )
    finally:
        point_s3_at(leader, "127.0.0.9\ts3mock", s3_line)
        writer.stop()
    assert writer.failures == 0 and len(writer.acknowledged) > 100
    assert most_ready > queue_segments  # the outage really filled the queue
    # Archiving catches up once S3 answers again.
    switch_and_wait_archived(leader, 180, "archiving to catch up after the outage")
    # The dropped segments are a gap in the archive: a new full backup makes the repository whole.
    runs = {host: systemctl_start(host, "keel-backup@full.service") for host in PRIMARY}
    assert all(rc == 0 for rc, _ in runs.values()), runs
    assert info(PRIMARY[0])["status"]["code"] == 0


# --- bad input: refused by the controller preflight, before any host is contacted or changed -----------
# The controller preflight (playbooks/preflight.yml) runs under --limit too, so these refusals are its
# own; the role preflight repeats the checks on the host (tests/integration/test_role_secret_policy.py).
@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({"keel_pgbackrest_s3_bucket": ""}, "keel_pgbackrest_s3_bucket='' is not a valid S3 bucket name"),
        ({"pgbackrest_retention_full": 0}, "pgbackrest_retention_full=0 must be a whole number of at least 1"),
        ({"pgbackrest_cipher_type": "none"}, "pgbackrest_cipher_type=none with keel_compliance_strict=True"),
        ({"keel_pgbackrest_s3_key_secret": ""}, "keel_pgbackrest_s3_key_secret is not set"),
    ],
    ids=["missing-bucket", "retention-0", "unencrypted-in-strict-mode", "missing-secret"],
)
def test_bad_backup_input_is_refused_before_any_change(extra_vars, expected):
    result = converge(extra_vars, limit=PRIMARY[0], timeout=600)
    assert result.returncode != 0
    flat = " ".join(result.stdout.split())  # the YAML callback folds long messages
    assert "inventory refused: " in flat and expected in flat, result.stdout[-3000:]
    assert "PLAY [Operating system baseline]" not in result.stdout
    assert changed_counts(result).get(PRIMARY[0], 0) == 0
