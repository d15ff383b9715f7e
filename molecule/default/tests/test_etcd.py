"""etcd checked from outside the containers: the test runner talks HTTP to each member's
client URL on the lab network, as Patroni will."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid

from conftest import on_group


def _post(address, path, body):
    req = urllib.request.Request(
        "http://%s:2379%s" % (address, path),
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def test_every_member_is_healthy(etcd_hosts):
    for host, address in etcd_hosts.items():
        with urllib.request.urlopen("http://%s:2379/health" % address, timeout=5) as resp:
            assert json.loads(resp.read())["health"] == "true", host


def test_member_list_has_every_inventory_member(etcd_hosts):
    assert len(etcd_hosts) == 3
    for address in etcd_hosts.values():
        members = _post(address, "/v3/cluster/member/list", {})["members"]
        assert sorted(m["name"] for m in members) == sorted(etcd_hosts)
        assert all(m["clientURLs"] for m in members)


def test_one_leader_agreed_by_all(etcd_hosts):
    leaders = {_post(a, "/v3/maintenance/status", {})["leader"] for a in etcd_hosts.values()}
    assert len(leaders) == 1


def test_key_written_on_one_member_is_read_on_the_others(etcd_hosts):
    key, value = "/keel-test/%s" % uuid.uuid4(), str(uuid.uuid4())
    addresses = list(etcd_hosts.values())
    _post(addresses[0], "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})
    for address in addresses[1:]:
        kvs = _post(address, "/v3/kv/range", {"key": _b64(key), "serializable": False})["kvs"]
        assert base64.b64decode(kvs[0]["value"]).decode() == value
    _post(addresses[0], "/v3/kv/deleterange", {"key": _b64(key)})


@on_group("etcd")
def test_package_default_member_is_gone_and_cluster_data_is_private(lab_host):
    # Debian's single-node default member must not survive; this cluster's data is etcd's only.
    assert not lab_host.file("/var/lib/etcd/default").exists
    data = lab_host.file("/var/lib/etcd/keel-lab-etcd")
    assert data.is_directory and data.user == "etcd" and data.mode == 0o700
    assert lab_host.service("etcd").is_running and lab_host.service("etcd").is_enabled


def test_thp_unit_installed_and_enabled(lab_host):
    assert lab_host.service("keel-thp").is_enabled
    assert lab_host.file("/etc/systemd/system/keel-thp.service").contains("> /sys/kernel/mm/transparent_hugepage")
    assert lab_host.file("/etc/systemd/system/keel-thp.service").contains("echo never")


def test_timezone_locale_and_security_suite(lab_host):
    assert lab_host.file("/etc/timezone").content_string.strip() == "Etc/UTC"
    assert lab_host.run("date +%Z").stdout.strip() == "UTC"
    assert lab_host.file("/etc/apt/sources.list").contains("bookworm-security")
    assert "en_US.utf8" in lab_host.run("locale -a").stdout
