"""keel.postgres.replication_slots against a real PostgreSQL 15 primary + streaming standby."""

import os
import subprocess
import threading
import time

import pytest
from fake_patroni import FakePatroni
from pgpair import PG_BIN, STANDBY_NAME, as_postgres_kwargs, warning_texts


def slots(runner, server, check_mode=False, **args):
    args.setdefault("warn_bytes", "512kB")
    return runner("replication_slots", dict(server.conninfo(), **args), check_mode=check_mode)


def slot_names(server):
    return [row[0] for row in server.sql("SELECT slot_name FROM pg_replication_slots ORDER BY 1")]


@pytest.fixture
def orphan(pg_pair):
    """An inactive physical slot that reserved WAL at creation, then WAL generated behind it."""
    created = []

    def make(name="orphan"):
        pg_pair.primary.sql("SELECT pg_create_physical_replication_slot(%s, true)", (name,))
        created.append(name)
        return name

    yield make
    for name in created:
        pg_pair.primary.sql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (name,),
        )


def test_inactive_slot_retaining_wal_is_flagged_but_not_dropped_by_default(pg_pair, module_runner, orphan):
    name = orphan()
    pg_pair.generate_wal(rows=2000)
    rc, result, _elapsed = slots(module_runner, pg_pair.primary)
    assert rc == 0, result
    assert result["changed"] is False
    by_name = {slot["slot_name"]: slot for slot in result["slots"]}
    assert by_name[name]["classification"] == "retaining"
    assert by_name[name]["severity"] == "warning"
    assert by_name[name]["active"] is False
    assert by_name[name]["retained_bytes"] > 512 * 1024
    assert by_name[name]["wal_status"] in ("reserved", "extended")
    assert by_name[STANDBY_NAME]["classification"] == "ok"
    assert by_name[STANDBY_NAME]["active"] is True
    assert result["status"] == "warning"
    assert "slot '%s' retains" % name in result["msg"] and "warning threshold 512.0 kB" in result["msg"]
    assert result["dropped"] == [] and result["statements"] == []
    assert result["thresholds"]["max_slot_wal_keep_size"] is None
    assert name in slot_names(pg_pair.primary)

    rc, result, _elapsed = slots(module_runner, pg_pair.primary, crit_bytes="1MB")
    assert rc == 1 and result["status"] == "critical"


def test_check_mode_reports_but_does_not_drop(pg_pair, module_runner, orphan):
    name = orphan()
    pg_pair.generate_wal(rows=2000)
    rc, result, elapsed = slots(module_runner, pg_pair.primary, check_mode=True, drop_inactive=True, inactive_for=1)
    assert rc == 0, result
    assert result["would_drop"] == [name]
    assert result["dropped"] == [] and result["statements"] == []
    assert result["changed"] is True
    assert "would drop (check mode): %s" % name in result["msg"]
    assert elapsed >= 1.0
    assert name in slot_names(pg_pair.primary)


def test_drop_inactive_drops_and_is_idempotent(pg_pair, module_runner, orphan):
    name = orphan()
    pg_pair.generate_wal(rows=2000)
    rc, result, _elapsed = slots(module_runner, pg_pair.primary, drop_inactive=True, inactive_for=1)
    assert rc == 0, result
    assert result["changed"] is True
    assert result["dropped"] == [name]
    assert result["statements"] == ["SELECT pg_drop_replication_slot('%s')" % name]
    assert name not in slot_names(pg_pair.primary)
    assert STANDBY_NAME in slot_names(pg_pair.primary)
    assert result["status"] == "ok"

    rc, result, _elapsed = slots(module_runner, pg_pair.primary, drop_inactive=True, inactive_for=0)
    assert rc == 0 and result["changed"] is False and result["dropped"] == []


def test_explicit_drop_list_and_not_found(pg_pair, module_runner, orphan):
    name = orphan("small_orphan")
    rc, result, _elapsed = slots(
        module_runner, pg_pair.primary, warn_bytes="1GB", drop_slots=[name, "gone"], inactive_for=0
    )
    assert rc == 0, result
    assert result["dropped"] == [name]
    assert result["not_found"] == ["gone"]
    assert name not in slot_names(pg_pair.primary)


