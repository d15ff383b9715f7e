#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: replication_slots
short_description: Report replication slots, the WAL they retain, and drop abandoned ones on request
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Lists physical and logical slots from C(pg_replication_slots) with C(slot_type), C(database), C(plugin),
    C(active), C(active_pid), C(restart_lsn), C(confirmed_flush_lsn), the WAL bytes each retains, C(wal_status)
    and C(safe_wal_size).
  - "Classifies each slot, most severe first: V(lost) (C(wal_status) lost, critical), V(unreserved) (past
    C(max_slot_wal_keep_size), lost at the next checkpoint, critical), V(retaining) (retained WAL above
    O(warn_bytes) or O(crit_bytes)), V(inactive) (no consumer connected; a warning on a primary, ok on a standby
    where Patroni keeps inactive copies of member slots by design) or V(ok)."
  - When C(max_slot_wal_keep_size) (read with C(current_setting)) is set to a limit L, the byte thresholds are
    lowered to at most L/2 (warning) and 8/10 of L (critical), so that a slot is flagged before PostgreSQL
    invalidates it. The thresholds used are returned.
  - Drops nothing unless asked with O(drop_inactive) or O(drop_slots). Slots managed by Patroni are never
    dropped, even when named in O(drop_slots) - member slots (named after O(patroni_members) the way Patroni
    derives them) and permanent slots (O(patroni_permanent_slots)), both also read from the Patroni REST API
    when O(patroni_url) is set - nor are slots in O(protected_slots), active slots and temporary slots.
  - "How inactivity is decided: PostgreSQL 15 has no C(inactive_since) column (it arrives in PostgreSQL 17), so
    how long a slot has been unused cannot be read from the catalog. Before dropping, the module observes every
    candidate once a second for O(inactive_for) seconds and drops it only if it stayed inactive with an
    unchanged C(restart_lsn) the whole time; otherwise it is reported in RV(refused)."
