"""A tiny Patroni-shaped REST server (http.server in a thread) for module tests.

It serves GET /cluster and GET /config from dicts, applies POST /switchover,
/failover, /restart, /reinitialize and PATCH /config to them the way Patroni
would (roughly), demands HTTP Basic auth on unsafe methods, and records every
request (method, path, body, Authorization and Host headers) for assertions.
"""

import base64
import copy
import json
import os
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USERNAME, PASSWORD = "patroni", "rest-secret"


def make_cert(directory):
    """Self-signed certificate for 127.0.0.1/localhost (also its own CA); returns (cert, key)."""
    cert, key = os.path.join(directory, "patroni.crt"), os.path.join(directory, "patroni.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def three_members(url, sync=("pg2",), leader="pg1", member_host="127.0.0.1"):
    """GET /cluster JSON of a 3-member cluster; pg3 is tagged nofailover."""
    port = url.rsplit(":", 1)[1]
    members = []
    for index, name in enumerate(("pg1", "pg2", "pg3"), start=1):
        member = {
            "name": name,
            "role": "leader" if name == leader else ("sync_standby" if name in sync else "replica"),
            "state": "running" if name == leader else "streaming",
            "api_url": "http://%s:%s/patroni" % (member_host, port),
            "host": "10.0.0.%d" % index,
            "port": 5432,
            "timeline": 2,
        }
        if name != leader:
            member.update(lag=0, receive_lag=0, replay_lag=0, receive_lsn="0/3000060", replay_lsn="0/3000060")
        if name == "pg3":
            member["tags"] = {"nofailover": True}
        members.append(member)
    return {"scope": "keel-main", "members": members}


class FakePatroni:
    def __init__(self, cluster_factory=three_members, config=None, tls=None):
        self.cluster_factory = cluster_factory
        self.config = copy.deepcopy(config) if config is not None else {"synchronous_mode": True, "ttl": 30}
        self.tls = tls
        self.requests = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.server.server_address[1])
        self.cluster = cluster_factory(self.url)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def unsafe_requests(self):
        return [r for r in self.requests if r["method"] not in ("GET", "HEAD")]

    @staticmethod
    def basic(username=USERNAME, password=PASSWORD):
        return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()

    # --- state changes, Patroni-like -------------------------------------------------------------
    def _leader(self):
        return next((m for m in self.cluster["members"] if m["role"] == "leader"), None)

    def _promote(self, candidate):
        old = self._leader()
        if candidate is None:
            candidate = next(m["name"] for m in self.cluster["members"] if m["role"] != "leader")
        for member in self.cluster["members"]:
            member["timeline"] += 1
            if member["name"] == candidate:
                member.update(role="leader", state="running")
                for key in ("lag", "receive_lag", "replay_lag", "receive_lsn", "replay_lsn"):
                    member.pop(key, None)
            elif old is not None and member["name"] == old["name"]:
                member.update(role="sync_standby", state="streaming", lag=0)
        return candidate

    def handle(self, method, path, body):
        if method == "GET" and path == "/cluster":
            return 200, self.cluster
        if method == "GET" and path == "/config":
            return 200, self.config
        if method == "PATCH" and path == "/config":
            self.config.update(body)
            if self.config.get("pause"):
                self.cluster["pause"] = True
            else:
                self.cluster.pop("pause", None)
            return 200, self.config
        if method == "POST" and path in ("/switchover", "/failover"):
            if body.get("scheduled_at"):
                self.cluster["scheduled_switchover"] = {
                    "at": body["scheduled_at"],
                    "from": body.get("leader"),
                    "to": body.get("candidate"),
                }
                return 202, "Switchover scheduled"
            name = self._promote(body.get("candidate"))
            return 200, 'Successfully %s over to "%s"' % ("switched" if path == "/switchover" else "failed", name)
        if method == "POST" and path in ("/restart", "/reinitialize"):
            return 200, "%s started" % path[1:]
        return 404, "not found"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "body": body,
                            "authorization": self.headers.get("Authorization"),
                            "host": self.headers.get("Host"),
                        }
                    )
                    if self.command not in ("GET", "HEAD") and self.headers.get("Authorization") != fake.basic():
                        status, payload = 401, "no auth header received"
                    else:
                        status, payload = fake.handle(self.command, self.path, body or {})
                data = (json.dumps(payload) if not isinstance(payload, str) else payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(payload, str) else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        return Handler
