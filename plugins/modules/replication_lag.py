#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: replication_lag
short_description: Measure streaming replication lag and classify it against thresholds
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - On a primary (not in recovery), reads C(pg_stat_replication) and reports for every standby its
    C(application_name), C(client_addr), C(state), C(sync_state), sent/write/flush/replay LSN, the write, flush
    and replay lag in bytes (C(pg_wal_lsn_diff) against C(pg_current_wal_lsn())) and the C(write_lag),
    C(flush_lag), C(replay_lag) times in seconds.
  - On a standby (in recovery), reports its own C(pg_last_wal_receive_lsn()), C(pg_last_wal_replay_lsn()), the
    replay gap in bytes, the age of C(pg_last_xact_replay_timestamp()) and the C(pg_stat_wal_receiver) status,
    sender host and slot name. Cascading standbys fed by this standby are reported like on a primary, with lags
    measured against the newest received or replayed position.
  - Each standby is classified V(ok), V(warning) or V(critical); a threshold is breached when the measured value
    is strictly greater than it. A standby that is not in state C(streaming) is a warning. On a standby, a
    missing WAL receiver is critical and paused replay is a warning.
  - "NULL time lags: PostgreSQL leaves C(write_lag)/C(flush_lag)/C(replay_lag) NULL for a standby that has just
    connected, and resets them to NULL when an idle standby is fully caught up. A NULL time lag counts as 0 s
    only when the matching byte lag is 0; otherwise the time lag is unknown (listed in C(time_lag_unknown)) and
    the byte thresholds alone judge that metric."
  - On a standby the replay age counts as lag only while received WAL waits to be replayed (replay gap > 0);
    with nothing to replay the age only measures how long the primary has been idle, so the time lag is 0 s.
  - The connecting role needs C(pg_monitor) (or C(pg_read_all_stats)); without it PostgreSQL hides the
    positions, and the module fails saying so.
  - Read-only; never changes anything.
options:
  warn_bytes:
    description:
      - Byte lag above which a standby is a warning. PostgreSQL units (V(kB), V(MB), V(GB), V(TB), powers of
        1024) or a plain number of bytes.
    type: str
    default: 100MB
  crit_bytes:
    description:
      - Byte lag above which a standby is critical.
    type: str
    default: 1GB
  warn_seconds:
    description:
      - Time lag in seconds above which a standby is a warning. The default keeps well inside an RPO below one
        minute.
    type: float
    default: 10
  crit_seconds:
    description:
      - Time lag in seconds above which a standby is critical. The default, 60 s, is the RPO budget itself.
    type: float
    default: 60
  expected_standbys:
    description:
      - C(application_name) of every standby that must be connected (Patroni sets it to the member name).
      - An expected standby without a row in C(pg_stat_replication) is critical.
      - Checked on a primary only; ignored when the server is in recovery, so the same list can be passed to
        every member of a Patroni cluster.
    type: list
    elements: str
    default: []
  sync_candidates:
    description:
      - C(application_name) of every standby allowed to confirm synchronous commits, that is the members that
        are sync-eligible and can be promoted (for Patroni, members of the same cluster without the C(nosync)
        tag and with C(failover_priority) > 0).
      - On a primary, a standby outside this list whose C(sync_state) is V(sync) or V(quorum) (it confirms
        commits now) or V(potential) (it does as soon as a synchronous standby drops out) is critical, since a
        commit acknowledged then may exist on no member that can be promoted. This is the window in which Patroni's
        strict mode sets C(synchronous_standby_names = '*') and any walsender, a DR standby cluster or a
        C(nosync) replica included, confirms commits.
      - Omitted (the default), nothing is checked. Ignored on a standby.
    type: list
    elements: str
  archive_standbys:
    description:
      - C(application_name) of the standbys that replay from the WAL archive only and never stream (Patroni
        C(nostream), what the region model gives every member that is not a synchronous candidate under strict
        synchronous replication).
      - On a primary they are never expected in C(pg_stat_replication) (they are dropped from O(expected_standbys)),
        and a row of one of them is critical. Ignored on a standby.
    type: list
    elements: str
    default: []
  archive_only:
    description:
      - This server is a standby that replays from the WAL archive only. It must have no WAL receiver (one is
        critical); its byte lag is O(upstream_lsn) minus its replay position, its time lag the replay age
        while bytes are missing, judged against the time thresholds plus O(archive_timeout).
      - Ignored on a primary.
    type: bool
    default: false
  upstream_lsn:
    description:
      - With O(archive_only), the primary's current WAL position (the C(current_lsn) this module returns on the
        primary). Omitted or empty, the byte lag is unknown and not judged.
    type: str
  archive_timeout:
    description:
      - With O(archive_only), the primary's C(archive_timeout) in seconds - how long a WAL segment may wait
        before it reaches the archive - added to O(warn_seconds) and O(crit_seconds).
    type: float
    default: 0
  fail_on:
    description:
      - Fail the task when the overall status reaches this level. V(never) only reports.
    type: str
    default: critical
    choices: [critical, warning, never]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - keel.postgres.connection
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same queries in check mode.
  diff_mode:
    support: none
  platform:
    platforms: postgres
