# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Roles, databases, schemas, privileges and extensions: desired state + catalog -> SQL statements.

Pure functions behind the keel.postgres.pg_objects module (docs/postgresql.md "Role model"). The
module reads the catalog; these functions decide what to run; nothing here talks to a server.

Snapshots are plain dicts (see ``empty_cluster`` and ``empty_database``). ACLs are
``{grantee: set(privilege names)}`` as ``aclexplode(coalesce(acl, acldefault(...)))`` gives them,
with ``PUBLIC`` for grantee 0. Statements are ``Statement(sql, shown)``: ``shown`` is ``sql`` with
any password replaced by ``********``.

Identifiers are double-quoted (``"`` doubled) and literals single-quoted (``'`` doubled); the
module turns ``standard_conforming_strings`` on for its sessions, so a backslash is an ordinary
character. NUL bytes are refused.
"""

from __future__ import annotations

import base64
import binascii
import collections
import re

from ansible_collections.keel.postgres.plugins.module_utils.scram import ScramError, verifier

Statement = collections.namedtuple("Statement", ["sql", "shown"])

# A step: the statements to run in one database, in one transaction unless ``transaction`` is false
# (CREATE DATABASE cannot run inside a transaction block).
Step = collections.namedtuple("Step", ["database", "statements", "transaction"])

MASK = "********"
PUBLIC = "PUBLIC"

GROUP_ATTRIBUTES = {
    "login": False,
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "replication": False,
    "bypassrls": False,
    "inherit": True,
}
LOGIN_ATTRIBUTES = dict(GROUP_ATTRIBUTES, login=True)
ATTRIBUTE_ORDER = ("login", "superuser", "createdb", "createrole", "replication", "bypassrls", "inherit")

# Privileges ``ALL`` stands for, by object type.
ALL_PRIVILEGES = {
    "database": ("CREATE", "CONNECT", "TEMPORARY"),
    "schema": ("USAGE", "CREATE"),
    "table": ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"),
    "sequence": ("USAGE", "SELECT", "UPDATE"),
    "function": ("EXECUTE",),
}
DEFAULT_PRIVS_OBJECTS = {"TABLES": "r", "SEQUENCES": "S", "FUNCTIONS": "f", "TYPES": "T"}
GRANT_TYPES = ("database", "schema", "table", "sequence", "default_privs", "function")
PRIVILEGE_WORDS = frozenset(
    "SELECT INSERT UPDATE DELETE TRUNCATE REFERENCES TRIGGER CREATE CONNECT TEMPORARY EXECUTE USAGE ALL".split()
)
ARGUMENT_TYPE = re.compile(r"^[a-z_][a-z0-9_ ]*(\[\])?$")
SCRAM_PREFIX = "SCRAM-SHA-256$"


class PgObjectsError(ValueError):
    """A desired state that cannot be applied, or a catalog that contradicts it."""


# --- quoting -------------------------------------------------------------------------------------


def _check_text(value, what):
    if not isinstance(value, str) or not value:
        raise PgObjectsError("%s: must be a non-empty string, got %r" % (what, value))
    if "\x00" in value:
        raise PgObjectsError("%s: must not contain a NUL byte" % what)
    return value


def quote_ident(name):
    """A safely double-quoted SQL identifier."""
    return '"%s"' % _check_text(name, "identifier").replace('"', '""')


def quote_literal(value):
    """A single-quoted SQL string literal (standard_conforming_strings on)."""
    return "'%s'" % _check_text(value, "literal").replace("'", "''")


def role_ref(name):
    """A grantee: the PUBLIC keyword or a quoted role name."""
    return PUBLIC if name == PUBLIC else quote_ident(name)


def _plain(sql):
    return Statement(sql, sql)


def _split(value):
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (comma lists as the privilege entries write them)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part).strip() for part in value if str(part).strip()]


# --- snapshots -----------------------------------------------------------------------------------


def empty_cluster():
    """The shape of a cluster snapshot (what the module reads from the postgres database)."""
    return {
        # name -> {login, superuser, createdb, createrole, replication, bypassrls, inherit, connlimit, password}
        "roles": {},
        # member role -> set of roles it is a member of
        "members": {},
        # name -> {owner, encoding, collate, ctype, acl}
        "databases": {},
        # (role, database) -> list of 'name=value' settings
        "role_settings": {},
    }


def empty_database():
    """The shape of one database's snapshot."""
    return {
        # name -> {owner, acl}
        "schemas": {},
        # schema -> {"tables": [acl, ...], "sequences": [acl, ...]} (one ACL per relation)
        "relations": {},
        # (owner role, schema, object type letter) -> acl
        "default_acls": {},
        "extensions": set(),
        # (schema, 'name(type,type)') -> acl
        "functions": {},
    }


def acl_from_pairs(pairs):
    """[[grantee, privilege], ...] (aclexplode rows) -> {grantee: set(privileges)}."""
    acl = {}
    for grantee, privilege in pairs or []:
        acl.setdefault(grantee, set()).add(privilege)
    return acl


def default_acl(kind, owner):
    """The ACL PostgreSQL assumes for a NULL ACL column (acldefault), for objects this module creates."""
    if kind == "database":
        return {owner: set(ALL_PRIVILEGES["database"]), PUBLIC: {"CONNECT", "TEMPORARY"}}
    if kind == "schema":
        return {owner: set(ALL_PRIVILEGES["schema"])}
    raise PgObjectsError("no default ACL for %s" % kind)


# --- passwords -----------------------------------------------------------------------------------


def password_matches(stored, password):
    """Whether the stored verifier (pg_authid.rolpassword) is the verifier of ``password``.

    A SCRAM-SHA-256 verifier is recomputed with its own iterations and salt. A ``password`` that is
    itself a SCRAM verifier matches only the identical string. An MD5 hash, plain text or no
    password never matches: setting the password again makes the server store a SCRAM verifier
    (password_encryption), which is what pg_hba's scram-sha-256 needs.
    """
    if not stored or not stored.startswith(SCRAM_PREFIX):
        return False
    if password.startswith(SCRAM_PREFIX):
        return stored == password
    try:
        head, keys = stored[len(SCRAM_PREFIX) :].split("$", 1)
        iterations, salt = head.split(":", 1)
        return verifier(password, base64.b64decode(salt, validate=True), int(iterations)) == stored
    except (ValueError, binascii.Error, ScramError):
        return False


# --- roles ---------------------------------------------------------------------------------------


def _attribute_words(attributes, names):
    return " ".join(("" if attributes[name] else "NO") + name.upper() for name in names)


def plan_role(name, attributes, current, connection_limit=None, password=None):
    """Statements that make role ``name`` have ``attributes`` (and a connection limit, a password).

    ``current`` is the snapshot entry or None. A None ``connection_limit`` or ``password`` is left
    as it is.
    """
    ident = quote_ident(name)
    if current is None:
        sql = "CREATE ROLE %s WITH %s" % (ident, _attribute_words(attributes, ATTRIBUTE_ORDER))
        if connection_limit is not None:
            sql += " CONNECTION LIMIT %d" % connection_limit
        if password is not None:
            return [Statement(sql + " PASSWORD " + quote_literal(password), sql + " PASSWORD '%s'" % MASK)]
        return [_plain(sql)]
    out = []
    differing = [a for a in ATTRIBUTE_ORDER if bool(current.get(a)) != attributes[a]]
    words = _attribute_words(attributes, differing)
    if connection_limit is not None and current.get("connlimit") != connection_limit:
        words = (words + " " if words else "") + "CONNECTION LIMIT %d" % connection_limit
    if words:
        out.append(_plain("ALTER ROLE %s WITH %s" % (ident, words)))
    if password is not None and not password_matches(current.get("password"), password):
        sql = "ALTER ROLE %s WITH PASSWORD " % ident
        out.append(Statement(sql + quote_literal(password), sql + "'%s'" % MASK))
    return out


def plan_memberships(member, groups, current_groups):
    """GRANT the missing groups, REVOKE every other membership of ``member`` (state exact)."""
    want = set(groups)
    have = set(current_groups or ())
    ident = quote_ident(member)
    out = [_plain("GRANT %s TO %s" % (quote_ident(g), ident)) for g in sorted(want - have)]
    out += [_plain("REVOKE %s FROM %s" % (quote_ident(g), ident)) for g in sorted(have - want)]
    return out


def plan_session_role(user, database, role, current_settings):
    """ALTER ROLE ... IN DATABASE ... SET role, unless that setting is already there."""
    if "role=%s" % role in (current_settings or []):
        return []
    return [
        _plain(
            "ALTER ROLE %s IN DATABASE %s SET role = %s"
            % (quote_ident(user), quote_ident(database), quote_literal(role))
        )
    ]


# --- databases, schemas, extensions --------------------------------------------------------------


def plan_database(database, current, encoding, locale):
    """CREATE DATABASE (a step of its own, outside a transaction) or ALTER DATABASE ... OWNER TO.

    Returns (create statements, other statements). A database is never dropped; an existing one with
    another encoding or locale is an error (neither can be changed in place).
    """
    name, owner = database["name"], database["owner"]
    if current is None:
        sql = "CREATE DATABASE %s WITH OWNER %s ENCODING %s LC_COLLATE %s LC_CTYPE %s TEMPLATE template0" % (
            quote_ident(name),
            quote_ident(owner),
            quote_literal(encoding),
            quote_literal(locale),
            quote_literal(locale),
        )
        return [_plain(sql)], []
    for key, want in (("encoding", encoding), ("collate", locale), ("ctype", locale)):
        if _norm_setting(current.get(key)) != _norm_setting(want):
            raise PgObjectsError(
                "database %s exists with %s %r, the desired state says %r; PostgreSQL cannot change it in place"
                " (dump, recreate and restore it, or set the variable to the database's value)"
                % (name, key, current.get(key), want)
            )
    if current.get("owner") != owner:
        return [], [_plain("ALTER DATABASE %s OWNER TO %s" % (quote_ident(name), quote_ident(owner)))]
    return [], []


def _norm_setting(value):
    """UTF8 = utf-8, C.UTF-8 = C.utf8 (PostgreSQL and glibc spell them both ways)."""
    return re.sub(r"[-_]", "", str(value or "")).lower()


def plan_schemas(schemas, owner, current_schemas):
    out = []
    for schema in schemas:
        current = current_schemas.get(schema)
        if current is None:
            out.append(_plain("CREATE SCHEMA %s AUTHORIZATION %s" % (quote_ident(schema), quote_ident(owner))))
        elif current.get("owner") != owner:
            out.append(_plain("ALTER SCHEMA %s OWNER TO %s" % (quote_ident(schema), quote_ident(owner))))
    return out


def plan_extensions(extensions, current_extensions):
    return [_plain("CREATE EXTENSION %s" % quote_ident(e)) for e in extensions if e not in current_extensions]


# --- privileges ----------------------------------------------------------------------------------


def _privileges(entry, kind):
    words = [p.upper() for p in _split(entry.get("privs"))]
    bad = [w for w in words if w not in PRIVILEGE_WORDS]
    if bad or not words:
        raise PgObjectsError("grant %r: unknown privileges %s" % (entry, bad or "(none)"))
    if "ALL" in words:
        return "ALL", list(ALL_PRIVILEGES["table" if kind == "default_privs" else kind])
    return ", ".join(words), words


def function_signature(obj):
    """'pg_backup_start(text:boolean)' -> ('pg_backup_start', ['text', 'boolean'])."""
    match = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_$]*)\s*\((.*)\)\s*$", obj)
    if not match:
        raise PgObjectsError("function %r: write it as name(type:type)" % obj)
    args = [a.strip().lower() for a in re.split(r"[:,]", match.group(2)) if a.strip()]
    for arg in args:
        if not ARGUMENT_TYPE.match(arg):
            raise PgObjectsError("function %r: argument type %r is not a plain type name" % (obj, arg))
    return match.group(1), args


