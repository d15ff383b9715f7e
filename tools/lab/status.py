"""Status page of a lab: where everything is and whether it answers, read from the live services.

Run with the project's venv from the repository root (`make lab-status`):

    .venv/bin/python tools/lab/status.py

KEEL_LAB_NAME (default keel) and KEEL_LAB_NET (default 172.28.10) select the lab instance, as for
the inventory; KEEL_LAB_DIR (default <repository>/.lab) holds its CA. Every service is asked at
once, each with a short timeout: Patroni's REST API and etcd, Redis and pgBackRest through their
own clients inside the containers (`docker exec`), PgBouncer and HAProxy from this machine with the
TLS handshake a client makes. Exit status 0 when everything answers, 1 when anything is down; the
page is printed either way. Everything below `collect()` is pure and unit-tested
(tests/unit/tools/test_lab_status.py).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT = 8  # seconds, for each question to one service (its own client times out sooner)
CA_ON_HOSTS = "/etc/keel/tls/ca.crt"
PATRONI_CONFIG = "/etc/patroni/patroni.yml"
PGBACKREST_CONFIG = "/etc/pgbackrest/pgbackrest.conf"
PGBOUNCER_PORT = 6432
HAPROXY_PORTS = {5000: "read-write", 5001: "read-only", 5002: "synchronous"}
UP, DOWN, WARN = "up", "DOWN", "warn"
# The 8-byte SSLRequest of the PostgreSQL protocol: length 8, code 80877103.
SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@dataclasses.dataclass
class Row:
    section: str
    name: str
    state: str  # UP, DOWN or WARN (answers, but something needs attention: not counted as down)
    text: str


# --- pure functions: decisions and formatting ---------------------------------------------------
def role_name(role):
    """Patroni's role as a newcomer reads it."""
    return {
        "leader": "leader",
        "primary": "leader",
        "master": "leader",
        "standby_leader": "standby leader",
        "sync_standby": "sync",
        "quorum_standby": "quorum sync",
        "replica": "async",
    }.get(role, role or "?")


def format_bytes(value):
    """A byte count (Patroni's lag) in the largest unit that keeps it readable; None/'unknown' -> '?'."""
    if value is None or isinstance(value, str):
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "?"  # pragma: no cover


def parse_json_lines(text, count):
    """`count` JSON documents, one per line (curl -w '\\n' with several URLs); ValueError otherwise."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != count:
        raise ValueError("expected %d answers, got %d" % (count, len(lines)))
    return [json.loads(line) for line in lines]


def reason(text, limit=100):
    """The reason shown next to DOWN: the last line of an error output that names an error (else its
    last line; a JSON log line reduced to its error), shortened."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return "no answer"
    # The line that names the error, not the advice printed after it (curl's "how to fix it").
    errors = [line for line in lines if line.startswith("curl: (") or "error" in line[:12].lower()]
    line = (errors or lines)[-1]
    if line.startswith("{"):
        try:
            record = json.loads(line)
            line = str(record.get("error") or record.get("msg") or line)
        except ValueError:
            pass
    return line if len(line) <= limit else line[: limit - 3] + "..."