notes:
  - Supports PostgreSQL 13 and later; tested with PostgreSQL 15.
seealso:
  - module: keel.postgres.replication_slots
  - module: keel.postgres.patroni_cluster
"""

EXAMPLES = r"""
- name: Check replication on every member, peer authentication over the local socket
  keel.postgres.replication_lag:
    login_unix_socket: /var/run/postgresql
    login_user: postgres
    expected_standbys: "{{ groups['postgres'] | difference([inventory_hostname]) }}"
  become: true
  become_user: postgres

- name: Report only, tighter thresholds, monitoring role over TLS
  keel.postgres.replication_lag:
    login_host: pg1.example.com
    login_user: keel_monitor
    login_password: "{{ vault_keel_monitor_password }}"
    ssl_mode: verify-full
    ca_cert: /etc/ssl/keel/ca.crt
    warn_bytes: 16MB
    crit_bytes: 256MB
    warn_seconds: 5
    crit_seconds: 30
    fail_on: never
  register: lag

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ lag.msg }}"
"""

RETURN = r"""
changed:
  description: Always false; the module only reads.
  returned: always
  type: bool
  sample: false
status:
  description: Overall status, the worst of all standbys, missing standbys and (on a standby) its own receiver.
  returned: always
  type: str
  sample: warning
msg:
  description: Human summary naming each standby, the measured value and the threshold it exceeds.
  returned: always
  type: str
  sample: "WARNING: standby 'pg2' replay lag 150.0 MB is above the warning threshold 100.0 MB"
messages:
  description: One line per finding (empty when all is well).
  returned: always
  type: list
  elements: str
  sample: ["standby 'pg2' replay lag 150.0 MB is above the warning threshold 100.0 MB"]
in_recovery:
  description: Whether the server is a standby (C(pg_is_in_recovery())).
  returned: always
  type: bool
  sample: false
server_version:
  description: C(server_version_num) of the server.
  returned: always
  type: int
  sample: 150018
current_lsn:
  description: Position the byte lags are measured against (C(pg_current_wal_lsn()) on a primary, the newest
    received or replayed position on a standby).
  returned: always
  type: str
  sample: 16/B374D848
standbys:
  description: One entry per row of C(pg_stat_replication) (on a standby, the cascading standbys it feeds).
  returned: always
  type: list
  elements: dict
  sample:
    - application_name: pg2
      client_addr: 10.0.1.12
      state: streaming
      sync_state: sync
      sent_lsn: 16/B374D848
      write_lsn: 16/B374D848
      flush_lsn: 16/B374D848
      replay_lsn: 16/B3000000
      write_lag_bytes: 0
      flush_lag_bytes: 0
      replay_lag_bytes: 7657544
      write_lag_seconds: 0.0012
      flush_lag_seconds: 0.0021
      replay_lag_seconds: 0.35
      effective_write_lag_seconds: 0.0012
      effective_flush_lag_seconds: 0.0021
      effective_replay_lag_seconds: 0.35
      time_lag_unknown: []
      sync_candidate: true
      status: ok
      reasons: []
