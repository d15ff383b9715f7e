#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: pg_objects
short_description: Group and login roles, databases, schemas, privileges and extensions in one run
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Brings a PostgreSQL server to a desired state of roles, databases, schemas, privileges, memberships,
    session settings and extensions (the role model of the keel.postgres.postgresql role), reading the
    catalog of each database once and running only the statements that are needed.
  - Group roles are C(NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT); login
    roles are C(LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT), C(REPLICATION) on request, with a
    connection limit and a password the server hashes (C(password_encryption)).
  - A password is set again only when the stored SCRAM-SHA-256 verifier is not the verifier of the given
    password (recomputed with the stored salt and iterations); an MD5 hash or no password is always replaced.
  - Memberships of each login role are exact; any other membership is revoked.
  - Databases are created from C(template0) with the given encoding and locale and are never dropped; an
    existing database with another encoding or locale is an error. Schemas and databases get their owner.
  - Privileges are only added by grants and only removed by entries with O(grants[].state=absent).
  - Statements run in one transaction per database (C(CREATE DATABASE) on its own, as PostgreSQL requires).
  - The decisions are the pure functions of C(module_utils/pg_objects.py).
options:
  group_roles:
    description: Names of NOLOGIN group roles.
    type: list
    elements: str
    default: []
  users:
    description: Login roles.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      password:
        description:
          - Plain password (hashed by the server) or a C(SCRAM-SHA-256$...) verifier.
        type: str
        required: true
      replication:
        description: Give the role C(REPLICATION).
        type: bool
        default: false
      connection_limit:
        description: C(CONNECTION LIMIT); V(-1) is none.
        type: int
        default: -1
      groups:
        description:
          - Exactly the roles this role is a member of; any other membership is revoked.
          - Omit to leave memberships alone.
        type: list
        elements: str
  databases:
    description: Databases with their owner, schemas (owned by the same role) and extensions.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
      owner:
        description: Owner of the database and of its schemas.
        type: str
        required: true
      schemas:
        description: Schemas to create in the database.
        type: list
        elements: str
        default: []
      extensions:
        description: Extensions to create in the database (C(CREATE EXTENSION), in the default schema).
        type: list
        elements: str
        default: []
  postgres_extensions:
    description: Extensions to create in the C(postgres) database.
    type: list
    elements: str
    default: []
  encoding:
    description: Encoding of new databases.
    type: str
    default: UTF8
  locale:
    description: C(LC_COLLATE) and C(LC_CTYPE) of new databases. Required when O(databases) is not empty.
    type: str
  grants:
    description:
      - Privileges to grant or revoke, in the order given.
      - O(grants[].type=table) and O(grants[].type=sequence) take O(grants[].objs=ALL_IN_SCHEMA) and grant
        on every existing table (also views, materialized views, foreign and partitioned tables) or sequence
        of O(grants[].schema) when any of them lacks a privilege.
    type: list
    elements: dict
    default: []
    suboptions:
      db:
        description: Database the objects are in (for O(grants[].type=database), any database).
        type: str
        required: true
      type:
        description: Object type.
        type: str
        required: true
        choices: [database, schema, table, sequence, default_privs, function]
      objs:
        description:
          - Comma-separated objects. Databases or schemas by name; V(ALL_IN_SCHEMA) for tables and sequences;
            V(TABLES), V(SEQUENCES), V(FUNCTIONS) or V(TYPES) for default privileges; functions as
            V(name(type:type)).
        type: str
        required: true
      schema:
        description: Schema of tables, sequences, functions (default V(pg_catalog)) and default privileges.
        type: str
      target_roles:
        description: Roles whose future objects default privileges apply to (C(FOR ROLE)).
        type: str
      privs:
        description: Comma-separated privileges, or V(ALL).
        type: str
        required: true
      roles:
        description: Comma-separated grantees; V(PUBLIC) is the PUBLIC pseudo-role.
        type: str
        required: true
      state:
        description: V(present) grants, V(absent) revokes.
        type: str
        default: present
        choices: [present, absent]
  session_roles:
    description: C(ALTER ROLE user IN DATABASE database SET role = role), unless already set.
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: Login role.
        type: str
        required: true
      database:
        description: Database the setting applies in.
        type: str
        required: true
      role:
        description: Role the sessions start as.
        type: str
        required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - keel.postgres.connection