def function_key(name, args):
    """The key of a function in a snapshot: 'name(type,type)' without spaces."""
    return "%s(%s)" % (name, ",".join(re.sub(r"\s+", "", a) for a in args))


def _objects(entry, kind, db, snapshot_cluster, snapshot_db, owners):
    """(SQL object text, ACLs that must all satisfy the grant) for each object of one entry."""
    schema = entry.get("schema")
    objs = _split(entry.get("objs"))
    out = []
    if kind == "database":
        for name in objs:
            current = snapshot_cluster["databases"].get(name)
            acl = current["acl"] if current else default_acl("database", owners.get(name, ""))
            out.append(("DATABASE %s" % quote_ident(name), [acl]))
    elif kind == "schema":
        for name in objs:
            current = snapshot_db["schemas"].get(name)
            if current is None:
                owner = owners.get((db, name))
                acls = [default_acl("schema", owner)] if owner else []
            else:
                acls = [current["acl"]]
            out.append(("SCHEMA %s" % quote_ident(name), acls))
    elif kind in ("table", "sequence"):
        if objs != ["ALL_IN_SCHEMA"] or not schema:
            raise PgObjectsError("grant %r: %s grants must be objs ALL_IN_SCHEMA with a schema" % (entry, kind))
        acls = snapshot_db["relations"].get(schema, {}).get(kind + "s", [])
        out.append(("ALL %sS IN SCHEMA %s" % (kind.upper(), quote_ident(schema)), acls))
    elif kind == "function":
        schema = schema or "pg_catalog"
        for obj in objs:
            name, args = function_signature(obj)
            key = (schema, function_key(name, args))
            acl = snapshot_db["functions"].get(key)
            if acl is None:
                raise PgObjectsError("function %s.%s does not exist in database %s" % (schema, key[1], db))
            out.append(("FUNCTION %s.%s(%s)" % (quote_ident(schema), quote_ident(name), ", ".join(args)), [acl]))
    return out


