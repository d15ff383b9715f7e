"""Module shells: documented options match argument specs; connection helper behaviour."""

import importlib

import pytest
import yaml

from ansible_collections.keel.postgres.plugins.doc_fragments import connection as connection_fragment
from ansible_collections.keel.postgres.plugins.doc_fragments import patroni_api as patroni_fragment
from ansible_collections.keel.postgres.plugins.module_utils import connection

FRAGMENTS = {
    "keel.postgres.connection": connection_fragment.ModuleDocFragment.DOCUMENTATION,
    "keel.postgres.patroni_api": patroni_fragment.ModuleDocFragment.DOCUMENTATION,
}
MODULES = ["replication_lag", "replication_slots", "patroni_cluster"]


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment", []):
        if fragment in FRAGMENTS:
            options.update(yaml.safe_load(FRAGMENTS[fragment])["options"])
    return doc, options


@pytest.mark.parametrize("name", MODULES)
def test_documentation_matches_argument_spec(name):
    module = importlib.import_module("ansible_collections.keel.postgres.plugins.modules.%s" % name)
    doc, options = documented_options(module)
    spec = module.argument_spec()
    assert sorted(options) == sorted(spec)
    for option, rules in spec.items():
        documented = options[option]
        assert documented.get("type", "str") == rules.get("type", "str"), option
        assert documented.get("default") == rules.get("default"), option
        assert documented.get("choices") == rules.get("choices"), option
        assert documented.get("elements") == rules.get("elements"), option
        assert bool(documented.get("required")) == bool(rules.get("required")), option
        if option in ("login_password", "password"):
            assert rules["no_log"] is True
    assert doc["version_added"] == "0.1.0"
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert doc["attributes"]["diff_mode"]["support"] == "none"
    assert doc["attributes"]["platform"]["platforms"] == "postgres"
    returned = yaml.safe_load(module.RETURN)
    for key, entry in returned.items():
        assert "type" in entry and "sample" in entry, key
    assert yaml.safe_load(module.EXAMPLES)


PARAMS = dict(
    login_host="",
    login_port=5432,
    login_user="postgres",
    login_password="",
    login_db="postgres",
    login_unix_socket="",
    ssl_mode="prefer",
    ca_cert=None,
    connect_timeout=10,
)


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({}, {}),
        ({"login_host": "db1"}, {"host": "db1"}),
        ({"login_host": "db1", "login_unix_socket": "/run/pg"}, {"host": "/run/pg"}),
        ({"login_password": "s3cret"}, {"password": "s3cret"}),
        ({"ssl_mode": "verify-full", "ca_cert": "/ca.crt"}, {"sslmode": "verify-full", "sslrootcert": "/ca.crt"}),
    ],
)
def test_connection_kwargs(overrides, expected):
    params = dict(PARAMS, **overrides)
    kwargs = connection.connection_kwargs(params, application_name="keel.postgres.test")
    base = {
        "port": 5432,
        "user": "postgres",
        "dbname": "postgres",
        "sslmode": "prefer",
        "connect_timeout": 10,
        "application_name": "keel.postgres.test",
    }
    base.update(expected)
    assert kwargs == base


def test_describe_target_never_shows_password():
    params = dict(PARAMS, login_host="db1", login_password="s3cret")
    assert connection.describe_target(params) == "postgres@db1:5432/postgres"
    assert connection.describe_target(PARAMS) == "postgres@default socket:5432/postgres"


class Failed(Exception):
    pass


class FakeModule:
    params = PARAMS

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


def test_missing_psycopg2_fails_with_install_hint(monkeypatch):
    monkeypatch.setattr(connection, "HAS_PSYCOPG2", False)
    monkeypatch.setattr(connection, "PSYCOPG2_IMPORT_ERROR", "ImportError: No module named psycopg2")
    with pytest.raises(Failed) as info:
        connection.connect(FakeModule())
    result = info.value.args[0]
    assert "Failed to import the required Python library (psycopg2)" in result["msg"]
    assert "apt-get install python3-psycopg2" in result["msg"]
    assert result["exception"] == "ImportError: No module named psycopg2"


def test_connection_failure_message(monkeypatch):
    module = FakeModule()
    module.params = dict(PARAMS, login_host="127.0.0.1", login_port=1, connect_timeout=2, ssl_mode="disable")
    with pytest.raises(Failed) as info:
        connection.connect(module)
    assert info.value.args[0]["msg"].startswith("unable to connect to PostgreSQL as postgres@127.0.0.1:1/postgres:")
