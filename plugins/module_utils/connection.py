# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL connection options and a psycopg2 connect() helper.

The collection has exactly one driver, psycopg2 (Debian: python3-psycopg2).
The options match the keel.postgres.connection doc fragment.
"""

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg2
    import psycopg2.extras

    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - exercised through the flag in unit tests
    psycopg2 = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

# Exceptions a query can raise; empty when the driver is missing (connect() fails first then).
DATABASE_ERRORS = (psycopg2.Error,) if HAS_PSYCOPG2 else ()

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


def postgres_common_argument_spec():
    """Argument spec of the keel.postgres.connection doc fragment (keep both in step)."""
    return dict(
        login_host=dict(type="str", default=""),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", default="", no_log=True),
        login_db=dict(type="str", default="postgres"),
        login_unix_socket=dict(type="str", default=""),
        ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
        ca_cert=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


def connection_kwargs(params, application_name="keel.postgres"):
    """Map module parameters to psycopg2.connect() keyword arguments (pure, unit-tested).

    ``login_unix_socket`` wins over ``login_host``; with neither, libpq uses its
    compiled-in socket directory (/var/run/postgresql on Debian).
    """
    kwargs = {
        "port": params["login_port"],
        "user": params["login_user"],
        "dbname": params["login_db"],
        "sslmode": params["ssl_mode"],
        "connect_timeout": params["connect_timeout"],
        "application_name": application_name,
    }
    host = params.get("login_unix_socket") or params.get("login_host")
    if host:
        kwargs["host"] = host
    if params.get("login_password"):
        kwargs["password"] = params["login_password"]
    if params.get("ca_cert"):
        kwargs["sslrootcert"] = params["ca_cert"]
    return kwargs


def describe_target(params):
    """Short 'user@host:port/db' text for error messages (never includes the password)."""
    host = params.get("login_unix_socket") or params.get("login_host") or "default socket"
    return "%s@%s:%s/%s" % (params["login_user"], host, params["login_port"], params["login_db"])


def ensure_driver(module):
    """Fail the module with a clear message when psycopg2 is not importable."""
    if not HAS_PSYCOPG2:
        module.fail_json(
            msg=missing_required_lib(
                "psycopg2", reason="to connect to PostgreSQL (Debian/Ubuntu: apt-get install python3-psycopg2)"
            ),
            exception=PSYCOPG2_IMPORT_ERROR,
        )


def connect(module, application_name="keel.postgres", autocommit=True, read_only=False):
    """Open a psycopg2 connection from the module's connection options or fail_json.

    ``application_name`` shows up in pg_stat_activity. Returns the connection;
    cursors created with ``dict_cursor(conn)`` yield dicts.
    """
    ensure_driver(module)
    kwargs = connection_kwargs(module.params, application_name=application_name)
    try:
        conn = psycopg2.connect(**kwargs)
        conn.set_session(readonly=read_only, autocommit=autocommit)
    except psycopg2.Error as exc:
        module.fail_json(msg="unable to connect to PostgreSQL as %s: %s" % (describe_target(module.params), exc))
    return conn


def dict_cursor(conn):
    """A cursor whose rows are real dicts (column name -> value)."""
    return conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
