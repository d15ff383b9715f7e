"""pg_objects: desired state + catalog snapshot -> the statements, and nothing on a converged catalog."""

from __future__ import annotations

import base64
import copy

import pytest

from ansible_collections.keel.postgres.plugins.module_utils import pg_objects as po
from ansible_collections.keel.postgres.plugins.module_utils import scram

ROW = {"SELECT", "INSERT", "UPDATE", "DELETE"}
SEQ = {"USAGE", "SELECT", "UPDATE"}
OWNER_DB = {"CREATE", "CONNECT", "TEMPORARY"}

SALT = base64.b64decode("b4egeUC79cTYYKEUJ+SZFQ==")


def grants():
    """The entries roles/postgresql/vars/main.yml builds for database app, schema app."""
    d = {"db": "app"}
    return [
        {
            "db": "postgres",
            "type": "database",
            "objs": "postgres",
            "privs": "ALL",
            "roles": "PUBLIC",
            "state": "absent",
        },
        {"db": "postgres", "type": "schema", "objs": "public", "privs": "CREATE", "roles": "PUBLIC", "state": "absent"},
        dict(d, type="database", objs="app", privs="ALL", roles="PUBLIC", state="absent"),
        dict(d, type="schema", objs="public", privs="CREATE", roles="PUBLIC", state="absent"),
        dict(d, type="database", objs="app", privs="CONNECT,TEMPORARY", roles="app_rw"),
        dict(d, type="database", objs="app", privs="CONNECT", roles="app_ro"),
        dict(d, type="schema", objs="app", privs="USAGE", roles="app_rw,app_ro"),
        dict(d, type="table", schema="app", objs="ALL_IN_SCHEMA", privs="SELECT,INSERT,UPDATE,DELETE", roles="app_rw"),
        dict(d, type="table", schema="app", objs="ALL_IN_SCHEMA", privs="SELECT", roles="app_ro"),
        dict(d, type="sequence", schema="app", objs="ALL_IN_SCHEMA", privs="USAGE,SELECT,UPDATE", roles="app_rw"),
        dict(d, type="sequence", schema="app", objs="ALL_IN_SCHEMA", privs="SELECT", roles="app_ro"),
        dict(
            d,
            type="default_privs",
            schema="app",
            target_roles="app_owner",
            objs="TABLES",
            privs="SELECT,INSERT,UPDATE,DELETE",
            roles="app_rw",
        ),
        dict(
            d,
            type="default_privs",
            schema="app",
            target_roles="app_owner",
            objs="TABLES",
            privs="SELECT",
            roles="app_ro",
        ),
        dict(
            d,
            type="default_privs",
            schema="app",
            target_roles="app_owner",
            objs="SEQUENCES",
            privs="USAGE,SELECT,UPDATE",
            roles="app_rw",
        ),
        dict(
            d,
            type="default_privs",
            schema="app",
            target_roles="app_owner",
            objs="SEQUENCES",
            privs="SELECT",
            roles="app_ro",
        ),
        {"db": "postgres", "type": "database", "objs": "postgres,app", "privs": "CONNECT", "roles": "monitor"},
        {
            "db": "postgres",
            "type": "function",
            "schema": "pg_catalog",
            "privs": "EXECUTE",
            "roles": "backup",
            "objs": "pg_backup_start(text:boolean),pg_backup_stop(boolean),"
            "pg_switch_wal(),pg_create_restore_point(text)",
        },
    ]


def desired():
    return {
        "group_roles": ["app_owner", "app_rw", "app_ro"],
        "databases": [
            {"name": "app", "owner": "app_owner", "schemas": ["app"], "extensions": ["pgcrypto", "uuid-ossp"]}
        ],
        "postgres_extensions": ["pg_stat_statements"],
        "encoding": "UTF8",
        "locale": "C.UTF-8",
        "grants": grants(),
        "users": [
            {
                "name": "app_user",
                "password": "s3cret",
                "replication": False,
                "connection_limit": -1,
                "groups": ["app_rw"],
            },
            {
                "name": "monitor",
                "password": "mon",
                "replication": False,
                "connection_limit": 5,
                "groups": ["pg_monitor"],
            },
            {
                "name": "backup",
                "password": "bak",
                "replication": False,
                "connection_limit": -1,
                "groups": ["pg_read_all_settings"],
            },
            {"name": "replicator", "password": "rep", "replication": True, "connection_limit": -1, "groups": []},
        ],
        "session_roles": [{"user": "app_migrator", "database": "app", "role": "app_owner"}],
    }


