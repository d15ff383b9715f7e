"""A real PostgreSQL 15 primary + streaming standby for the module tests.

Session-scoped: initdb in a fresh directory under /tmp, free TCP ports on
127.0.0.1, Unix sockets in the same directory, pg_basebackup -R with a physical
slot for the standby, teardown with ``pg_ctl stop -m immediate``. When the tests
run as root the servers run as the ``postgres`` OS user (PostgreSQL refuses
root). Needs Debian's postgresql-15 (server binaries in /usr/lib/postgresql/15/bin,
override with KEEL_PG_BIN).

Modules run as real subprocesses (``python -m ansible_collections...``) with
their arguments as JSON, exactly the code that Ansible ships to a host.
"""

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "collections")
PG_BIN = os.environ.get("KEEL_PG_BIN", "/usr/lib/postgresql/15/bin")
MONITOR_USER, MONITOR_PASSWORD = "keel_monitor", "monitor-secret"
PLAIN_USER, PLAIN_PASSWORD = "keel_plain", "plain-secret"
STANDBY_NAME = "standby1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres_kwargs():
    """subprocess kwargs to run as the postgres OS user when we are root."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "env": dict(os.environ, HOME=entry.pw_dir)}


def pg(cmd, *args, check=True, timeout=120):
    result = subprocess.run(
        [os.path.join(PG_BIN, cmd)] + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/tmp",
        check=False,
        **as_postgres_kwargs(),
    )
    if check and result.returncode != 0:
        raise RuntimeError("%s %s failed (%d):\n%s\n%s" % (cmd, args, result.returncode, result.stdout, result.stderr))
    return result


class Server:
    def __init__(self, name, base, port):
        self.name = name
        self.base = base
        self.datadir = os.path.join(base, name)
        self.port = port
        self.socket_dir = base
        self.log = os.path.join(base, name + ".log")

    def conninfo(self):
        """Module connection options: superuser over the Unix socket."""
        return {"login_unix_socket": self.socket_dir, "login_port": self.port, "login_user": "postgres"}

    def sql(self, query, params=None):
        conn = psycopg2.connect(host=self.socket_dir, port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def value(self, query, params=None):
        return self.sql(query, params)[0][0]

    def initdb(self, settings):
        """A new cluster in datadir (scram for TCP, trust on the socket), listening on 127.0.0.1:port and
        the base directory's socket, fsync off, plus ``settings`` (postgresql.conf lines)."""
        pg("initdb", "-D", self.datadir, "-U", "postgres", "-E", "UTF8", "--locale=C", "-N",
           "--auth-local=trust", "--auth-host=scram-sha-256")  # fmt: skip
        self.append_conf(
            [
                "port = %d" % self.port,
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = '%s'" % self.base,
                "fsync = off",
            ]
            + list(settings)
        )

    def append_conf(self, lines):
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as conf:
            conf.write("\n# keel.postgres integration tests\n" + "\n".join(lines) + "\n")

    def start(self):
        pg("pg_ctl", "-D", self.datadir, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self):
        pg("pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop", check=False)


class Pair:
    def __init__(self, base, primary, standby):
        self.base = base
        self.primary = primary
        self.standby = standby

    def generate_wal(self, rows=2000):
        """Write roughly rows kB of WAL on the primary."""
        self.primary.sql("CREATE TABLE IF NOT EXISTS keel_filler (payload text)")
        self.primary.sql(
            "INSERT INTO keel_filler SELECT repeat(md5(g::text), 32) FROM generate_series(1, %s) g", (rows,)
        )

    def wait(self, what, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
            time.sleep(0.2)

    def standby_state(self):
        rows = self.primary.sql(
            "SELECT state, pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint"
            " FROM pg_stat_replication WHERE application_name = %s",
            (STANDBY_NAME,),
        )
        return rows[0] if rows else None

    def wait_streaming(self):
        self.wait("standby streaming", lambda: (self.standby_state() or (None,))[0] == "streaming")

    def wait_flushed(self):
        """Standby has received and flushed everything (replay may lag)."""
        self.wait("standby flush caught up", lambda: (self.standby_state() or (None, 1))[1] == 0)

    def wait_replayed(self):
        self.wait("standby replay caught up", lambda: (self.standby_state() or (None, 1, 1))[2] == 0)


def _prepare_base():
    base = tempfile.mkdtemp(prefix="keel-pg-", dir="/tmp")
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
    return base


@contextlib.contextmanager
def running_pair():
    """Start the primary + standby pair; stop and remove it on exit."""
    base = _prepare_base()
    primary = Server("primary", base, free_port())
    standby = Server("standby", base, free_port())
    started = []
    try:
        primary.initdb(
            [
                "max_wal_senders = 10",
                "max_replication_slots = 10",
                "wal_receiver_status_interval = 1s",
                "wal_keep_size = 0",
                "max_wal_size = 1GB",
                "log_min_messages = warning",
            ]
        )
        with open(os.path.join(primary.datadir, "pg_hba.conf"), "a") as hba:
            hba.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        primary.start()
        started.append(primary)
        primary.sql("CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE pg_monitor" % (MONITOR_USER, MONITOR_PASSWORD))
        primary.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (PLAIN_USER, PLAIN_PASSWORD))
        primary.sql("SELECT pg_create_physical_replication_slot(%s)", (STANDBY_NAME,))
        pg("pg_basebackup", "-D", standby.datadir, "-R", "-X", "stream", "-S", STANDBY_NAME, "-c", "fast",
           "-h", base, "-p", str(primary.port), "-U", "postgres")  # fmt: skip
        standby.append_conf(["port = %d" % standby.port, "cluster_name = '%s'" % STANDBY_NAME])
        standby.start()
        started.append(standby)
        pair = Pair(base, primary, standby)
        pair.wait_streaming()
        yield pair
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def run_module(name, args, check_mode=False, timeout=120):
    """Run keel.postgres.<name> as Ansible would on a host; return (rc, result dict, seconds)."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check_mode)}
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.keel.postgres.plugins.modules.%s" % name, json.dumps(payload)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd="/tmp",
        check=False,
    )
    elapsed = time.monotonic() - started
    try:
        result = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(
            "module %s printed no JSON:\nstdout: %s\nstderr: %s" % (name, proc.stdout, proc.stderr)
        ) from exc
    return proc.returncode, result, elapsed


def warning_texts(result):
    """Module warnings as plain strings (ansible-core 2.19 returns structured warning summaries)."""
    texts = []
    for warning in result.get("warnings", []):
        if isinstance(warning, dict):
            warning = (warning.get("event") or {}).get("msg", "")
        texts.append(warning)
    return texts