def test_patroni_member_and_permanent_slots_are_never_dropped(pg_pair, module_runner, orphan):
    member_slot = orphan("pg_node_2")
    permanent = orphan("cdc_keep")
    protected = orphan("keep_me")
    pg_pair.generate_wal(rows=2000)
    rc, result, _elapsed = slots(
        module_runner,
        pg_pair.primary,
        drop_inactive=True,
        drop_slots=[member_slot, permanent, protected, STANDBY_NAME],
        inactive_for=0,
        patroni_members=["PG-Node.2"],
        patroni_permanent_slots=[permanent],
        protected_slots=[protected],
    )
    assert rc == 0, result
    assert result["dropped"] == [] and result["statements"] == [] and result["changed"] is False
    reasons = {item["slot"]: item["reason"] for item in result["refused"]}
    assert reasons[member_slot] == "Patroni member slot"
    assert reasons[permanent] == "permanent slot in the Patroni dynamic configuration"
    assert reasons[protected] == "listed in protected_slots"
    assert reasons[STANDBY_NAME].startswith("slot is active")
    assert set(slot_names(pg_pair.primary)) >= {member_slot, permanent, protected, STANDBY_NAME}
    by_name = {slot["slot_name"]: slot for slot in result["slots"]}
    assert by_name[member_slot]["patroni_managed"] is True
    assert any("not dropped" in w for w in warning_texts(result))


def test_patroni_slots_read_from_the_rest_api(pg_pair, module_runner, orphan):
    member_slot = orphan("pg_node_2")
    permanent = orphan("cdc_keep")
    pg_pair.generate_wal(rows=2000)

    def cluster(url):
        return {"scope": "keel-main", "members": [{"name": "pg-node-2", "role": "replica", "state": "streaming"}]}

    with FakePatroni(cluster_factory=cluster, config={"slots": {permanent: {"type": "physical"}}}) as fake:
        rc, result, _elapsed = slots(
            module_runner, pg_pair.primary, drop_inactive=True, inactive_for=0, patroni_url=fake.url
        )
        assert [(r["method"], r["path"]) for r in fake.requests] == [("GET", "/cluster"), ("GET", "/config")]
    assert rc == 0, result
    assert result["dropped"] == []
    assert {item["slot"] for item in result["refused"]} == {member_slot, permanent}
    assert {member_slot, permanent} <= set(result["patroni_managed"])


def test_unreachable_patroni_blocks_drops(pg_pair, module_runner, orphan):
    orphan()
    pg_pair.generate_wal(rows=2000)
    rc, result, _elapsed = slots(
        module_runner, pg_pair.primary, drop_inactive=True, inactive_for=0, patroni_url="http://127.0.0.1:9"
    )
    assert rc == 1
    assert result["msg"].startswith("refusing to drop slots without knowing Patroni's slots")
    rc, result, _elapsed = slots(module_runner, pg_pair.primary, patroni_url="http://127.0.0.1:9", fail_on="never")
    assert rc == 0 and any("could not read Patroni slots" in w for w in warning_texts(result))


def test_slot_used_during_the_inactivity_window_is_kept(pg_pair, module_runner, orphan):
    name = orphan("revived")
    pg_pair.generate_wal(rows=2000)
    target = os.path.join(pg_pair.base, "receivewal")
    os.makedirs(target)
    as_postgres = as_postgres_kwargs()
    if as_postgres:
        os.chown(target, as_postgres["user"], as_postgres["group"])
    box = {}

    def run_module_in_background():
        box["out"] = slots(module_runner, pg_pair.primary, drop_slots=[name], inactive_for=4, fail_on="never")

    worker = threading.Thread(target=run_module_in_background)
    receiver = None
    try:
        worker.start()
        time.sleep(1.0)
        receiver = subprocess.Popen(
            [os.path.join(PG_BIN, "pg_receivewal"), "-D", target, "-S", name, "-h", pg_pair.base,
             "-p", str(pg_pair.primary.port), "-U", "postgres", "--no-loop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_postgres,
        )  # fmt: skip
        worker.join(timeout=60)
        rc, result, _elapsed = box["out"]
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=10)
    assert rc == 0, result
    assert result["dropped"] == []
    [refusal] = [item for item in result["refused"] if item["slot"] == name]
    assert "during the inactivity window" in refusal["reason"]
    pg_pair.wait("slot released", lambda: not pg_pair.primary.value(
        "SELECT active FROM pg_replication_slots WHERE slot_name = %s", (name,)))  # fmt: skip
