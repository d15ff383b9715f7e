"""Redis Cluster checked from outside: redis-cli in one lab container talks TLS to the instances
on the other hosts, as the application user, the way an application on the network would."""

from __future__ import annotations

import uuid

import pytest

SLOTS = 16384


def test_every_instance_reports_cluster_ok_with_all_slots(lab):
    for target in lab.instances():
        info = lab.info(target)
        assert info["cluster_state"] == "ok", (target, info)
        assert int(info["cluster_slots_assigned"]) == SLOTS, (target, info)
        assert int(info["cluster_slots_ok"]) == SLOTS, (target, info)
        assert int(info["cluster_known_nodes"]) == len(lab.instances()), (target, info)
        assert int(info["cluster_size"]) == len(lab.instances()) // 2, (target, info)


def test_no_master_shares_a_host_with_its_replica(lab):
    nodes = lab.nodes()
    by_id = {n["id"]: n for n in nodes}
    masters = [n for n in nodes if "master" in n["flags"]]
    replicas = [n for n in nodes if "slave" in n["flags"]]
    assert len(masters) == 3 and len(replicas) == 3, nodes
    assert all(n["link"] == "connected" for n in nodes), nodes
    for replica in replicas:
        master = by_id[replica["master"]]
        assert replica["host"] != master["host"], "replica %s sits beside its master %s on %s" % (
            replica["endpoint"],
            master["endpoint"],
            master["host"],
        )
    assert sorted(m["host"] for m in masters) == sorted(lab.hosts), "masters not spread: %s" % masters


def test_app_writes_and_reads_across_the_cluster_with_redirects(lab):
    run = uuid.uuid4().hex[:8]
    keys = ["app:test:%s:%d" % (run, i) for i in range(24)]
    writer, reader = lab.instances()[0], lab.instances()[-1]
    moved = 0
    for key in keys:
        _, out = lab.cli(writer, "SET", key, key)
        moved += out.startswith("MOVED")
        rc, out = lab.cli(writer, "SET", key, key, follow=True)
        assert (rc, out) == (0, "OK"), (key, out)
    assert moved > 0, "every key hashed to the first node: the redirect path was not exercised"
    for key in keys:
        assert lab.cli(reader, "GET", key, follow=True) == (0, key)
    for key in keys:
        assert lab.cli(reader, "DEL", key, follow=True) == (0, "1")


@pytest.mark.parametrize(
    "command",
    [
        ["SET", "other:key", "x"],
        ["GET", "other:key"],
        ["FLUSHALL"],
        ["FLUSHDB"],
        ["KEYS", "app:*"],
        ["CONFIG", "GET", "maxmemory"],
        ["DEBUG", "SLEEP", "0"],
        ["SHUTDOWN", "NOSAVE"],
        ["MONITOR"],
        ["ACL", "LIST"],
    ],
    ids=lambda c: " ".join(c),
)
def test_app_user_is_refused_outside_its_keys_and_commands(lab, command):
    rc, out = lab.cli(lab.instances()[1], *command, follow=True, timeout=10)
    # DEBUG is also off server-wide (enable-debug-command no), which Redis checks before the ACL.
    assert "NOPERM" in out or (command[0] == "DEBUG" and "DEBUG command not allowed" in out), out


@pytest.mark.parametrize("command", ["FLUSHALL", "FLUSHDB", "KEYS *", "CONFIG GET *", "DEBUG SLEEP 0", "SHUTDOWN"])
def test_acl_withholds_dangerous_commands_from_the_app_user(lab, command):
    # ACL DRYRUN (admin) asks the ACL alone, independent of server-wide switches.
    rc, out = lab.cli(lab.instances()[1], "ACL", "DRYRUN", lab.app_user, *command.split(), user="admin")
    assert "no permissions" in out, out


def test_default_user_cannot_log_in(lab):
    target = lab.instances()[2]
    assert "NOAUTH" in lab.cli(target, "PING", password=False)[1]
    assert "WRONGPASS" in lab.cli(target, "PING", user="default", password="anything")[1]
    assert "WRONGPASS" in lab.cli(target, "AUTH", "default", "", password=False)[1]


def test_wrong_app_password_is_refused(lab):
    assert "WRONGPASS" in lab.cli(lab.instances()[3], "PING", password="not-the-password")[1]


def test_plaintext_is_refused(lab):
    rc, out = lab.cli(lab.instances()[0], "PING", tls=False)
    assert out != "PONG", out


def test_server_certificate_is_checked_against_the_platform_ca(lab):
    # The system trust store does not know the platform CA: verification must fail.
    rc, out = lab.cli(lab.instances()[0], "PING", cacert=None)
    assert "certificate verify failed" in out, out
    assert lab.cli(lab.instances()[0], "PING") == (0, "PONG")


# --- in-container checks (testinfra, one test per redis host) -------------------------------


def test_instances_run_under_systemd_and_default_service_is_masked(redis_host, lab):
    for port in lab.ports:
        unit = redis_host.service("redis-cluster@%d" % port)
        assert unit.is_running and unit.is_enabled
    assert redis_host.run("systemctl is-enabled redis-server.service").stdout.strip() == "masked"
    assert not redis_host.socket("tcp://0.0.0.0:6379").is_listening
    assert not redis_host.socket("tcp://127.0.0.1:6379").is_listening


def test_instances_listen_on_the_host_address_and_loopback_only(redis_host, lab):
    address = lab.address[redis_host.inventory_name]
    for port in lab.ports:
        for p in (port, port + 10000):
            assert redis_host.socket("tcp://%s:%d" % (address, p)).is_listening
            assert not redis_host.socket("tcp://0.0.0.0:%d" % p).is_listening
        assert redis_host.socket("tcp://127.0.0.1:%d" % port).is_listening


def test_secrets_are_protected(redis_host, lab):
    acl = redis_host.file("/etc/redis/cluster/users.acl")
    assert (acl.user, acl.group, acl.mode) == ("root", "redis", 0o640)
    for password in lab.passwords.values():
        assert password not in acl.content_string  # SHA-256 digests only
    key = redis_host.file("/etc/keel/tls/host.key")
    assert (key.user, key.group, key.mode) == ("root", "keel-tls", 0o640)
    assert "keel-tls" in redis_host.user("redis").groups
    conf = redis_host.file("/etc/redis/cluster/%d/redis.conf" % lab.ports[0])
    assert (conf.user, conf.group, conf.mode) == ("root", "redis", 0o640)


def test_overcommit_setting_is_written(redis_host):
    assert redis_host.file("/etc/sysctl.d/61-keel-redis.conf").contains("^vm.overcommit_memory = 1$")