options:
  warn_bytes:
    description:
      - Retained WAL above which a slot is V(retaining) with a warning. PostgreSQL units or bytes.
      - Size it against the free space of C(pg_wal).
    type: str
    default: 1GB
  crit_bytes:
    description:
      - Retained WAL above which a slot is V(retaining) and critical.
    type: str
    default: 5GB
  drop_inactive:
    description:
      - Drop every inactive, unprotected slot classified V(retaining) (above O(warn_bytes)) or V(lost), after
        the O(inactive_for) observation.
    type: bool
    default: false
  drop_slots:
    description:
      - Names of slots to drop when they are inactive and unprotected, whatever WAL they retain, after the
        O(inactive_for) observation. Names that do not exist are reported in RV(not_found) (already gone).
    type: list
    elements: str
    default: []
  inactive_for:
    description:
      - Seconds a drop candidate must be observed inactive, with an unchanged C(restart_lsn), before it is
        dropped. The module waits this long when there is a candidate, also in check mode. V(0) drops slots
        that are inactive at the moment of the check.
    type: int
    default: 60
  protected_slots:
    description:
      - Slot names that are never dropped (for example a CDC slot managed outside Patroni).
    type: list
    elements: str
    default: []
  patroni_members:
    description:
      - Patroni member names. Their slots are never dropped. A member name maps to a slot name the way Patroni
        does it (lowercase; C(-) and C(.) become C(_); other characters outside C([a-z0-9_]) become
        C(u) plus their code point), and, to err on the safe side, also with every such character replaced by
        C(_).
    type: list
    elements: str
    default: []
  patroni_permanent_slots:
    description:
      - Names of permanent slots from the Patroni dynamic configuration (C(slots:)). Never dropped.
    type: list
    elements: str
    default: []
  patroni_url:
    description:
      - Base URL of a Patroni REST API, for example V(https://pg1.example.com:8008). When set, member names are
        read from C(GET /cluster) and permanent slots from C(GET /config) and added to the two options above.
      - If Patroni cannot be reached, the module fails when a drop was requested, and only warns otherwise.
    type: str
  patroni_ca_cert:
    description:
      - CA bundle to verify the Patroni REST API certificate.
    type: path
  patroni_client_cert:
    description:
      - Client certificate for the Patroni REST API.
    type: path
  patroni_client_key:
    description:
      - Private key of O(patroni_client_cert).
    type: path
  patroni_validate_certs:
    description:
      - Verify the Patroni REST API certificate.
    type: bool
    default: true
  fail_on:
    description:
      - Fail the task when the overall status (worst severity of the slots left after any drop) reaches this
        level.
    type: str
    default: critical
    choices: [critical, warning, never]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - keel.postgres.connection
attributes:
  check_mode:
    support: full
    details: Reports what would be dropped in RV(would_drop) and runs no drop statement.
  diff_mode:
    support: none
  platform:
    platforms: postgres
notes:
  - Reading slots needs no privilege; dropping needs a superuser or a role with the C(REPLICATION) attribute.
  - Supports PostgreSQL 13 and later (C(wal_status), C(safe_wal_size)); tested with PostgreSQL 15.
seealso:
  - module: keel.postgres.replication_lag
"""

EXAMPLES = r"""
- name: Report slots and the WAL they hold
  keel.postgres.replication_slots:
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
  register: slots

- name: Drop abandoned slots, never one Patroni manages
  keel.postgres.replication_slots:
    login_unix_socket: /var/run/postgresql
    drop_inactive: true
    inactive_for: 300
    patroni_url: https://{{ inventory_hostname }}:8008
    patroni_ca_cert: /etc/patroni/tls/ca.crt
    protected_slots: [debezium_orders]
  become: true
  become_user: postgres

- name: Drop one named slot left behind by a decommissioned replica
  keel.postgres.replication_slots:
    login_unix_socket: /var/run/postgresql
    drop_slots: [old_replica_eu]
    inactive_for: 30
    patroni_members: "{{ groups['postgres'] }}"
    patroni_permanent_slots: [dr_site]
  become: true
  become_user: postgres
"""

RETURN = r"""
changed:
  description: True when a slot was dropped (in check mode, when one would be dropped).
  returned: always
  type: bool
  sample: false
status:
  description: Worst severity of the slots left after any drop.
  returned: always
  type: str
  sample: warning
msg:
  description: Human summary naming each slot, the retained WAL and the threshold, and what was (not) dropped.
  returned: always
  type: str
  sample: "WARNING: slot 'old_replica' retains 3.2 GB of WAL, above the warning threshold 1.0 GB"
in_recovery:
  description: Whether the server is a standby.
  returned: always
  type: bool
  sample: false
current_lsn:
  description: Position retained WAL is measured against (C(pg_current_wal_lsn()), on a standby the newest
    received or replayed position).
  returned: always
  type: str
  sample: 0/3000060
slots:
  description: Every slot as found before any drop, with its classification.
  returned: always
  type: list
  elements: dict
  sample:
    - slot_name: pg2
      slot_type: physical
      database: null
      plugin: null
      active: true
      active_pid: 4242
      temporary: false
      restart_lsn: 0/3000060
      confirmed_flush_lsn: null
      wal_status: reserved
      safe_wal_size: null
      retained_bytes: 0
      classification: ok
      severity: ok
      reasons: []
      patroni_managed: true
      protected_reason: Patroni member slot
thresholds:
  description: Thresholds used; C(max_slot_wal_keep_size) in bytes or null when unlimited.
  returned: always
  type: dict
  sample:
    warn_bytes: 1073741824
    crit_bytes: 5368709120
    max_slot_wal_keep_size: null
    effective_warn_bytes: 1073741824
    effective_crit_bytes: 5368709120
patroni_managed:
  description: Slot names treated as managed by Patroni (member and permanent slots), whether they exist or not.
  returned: always
  type: list
  elements: str
  sample: [pg2, pg3, dr_site]
dropped:
  description: Slots dropped by this run.
  returned: always
  type: list
  elements: str
  sample: [old_replica]
would_drop:
  description: Slots that would be dropped (check mode only; empty otherwise).
  returned: always
  type: list
  elements: str
  sample: [old_replica]
refused:
  description: Slots asked for or eligible for dropping that were kept, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{slot: pg3, reason: Patroni member slot}]