attributes:
  check_mode:
    support: full
    details: Reads the catalog and returns the statements it would run; a database that does not exist yet is
      planned as empty.
  diff_mode:
    support: full
    details: The statements (passwords masked) as the prepared diff.
  platform:
    platforms: postgres
notes:
  - "Connect as a superuser (C(postgres) over the Unix socket with peer authentication): the module reads
    C(pg_authid) and grants on objects of other roles."
  - Run it on the writable primary; a server in recovery refuses the statements.
  - Tested with PostgreSQL 15.
seealso:
  - module: keel.postgres.replication_slots
"""

EXAMPLES = r"""
- name: Roles, databases and privileges of the application
  keel.postgres.pg_objects:
    login_unix_socket: /var/run/postgresql
    group_roles: [app_owner, app_rw, app_ro]
    databases:
      - {name: app, owner: app_owner, schemas: [app], extensions: [pgcrypto, uuid-ossp]}
    postgres_extensions: [pg_stat_statements]
    locale: C.UTF-8
    grants:
      - {db: app, type: database, objs: app, privs: ALL, roles: PUBLIC, state: absent}
      - {db: app, type: database, objs: app, privs: "CONNECT,TEMPORARY", roles: app_rw}
      - {db: app, type: schema, objs: app, privs: USAGE, roles: "app_rw,app_ro"}
      - {db: app, type: table, schema: app, objs: ALL_IN_SCHEMA, privs: SELECT, roles: app_ro}
      - {db: app, type: default_privs, schema: app, target_roles: app_owner, objs: TABLES, privs: SELECT,
         roles: app_ro}
    users:
      - {name: app_user, password: "{{ app_password }}", groups: [app_rw]}
      - {name: replicator, password: "{{ replication_password }}", replication: true, groups: []}
    session_roles:
      - {user: app_migrator, database: app, role: app_owner}
  become: true
  become_user: postgres
"""

RETURN = r"""
changed:
  description: Whether a statement ran (in check mode, would run).
  returned: always
  type: bool
  sample: true
statements:
  description: The statements run (in check mode, that would run), in order; passwords replaced by C(********).
  returned: always
  type: list
  elements: str
  sample:
    - REVOKE CREATE ON SCHEMA "public" FROM PUBLIC
    - ALTER ROLE "app_user" WITH PASSWORD '********'
databases:
  description: Databases whose catalog was read.
  returned: always
  type: list
  elements: str
  sample: [postgres, app]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils import pg_objects
from ansible_collections.keel.postgres.plugins.module_utils.connection import (
    DATABASE_ERRORS,
    connect,
    dict_cursor,
    postgres_common_argument_spec,
)


def acl_sql(column, kind, owner):
    """JSON [[grantee, privilege], ...] of an ACL column, with PostgreSQL's default for NULL."""
    return (
        "(SELECT coalesce(json_agg(json_build_array("
        "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END, a.privilege_type)), '[]')"
        " FROM aclexplode(coalesce(%s, acldefault(%s, %s))) a)" % (column, kind, owner)
    )