def plan_grant(entry, snapshot_cluster, snapshot_db, owners=None):
    """The GRANT/REVOKE statements one privilege entry needs (the __postgresql_grants format).

    ``entry``: db, type (database, schema, table, sequence, default_privs, function), objs, privs,
    roles (comma lists), schema, target_roles (default_privs), state (present/absent).
    ``owners`` maps database names and (database, schema) to the owners of objects this run creates.
    Granting is additive (other privileges stay); revoking removes the named privileges.
    """
    owners = owners or {}
    kind = entry.get("type")
    if kind not in GRANT_TYPES:
        raise PgObjectsError("grant %r: type must be one of %s" % (entry, ", ".join(GRANT_TYPES)))
    revoke = entry.get("state", "present") == "absent"
    privs_sql, privs = _privileges(entry, kind)
    roles = _split(entry.get("roles"))
    if not roles:
        raise PgObjectsError("grant %r: no roles" % (entry,))
    out = []
    if kind == "default_privs":
        for owner in _split(entry.get("target_roles")):
            schema = entry.get("schema")
            for obj in _split(entry.get("objs")):
                letter = DEFAULT_PRIVS_OBJECTS.get(obj.upper())
                if letter is None or not schema:
                    raise PgObjectsError(
                        "grant %r: default_privs need a schema and objs TABLES or SEQUENCES" % (entry,)
                    )
                acl = snapshot_db["default_acls"].get((owner, schema, letter), {})
                for role in roles:
                    out += _grant_or_revoke(
                        revoke,
                        privs_sql,
                        privs,
                        role,
                        [acl],
                        "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s "
                        % (quote_ident(owner), quote_ident(schema)),
                        "ON %s" % obj.upper(),
                    )
        return out
    for target, acls in _objects(entry, kind, entry.get("db"), snapshot_cluster, snapshot_db, owners):
        for role in roles:
            out += _grant_or_revoke(revoke, privs_sql, privs, role, acls, "", "ON %s" % target)
    return out


