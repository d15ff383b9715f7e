"""Fixtures for the postgresql scenario's verify step.

The tests talk to PostgreSQL from OUTSIDE the containers with the Docker host's psql client, over
TLS verified against the lab CA, as the applications and operators would. Files and local
commands are checked through testinfra's docker backend by container name (KEEL_LAB_NAME comes
from Molecule's provisioner environment; there is no default, so a test never wanders into
another lab). Inventory values (addresses, container limits, lab-only passwords) are read through
ansible-inventory.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import jinja2
import pytest
import testinfra

ROOT = pathlib.Path(__file__).resolve().parents[3]
# The collection's Python (pg_tune) is imported as ansible_collections.keel.postgres.
sys.path.insert(0, str(ROOT / "collections"))

PSQL = "/usr/bin/psql"
LAB_NAME = os.environ["KEEL_LAB_NAME"]
LAB_NET = os.environ["KEEL_LAB_NET"]
LAB_DIR = pathlib.Path(os.environ.get("KEEL_LAB_DIR", str(ROOT / ".lab")))
CA_FILE = LAB_DIR / LAB_NAME / "ca" / "ca.crt"
DATA_DIR = "/var/lib/postgresql/15/keel"


CONVERGE = ROOT / "molecule" / "postgresql" / "converge.yml"
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")


def inventory_dir():
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


def converge(limit, extra_vars=None, tags=None):
    """Run the scenario's converge.yml on some hosts, with -e overrides and --tags."""
    command = [ANSIBLE_PLAYBOOK, "-i", inventory_dir(), "--limit", limit, str(CONVERGE)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    if tags:
        command += ["--tags", tags]
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.environ.get("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg")),
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_FORCE_COLOR="0",
        NO_COLOR="1",
    )
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=900)


def recap(result, host):
    """(ok, changed, failed) of one host from a playbook run's PLAY RECAP."""
    match = re.search(r"^%s\s+: ok=(\d+)\s+changed=(\d+).*?failed=(\d+)" % re.escape(host), result.stdout, re.MULTILINE)
    assert match, result.stdout[-3000:] + result.stderr[-2000:]
    return tuple(int(value) for value in match.groups())


def _ansible_json(*args):
    out = subprocess.run(list(args), check=True, capture_output=True, text=True).stdout
    return json.loads(out)


INVENTORY = _ansible_json("ansible-inventory", "-i", inventory_dir(), "--list")
PG_NAMES = sorted(INVENTORY["postgres"]["hosts"] + INVENTORY["postgres_dr"]["hosts"])


def pytest_generate_tests(metafunc):
    """A test taking `pg_name` runs once per PostgreSQL host."""
    if "pg_name" in metafunc.fixturenames:
        metafunc.parametrize("pg_name", PG_NAMES, ids=PG_NAMES)


@pytest.fixture
def pg_host(pg_name):
    return lab_host(pg_name)


def lab_host(name):
    return testinfra.get_host("docker://%s-%s" % (LAB_NAME, name))


@pytest.fixture(scope="session")
def inventory():
    return INVENTORY


@pytest.fixture(scope="session")
def hostvars():
    return INVENTORY["_meta"]["hostvars"]


@pytest.fixture(scope="session")
def pg_hosts(hostvars):
    """Inventory name -> address of every host of the postgres and postgres_dr groups."""
    return {name: "%s.%s" % (LAB_NET, hostvars[name]["keel_lab_host_id"]) for name in PG_NAMES}


def render(value, variables):
    """An inventory value with its Jinja references resolved from the inventory's own variables
    (ansible-inventory prints group_vars unrendered, e.g. a password that names another variable)."""
    for _depth in range(5):
        if not isinstance(value, str) or "{{" not in value:
            return value
        value = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(variables)
    raise AssertionError("inventory value still templated after 5 passes: %s" % value)


@pytest.fixture(scope="session")
def passwords(hostvars):
    any_host = hostvars[PG_NAMES[0]]
    return {user["name"]: render(user["password"], any_host) for user in any_host["postgresql_users"]}


@pytest.fixture(scope="session")
def profiles():
    """keel.postgres.host_profile run now on every PostgreSQL host (one ad-hoc call), by host name."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    out = subprocess.run(
        ["ansible", "-i", inventory_dir(), "postgres:postgres_dr", "-m", "keel.postgres.host_profile"]
        + ["-a", "data_directory=%s" % DATA_DIR],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    # profile_tasks (enabled in ansible.cfg) prints a timestamp line around the JSON document.
    document, _end = json.JSONDecoder().raw_decode(out[out.index("{") :])
    results = document["plays"][0]["tasks"][0]["hosts"]
    return {name: result["profile"] for name, result in results.items()}


class Psql:
    """psql from the Docker host to one lab host, over TLS verified against the lab CA."""

    def __init__(self, passwords):
        self.passwords = passwords

    def run(self, address, user, sql, dbname="app", sslmode="verify-full", check=True, extra=None, password=None):
        env = dict(
            os.environ,
            PGPASSWORD=self.passwords.get(user, "") if password is None else password,
            PGSSLROOTCERT=str(CA_FILE),
            PGSSLMODE=sslmode,
            PGCONNECT_TIMEOUT="5",
            PGAPPNAME="keel-verify",
        )
        conninfo = "host=%s port=5432 dbname=%s user=%s %s" % (address, dbname, user, extra or "")
        result = subprocess.run(
            [PSQL, "--no-psqlrc", "--tuples-only", "--no-align", "--set=ON_ERROR_STOP=1", conninfo, "-c", sql],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=60,
        )
        if check:
            assert result.returncode == 0, "%s@%s: %s -> %s" % (user, address, sql, result.stderr)
        return result

    def value(self, address, user, sql, dbname="app"):
        return self.run(address, user, sql, dbname=dbname).stdout.strip()

    def refused(self, address, user, sql, dbname="app", **kwargs):
        """Run a statement that must fail; return psql's error text."""
        result = self.run(address, user, sql, dbname=dbname, check=False, **kwargs)
        assert result.returncode != 0, "%s@%s was allowed: %s -> %s" % (user, address, sql, result.stdout)
        return result.stderr


@pytest.fixture(scope="session")
def psql(passwords):
    assert CA_FILE.exists(), "lab CA not found at %s" % CA_FILE
    return Psql(passwords)