not_found:
  description: Names from O(drop_slots) that do not exist.
  returned: always
  type: list
  elements: str
  sample: []
statements:
  description: The drop statements executed, exactly as sent.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_drop_replication_slot('old_replica')"]
queries:
  description: Read queries the module ran, in order.
  returned: always
  type: list
  elements: str
  sample: ["SELECT slot_name, slot_type, ... FROM pg_replication_slots ORDER BY slot_name"]
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils.connection import (
    DATABASE_ERRORS,
    connect,
    dict_cursor,
    postgres_common_argument_spec,
)
from ansible_collections.keel.postgres.plugins.module_utils.patroni import PatroniClient, PatroniError
from ansible_collections.keel.postgres.plugins.module_utils.replication import (
    FAIL_ON_CHOICES,
    should_fail,
    worst,
)
from ansible_collections.keel.postgres.plugins.module_utils.slots import (
    DEFAULT_CRIT_BYTES,
    DEFAULT_WARN_BYTES,
    DROP_STATEMENT,
    classify_slot,
    confirm_inactive,
    member_slot_names,
    parse_keep_size,
    permanent_slot_names,
    plan_drops,
    protection_reason,
    slot_thresholds,
    summary,
)

POSITION = (
    "CASE WHEN pg_is_in_recovery()"
    " THEN GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
    " ELSE pg_current_wal_lsn() END"
)

SERVER_QUERY = (
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " current_setting('max_slot_wal_keep_size') AS max_slot_wal_keep_size,"
    " (%s)::text AS current_lsn" % POSITION
)

SLOT_COLUMNS = (
    "SELECT slot_name::text AS slot_name, slot_type, database::text AS database, plugin::text AS plugin,"
    " active, active_pid, temporary, restart_lsn::text AS restart_lsn,"
    " confirmed_flush_lsn::text AS confirmed_flush_lsn, wal_status, safe_wal_size,"
    " pg_wal_lsn_diff(%s, restart_lsn)::bigint AS retained_bytes"
    " FROM pg_replication_slots" % POSITION
)
SLOTS_QUERY = SLOT_COLUMNS + " ORDER BY slot_name"
ONE_SLOT_QUERY = SLOT_COLUMNS + " WHERE slot_name = %s"


def argument_spec():
    spec = postgres_common_argument_spec()
    spec.update(
        warn_bytes=dict(type="str", default=DEFAULT_WARN_BYTES),
        crit_bytes=dict(type="str", default=DEFAULT_CRIT_BYTES),
        drop_inactive=dict(type="bool", default=False),
        drop_slots=dict(type="list", elements="str", default=[]),
        inactive_for=dict(type="int", default=60),
        protected_slots=dict(type="list", elements="str", default=[]),
        patroni_members=dict(type="list", elements="str", default=[]),
        patroni_permanent_slots=dict(type="list", elements="str", default=[]),
        patroni_url=dict(type="str"),
        patroni_ca_cert=dict(type="path"),
        patroni_client_cert=dict(type="path"),
        patroni_client_key=dict(type="path", no_log=False),
        patroni_validate_certs=dict(type="bool", default=True),
        fail_on=dict(type="str", default="critical", choices=FAIL_ON_CHOICES),
    )
    return spec


def patroni_names(module):
    """(member names, permanent slot names) from the options plus the Patroni REST API when given."""
    params = module.params
    members = list(params["patroni_members"])
    permanent = list(params["patroni_permanent_slots"])
    if not params["patroni_url"]:
        return members, permanent
    try:
        client = PatroniClient(
            params["patroni_url"],
            ca_cert=params["patroni_ca_cert"],
            client_cert=params["patroni_client_cert"],
            client_key=params["patroni_client_key"],
            validate_certs=params["patroni_validate_certs"],
            timeout=params["connect_timeout"],
        )
        cluster = client.get_cluster()
        config = client.get_config()
    except (PatroniError, ValueError) as exc:
        if params["drop_inactive"] or params["drop_slots"]:
            module.fail_json(msg="refusing to drop slots without knowing Patroni's slots: %s" % exc)
        module.warn("could not read Patroni slots from %s: %s" % (params["patroni_url"], exc))
        return members, permanent
    members.extend(m.get("name") for m in (cluster or {}).get("members") or [] if m.get("name"))
    permanent.extend(permanent_slot_names(config if isinstance(config, dict) else {}))
    return members, permanent