missing_standbys:
  description: Entries of O(expected_standbys) with no row in C(pg_stat_replication) (always empty on a standby).
  returned: always
  type: list
  elements: str
  sample: [pg3]
synchronous_standby_names:
  description: The server's C(synchronous_standby_names) as PostgreSQL reports it.
  returned: always
  type: str
  sample: 2 ("pg-euw1","pg-usw2")
synchronous:
  description: C(synchronous_standby_names) parsed. C(method) is V(first), V(any) or null (empty setting);
    C(any_standby) is true when C(*) is one of the names (every walsender matches).
  returned: always
  type: dict
  sample: {method: first, num: 2, names: [pg-euw1, pg-usw2], any_standby: false}
receiver:
  description:
    - The standby's own replication state; null on a primary.
    - With O(archive_only) it also has C(archive_lag_bytes) (O(upstream_lsn) minus the replay position, null when
      unknown).
  returned: always
  type: dict
  sample:
    receive_lsn: 16/B374D848
    replay_lsn: 16/B3000000
    replay_gap_bytes: 7657544
    last_replay_timestamp: "2025-01-31 10:00:00.123+00"
    replay_age_seconds: 0.4
    replay_paused: false
    receiver_status: streaming
    sender_host: 10.0.1.11
    sender_port: 5432
    slot_name: pg2
    effective_replay_lag_seconds: 0.4
    time_lag_unknown: false
    status: ok
    reasons: []
thresholds:
  description: Thresholds used, bytes and seconds.
  returned: always
  type: dict
  sample: {warn_bytes: 104857600, crit_bytes: 1073741824, warn_seconds: 10.0, crit_seconds: 60.0}
queries:
  description: SQL statements the module ran, in order.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_is_in_recovery() AS in_recovery, ..."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils.connection import (
    DATABASE_ERRORS,
    connect,
    dict_cursor,
    postgres_common_argument_spec,
)
from ansible_collections.keel.postgres.plugins.module_utils.replication import (
    DEFAULT_CRIT_BYTES,
    DEFAULT_CRIT_SECONDS,
    DEFAULT_WARN_BYTES,
    DEFAULT_WARN_SECONDS,
    FAIL_ON_CHOICES,
    build_thresholds,
    evaluate,
    should_fail,
)

SERVER_QUERY = (
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " current_setting('server_version_num')::int AS server_version,"
    " current_user AS role_name,"
    " pg_has_role('pg_read_all_stats', 'USAGE') AS can_read_stats,"
    " current_setting('synchronous_standby_names') AS synchronous_standby_names"
)

PRIMARY_POSITION = "pg_current_wal_lsn()"
STANDBY_POSITION = "GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"

STANDBYS_QUERY = (
    "SELECT application_name, client_addr::text AS client_addr, state, sync_state,"
    " sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn,"
    " flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,"
    " pg_wal_lsn_diff({pos}, write_lsn)::bigint AS write_lag_bytes,"
    " pg_wal_lsn_diff({pos}, flush_lsn)::bigint AS flush_lag_bytes,"
    " pg_wal_lsn_diff({pos}, replay_lsn)::bigint AS replay_lag_bytes,"
    " EXTRACT(EPOCH FROM write_lag)::float8 AS write_lag_seconds,"
    " EXTRACT(EPOCH FROM flush_lag)::float8 AS flush_lag_seconds,"
    " EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag_seconds,"
    " {pos}::text AS current_lsn"
    " FROM pg_stat_replication ORDER BY application_name, client_addr"
)

POSITION_QUERY = "SELECT {pos}::text AS current_lsn"

RECEIVER_POSITION_QUERY = (
    "SELECT pg_last_wal_receive_lsn()::text AS receive_lsn,"
    " pg_last_wal_replay_lsn()::text AS replay_lsn,"
    " GREATEST(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint"
    " AS replay_gap_bytes,"
    " pg_last_xact_replay_timestamp()::text AS last_replay_timestamp,"
    " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 AS replay_age_seconds,"
    " pg_is_wal_replay_paused() AS replay_paused"
)

