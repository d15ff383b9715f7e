# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # PostgreSQL connection options shared by keel.postgres modules.
    # Keep in step with plugins/module_utils/connection.py postgres_common_argument_spec().
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server.
      - Empty means the default Unix socket directory of libpq (C(/var/run/postgresql) on Debian).
    type: str
    default: ''
  login_port:
    description:
      - Port of the server (also selects the socket file C(.s.PGSQL.<port>) for Unix sockets).
    type: int
    default: 5432
  login_user:
    description:
      - Role to connect as. For read-only checks a role with C(pg_monitor) is enough.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Not needed with peer authentication over a Unix socket.
    type: str
    default: ''
  login_db:
    description:
      - Database to connect to.
    type: str
    default: postgres
  login_unix_socket:
    description:
      - Directory of the Unix socket. When set, it is used instead of O(login_host).
    type: str
    default: ''
  ssl_mode:
    description:
      - libpq C(sslmode) for TCP connections.
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file used to verify the server (libpq C(sslrootcert)); use with O(ssl_mode=verify-full).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established.
    type: int
    default: 10
requirements:
  - psycopg2 (Debian package C(python3-psycopg2)) on the managed host
"""