def observe(cursor, names, seconds):
    """Read the candidate slots once a second for ``seconds``; return {name: [rows]} (None = gone)."""
    observations = dict((name, []) for name in names)
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            time.sleep(min(1.0, remaining))
        for name in names:
            cursor.execute(ONE_SLOT_QUERY, (name,))
            row = cursor.fetchone()
            observations[name].append(dict(row) if row else None)
        if time.monotonic() >= deadline:
            return observations


def run(module, conn):
    params = module.params
    queries = []
    cursor = dict_cursor(conn)
    queries.append(SERVER_QUERY)
    cursor.execute(SERVER_QUERY)
    server = dict(cursor.fetchone())
    try:
        thresholds = slot_thresholds(
            params["warn_bytes"], params["crit_bytes"], parse_keep_size(server["max_slot_wal_keep_size"])
        )
    except ValueError as exc:
        module.fail_json(msg="invalid threshold: %s" % exc)
    if params["inactive_for"] < 0:
        module.fail_json(msg="inactive_for must be 0 or more seconds, got %d" % params["inactive_for"])
    members, permanent = patroni_names(module)
    member_slots = member_slot_names(members)
    managed = sorted(member_slots | set(permanent))

    queries.append(SLOTS_QUERY)
    cursor.execute(SLOTS_QUERY)
    slots = []
    for row in cursor.fetchall():
        slot = classify_slot(dict(row), thresholds, server["in_recovery"])
        reason = protection_reason(slot["slot_name"], params["protected_slots"], member_slots, permanent)
        slot["protected_reason"] = reason
        slot["patroni_managed"] = slot["slot_name"] in managed
        slots.append(slot)

    plan = plan_drops(
        slots,
        drop_inactive=params["drop_inactive"],
        drop_slots=params["drop_slots"],
        protected_slots=params["protected_slots"],
        member_slots=member_slots,
        permanent_slots=permanent,
    )
    refused = list(plan["refused"])
    confirmed = list(plan["candidates"])
    if confirmed and params["inactive_for"] > 0:
        queries.append(ONE_SLOT_QUERY)
        firsts = dict((s["slot_name"], s) for s in slots)
        seen = observe(cursor, confirmed, params["inactive_for"])
        kept = []
        for name in confirmed:
            reason = confirm_inactive(firsts[name], seen[name])
            if reason:
                refused.append({"slot": name, "reason": reason})
            else:
                kept.append(name)
        confirmed = kept

    dropped, would_drop, statements = [], [], []
    if module.check_mode:
        would_drop = confirmed
    else:
        for name in confirmed:
            statement = cursor.mogrify(DROP_STATEMENT, (name,)).decode()
            try:
                cursor.execute(DROP_STATEMENT, (name,))
            except DATABASE_ERRORS as exc:
                refused.append({"slot": name, "reason": "drop failed: %s" % str(exc).strip()})
                continue
            statements.append(statement)
            dropped.append(name)
    for item in refused:
        module.warn("replication slot '%s' not dropped: %s" % (item["slot"], item["reason"]))

    remaining = [s for s in slots if s["slot_name"] not in dropped]
    status = worst(s["severity"] for s in remaining)
    return dict(
        changed=bool(dropped or would_drop),
        status=status,
        msg=summary(status, remaining, dropped, would_drop, refused),
        in_recovery=server["in_recovery"],
        current_lsn=server["current_lsn"],
        slots=slots,
        thresholds=thresholds,
        patroni_managed=managed,
        dropped=dropped,
        would_drop=would_drop,
        refused=refused,
        not_found=plan["not_found"],
        statements=statements,
        queries=queries,
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    conn = connect(module, application_name="keel.postgres.replication_slots")
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