def patroni_rows(scope, members, answers, primary_position=None):
    """Rows of one Patroni cluster.

    members: inventory host -> address. answers: host -> (cluster view, /patroni state) as that
    member's REST API gave them, or an error string. A member is up when its own API answers and
    its own view lists it running or streaming. primary_position: the primary cluster leader's WAL
    position, to show how far a standby leader (the DR cluster) is behind."""
    rows = []
    for host in sorted(members):
        answer = answers.get(host, "not asked")
        label = "%-8s %-13s" % (host, members[host])
        if isinstance(answer, str):
            rows.append(Row(scope, host, DOWN, "%s Patroni API: %s" % (label, answer)))
            continue
        view, state = answer
        entry = next((m for m in view.get("members", []) if m.get("name") == host), None)
        if entry is None:
            rows.append(Row(scope, host, DOWN, "%s not a member of %s in the DCS" % (label, scope)))
            continue
        role = role_name(entry.get("role"))
        text = "%s %-15s %-10s TL %-3s" % (label, role, entry.get("state"), entry.get("timeline", "?"))
        if entry.get("role") in ("leader", "primary", "master"):
            text += " lag -"
        elif entry.get("role") == "standby_leader":
            replayed = (state.get("xlog") or {}).get("replayed_location")
            if primary_position is None or replayed is None:
                text += " lag ? (primary leader not known)"
            else:
                text += " lag %s behind the primary" % format_bytes(max(0, primary_position - replayed))
        else:
            text += " lag %s" % format_bytes(entry.get("lag"))
        # A member tagged nostream (never a synchronous candidate) replays from the archive only.
        replicating = "in archive recovery" if (entry.get("tags") or {}).get("nostream") else "streaming"
        healthy = entry.get("state") in ("running", replicating)
        rows.append(Row(scope, host, UP if healthy else DOWN, text))
    return rows


def leader_position(answers):
    """WAL position of the leader among the answers (its /patroni xlog.location), or None."""
    for answer in answers.values():
        if not isinstance(answer, str):
            state = answer[1]
            if state.get("role") in ("primary", "master") and (state.get("xlog") or {}).get("location") is not None:
                return state["xlog"]["location"]
    return None


def etcd_row(host, address, answer):
    """answer: (endpoint health JSON, endpoint status JSON) from etcdctl, or an error string."""
    name = "%-8s https://%s:2379" % (host, address)
    if isinstance(answer, str):
        return Row("etcd", host, DOWN, "%s %s" % (name, answer))
    health, status = answer
    entry = health[0] if health else {}
    if not entry.get("health"):
        return Row("etcd", host, DOWN, "%s unhealthy: %s" % (name, entry.get("error", "no reason given")))
    detail = status[0]["Status"] if status else {}
    is_leader = detail.get("leader") and detail.get("leader") == detail.get("header", {}).get("member_id")
    return Row(
        "etcd",
        host,
        UP,
        "%s healthy   %-8s v%s  raft term %s  took %s"
        % (
            name,
            "leader" if is_leader else "follower",
            detail.get("version", "?"),
            detail.get("raftTerm", "?"),
            format_took(entry.get("took")),
        ),
    )


def format_took(took):
    """etcdctl's Go duration ("8.632158ms", "1.2s") rounded to whole milliseconds."""
    for unit, factor in (("ms", 1), ("µs", 0.001), ("s", 1000)):
        if took and took.endswith(unit):
            try:
                return "%d ms" % round(float(took[: -len(unit)]) * factor)
            except ValueError:
                break
    return took or "?"


def parse_redis_info(text):
    """`key:value` lines (CLUSTER INFO) -> dict."""
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def redis_row(host, address, port, answer):
    """answer: (CLUSTER INFO text, ROLE text) from redis-cli, or an error string."""
    name = "%-8s %s:%s" % (host, address, port)
    if isinstance(answer, str):
        return Row("redis", "%s:%s" % (host, port), DOWN, "%s %s" % (name, answer))
    info = parse_redis_info(answer[0])
    role = (answer[1].split() or ["?"])[0]
    role = {"master": "primary", "slave": "replica"}.get(role, role)
    state = info.get("cluster_state", "?")
    text = "%s %-8s cluster_state %s, slots ok %s/16384, %s nodes" % (
        name,
        role,
        state,
        info.get("cluster_slots_ok", "?"),
        info.get("cluster_known_nodes", "?"),
    )
    return Row("redis", "%s:%s" % (host, port), UP if state == "ok" else DOWN, text)