RECEIVER_QUERY = "SELECT status AS receiver_status, sender_host, sender_port, slot_name FROM pg_stat_wal_receiver"


def argument_spec():
    spec = postgres_common_argument_spec()
    spec.update(
        warn_bytes=dict(type="str", default=DEFAULT_WARN_BYTES),
        crit_bytes=dict(type="str", default=DEFAULT_CRIT_BYTES),
        warn_seconds=dict(type="float", default=DEFAULT_WARN_SECONDS),
        crit_seconds=dict(type="float", default=DEFAULT_CRIT_SECONDS),
        expected_standbys=dict(type="list", elements="str", default=[]),
        sync_candidates=dict(type="list", elements="str"),
        archive_standbys=dict(type="list", elements="str", default=[]),
        archive_only=dict(type="bool", default=False),
        upstream_lsn=dict(type="str"),
        archive_timeout=dict(type="float", default=0.0),
        fail_on=dict(type="str", default="critical", choices=FAIL_ON_CHOICES),
    )
    return spec


def _fetch(cursor, queries, sql):
    queries.append(sql)
    cursor.execute(sql)
    return [dict(row) for row in cursor.fetchall()]


def run(module, conn):
    """Measure and classify; return the result dict (without failing)."""
    params = module.params
    try:
        thresholds = build_thresholds(
            params["warn_bytes"], params["crit_bytes"], params["warn_seconds"], params["crit_seconds"]
        )
    except ValueError as exc:
        module.fail_json(msg="invalid threshold: %s" % exc)
    queries = []
    cursor = dict_cursor(conn)
    server = _fetch(cursor, queries, SERVER_QUERY)[0]
    if not server["can_read_stats"]:
        module.fail_json(
            msg="role '%s' cannot read replication positions: grant it pg_monitor (GRANT pg_monitor TO %s)"
            % (server["role_name"], server["role_name"]),
            queries=queries,
        )
    in_recovery = server["in_recovery"]
    position = STANDBY_POSITION if in_recovery else PRIMARY_POSITION
    rows = _fetch(cursor, queries, STANDBYS_QUERY.format(pos=position))
    if rows:
        current_lsn = rows[0]["current_lsn"]
    else:
        current_lsn = _fetch(cursor, queries, POSITION_QUERY.format(pos=position))[0]["current_lsn"]
    for row in rows:
        row.pop("current_lsn", None)
    receiver = None
    if in_recovery:
        receiver = _fetch(cursor, queries, RECEIVER_POSITION_QUERY)[0]
        walreceiver = _fetch(cursor, queries, RECEIVER_QUERY)
        receiver.update(
            walreceiver[0] if walreceiver else dict(receiver_status=None, sender_host=None, sender_port=None)
        )
        receiver.setdefault("slot_name", None)
    setting = server["synchronous_standby_names"]
    verdict = evaluate(
        in_recovery,
        rows,
        thresholds,
        params["expected_standbys"],
        receiver,
        sync_candidates=params["sync_candidates"],
        setting=setting,
        archive={
            "standbys": params["archive_standbys"],
            "only": params["archive_only"],
            "upstream_lsn": params["upstream_lsn"],
            "archive_timeout": params["archive_timeout"],
        },
    )
    return dict(
        changed=False,
        status=verdict["status"],
        msg=verdict["msg"],
        messages=verdict["messages"],
        in_recovery=in_recovery,
        server_version=server["server_version"],
        current_lsn=current_lsn,
        standbys=verdict["standbys"],
        missing_standbys=verdict["missing_standbys"],
        synchronous_standby_names=setting,
        synchronous=verdict["synchronous"],
        receiver=verdict["receiver"],
        thresholds=thresholds,
        queries=queries,
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    conn = connect(module, application_name="keel.postgres.replication_lag", read_only=True)
    try:
        result = run(module, conn)
    except DATABASE_ERRORS as exc:
        module.fail_json(msg="query failed: %s" % str(exc).strip())
    finally:
        conn.close()
    if should_fail(result["status"], module.params["fail_on"]):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