ROLES_QUERY = (
    "SELECT rolname, rolcanlogin AS login, rolsuper AS superuser, rolcreatedb AS createdb,"
    " rolcreaterole AS createrole, rolreplication AS replication, rolbypassrls AS bypassrls,"
    " rolinherit AS inherit, rolconnlimit AS connlimit, rolpassword AS password FROM pg_authid"
)
MEMBERS_QUERY = (
    "SELECT m.rolname AS member, r.rolname AS role FROM pg_auth_members a"
    " JOIN pg_roles m ON m.oid = a.member JOIN pg_roles r ON r.oid = a.roleid"
)
DATABASES_QUERY = (
    "SELECT d.datname, pg_get_userbyid(d.datdba)::text AS owner, pg_encoding_to_char(d.encoding) AS encoding,"
    " d.datcollate AS collate, d.datctype AS ctype, %s AS acl FROM pg_database d"
    % acl_sql("d.datacl", "'d'", "d.datdba")
)
SETTINGS_QUERY = (
    "SELECT r.rolname, d.datname, s.setconfig FROM pg_db_role_setting s"
    " JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase"
)
SCHEMAS_QUERY = (
    "SELECT n.nspname, pg_get_userbyid(n.nspowner)::text AS owner, %s AS acl"
    " FROM pg_namespace n WHERE n.nspname = ANY(%%s)" % acl_sql("n.nspacl", "'n'", "n.nspowner")
)
RELATIONS_QUERY = (
    "SELECT n.nspname, c.relkind, %s AS acl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = ANY(%%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
    % acl_sql("c.relacl", "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\"", "c.relowner")
)
DEFAULT_ACLS_QUERY = (
    "SELECT pg_get_userbyid(d.defaclrole)::text AS owner, n.nspname, d.defaclobjtype::text AS objtype,"
    " %s AS acl FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace"
    " WHERE n.nspname = ANY(%%s)" % acl_sql("d.defaclacl", "'r'", "d.defaclrole")
)
EXTENSIONS_QUERY = "SELECT extname FROM pg_extension"
FUNCTIONS_QUERY = (
    "SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')' AS signature, %s AS acl"
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %%s AND p.proname = ANY(%%s)"
    % acl_sql("p.proacl", "'f'", "p.proowner")
)


def argument_spec():
    spec = postgres_common_argument_spec()
    spec.update(
        group_roles=dict(type="list", elements="str", default=[]),
        users=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                replication=dict(type="bool", default=False),
                connection_limit=dict(type="int", default=-1),
                groups=dict(type="list", elements="str"),
            ),
        ),
        databases=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                owner=dict(type="str", required=True),
                schemas=dict(type="list", elements="str", default=[]),
                extensions=dict(type="list", elements="str", default=[]),
            ),
        ),
        postgres_extensions=dict(type="list", elements="str", default=[]),
        encoding=dict(type="str", default="UTF8"),
        locale=dict(type="str"),
        grants=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                db=dict(type="str", required=True),
                type=dict(
                    type="str",
                    required=True,
                    choices=["database", "schema", "table", "sequence", "default_privs", "function"],
                ),
                objs=dict(type="str", required=True),
                schema=dict(type="str"),
                target_roles=dict(type="str"),
                privs=dict(type="str", required=True),
                roles=dict(type="str", required=True),
                state=dict(type="str", default="present", choices=["present", "absent"]),
            ),
        ),
        session_roles=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                user=dict(type="str", required=True),
                database=dict(type="str", required=True),
                role=dict(type="str", required=True),
            ),
        ),
    )
    return spec


def desired_state(params):
    """The module's options as the desired state of module_utils.pg_objects."""
    return {
        "group_roles": params["group_roles"],
        "users": params["users"],
        "databases": params["databases"],
        "postgres_extensions": params["postgres_extensions"],
        "encoding": params["encoding"],
        "locale": params["locale"],
        "grants": params["grants"],
        "session_roles": params["session_roles"],
    }


def read_cluster(cursor):
    cluster = pg_objects.empty_cluster()
    cursor.execute(ROLES_QUERY)
    for row in cursor.fetchall():
        cluster["roles"][row.pop("rolname")] = dict(row)
    cursor.execute(MEMBERS_QUERY)
    for row in cursor.fetchall():
        cluster["members"].setdefault(row["member"], set()).add(row["role"])
    cursor.execute(DATABASES_QUERY)
    for row in cursor.fetchall():
        cluster["databases"][row["datname"]] = {
            "owner": row["owner"],
            "encoding": row["encoding"],
            "collate": row["collate"],
            "ctype": row["ctype"],
            "acl": pg_objects.acl_from_pairs(row["acl"]),
        }
    cursor.execute(SETTINGS_QUERY)
    for row in cursor.fetchall():
        cluster["role_settings"][(row["rolname"], row["datname"])] = list(row["setconfig"] or [])
    return cluster