def role(login, password=None, replication=False, connlimit=-1):
    attrs = dict(po.LOGIN_ATTRIBUTES if login else po.GROUP_ATTRIBUTES, replication=replication)
    stored = scram.verifier(password, SALT) if password else None
    return dict(attrs, connlimit=connlimit, password=stored)


def converged():
    """(cluster, {database: snapshot}) as the catalog looks after a run."""
    cluster = po.empty_cluster()
    cluster["roles"] = {
        "postgres": dict(po.LOGIN_ATTRIBUTES, superuser=True, connlimit=-1, password=None),
        "app_owner": role(False),
        "app_rw": role(False),
        "app_ro": role(False),
        "app_user": role(True, "s3cret"),
        "monitor": role(True, "mon", connlimit=5),
        "backup": role(True, "bak"),
        "replicator": role(True, "rep", replication=True),
    }
    cluster["members"] = {
        "app_user": {"app_rw"},
        "monitor": {"pg_monitor"},
        "backup": {"pg_read_all_settings"},
    }
    cluster["databases"] = {
        "postgres": {
            "owner": "postgres",
            "encoding": "UTF8",
            "collate": "C.UTF-8",
            "ctype": "C.UTF-8",
            "acl": {"postgres": set(OWNER_DB), "monitor": {"CONNECT"}},
        },
        "app": {
            "owner": "app_owner",
            "encoding": "UTF8",
            "collate": "C.UTF-8",
            "ctype": "C.UTF-8",
            "acl": {
                "app_owner": set(OWNER_DB),
                "app_rw": {"CONNECT", "TEMPORARY"},
                "app_ro": {"CONNECT"},
                "monitor": {"CONNECT"},
            },
        },
    }
    cluster["role_settings"] = {("app_migrator", "app"): ["role=app_owner"]}
    postgres = po.empty_database()
    postgres["schemas"] = {
        "public": {"owner": "pg_database_owner", "acl": {"pg_database_owner": {"USAGE", "CREATE"}, "PUBLIC": {"USAGE"}}}
    }
    postgres["extensions"] = {"plpgsql", "pg_stat_statements"}
    postgres["functions"] = {
        ("pg_catalog", key): {"postgres": {"EXECUTE"}, "backup": {"EXECUTE"}}
        for key in (
            "pg_backup_start(text,boolean)",
            "pg_backup_stop(boolean)",
            "pg_switch_wal()",
            "pg_create_restore_point(text)",
        )
    }
    app = po.empty_database()
    app["schemas"] = {
        "public": {
            "owner": "pg_database_owner",
            "acl": {"pg_database_owner": {"USAGE", "CREATE"}, "PUBLIC": {"USAGE"}},
        },
        "app": {
            "owner": "app_owner",
            "acl": {"app_owner": {"USAGE", "CREATE"}, "app_rw": {"USAGE"}, "app_ro": {"USAGE"}},
        },
    }
    table_acl = {
        "app_owner": {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"},
        "app_rw": set(ROW),
        "app_ro": {"SELECT"},
    }
    seq_acl = {"app_owner": set(SEQ), "app_rw": set(SEQ), "app_ro": {"SELECT"}}
    app["relations"] = {"app": {"tables": [copy.deepcopy(table_acl), copy.deepcopy(table_acl)], "sequences": [seq_acl]}}
    app["default_acls"] = {
        ("app_owner", "app", "r"): {"app_rw": set(ROW), "app_ro": {"SELECT"}},
        ("app_owner", "app", "S"): {"app_rw": set(SEQ), "app_ro": {"SELECT"}},
    }
    app["extensions"] = {"plpgsql", "pgcrypto", "uuid-ossp"}
    return cluster, {"postgres": postgres, "app": app}


def statements(cluster, snapshots, want=None):
    return po.shown(po.plan(want or desired(), cluster, snapshots))


def test_nothing_to_do_on_a_converged_catalog():
    cluster, snapshots = converged()
    assert statements(cluster, snapshots) == []


def test_everything_from_an_empty_cluster_in_order():
    cluster = po.empty_cluster()
    postgres = converged()[1]["postgres"]
    for acl in postgres["functions"].values():
        acl.pop("backup")
    steps = po.plan(desired(), cluster, {"postgres": postgres})
    assert [s.database for s in steps] == ["postgres", "postgres", "postgres", "postgres", "app"]
    assert [s.transaction for s in steps] == [True, False, True, True, True]
    assert po.shown([steps[3]]) == [
        'GRANT EXECUTE ON FUNCTION "pg_catalog"."%s TO "backup"' % f
        for f in (
            'pg_backup_start"(text, boolean)',
            'pg_backup_stop"(boolean)',
            'pg_switch_wal"()',
            'pg_create_restore_point"(text)',
        )
    ]
    text = po.shown(steps)
    assert text[0] == (
        'CREATE ROLE "app_owner" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT'
    )
    assert text[3] == (
        'CREATE ROLE "app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT'
        " CONNECTION LIMIT -1 PASSWORD '********'"
    )
    assert steps[1].statements[0].sql == (
        "CREATE DATABASE \"app\" WITH OWNER \"app_owner\" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        " TEMPLATE template0"
    )
    assert 'GRANT "app_rw" TO "app_user"' in text
    assert 'ALTER ROLE "app_migrator" IN DATABASE "app" SET role = \'app_owner\'' in text
    # A new database has PostgreSQL's default ACL: PUBLIC's CONNECT/TEMPORARY go, the group roles get theirs.
    assert 'REVOKE ALL ON DATABASE "app" FROM PUBLIC' in text
    assert 'GRANT CONNECT, TEMPORARY ON DATABASE "app" TO "app_rw"' in text
    app = po.shown([steps[-1]])
    assert app[0] == 'CREATE SCHEMA "app" AUTHORIZATION "app_owner"'
    assert 'GRANT USAGE ON SCHEMA "app" TO "app_rw"' in app
    assert 'CREATE EXTENSION "uuid-ossp"' in app
    assert all("s3cret" not in line for line in text)
    assert any("'s3cret'" in st.sql for st in steps[0].statements)


def drift(mutate):
    cluster, snapshots = converged()
    mutate(cluster, snapshots)
    return statements(cluster, snapshots)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        pytest.param(
            lambda c, s: s["app"]["schemas"]["public"]["acl"]["PUBLIC"].add("CREATE"),
            ['REVOKE CREATE ON SCHEMA "public" FROM PUBLIC'],
            id="public-create",
        ),
        pytest.param(
            lambda c, s: c["databases"]["postgres"]["acl"].update(PUBLIC={"TEMPORARY"}),
            ['REVOKE ALL ON DATABASE "postgres" FROM PUBLIC'],
            id="public-temp-on-postgres",
        ),
        pytest.param(
            lambda c, s: s["app"]["relations"]["app"]["tables"][1]["app_rw"].discard("DELETE"),
            ['GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "app" TO "app_rw"'],
            id="table-grant-revoked",
        ),
        pytest.param(
            lambda c, s: s["app"]["relations"]["app"]["sequences"][0].pop("app_ro"),
            ['GRANT SELECT ON ALL SEQUENCES IN SCHEMA "app" TO "app_ro"'],
            id="sequence-grant-revoked",
        ),
        pytest.param(
            lambda c, s: s["app"]["schemas"]["app"]["acl"].pop("app_ro"),
            ['GRANT USAGE ON SCHEMA "app" TO "app_ro"'],
            id="schema-usage-revoked",
        ),
        pytest.param(
            lambda c, s: s["app"]["default_acls"][("app_owner", "app", "r")]["app_ro"].clear(),
            ['ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" GRANT SELECT ON TABLES TO "app_ro"'],
            id="default-privileges-revoked",
        ),
        pytest.param(
            lambda c, s: s["app"]["default_acls"].pop(("app_owner", "app", "S")),
            [
                'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" GRANT USAGE, SELECT, UPDATE'
                ' ON SEQUENCES TO "app_rw"',
                'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "app" GRANT SELECT ON SEQUENCES TO "app_ro"',
            ],
            id="default-privileges-gone",
        ),
        pytest.param(
            lambda c, s: c["members"]["app_user"].add("app_owner"),
            ['REVOKE "app_owner" FROM "app_user"'],
            id="extra-membership",
        ),
        pytest.param(
            lambda c, s: c["members"].pop("monitor"),
            ['GRANT "pg_monitor" TO "monitor"'],
            id="lost-membership",
        ),
        pytest.param(
            lambda c, s: c["roles"]["app_user"].update(password=scram.verifier("x", SALT)),
            ["ALTER ROLE \"app_user\" WITH PASSWORD '********'"],
            id="changed-password",
        ),
        pytest.param(
            lambda c, s: c["roles"]["app_user"].update(password="md5" + "0" * 32),
            ["ALTER ROLE \"app_user\" WITH PASSWORD '********'"],
            id="md5-password",
        ),
        pytest.param(
            lambda c, s: c["roles"]["app_user"].update(createdb=True, connlimit=3),
            ['ALTER ROLE "app_user" WITH NOCREATEDB CONNECTION LIMIT -1'],
            id="login-attributes",
        ),
        pytest.param(
            lambda c, s: c["roles"]["app_rw"].update(login=True, connlimit=3),
            ['ALTER ROLE "app_rw" WITH NOLOGIN'],
            id="group-attributes-connlimit-left-alone",
        ),
        pytest.param(
            lambda c, s: c["roles"]["replicator"].update(replication=False),
            ['ALTER ROLE "replicator" WITH REPLICATION'],
            id="replication",
        ),
        pytest.param(
            lambda c, s: s["app"]["extensions"].discard("pgcrypto"),
            ['CREATE EXTENSION "pgcrypto"'],
            id="extension-dropped",
        ),
        pytest.param(
            lambda c, s: s["postgres"]["extensions"].discard("pg_stat_statements"),
            ['CREATE EXTENSION "pg_stat_statements"'],
            id="pg_stat_statements-dropped",
        ),
        pytest.param(
            lambda c, s: c["databases"]["app"]["acl"].pop("monitor"),
            ['GRANT CONNECT ON DATABASE "app" TO "monitor"'],
            id="monitor-connect",
        ),
        pytest.param(
            lambda c, s: s["postgres"]["functions"][("pg_catalog", "pg_switch_wal()")].pop("backup"),
            ['GRANT EXECUTE ON FUNCTION "pg_catalog"."pg_switch_wal"() TO "backup"'],
            id="backup-function",
        ),
        pytest.param(
            lambda c, s: c["role_settings"].pop(("app_migrator", "app")),
            ['ALTER ROLE "app_migrator" IN DATABASE "app" SET role = \'app_owner\''],
            id="session-role",
        ),
        pytest.param(
            lambda c, s: c["databases"]["app"].update(owner="postgres"),
            ['ALTER DATABASE "app" OWNER TO "app_owner"'],
            id="database-owner",
        ),
        pytest.param(
            lambda c, s: s["app"]["schemas"]["app"].update(owner="postgres"),
            ['ALTER SCHEMA "app" OWNER TO "app_owner"'],
            id="schema-owner",
        ),
        pytest.param(
            lambda c, s: c["roles"].pop("app_ro"),
            ['CREATE ROLE "app_ro" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT'],
            id="group-role-dropped",
        ),
    ],
)
def test_each_drift_gives_exactly_its_fix(mutate, expected):
    assert drift(mutate) == expected


