"""Clients the verify step uses from OUTSIDE the containers: etcd's JSON gateway and Patroni's REST
API over TLS verified against the lab CA, and psql (the Docker host's client) with verify-full.
Lab-only passwords come from the inventory, as an operator's vault would provide them."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from conftest import INVENTORY, LAB_NAME, LAB_NET

ROOT = pathlib.Path(__file__).resolve().parents[3]
LAB_DIR = pathlib.Path(os.environ.get("KEEL_LAB_DIR", str(ROOT / ".lab")))
CA_FILE = LAB_DIR / LAB_NAME / "ca" / "ca.crt"
HOSTVARS = INVENTORY["_meta"]["hostvars"]
ALL_VARS = HOSTVARS[INVENTORY["lab"]["hosts"][0]]


def group_hosts(group):
    """Hosts of an inventory group, through its child groups (ansible-inventory --list nests them)."""
    entry = INVENTORY.get(group, {})
    hosts = set(entry.get("hosts", []))
    for child in entry.get("children", []):
        hosts |= set(group_hosts(child))
    return sorted(hosts)


def address(host):
    return "%s.%s" % (LAB_NET, HOSTVARS[host]["keel_lab_host_id"])


def secret(name):
    return ALL_VARS[name]


def tls_context():
    context = ssl.create_default_context(cafile=str(CA_FILE))
    context.check_hostname = True
    return context


def http(method, url, body=None, headers=None, auth=None, timeout=10):
    """Return (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        token = base64.b64encode(("%s:%s" % auth).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context()) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


# --- etcd ---------------------------------------------------------------------------------------
def b64(text):
    return base64.b64encode(text.encode()).decode()


def etcd(host, path, body, token=None):
    headers = {"Authorization": token} if token else {}
    return http("POST", "https://%s:2379%s" % (address(host), path), body, headers=headers)


def etcd_token(host, user, password):
    status, reply = etcd(host, "/v3/auth/authenticate", {"name": user, "password": password})
    assert status == 200, reply
    return reply["token"]


# --- Patroni ------------------------------------------------------------------------------------
def api(host, path, method="GET", body=None, auth=False):
    credentials = ("patroni", secret("keel_patroni_restapi_password")) if auth else None
    # POST /switchover answers once the switchover is done: allow it the time Patroni may take.
    timeout = 120 if method != "GET" else 10
    return http(method, "https://%s:8008%s" % (address(host), path), body, auth=credentials, timeout=timeout)


_LAST_NUDGE = [0.0]


def nudge_wal(every=10):
    """CHECKPOINT on every server of the lab that runs as a primary (at most once per `every` s).

    A member that pg_rewind rewound (or a standby restarted right after its source switched WAL
    segments) becomes consistent, and so serves, only once it has replayed past the position its
    source had reached (minRecoveryPoint). On a busy cluster that WAL follows within milliseconds;
    on this lab, idle between tests, it may not be written for minutes. A forced checkpoint writes
    a record without touching any data. Asked over the local socket, so it works on a host cut off
    from the lab network."""
    if time.monotonic() - _LAST_NUDGE[0] < every:
        return
    _LAST_NUDGE[0] = time.monotonic()
    for host in group_hosts("postgres") + group_hosts("postgres_dr"):
        docker_exec(
            host,
            "sh",
            "-c",
            'test "$(runuser -u postgres -- psql -XAtc "SELECT pg_is_in_recovery()")" = f'
            " && runuser -u postgres -- psql -XAtqc CHECKPOINT",
            check=False,
        )


def replicating_state(member):
    """The state a healthy replica of Patroni's /cluster (or /patroni replication_state) shows: a
    member tagged nostream (not a synchronous candidate under strict mode) replays from the archive."""
    return "in archive recovery" if (member.get("tags") or {}).get("nostream") else "streaming"


def member_healthy(member):
    """A /cluster member that runs in its role: a leader running, a replica replicating as it should."""
    return member["state"] in ("running", replicating_state(member))


def healthy_leader(host, timeout=180):
    """Wait until the cluster has one leader, every member runs and the sync standbys are assigned."""

    def ready():
        view = cluster(host)
        leaders = [m["name"] for m in view["members"] if m["role"] == "leader"]
        running = all(member_healthy(m) for m in view["members"])
        syncs = [m for m in view["members"] if m["role"] == "sync_standby"]
        if len(leaders) == 1 and running and len(syncs) == 2:
            return leaders[0]
        nudge_wal()
        return None

    return wait_for(ready, timeout, interval=2, what="a healthy cluster with its synchronous standbys")


def cluster(host):
    status, reply = api(host, "/cluster")
    assert status == 200, reply
    return reply


def leader(host):
    members = [m for m in cluster(host)["members"] if m["role"] in ("leader", "standby_leader")]
    return members[0]["name"] if len(members) == 1 else None


def wait_for(predicate, timeout, interval=1.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, AssertionError, subprocess.SubprocessError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


# --- PostgreSQL ---------------------------------------------------------------------------------
def user_password(name):
    return next(u["password"] for u in ALL_VARS["postgresql_users"] if u["name"] == name)


def psql(host, sql, user="monitor", dbname="postgres", timeout=20):
    env = dict(os.environ, PGPASSWORD=user_password(user), PGCONNECT_TIMEOUT="5")
    dsn = "host=%s port=5432 dbname=%s user=%s sslmode=verify-full sslrootcert=%s" % (
        address(host),
        dbname,
        user,
        CA_FILE,
    )
    result = subprocess.run(
        [
            "/usr/bin/psql",
            dsn,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--field-separator=|",
            "-v",
            "ON_ERROR_STOP=1",
            "--command",
            sql,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, "%s on %s: %s" % (sql, host, result.stderr)
    return result.stdout.strip()


def docker_exec(host, *argv, check=True):
    result = subprocess.run(
        ["docker", "exec", "%s-%s" % (LAB_NAME, host), *argv], capture_output=True, text=True, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def superuser_sql(host, sql, dbname="app", port=5432, check=True):
    """psql as the postgres account over the local socket of `host` (a member, or a scratch copy on
    `port`): stdout, stripped."""
    result = docker_exec(
        host, "runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-d", dbname, "-XAtc", sql, check=check
    )
    return result.stdout.strip()


def switch_and_wait_archived(leader, timeout, what):
    """Close the current WAL segment on leader and wait until pg_stat_archiver reports it archived."""
    segment = superuser_sql(leader, "SELECT pg_walfile_name(pg_switch_wal())", dbname="postgres")
    wait_for(
        lambda: (
            superuser_sql(leader, "SELECT last_archived_wal >= '%s' FROM pg_stat_archiver" % segment, dbname="postgres")
            == "t"
        ),
        timeout,
        interval=2,
        what="%s (segment %s)" % (what, segment),
    )


def wait_serving(host, timeout):
    """Wait until Patroni on `host` runs PostgreSQL in its role: a leader as a primary, a standby
    leader or a replica streaming (replaying from the archive when tagged nostream). A timeout fails
    with the member's last Patroni journal lines (what PostgreSQL was doing: replaying from the
    archive, refusing a timeline...)."""

    def serving():
        status, state = api(host, "/patroni")
        if status == 200 and state.get("state") == "running":
            if state.get("role") == "primary" or state.get("replication_state") == replicating_state(state):
                return True
        nudge_wal()
        return None

    started = time.monotonic()
    try:
        wait_for(serving, timeout, interval=2, what="%s to serve in its role" % host)
    except AssertionError as exc:
        journal = docker_exec(host, "journalctl", "-u", "patroni", "-n", "60", "--no-pager", "-o", "cat", check=False)
        raise AssertionError("%s\n--- last journal lines of %s ---\n%s" % (exc, host, journal.stdout)) from None
    return time.monotonic() - started


def ansible_env():
    """Environment for the ansible commands the tests run: this checkout's config and collection."""
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )


# --- the probe table: rows written on a leader and looked for on the other members -------------
PROBE_TABLE = "CREATE TABLE IF NOT EXISTS app.keel_probe (marker text PRIMARY KEY, at timestamptz DEFAULT now())"


def create_probe_table(primary):
    psql(primary, PROBE_TABLE, user="app_migrator", dbname="app")


def write_marker(primary, marker, timeout=20):
    psql(
        primary,
        "INSERT INTO app.keel_probe (marker) VALUES ('%s')" % marker,
        user="app_user",
        dbname="app",
        timeout=timeout,
    )


def marker_count(host, marker):
    return psql(
        host, "SELECT count(*) FROM app.keel_probe WHERE marker = '%s'" % marker, user="app_reader", dbname="app"
    )


def wait_for_marker(host, marker, timeout, what):
    wait_for(lambda: marker_count(host, marker) == "1", timeout, what=what)


# --- converge ---------------------------------------------------------------------------------
def run_playbook(name, extra_vars=None, tags=None, timeout=1500, limit=None, check=False):
    """Run playbooks/<name> against the scenario's inventory; returns the CompletedProcess."""
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    command = [
        str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        inventory,
        str(ROOT / "playbooks" / name),
    ]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if tags:
        command += ["--tags", tags]
    if limit:
        command += ["--limit", limit]
    if check:
        command.append("--check")
    return subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=ansible_env(), check=False, timeout=timeout
    )


def converge(extra_vars=None, tags=None, timeout=1500, limit=None):
    """Run playbooks/site.yml against the scenario's inventory; returns the CompletedProcess."""
    return run_playbook("site.yml", extra_vars, tags=tags, timeout=timeout, limit=limit)


def failures(result, context=25):
    """What went wrong in an ansible-playbook run: every failed task (its header and the lines
    after "fatal:"/"failed:"), then the tail of the output (the recap)."""
    lines = result.stdout.splitlines()
    report = []
    task = ""
    for number, line in enumerate(lines):
        if line.startswith("TASK ["):
            task = line
        if re.match(r"^(fatal|failed): \[", line) or line.startswith("[ERROR]"):
            report += [task] + lines[number : number + context] + ["..."]
    return "\n".join(report + lines[-40:]) + "\n" + result.stderr[-1500:]


def changed_counts(result):
    """host -> changed count from a run's PLAY RECAP."""
    return {
        match.group(1): int(match.group(2))
        for match in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    }
