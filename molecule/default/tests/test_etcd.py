"""etcd checked from outside the containers: the test runner speaks TLS (verified against the lab
CA) to each member's client URL on the lab network and authenticates as Patroni does."""

from __future__ import annotations

import base64
import uuid

from conftest import on_group
from labclient import b64, etcd, etcd_token, http, secret


def _patroni_token(host):
    return etcd_token(host, "patroni", secret("keel_etcd_patroni_password"))


def test_every_member_is_healthy_over_tls(etcd_hosts):
    for host, address in etcd_hosts.items():
        status, reply = http("GET", "https://%s:2379/health" % address)
        assert status == 200 and reply["health"] == "true", (host, reply)


def test_plain_http_is_refused(etcd_hosts):
    import urllib.request

    for address in etcd_hosts.values():
        try:
            urllib.request.urlopen("http://%s:2379/health" % address, timeout=5).read()
        except OSError:
            continue
        raise AssertionError("etcd at %s answered plain HTTP" % address)


def test_member_list_has_every_inventory_member(etcd_hosts):
    assert len(etcd_hosts) == 3
    for host in etcd_hosts:
        status, reply = etcd(host, "/v3/cluster/member/list", {}, token=_patroni_token(host))
        assert status == 200, reply
        members = reply["members"]
        assert sorted(m["name"] for m in members) == sorted(etcd_hosts)
        assert all(url.startswith("https://") for m in members for url in m["peerURLs"] + m["clientURLs"])


def test_one_leader_agreed_by_all(etcd_hosts):
    leaders = set()
    for host in etcd_hosts:
        status, reply = etcd(host, "/v3/maintenance/status", {}, token=_patroni_token(host))
        assert status == 200, reply
        leaders.add(reply["leader"])
    assert len(leaders) == 1


def test_anonymous_clients_cannot_read_patroni_keys(etcd_hosts):
    host = sorted(etcd_hosts)[0]
    status, reply = etcd(host, "/v3/kv/range", {"key": b64("/service/"), "range_end": b64("/service0")})
    assert status != 200 or "kvs" not in reply, reply


def test_patroni_user_is_confined_to_its_prefix(etcd_hosts):
    host = sorted(etcd_hosts)[0]
    token = _patroni_token(host)
    status, reply = etcd(host, "/v3/kv/put", {"key": b64("/outside-%s" % uuid.uuid4()), "value": b64("x")}, token)
    assert status != 200, reply
    assert "permission denied" in str(reply)


def test_wrong_password_is_refused(etcd_hosts):
    host = sorted(etcd_hosts)[0]
    status, reply = etcd(host, "/v3/auth/authenticate", {"name": "patroni", "password": "not-the-password"})
    assert status != 200, reply


def test_key_written_on_one_member_is_read_on_the_others(etcd_hosts):
    key, value = "/service/keel-test-%s" % uuid.uuid4(), str(uuid.uuid4())
    hosts = sorted(etcd_hosts)
    status, reply = etcd(hosts[0], "/v3/kv/put", {"key": b64(key), "value": b64(value)}, _patroni_token(hosts[0]))
    assert status == 200, reply
    for host in hosts[1:]:
        status, reply = etcd(host, "/v3/kv/range", {"key": b64(key), "serializable": False}, _patroni_token(host))
        assert status == 200, reply
        assert base64.b64decode(reply["kvs"][0]["value"]).decode() == value
    etcd(hosts[0], "/v3/kv/deleterange", {"key": b64(key)}, _patroni_token(hosts[0]))


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
