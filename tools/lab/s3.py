#!/usr/bin/env python3
"""The lab's S3 endpoint: moto's S3 over TLS, with a CA the lab hosts can trust.

pgBackRest 2.45 always speaks TLS to S3 and fails with "unexpected eof while reading" when a
server drops the connection without a TLS close_notify (Werkzeug's server does, see
shared/LAB-NOTES.md §4). This launcher serves moto's WSGI application from a Werkzeug server whose
connections end with a proper TLS shutdown.

  s3.py start --state-dir DIR   start in the background (idempotent), print endpoint and CA
  s3.py stop  --state-dir DIR   stop it
  s3.py serve --state-dir DIR   run in the foreground (used by start)
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

PORT = int(os.environ.get("KEEL_S3_PORT", "9443"))
HOSTNAMES = ["s3mock", "localhost"]  # dot-free: moto reads a dotted Host header as a bucket name


def _paths(state_dir):
    return {
        "ca_key": os.path.join(state_dir, "ca.key"),
        "ca_crt": os.path.join(state_dir, "ca.crt"),
        "key": os.path.join(state_dir, "server.key"),
        "crt": os.path.join(state_dir, "server.crt"),
        "pid": os.path.join(state_dir, "s3.pid"),
        "log": os.path.join(state_dir, "s3.log"),
    }


def ensure_certificates(state_dir):
    """Create a lab CA and a server certificate for HOSTNAMES once; reuse them afterwards."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    p = _paths(state_dir)
    if all(os.path.exists(p[k]) for k in ("ca_crt", "key", "crt")):
        return p
    os.makedirs(state_dir, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def write_key(path, key):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keel lab S3 CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(h) for h in HOSTNAMES] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    crt = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTNAMES[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_key(p["ca_key"], ca_key)
    write_key(p["key"], key)
    with open(p["ca_crt"], "wb") as fh:
        fh.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(p["crt"], "wb") as fh:
        fh.write(crt.public_bytes(serialization.Encoding.PEM))
    return p


def serve(state_dir):
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    p = ensure_certificates(state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(p["crt"], p["key"])
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("0.0.0.0", PORT, app, threaded=True, ssl_context=context)
    plain_shutdown = server.shutdown_request

    def shutdown_with_close_notify(request):
        # Send TLS close_notify before the TCP close so clients see a clean end of stream.
        try:
            request.settimeout(2)
            request.unwrap()
        except (OSError, ValueError):
            pass
        plain_shutdown(request)

    server.shutdown_request = shutdown_with_close_notify
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


def _alive(pid_path):
    try:
        with open(pid_path) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _answers():
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=1):
            return True
    except OSError:
        return False


def start(state_dir):
    p = ensure_certificates(state_dir)
    if _alive(p["pid"]) and _answers():
        print("s3: running at https://s3mock:%d (CA %s)" % (PORT, os.path.abspath(p["ca_crt"])))
        return 0
    if _answers():
        print("s3: port %d is taken by another process; fix: free it or set KEEL_S3_PORT" % PORT, file=sys.stderr)
        return 1
    with open(p["log"], "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", "--state-dir", state_dir],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    with open(p["pid"], "w") as fh:
        fh.write(str(proc.pid))
    for _ in range(100):
        if _answers():
            print("s3: started at https://s3mock:%d (CA %s)" % (PORT, os.path.abspath(p["ca_crt"])))
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    print("s3: the server did not start; see %s" % p["log"], file=sys.stderr)
    return 1


def stop(state_dir):
    p = _paths(state_dir)
    pid = _alive(p["pid"])
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(p["pid"]):
                break
            time.sleep(0.1)
        print("s3: stopped")
    if os.path.exists(p["pid"]):
        os.unlink(p["pid"])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop", "serve"])
    parser.add_argument("--state-dir", default=".lab/s3")
    args = parser.parse_args(argv)
    if args.action == "serve":
        serve(args.state_dir)
        return 0
    return start(args.state_dir) if args.action == "start" else stop(args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