def backup_row(stanza, info, now):
    """Row of the stanza from `pgbackrest info --output=json` (parsed), or an error string.
    No backup yet is a warning: the repository answers, but nothing can be restored."""
    if isinstance(info, str):
        return Row("pgbackrest", stanza, DOWN, "stanza %s: %s" % (stanza, info))
    entry = next((s for s in info if s.get("name") == stanza), None)
    if entry is None:
        return Row("pgbackrest", stanza, DOWN, "stanza %s not in the repository" % stanza)
    archive = entry.get("archive") or [{}]
    wal = "WAL archived up to %s" % (archive[-1].get("max") or "nothing")
    backups = entry.get("backup") or []
    if not backups:
        message = (entry.get("status") or {}).get("message", "no backup")
        return Row("pgbackrest", stanza, WARN, "stanza %s: %s (no restore possible yet); %s" % (stanza, message, wal))
    last = backups[-1]
    stop = last.get("timestamp", {}).get("stop")
    when = datetime.datetime.fromtimestamp(stop, datetime.UTC) if stop else None
    age = "?"
    if when:
        minutes = int((now - when).total_seconds() // 60)
        age = "%d min ago" % minutes if minutes < 120 else "%.1f h ago" % (minutes / 60)
    text = "stanza %s: last backup %s %s, finished %s (%s), %s; %s" % (
        stanza,
        last.get("type", "?"),
        last.get("label", "?"),
        when.strftime("%Y-%m-%d %H:%M:%SZ") if when else "?",
        age,
        format_bytes((last.get("info") or {}).get("size")),
        wal,
    )
    state = UP if (entry.get("status") or {}).get("code", 0) == 0 else WARN
    return Row("pgbackrest", stanza, state, text)


def pgbackrest_settings(conf):
    """(stanza, S3 endpoint) of a deployed pgbackrest.conf; ValueError when either is missing."""
    stanzas = [line.strip()[1:-1] for line in conf.splitlines() if line.strip().startswith("[")]
    stanzas = [name for name in stanzas if name != "global" and not name.startswith("global:")]
    endpoints = [line.split("=", 1)[1].strip() for line in conf.splitlines() if line.startswith("repo1-s3-endpoint=")]
    if not stanzas or not endpoints:
        raise ValueError("%s names no stanza or no repo1-s3-endpoint" % PGBACKREST_CONFIG)
    return stanzas[0], endpoints[0]


def s3_row(endpoint, answer):
    """answer: the HTTP status (int) a lab host got from the S3 endpoint (any HTTP answer is up), or
    the reason it got none."""
    if isinstance(answer, str) or not answer:
        return Row("s3", endpoint, DOWN, "https://%s from the lab hosts: %s" % (endpoint, answer or "no HTTP answer"))
    return Row("s3", endpoint, UP, "https://%s from the lab hosts: answers (HTTP %s)" % (endpoint, answer))


def tls_row(section, name, address, port, error, what=""):
    """Row of a PostgreSQL-protocol TLS check (PgBouncer, or HAProxy passing TLS through)."""
    target = "%-8s %s:%s%s" % (name, address, port, (" " + what) if what else "")
    if error:
        return Row(section, "%s:%s" % (name, port), DOWN, "%s %s" % (target, error))
    return Row(section, "%s:%s" % (name, port), UP, "%s TLS ok" % target)


def psql_line(service, address, port, dbname, user, ca_file, password=None):
    """A psql command line to paste: verify-full against the service name, hostaddr = the router."""
    conninfo = "host=%s hostaddr=%s port=%s dbname=%s user=%s sslmode=verify-full sslrootcert=%s" % (
        service,
        address,
        port,
        dbname,
        user,
        ca_file,
    )
    prefix = "PGPASSWORD=%s " % password if password else ""
    return '%spsql "%s"' % (prefix, conninfo)


def exit_code(rows):
    return 1 if any(row.state == DOWN for row in rows) else 0


SECTIONS = [
    ("patroni", "Patroni"),
    ("etcd", "etcd (TLS, user patroni)"),
    ("redis", "Redis Cluster (TLS, user admin)"),
    ("pgbouncer", "PgBouncer (port %d, TLS as db clients see it)" % PGBOUNCER_PORT),
    ("haproxy", "HAProxy (%s)" % ", ".join("%d %s" % item for item in HAPROXY_PORTS.items())),
    ("pgbackrest", "pgBackRest"),
    ("s3", "S3 endpoint"),
]


def render(header, rows, footer, clusters=()):
    """The page: one block per section (one per Patroni cluster), then the footer, then a verdict."""
    out = [header, ""]
    for key, title in SECTIONS:
        if key == "patroni":
            for scope, title_of_cluster in clusters:
                out.append("Patroni cluster %s" % title_of_cluster)
                out += ["  %-4s  %s" % (r.state, r.text) for r in rows if r.section == scope]
                out.append("")
            continue
        out.append(title)
        out += ["  %-4s  %s" % (r.state, r.text) for r in rows if r.section == key]
        out.append("")
    out += footer
    down = [r for r in rows if r.state == DOWN]
    out.append("")
    if down:
        out.append("%d DOWN: %s" % (len(down), ", ".join("%s %s" % (r.section, r.name) for r in down)))
    else:
        out.append("ALL UP (%d checks)" % len(rows))
    return "\n".join(out)


# --- talking to the lab ---------------------------------------------------------------------------
def run(argv, env=None, timeout=TIMEOUT, output_on_failure=False):
    """stdout of a command, or raise RuntimeError with the reason shown on the page.
    output_on_failure: a failing command's stdout is its answer (etcdctl endpoint health -w json
    exits 1 and describes the unhealthy endpoint on stdout)."""
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=dict(os.environ, **(env or {}))
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError("no answer within %d s" % timeout) from None
    if result.returncode != 0 and not (output_on_failure and result.stdout.strip()):
        raise RuntimeError(reason(result.stderr or result.stdout))
    return result.stdout


class Lab:
    def __init__(self):
        self.name = os.environ.get("KEEL_LAB_NAME", "keel")
        self.net = os.environ.get("KEEL_LAB_NET", "172.28.10")
        inventory = json.loads(
            run(
                [str(pathlib.Path(sys.executable).parent / "ansible-inventory"), "-i", "inventories/lab", "--list"],
                env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
                timeout=60,
            )
        )
        self.inventory = inventory
        self.hostvars = inventory["_meta"]["hostvars"]
        self.vars = self.hostvars[sorted(self.hostvars)[0]]
        lab_dir = pathlib.Path(os.environ.get("KEEL_LAB_DIR", str(ROOT / ".lab")))
        self.ca_file = lab_dir / self.name / "ca" / "ca.crt"
        self.s3_port = os.environ.get("KEEL_S3_PORT", "9443")

    def group(self, group):
        entry = self.inventory.get(group, {})
        hosts = set(entry.get("hosts", []))
        for child in entry.get("children", []):
            hosts |= set(self.group(child))
        return sorted(hosts)

    def router(self):
        """The HAProxy host of the primary region (the first router when none is there)."""
        routers = self.group("haproxy")
        local = [h for h in routers if self.hostvars[h].get("keel_region") == self.vars.get("keel_primary_region")]
        return (local or routers)[0]

    def address(self, host):
        return "%s.%s" % (self.net, self.hostvars[host]["keel_lab_host_id"])

    def container(self, host):
        return "%s-%s" % (self.name, host)

    def exec(self, host, *argv, env=None, output_on_failure=False):
        """Run argv in the host's container; env values are passed by name, never on a command line."""
        names = []
        for key in env or {}:
            names += ["-e", key]
        return run(
            ["docker", "exec", *names, self.container(host), *argv], env=env, output_on_failure=output_on_failure
        )

    # Each ask_* returns the answer, or the reason as a string.
    def ask_patroni(self, host):
        url = "https://%s:8008" % self.address(host)
        try:
            out = self.exec(
                host,
                "curl", "-sS", "--max-time", "3", "--cacert", CA_ON_HOSTS, "-w", "\\n",
                url + "/cluster", url + "/patroni",
            )  # fmt: skip
            return tuple(parse_json_lines(out, 2))
        except (RuntimeError, ValueError) as exc:
            return str(exc)

    def ask_etcd(self, host):
        base = ["etcdctl", "--endpoints=https://%s:2379" % self.address(host), "--cacert=" + CA_ON_HOSTS]
        base.append("--command-timeout=4s")
        env = {"ETCDCTL_API": "3", "ETCDCTL_USER": "patroni:" + self.vars["keel_etcd_patroni_password"]}
        try:
            health = json.loads(
                self.exec(host, *base, "endpoint", "health", "-w", "json", env=env, output_on_failure=True)
            )
            if not (health and health[0].get("health")):
                return health, []
            status = json.loads(self.exec(host, *base, "endpoint", "status", "-w", "json", env=env))
            return health, status
        except (RuntimeError, ValueError) as exc:
            return str(exc)

    def redis_ports(self, host):
        try:
            return sorted(int(p) for p in self.exec(host, "ls", "/etc/redis/cluster").split() if p.isdigit())
        except RuntimeError as exc:
            return str(exc)

    def ask_redis(self, host, port):
        cli = ["redis-cli", "--tls", "--cacert", CA_ON_HOSTS, "-h", self.address(host), "-p", str(port)]
        cli += ["--user", "admin", "--no-auth-warning"]
        env = {"REDISCLI_AUTH": self.vars["redis_cluster_admin_password"]}
        try:
            info = self.exec(host, *cli, "cluster", "info", env=env)
            if "cluster_state" not in info:
                return reason(info)
            return info, self.exec(host, *cli, "role", env=env)
        except RuntimeError as exc:
            return str(exc)

    def ask_pgbackrest(self):
        """pgbackrest info on the first PostgreSQL host that answers: (stanza, S3 endpoint, parsed
        info, host), or ("?", "?", the reason, None)."""
        why = "no PostgreSQL host"
        for host in self.group("postgres"):
            try:
                stanza, endpoint = pgbackrest_settings(self.exec(host, "cat", PGBACKREST_CONFIG))
                command = ["pgbackrest", "--stanza=" + stanza, "info", "--output=json"]
                info = self.exec(host, "runuser", "-u", "postgres", "--", *command)
                return stanza, endpoint, json.loads(info), host
            except (RuntimeError, ValueError) as exc:
                why = "%s: %s" % (host, exc)
        return "?", "?", why, None

    def ask_s3(self, host, endpoint):
        try:
            return int(self.exec(
                host, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
                "--cacert", "/etc/pgbackrest/s3-ca.crt", "https://%s/" % endpoint,
            ).strip())  # fmt: skip
        except (RuntimeError, ValueError) as exc:
            return str(exc)

    def tls_check(self, address, port, server_name):
        """None when the port answers the PostgreSQL SSLRequest and completes a TLS handshake verified
        against the lab CA for server_name; else the reason."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file))
        except OSError as exc:
            return "lab CA %s: %s" % (self.ca_file, exc.strerror)
        try:
            with socket.create_connection((address, port), timeout=3) as sock:
                sock.sendall(SSL_REQUEST)
                reply = sock.recv(1)
                if reply != b"S":
                    return "no TLS offered (reply %r)" % reply
                with context.wrap_socket(sock, server_hostname=server_name):
                    return None
        except (OSError, ssl.SSLError) as exc:
            return str(exc) or type(exc).__name__


def collect(lab):
    """Ask everything at once; rows, the Patroni clusters and the pgBackRest answer."""
    service = lab.vars["keel_postgres_service_name"]
    clusters = [
        (lab.vars["keel_cluster_name"], "postgres"),
        (lab.vars["keel_dr_cluster_name"], "postgres_dr"),
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        patroni = {h: pool.submit(lab.ask_patroni, h) for _, g in clusters for h in lab.group(g)}
        etcd = {h: pool.submit(lab.ask_etcd, h) for h in lab.group("etcd")}
        ports = {h: pool.submit(lab.redis_ports, h) for h in lab.group("redis")}
        bouncers = {
            h: pool.submit(lab.tls_check, lab.address(h), PGBOUNCER_PORT, service) for h in lab.group("pgbouncer")
        }
        routers = {
            (h, p): pool.submit(lab.tls_check, lab.address(h), p, service)
            for h in lab.group("haproxy")
            for p in HAPROXY_PORTS
        }
        backrest = pool.submit(lab.ask_pgbackrest)
        redis = {}
        for host, future in ports.items():
            found = future.result()
            redis[host] = found if isinstance(found, str) else {p: pool.submit(lab.ask_redis, host, p) for p in found}
        stanza, endpoint, info, backrest_host = backrest.result()
        s3 = pool.submit(lab.ask_s3, backrest_host, endpoint) if backrest_host else None

        rows = []
        answers = {h: f.result() for h, f in patroni.items()}
        primary = leader_position({h: answers[h] for h in lab.group("postgres")})
        titles = []
        for scope, group in clusters:
            members = {h: lab.address(h) for h in lab.group(group)}
            rows += patroni_rows(scope, members, {h: answers[h] for h in members}, primary)
            titles.append((scope, scope if group == "postgres" else "%s (DR standby cluster)" % scope))
        rows += [etcd_row(h, lab.address(h), f.result()) for h, f in etcd.items()]
        for host, found in redis.items():
            if isinstance(found, str):
                rows.append(Row("redis", host, DOWN, "%-8s Redis instances not found: %s" % (host, found)))
                continue
            rows += [redis_row(host, lab.address(host), p, f.result()) for p, f in found.items()]
        rows += [tls_row("pgbouncer", h, lab.address(h), PGBOUNCER_PORT, f.result()) for h, f in bouncers.items()]
        rows += [
            tls_row("haproxy", h, lab.address(h), p, f.result(), HAPROXY_PORTS[p]) for (h, p), f in routers.items()
        ]
        rows.append(backup_row(stanza, info, datetime.datetime.now(datetime.UTC)))
        rows.append(s3_row(endpoint, s3.result() if s3 else "not asked: no lab host answered for pgBackRest"))
    return rows, titles


def footer(lab):
    service = lab.vars["keel_postgres_service_name"]
    ca_file = os.path.relpath(lab.ca_file, ROOT) if str(lab.ca_file).startswith(str(ROOT)) else str(lab.ca_file)
    app = next(u for u in lab.vars["postgresql_users"] if u["name"] == "app_user")
    router = lab.router()
    lines = ["Connect from this machine (repository root; lab-only password from the inventory):"]
    for port, what in HAPROXY_PORTS.items():
        line = psql_line(service, lab.address(router), port, "app", "app_user", ca_file, app["password"])
        lines.append("  %-12s %s" % (what, line))
    s3_ca = os.path.join(os.environ.get("KEEL_S3_STATE_DIR", ".lab/s3"), "ca.crt")
    lines.append("  S3 from this machine: https://localhost:%s (CA %s)" % (lab.s3_port, s3_ca))
    lines.append("  a shell on a host: docker exec -it %s bash" % lab.container(router))
    return lines


def main():
    started = time.monotonic()
    os.chdir(ROOT)
    lab = Lab()
    rows, titles = collect(lab)
    header = "lab '%s' on %s.0/24, checked %s in %.1f s" % (
        lab.name,
        lab.net,
        datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        time.monotonic() - started,
    )
    print(render(header, rows, footer(lab), titles))
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