def read_database(cursor, desired, database):
    snapshot = pg_objects.empty_database()
    schemas = pg_objects.schemas_to_read(desired, database)
    cursor.execute(SCHEMAS_QUERY, (schemas,))
    for row in cursor.fetchall():
        snapshot["schemas"][row["nspname"]] = {"owner": row["owner"], "acl": pg_objects.acl_from_pairs(row["acl"])}
    cursor.execute(RELATIONS_QUERY, (schemas,))
    for row in cursor.fetchall():
        kind = "sequences" if row["relkind"] == "S" else "tables"
        per_schema = snapshot["relations"].setdefault(row["nspname"], {"tables": [], "sequences": []})
        per_schema[kind].append(pg_objects.acl_from_pairs(row["acl"]))
    cursor.execute(DEFAULT_ACLS_QUERY, (schemas,))
    for row in cursor.fetchall():
        key = (row["owner"], row["nspname"], row["objtype"])
        snapshot["default_acls"][key] = pg_objects.acl_from_pairs(row["acl"])
    cursor.execute(EXTENSIONS_QUERY)
    snapshot["extensions"] = set(row["extname"] for row in cursor.fetchall())
    functions = {}
    for entry in desired["grants"]:
        if entry["db"] == database and entry["type"] == "function":
            schema = entry.get("schema") or "pg_catalog"
            names = [pg_objects.function_signature(obj)[0] for obj in entry["objs"].split(",") if obj.strip()]
            functions.setdefault(schema, set()).update(names)
    for schema, names in sorted(functions.items()):
        cursor.execute(FUNCTIONS_QUERY, (schema, sorted(names)))
        for row in cursor.fetchall():
            key = (row["nspname"], row["signature"].replace(" ", ""))
            snapshot["functions"][key] = pg_objects.acl_from_pairs(row["acl"])
    return snapshot


class Session:
    """One connection per database, opened when first needed."""

    def __init__(self, module):
        self.module = module
        self.connections = {}

    def cursor(self, database):
        if database not in self.connections:
            self.module.params["login_db"] = database
            conn = connect(self.module, application_name="keel.postgres.pg_objects", autocommit=True)
            conn.cursor().execute("SET standard_conforming_strings = on")
            self.connections[database] = conn
        return dict_cursor(self.connections[database])

    def run(self, step):
        cursor = self.cursor(step.database)
        conn = self.connections[step.database]
        statement = None
        try:
            if step.transaction:
                cursor.execute("BEGIN")
            for statement in step.statements:
                cursor.execute(statement.sql)
            if step.transaction:
                cursor.execute("COMMIT")
        except DATABASE_ERRORS as exc:
            if step.transaction:
                conn.cursor().execute("ROLLBACK")
            self.module.fail_json(
                msg="in database %s, %s failed: %s"
                % (step.database, statement.shown if statement else "BEGIN", str(exc).strip()),
            )

    def close(self):
        for conn in self.connections.values():
            conn.close()


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    desired = desired_state(module.params)
    if desired["databases"] and not desired["locale"]:
        module.fail_json(msg="locale is required when databases are given")
    session = Session(module)
    done = []
    read = []
    try:
        cluster = read_cluster(session.cursor("postgres"))
        steps = pg_objects.plan_cluster(desired, cluster)
        for step in steps:
            if not module.check_mode:
                session.run(step)
            done.extend(s.shown for s in step.statements)
        created = set(db["name"] for db in desired["databases"]) - set(cluster["databases"])
        for database in pg_objects.databases_to_read(desired):
            if database in cluster["databases"] or (database in created and not module.check_mode):
                snapshot = read_database(session.cursor(database), desired, database)
                read.append(database)
            else:
                snapshot = pg_objects.empty_database()
            for step in pg_objects.plan_in_database(desired, database, cluster, snapshot):
                if not module.check_mode:
                    session.run(step)
                done.extend(s.shown for s in step.statements)
    except pg_objects.PgObjectsError as exc:
        module.fail_json(msg=str(exc), statements=done)
    except DATABASE_ERRORS as exc:
        module.fail_json(msg="reading the catalog failed: %s" % str(exc).strip(), statements=done)
    finally:
        session.close()
    result = dict(changed=bool(done), statements=done, databases=read)
    if module._diff and done:
        result["diff"] = {"prepared": "\n".join(done) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
