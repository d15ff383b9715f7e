"""Host certificates of keel.postgres.tls, read out of the containers and checked on the controller."""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import subprocess

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID


def _read(lab, host, path):
    return subprocess.run(["docker", "exec", lab.container(host), "cat", path], check=True, capture_output=True).stdout


def test_host_certificates_carry_the_hosts_names_and_are_signed_by_the_platform_ca(lab):
    for host in lab.hosts:
        ca = x509.load_pem_x509_certificate(_read(lab, host, "/etc/keel/tls/ca.crt"))
        cert = x509.load_pem_x509_certificate(_read(lab, host, "/etc/keel/tls/host.crt"))
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {host, "localhost"} <= set(sans.get_values_for_type(x509.DNSName)), sans
        ips = set(sans.get_values_for_type(x509.IPAddress))
        assert {ipaddress.ip_address(lab.address[host]), ipaddress.ip_address("127.0.0.1")} <= ips, sans
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
        remaining = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        assert remaining > datetime.timedelta(days=30), remaining


def test_the_ca_key_stays_on_the_controller(lab):
    root = pathlib.Path(__file__).resolve().parents[4]
    ca_dir = os.path.join(os.environ.get("KEEL_LAB_DIR", str(root / ".lab")), lab.name, "ca")
    assert sorted(os.listdir(ca_dir)) == ["ca.crt", "ca.key"]
    assert os.stat(os.path.join(ca_dir, "ca.key")).st_mode & 0o077 == 0
    for host in lab.hosts:
        listing = subprocess.run(
            ["docker", "exec", lab.container(host), "ls", "/etc/keel/tls"], check=True, capture_output=True, text=True
        ).stdout.split()
        assert sorted(listing) == ["ca.crt", "host.crt", "host.key"], listing