def test_a_grant_is_additive_extra_privileges_stay():
    cluster, snapshots = converged()
    snapshots["app"]["relations"]["app"]["tables"][0]["app_ro"].add("INSERT")
    assert statements(cluster, snapshots) == []


def test_empty_schema_needs_no_table_grant():
    cluster, snapshots = converged()
    snapshots["app"]["relations"] = {}
    assert statements(cluster, snapshots) == []


def test_other_encoding_or_locale_is_refused():
    cluster, snapshots = converged()
    cluster["databases"]["app"]["collate"] = "en_US.UTF-8"
    with pytest.raises(po.PgObjectsError, match="collate"):
        statements(cluster, snapshots)


@pytest.mark.parametrize("spelling", ["C.utf8", "C.UTF-8"])
def test_locale_spellings_are_equal(spelling):
    cluster, snapshots = converged()
    cluster["databases"]["app"]["collate"] = spelling
    assert statements(cluster, snapshots) == []


def test_missing_function_is_an_error():
    cluster, snapshots = converged()
    del snapshots["postgres"]["functions"][("pg_catalog", "pg_switch_wal()")]
    with pytest.raises(po.PgObjectsError, match="pg_switch_wal"):
        statements(cluster, snapshots)


@pytest.mark.parametrize(
    "stored, password, matches",
    [
        (scram.verifier("pw", SALT), "pw", True),
        (scram.verifier("pw", SALT, 8192), "pw", True),
        (scram.verifier("pw", SALT), "pw2", False),
        (None, "pw", False),
        ("md5" + "a" * 32, "pw", False),
        ("SCRAM-SHA-256$garbage", "pw", False),
        (scram.verifier("pw", SALT), scram.verifier("pw", SALT), True),
        (scram.verifier("pw", SALT), scram.verifier("pw", b"x" * 16), False),
    ],
)
def test_password_matches(stored, password, matches):
    assert po.password_matches(stored, password) is matches


