"""Fault injection and the write workload of the fault tests (this directory, run after the
default scenario's own tests), on top of its labclient.

The read-write route is HAProxy's primary port (5000) on the router of a region whose members are
never promoted (failover_priority 0: pg-aps1 in the lab) and which no test faults: that is the path
an application in that region takes, it survives every fault here, and HAProxy cuts the sessions of
a member it marks down (`on-marked-down shutdown-sessions`), so a writer stuck on a frozen or
unreachable leader is disconnected and reconnects to the new one. A libpq multi-host conninfo with
target_session_attrs=read-write was not chosen: libpq only picks a host at connect time, so a
session open on a frozen (paused) or cut-off leader would hang in its INSERT until TCP gives up,
which measures the client's TCP timeouts rather than the cluster's failover.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg2
from labclient import (
    ALL_VARS,
    CA_FILE,
    HOSTVARS,
    INVENTORY,
    LAB_NAME,
    ROOT,
    address,
    api,
    cluster,
    create_probe_table,
    healthy_leader,
    nudge_wal,
    user_password,
    wait_for,
)

sys.path.insert(0, str(ROOT / "tools" / "lab"))
import pgclients  # noqa: E402

PRIMARY = sorted(INVENTORY["postgres"]["hosts"])
NETWORK = "%s-net" % LAB_NAME
REGIONS = ALL_VARS["keel_regions"]
TABLE = "app.keel_probe"


def region(host):
    return REGIONS[HOSTVARS[host]["keel_region"]]


# The member the seed topology puts the leader on (keel_primary_region), the sync-eligible members
# and the router the writers go through (a member that is never promoted).
SEED_LEADER = next(h for h in PRIMARY if HOSTVARS[h]["keel_region"] == ALL_VARS["keel_primary_region"])
SYNC_ELIGIBLE = [h for h in PRIMARY if region(h).get("sync") and h != SEED_LEADER]
ROUTER = next(h for h in PRIMARY if region(h).get("failover_priority", 0) == 0)


def container(host):
    return "%s-%s" % (LAB_NAME, host)


def docker(*argv, check=True):
    result = subprocess.run(["docker", *argv], capture_output=True, text=True, check=False, timeout=120)
    if check:
        assert result.returncode == 0, "docker %s: %s" % (" ".join(argv), result.stderr)
    return result


def disconnect(host):
    docker("network", "disconnect", NETWORK, container(host))


def reconnect(host):
    """Back on the lab network at its own address and under its inventory name (as create.yml made it)."""
    docker("network", "connect", "--ip", address(host), "--alias", host, NETWORK, container(host))


def conninfo(host, port, user="app_user", dbname="app", **extra):
    """psycopg2 keyword arguments; TLS verify-full against the name the lab certificates carry."""
    return dict(
        host=ALL_VARS["keel_postgres_service_name"] if port != 5432 else host,
        hostaddr=address(host),
        port=port,
        dbname=dbname,
        user=user,
        password=user_password(user),
        sslmode="verify-full",
        sslrootcert=str(CA_FILE),
        connect_timeout=5,
        **extra,
    )


def start_writer(prefix, timeout=60):
    """A Writer inserting a row every 50 ms through the router's read-write port, once it commits."""
    create_probe_table(leader_name())
    writer = pgclients.Writer(conninfo(ROUTER, ALL_VARS.get("haproxy_primary_port", 5000)), TABLE, prefix)
    started = time.monotonic()
    writer.start()
    writer.resumed_after(started, timeout)
    return writer


def missing_on(host, markers):
    """How many of `markers` are NOT on `host` (read directly from its PostgreSQL)."""
    connection = psycopg2.connect(**conninfo(host, 5432, user="app_reader"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM %s WHERE marker = ANY(%%s)" % TABLE, (markers,))
            return len(set(markers)) - cursor.fetchone()[0]
    finally:
        connection.close()


def leader_name(via=None):
    """The leader according to the DCS, asked through `via` (default: the router, never faulted)."""
    leaders = [m["name"] for m in cluster(via or ROUTER)["members"] if m["role"] == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def members(via=None):
    return {m["name"]: m for m in cluster(via or ROUTER)["members"]}


def primaries():
    """Members whose own Patroni reports PostgreSQL running as a primary (not just the DCS view)."""
    return sorted(h for h in PRIMARY if api(h, "/patroni")[1].get("role") == "primary")


def wait_streaming(host, timeout):
    """Wait until `host` is a replica streaming from the leader."""

    def streaming():
        member = members().get(host, {})
        if member.get("role") in ("replica", "sync_standby") and member.get("state") == "streaming":
            return True
        nudge_wal()
        return False

    wait_for(streaming, timeout, interval=2, what="%s streaming as a replica" % host)


def hand_back(timeout=180):
    """Back to the seed topology: the seed leader leads, with both synchronous standbys."""
    current = healthy_leader(ROUTER, timeout=timeout)
    if current == SEED_LEADER:
        return
    wait_for(lambda: api(SEED_LEADER, "/sync")[0] == 200, 90, what="%s as sync standby" % SEED_LEADER)
    status, reply = api(current, "/switchover", "POST", {"leader": current, "candidate": SEED_LEADER}, auth=True)
    assert status == 200, reply
    wait_for(lambda: api(SEED_LEADER, "/primary")[0] == 200, 60, what="%s as primary again" % SEED_LEADER)
    assert healthy_leader(ROUTER, timeout=timeout) == SEED_LEADER


def dynamic_config():
    status, reply = api(ROUTER, "/config")
    assert status == 200, reply
    return reply


def patch_config(changes):
    status, reply = api(ROUTER, "/config", "PATCH", changes, auth=True)
    assert status == 200, reply
    return reply


def stop_patroni(host):
    """Graceful stop of the member (Patroni stops its PostgreSQL first)."""
    docker("exec", container(host), "systemctl", "stop", "patroni")


def start_patroni(host):
    docker("exec", container(host), "systemctl", "start", "patroni")


def setting(host, name):
    return psql_value(host, "SELECT current_setting('%s')" % name)


def psql_value(host, sql, dbname="postgres", user="monitor"):
    connection = psycopg2.connect(**conninfo(host, 5432, user=user, dbname=dbname))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]
    finally:
        connection.close()


class SingleInsert(threading.Thread):
    """One INSERT on a direct connection to `host`, with a server-side statement_timeout; records
    how it ended ("ok" or the error), when, and the server's notices (warnings)."""

    def __init__(self, host, marker, statement_timeout_ms):
        super().__init__(daemon=True)
        self.host, self.marker = host, marker
        self.options = "-c statement_timeout=%d" % statement_timeout_ms
        self.outcome, self.finished, self.notices, self.pid = None, None, [], None
        self.connected = threading.Event()
        self.connection = None

    def cancel(self):
        """What a client-side timeout does: a cancel request for the running statement."""
        self.connection.cancel()

    def run(self):
        connection = None
        try:
            connection = self.connection = psycopg2.connect(**conninfo(self.host, 5432, options=self.options))
            connection.autocommit = True
            self.pid = connection.get_backend_pid()
            self.connected.set()
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO %s (marker) VALUES (%%s)" % TABLE, (self.marker,))
            self.outcome = "ok"
        except psycopg2.Error as exc:
            self.outcome = "%s: %s" % (exc.pgcode, str(exc).strip())
        finally:
            self.finished = time.monotonic()
            self.connected.set()
            if connection is not None:
                self.notices = [n.strip() for n in connection.notices]
                connection.close()