def _grant_or_revoke(revoke, privs_sql, privs, role, acls, prefix, on):
    if revoke:
        if any(set(privs) & acl.get(role, set()) for acl in acls):
            return [_plain("%sREVOKE %s %s FROM %s" % (prefix, privs_sql, on, role_ref(role)))]
        return []
    if any(not set(privs) <= acl.get(role, set()) for acl in acls):
        return [_plain("%sGRANT %s %s TO %s" % (prefix, privs_sql, on, role_ref(role)))]
    return []


# --- the whole plan ------------------------------------------------------------------------------


def _owners(desired):
    owners = {}
    for db in desired.get("databases", []):
        owners[db["name"]] = db["owner"]
        for schema in db.get("schemas", []):
            owners[(db["name"], schema)] = db["owner"]
    return owners


def plan_cluster(desired, cluster):
    """Steps in the postgres database: roles and memberships (one transaction), each new database
    (no transaction), then owners of databases, database privileges and session roles (one
    transaction).

    ``desired``: group_roles, users (name, password, replication, connection_limit, groups),
    databases (name, owner, schemas, extensions), encoding, locale, grants, session_roles
    (user, database, role). Missing keys mean nothing of that kind is managed.
    """
    roles = []
    for name in desired.get("group_roles", []):
        roles += plan_role(name, GROUP_ATTRIBUTES, cluster["roles"].get(name))
    for user in desired.get("users", []):
        attributes = dict(LOGIN_ATTRIBUTES, replication=bool(user.get("replication")))
        limit = user.get("connection_limit")
        roles += plan_role(
            user["name"],
            attributes,
            cluster["roles"].get(user["name"]),
            connection_limit=-1 if limit is None else int(limit),
            password=user.get("password"),
        )
    for user in desired.get("users", []):
        if user.get("groups") is not None:
            roles += plan_memberships(user["name"], user["groups"], cluster["members"].get(user["name"]))
    steps = [Step("postgres", roles, True)] if roles else []
    after = []
    for db in desired.get("databases", []):
        create, other = plan_database(
            db, cluster["databases"].get(db["name"]), desired.get("encoding", "UTF8"), desired["locale"]
        )
        steps += [Step("postgres", [statement], False) for statement in create]
        after += other
    owners = _owners(desired)
    for entry in desired.get("grants", []):
        if entry.get("type") == "database":
            after += plan_grant(entry, cluster, empty_database(), owners)
    for item in desired.get("session_roles", []):
        after += plan_session_role(
            item["user"], item["database"], item["role"], cluster["role_settings"].get((item["user"], item["database"]))
        )
    if after:
        steps.append(Step("postgres", after, True))
    return steps


