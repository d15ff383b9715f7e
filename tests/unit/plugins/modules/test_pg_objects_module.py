"""The pg_objects module shell: documented options, catalog parsing, check mode with passwords masked."""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.keel.postgres.plugins.doc_fragments import connection as connection_fragment
from ansible_collections.keel.postgres.plugins.modules import pg_objects as module


def test_documentation_matches_argument_spec():
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc["options"])
    options.update(yaml.safe_load(connection_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = module.argument_spec()
    assert sorted(options) == sorted(spec)
    for name, rules in spec.items():
        documented = options[name]
        assert documented.get("type", "str") == rules.get("type", "str"), name
        assert documented.get("default") == rules.get("default"), name
        for sub, sub_rules in (rules.get("options") or {}).items():
            sub_doc = documented["suboptions"][sub]
            assert sub_doc.get("type", "str") == sub_rules.get("type", "str"), (name, sub)
            assert sub_doc.get("default") == sub_rules.get("default"), (name, sub)
            assert sub_doc.get("choices") == sub_rules.get("choices"), (name, sub)
            assert bool(sub_doc.get("required")) == bool(sub_rules.get("required")), (name, sub)
        assert sorted(documented.get("suboptions") or {}) == sorted(rules.get("options") or {}), name
    assert spec["users"]["options"]["password"]["no_log"] is True
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


class FakeCursor:
    """Answers each catalog query with canned rows, by a word of the query."""

    def __init__(self, answers):
        self.answers = answers
        self.rows = []
        self.executed = []

    def execute(self, query, params=None):
        self.executed.append(query)
        self.rows = []
        for word, rows in self.answers.items():
            if word in query:
                self.rows = [dict(r) for r in rows]
                return

    def fetchall(self):
        return self.rows


PAIRS = [["app_owner", "USAGE"], ["app_owner", "CREATE"], ["app_ro", "USAGE"]]


def test_read_cluster_builds_the_snapshot():
    cursor = FakeCursor(
        {
            "FROM pg_authid": [
                {"rolname": "app_ro", "login": False, "superuser": False, "createdb": False, "createrole": False,
                 "replication": False, "bypassrls": False, "inherit": True, "connlimit": -1, "password": None}
            ],
            "FROM pg_auth_members": [{"member": "app_user", "role": "app_rw"}, {"member": "app_user", "role": "x"}],
            "FROM pg_database": [
                {"datname": "app", "owner": "app_owner", "encoding": "UTF8", "collate": "C.UTF-8",
                 "ctype": "C.UTF-8", "acl": [["PUBLIC", "CONNECT"]]}
            ],
            "FROM pg_db_role_setting": [{"rolname": "m", "datname": "app", "setconfig": ["role=app_owner"]}],
        }
    )  # fmt: skip
    cluster = module.read_cluster(cursor)
    assert cluster["roles"]["app_ro"]["inherit"] is True
    assert cluster["members"] == {"app_user": {"app_rw", "x"}}
    assert cluster["databases"]["app"]["acl"] == {"PUBLIC": {"CONNECT"}}
    assert cluster["role_settings"] == {("m", "app"): ["role=app_owner"]}


def test_read_database_builds_the_snapshot():
    desired = {
        "databases": [{"name": "app", "owner": "app_owner", "schemas": ["app"], "extensions": []}],
        "grants": [
            {"db": "app", "type": "schema", "objs": "public", "privs": "CREATE", "roles": "PUBLIC", "state": "absent"},
            {"db": "app", "type": "function", "schema": "pg_catalog", "objs": "pg_switch_wal()", "privs": "EXECUTE",
             "roles": "b", "state": "present"},
        ],
    }  # fmt: skip
    cursor = FakeCursor(
        {
            "FROM pg_namespace n WHERE": [{"nspname": "app", "owner": "app_owner", "acl": PAIRS}],
            "FROM pg_class": [
                {"nspname": "app", "relkind": "r", "acl": [["app_ro", "SELECT"]]},
                {"nspname": "app", "relkind": "S", "acl": []},
            ],
            "FROM pg_default_acl": [{"owner": "app_owner", "nspname": "app", "objtype": "r", "acl": []}],
            "FROM pg_extension": [{"extname": "plpgsql"}],
            "FROM pg_proc": [{"nspname": "pg_catalog", "signature": "pg_switch_wal()", "acl": [["b", "EXECUTE"]]}],
        }
    )
    snapshot = module.read_database(cursor, desired, "app")
    assert snapshot["schemas"]["app"]["acl"]["app_ro"] == {"USAGE"}
    assert snapshot["relations"]["app"] == {"tables": [{"app_ro": {"SELECT"}}], "sequences": [{}]}
    assert snapshot["default_acls"] == {("app_owner", "app", "r"): {}}
    assert snapshot["extensions"] == {"plpgsql"}
    assert snapshot["functions"] == {("pg_catalog", "pg_switch_wal()"): {"b": {"EXECUTE"}}}


class FakeConnection:
    def __init__(self, cursor):
        self._cursor = cursor

    def cursor(self, cursor_factory=None):
        return self._cursor

    def close(self):
        pass


def test_check_mode_runs_nothing_and_masks_the_password(capsys, monkeypatch):
    cursor = FakeCursor({"FROM pg_extension": [{"extname": "plpgsql"}]})
    monkeypatch.setattr(module, "connect", lambda *a, **k: FakeConnection(cursor))
    monkeypatch.setattr(module, "dict_cursor", lambda conn: cursor)
    args = {
        "users": [{"name": "app_user", "password": "s3cret-pw", "groups": []}],
        "postgres_extensions": ["pg_stat_statements"],
        "_ansible_check_mode": True,
        "_ansible_diff": True,
    }
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    assert result["changed"] is True
    assert result["statements"] == [
        'CREATE ROLE "app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT'
        " CONNECTION LIMIT -1 PASSWORD '********'",
        'CREATE EXTENSION "pg_stat_statements"',
    ]
    assert "s3cret-pw" not in out
    assert not any(q.startswith(("CREATE", "ALTER", "GRANT", "REVOKE", "BEGIN")) for q in cursor.executed)
    assert result["diff"]["prepared"].startswith('CREATE ROLE "app_user"')