def test_password_is_verified_against_postgresql_verifier():
    stored = (
        "SCRAM-SHA-256$4096:b4egeUC79cTYYKEUJ+SZFQ==$saVxAZJE9L2uieIwsFIaODSey7jNRJxNVGtcFeNePg8="
        ":qfj4bt363SrJCJe3v+TDh5lJ0ynSX3ouzxkNfxRsuMM="
    )
    assert po.password_matches(stored, "correct horse")
    assert not po.password_matches(stored, "correct horse!")


def test_quoting_of_odd_names():
    assert po.quote_ident('we"ird') == '"we""ird"'
    assert po.quote_ident("Mixed Case; DROP") == '"Mixed Case; DROP"'
    assert po.quote_literal("it's \\ fine") == "'it''s \\ fine'"
    assert po.role_ref("PUBLIC") == "PUBLIC"
    assert po.role_ref("public") == '"public"'
    with pytest.raises(po.PgObjectsError):
        po.quote_ident("nul\x00")
    with pytest.raises(po.PgObjectsError):
        po.quote_ident("")
    out = po.plan_role('o"dd', po.LOGIN_ATTRIBUTES, None, connection_limit=-1, password="p'w")
    assert out[0].sql.endswith("PASSWORD 'p''w'")
    assert out[0].sql.startswith('CREATE ROLE "o""dd" WITH LOGIN')
    assert "p'w" not in out[0].shown
    assert po.plan_memberships('a"b', ["g'1"], set()) == [
        po.Statement('GRANT "g\'1" TO "a""b"', 'GRANT "g\'1" TO "a""b"')
    ]
    assert po.plan_extensions(['x"y'], set())[0].sql == 'CREATE EXTENSION "x""y"'


@pytest.mark.parametrize(
    "obj",
    ["pg_switch_wal(); DROP TABLE x", "f(text) x", "f(text; DROP)"],
)
def test_function_signatures_are_checked(obj):
    with pytest.raises(po.PgObjectsError):
        po.function_signature(obj)


def test_unknown_privilege_is_refused():
    with pytest.raises(po.PgObjectsError, match="unknown"):
        po.plan_grant(
            {"db": "app", "type": "schema", "objs": "app", "privs": "USAGE; DROP", "roles": "x"},
            po.empty_cluster(),
            po.empty_database(),
        )


def test_memberships_left_alone_without_groups():
    cluster, snapshots = converged()
    want = desired()
    want["users"][0]["groups"] = None
    cluster["members"]["app_user"] = {"anything"}
    assert statements(cluster, snapshots, want) == []


def test_databases_and_schemas_to_read():
    assert po.databases_to_read(desired()) == ["postgres", "app"]
    assert po.schemas_to_read(desired(), "app") == ["app", "public"]
    assert po.schemas_to_read(desired(), "postgres") == ["public"]