def databases_to_read(desired):
    """Every database whose catalog the plan needs, postgres first."""
    names = ["postgres"]
    for db in desired.get("databases", []):
        names.append(db["name"])
    for entry in desired.get("grants", []):
        if entry.get("type") != "database":
            names.append(entry["db"])
    return list(dict.fromkeys(names))


def schemas_to_read(desired, database):
    """Schemas of ``database`` the plan looks at (managed ones and those the grants name)."""
    names = []
    for db in desired.get("databases", []):
        if db["name"] == database:
            names += db.get("schemas", [])
    for entry in desired.get("grants", []):
        if entry.get("db") == database and entry.get("type") not in ("database", "function"):
            if entry.get("type") == "schema":
                names += _split(entry.get("objs"))
            elif entry.get("schema"):
                names.append(entry["schema"])
    return list(dict.fromkeys(names))


def plan_in_database(desired, database, cluster, snapshot):
    """The step of one database: schemas, then privileges, then extensions (one transaction)."""
    out = []
    extensions = list(desired.get("postgres_extensions", [])) if database == "postgres" else []
    for db in desired.get("databases", []):
        if db["name"] == database:
            out += plan_schemas(db.get("schemas", []), db["owner"], snapshot["schemas"])
            extensions += [e for e in db.get("extensions", []) if e not in extensions]
    owners = _owners(desired)
    for entry in desired.get("grants", []):
        if entry.get("db") == database and entry.get("type") != "database":
            out += plan_grant(entry, cluster, snapshot, owners)
    out += plan_extensions(extensions, snapshot["extensions"])
    return [Step(database, out, True)] if out else []


def plan(desired, cluster, snapshots):
    """Every step, in order: plan_cluster, then each database of ``databases_to_read``.

    ``snapshots`` maps database names to their snapshot; a database not in it (not created yet)
    is planned from an empty snapshot.
    """
    steps = plan_cluster(desired, cluster)
    for database in databases_to_read(desired):
        steps += plan_in_database(desired, database, cluster, snapshots.get(database) or empty_database())
    return steps


def shown(steps):
    """The statements of ``steps`` as shown to the user (passwords masked)."""
    return [statement.shown for step in steps for statement in step.statements]
