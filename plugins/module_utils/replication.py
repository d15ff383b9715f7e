# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic for replication lag checks (no I/O, unit-tested).

Status levels are ``ok`` < ``warning`` < ``critical``. A threshold is breached
when the measured value is strictly greater than it.

NULL time lags: PostgreSQL leaves ``write_lag``/``flush_lag``/``replay_lag``
NULL when a standby has just connected and has not yet confirmed a position
recorded with a timestamp, and it resets them to NULL once the standby is fully
caught up and the primary is idle. A NULL time lag therefore counts as 0 s only
when the matching byte lag is 0; otherwise the time lag is *unknown* and only
the byte thresholds decide that metric (the standby is listed in
``time_lag_unknown``).
"""

from ansible_collections.keel.postgres.plugins.module_utils.lsn import (
    format_bytes,
    format_seconds,
    lsn_diff,
    parse_duration,
    parse_lsn_or_none,
    parse_size,
)

STATUS_ORDER = {"ok": 0, "warning": 1, "critical": 2}
FAIL_ON_CHOICES = ["critical", "warning", "never"]
METRICS = ("write", "flush", "replay")

# Defaults tied to an RPO below one minute: warn well before the budget, critical at the budget.
DEFAULT_WARN_BYTES = "100MB"
DEFAULT_CRIT_BYTES = "1GB"
DEFAULT_WARN_SECONDS = 10.0
DEFAULT_CRIT_SECONDS = 60.0


def worst(statuses):
    """Most severe of an iterable of statuses; ``ok`` for an empty iterable."""
    result = "ok"
    for status in statuses:
        if STATUS_ORDER[status] > STATUS_ORDER[result]:
            result = status
    return result


def should_fail(status, fail_on):
    """True when ``status`` reaches the ``fail_on`` level (critical|warning|never)."""
    if fail_on not in FAIL_ON_CHOICES:
        raise ValueError("fail_on must be one of %s, got %r" % (", ".join(FAIL_ON_CHOICES), fail_on))
    if fail_on == "never":
        return False
    return STATUS_ORDER[status] >= STATUS_ORDER[fail_on]


def build_thresholds(warn_bytes, crit_bytes, warn_seconds, crit_seconds):
    """Parse and check thresholds; raise ValueError naming the bad option.

    Any threshold may be None to disable it. Returns a dict with integer bytes
    and float seconds.
    """
    thresholds = {
        "warn_bytes": None if warn_bytes is None else _parse("warn_bytes", warn_bytes, parse_size),
        "crit_bytes": None if crit_bytes is None else _parse("crit_bytes", crit_bytes, parse_size),
        "warn_seconds": None if warn_seconds is None else _parse("warn_seconds", warn_seconds, parse_duration),
        "crit_seconds": None if crit_seconds is None else _parse("crit_seconds", crit_seconds, parse_duration),
    }
    for unit in ("bytes", "seconds"):
        warn, crit = thresholds["warn_" + unit], thresholds["crit_" + unit]
        if warn is not None and crit is not None and warn > crit:
            raise ValueError("warn_%s (%s) must not be greater than crit_%s (%s)" % (unit, warn, unit, crit))
    return thresholds


def _parse(name, value, parser):
    try:
        return parser(value)
    except ValueError as exc:
        raise ValueError("%s: %s" % (name, exc)) from exc


def classify_value(value, warn, crit):
    """``unknown`` for None, else ok/warning/critical against optional thresholds."""
    if value is None:
        return "unknown"
    if crit is not None and value > crit:
        return "critical"
    if warn is not None and value > warn:
        return "warning"
    return "ok"


def effective_seconds(seconds, lag_bytes):
    """Time lag to judge: NULL counts as 0 s only when the byte lag is exactly 0, else None (unknown)."""
    if seconds is not None:
        return float(seconds)
    if lag_bytes == 0:
        return 0.0
    return None


def _breach_message(subject, what, value_text, status, threshold_text):
    return "%s %s %s is above the %s threshold %s" % (subject, what, value_text, status, threshold_text)


def _judge(subject, what, value, warn, crit, formatter):
    """Return (status, reason or None) for one measured value."""
    status = classify_value(value, warn, crit)
    if status in ("ok", "unknown"):
        return status, None
    threshold = crit if status == "critical" else warn
    return status, _breach_message(subject, what, formatter(value), status, formatter(threshold))


def standby_name(row):
    """Display name of a pg_stat_replication row: application_name, else client address."""
    return row.get("application_name") or row.get("client_addr") or "unnamed walsender"


def classify_standby(row, thresholds):
    """Classify one pg_stat_replication row (already carrying byte and second lags).

    Returns a new dict: the row plus ``status``, ``reasons``, ``time_lag_unknown``
    (metrics whose time lag is unknown) and ``effective_<metric>_lag_seconds``.
    """
    result = dict(row)
    subject = "standby '%s'" % standby_name(row)
    statuses, reasons, unknown = [], [], []
    state = row.get("state")
    if state != "streaming":
        statuses.append("warning")
        reasons.append("%s is in state '%s', not streaming" % (subject, state))
    for metric in METRICS:
        lag_bytes = row.get("%s_lag_bytes" % metric)
        status, reason = _judge(
            subject,
            "%s lag" % metric,
            lag_bytes,
            thresholds["warn_bytes"],
            thresholds["crit_bytes"],
            format_bytes,
        )
        statuses.append(status)
        if reason:
            reasons.append(reason)
        seconds = effective_seconds(row.get("%s_lag_seconds" % metric), lag_bytes)
        result["effective_%s_lag_seconds" % metric] = seconds
        if seconds is None:
            unknown.append(metric)
            continue
        status, reason = _judge(
            subject,
            "%s lag" % metric,
            seconds,
            thresholds["warn_seconds"],
            thresholds["crit_seconds"],
            format_seconds,
        )
        statuses.append(status)
        if reason:
            reasons.append(reason)
    result["status"] = worst(s for s in statuses if s != "unknown")
    result["reasons"] = reasons
    result["time_lag_unknown"] = unknown
    return result


def missing_standbys(expected, rows):
    """Expected standby names (application_name) with no row in pg_stat_replication, in given order."""
    connected = set(standby_name(row) for row in rows)
    seen = set()
    missing = []
    for name in expected or []:
        if name not in connected and name not in seen:
            missing.append(name)
            seen.add(name)
    return missing


def classify_receiver(info, thresholds):
    """Classify a standby's own position (run on a server in recovery).

    ``info`` keys: receiver_status (None when there is no WAL receiver),
    replay_gap_bytes (received minus replayed), replay_age_seconds (now minus
    pg_last_xact_replay_timestamp(), None before the first replayed commit),
    replay_paused (bool).

    The replay age only measures lag while something received is still waiting
    to be replayed: with a gap of 0 the age measures how long the primary has
    been idle, so the effective time lag is 0 s then.
    """
    result = dict(info)
    subject = "this standby"
    statuses, reasons = [], []
    status_text = info.get("receiver_status")
    if status_text is None:
        statuses.append("critical")
        reasons.append("%s has no WAL receiver: it is not streaming from its upstream, lag is unbounded" % subject)
    elif status_text != "streaming":
        statuses.append("warning")
        reasons.append("%s WAL receiver is in state '%s', not streaming" % (subject, status_text))
    return _judge_replay(result, subject, info, statuses, reasons, info.get("replay_gap_bytes"), thresholds)


def _judge_replay(
    result, subject, info, statuses, reasons, lag, thresholds, what=("replay gap", "replay lag"), allowance=0.0
):
    """The part both kinds of standby share: replay paused, the byte lag ``lag`` (None: unknown),
    and the time lag, which is the replay age while bytes are missing (0 s when none are: the age
    then only says how long the primary has been idle), judged against the time thresholds plus
    ``allowance`` seconds. Completes and returns ``result``."""
    if info.get("replay_paused"):
        statuses.append("warning")
        reasons.append("%s has WAL replay paused (pg_wal_replay_pause)" % subject)
    status, reason = _judge(subject, what[0], lag, thresholds["warn_bytes"], thresholds["crit_bytes"], format_bytes)
    statuses.append(status)
    if reason:
        reasons.append(reason)
    seconds = 0.0 if lag == 0 else (None if lag is None else info.get("replay_age_seconds"))
    result["effective_replay_lag_seconds"] = seconds
    warn = None if thresholds["warn_seconds"] is None else thresholds["warn_seconds"] + allowance
    crit = None if thresholds["crit_seconds"] is None else thresholds["crit_seconds"] + allowance
    status, reason = _judge(subject, what[1], seconds, warn, crit, format_seconds)
    statuses.append(status)
    if reason:
        reasons.append(reason)
    result["status"] = worst(s for s in statuses if s != "unknown")
    result["reasons"] = reasons
    result["time_lag_unknown"] = seconds is None
    return result


def classify_archive_replay(info, thresholds, upstream_lsn=None, archive_timeout=0.0):
    """Classify a standby that replays from the WAL archive only (Patroni nostream; run in recovery).

    ``info``: the classify_receiver() input (receiver_status, replay_lsn, replay_age_seconds,
    replay_paused). Such a standby must have no WAL receiver: one that streams could confirm commits
    under synchronous_standby_names = '*'. Its byte lag is ``upstream_lsn`` (the primary's current
    position, when known) minus its replay position; its time lag (the replay age while bytes are
    missing) may exceed the time thresholds by ``archive_timeout`` seconds, the longest a completed
    WAL segment can wait before the primary archives it.
    """
    result = dict(info)
    subject = "this archive-only standby"
    statuses, reasons = [], []
    if info.get("receiver_status") is not None:
        statuses.append("critical")
        reasons.append(
            "%s has a WAL receiver (state '%s'): it streams from %s although it must replay from the archive "
            "only; under synchronous_standby_names '*' it could confirm commits that no promotable member holds"
            % (subject, info["receiver_status"], info.get("sender_host") or "its upstream")
        )
    upstream = parse_lsn_or_none(upstream_lsn or None)
    replayed = parse_lsn_or_none(info.get("replay_lsn"))
    lag = None if upstream is None or replayed is None else max(lsn_diff(upstream, replayed), 0)
    result["archive_lag_bytes"] = lag
    what = ("archive replay lag", "archive replay lag")
    return _judge_replay(result, subject, info, statuses, reasons, lag, thresholds, what, float(archive_timeout or 0))


def archive_standby_reasons(rows, archive_standbys):
    """On a primary: name -> reason for each standby that should replay from the archive but streams."""
    archive = set(archive_standbys or [])
    return {
        standby_name(row): (
            "standby '%s' streams from this server although it must replay from the archive only (Patroni nostream): "
            "under synchronous_standby_names '*' it could confirm commits that no promotable member holds"
            % standby_name(row)
        )
        for row in rows
        if standby_name(row) in archive
    }


def parse_synchronous_standby_names(value):
    """The method, count and names of a synchronous_standby_names value.

    Returns ``{"method": "first"|"any"|None, "num": int, "names": [...], "any_standby": bool}``;
    ``method`` is None (and ``num`` 0) for an empty value (no synchronous replication). Forms:
    ``a, b`` (FIRST 1 of the list), ``N (a, b)`` and ``FIRST N (a, b)``, ``ANY N (a, b)``; names may be
    double-quoted (``""`` inside quotes is one quote). ``any_standby`` is true when ``*`` is one of the
    names: every walsender then matches (Patroni's strict mode with no synchronous candidate left).
    Raises ValueError for a value PostgreSQL itself would refuse.
    """
    text = (value or "").strip()
    if not text:
        return {"method": None, "num": 0, "names": [], "any_standby": False}
    method, num, body = "first", 1, text
    head = text.split(None, 1)
    if head[0].upper() in ("FIRST", "ANY") and len(head) == 2:
        method, rest = head[0].lower(), head[1].strip()
        count, _sep, body = rest.partition("(")
        if not _sep or not count.strip().isdigit():
            raise ValueError("synchronous_standby_names %r: expected %s N (names)" % (value, head[0].upper()))
        num, body = int(count.strip()), "(" + body
    elif head[0].isdigit() and "(" in text:
        count, _sep, body = text.partition("(")
        if not count.strip().isdigit():
            raise ValueError("synchronous_standby_names %r: expected N (names)" % value)
        num, body = int(count.strip()), "(" + body
    if body.startswith("("):
        if not body.endswith(")"):
            raise ValueError("synchronous_standby_names %r: unbalanced parenthesis" % value)
        body = body[1:-1]
    names = _split_names(body, value)
    return {"method": method, "num": num, "names": names, "any_standby": "*" in names}


def _split_names(body, value):
    names, current, quoted, index = [], "", False, 0
    was_quoted = False
    while index < len(body):
        char = body[index]
        if quoted:
            if char == '"' and body[index + 1 : index + 2] == '"':
                current += '"'
                index += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted, was_quoted = True, True
        elif char == ",":
            names.append(current if was_quoted else current.strip())
            current, was_quoted = "", False
        elif not (char.isspace() and (was_quoted or not current)):
            current += char
        index += 1
    if quoted:
        raise ValueError("synchronous_standby_names %r: unterminated quote" % value)
    names.append(current if was_quoted else current.strip())
    if any(name == "" for name in names):
        raise ValueError("synchronous_standby_names %r: empty standby name" % value)
    return names


# pg_stat_replication.sync_state of a walsender whose flush can acknowledge a synchronous commit
# now (sync, quorum) or as soon as a synchronous standby drops out (potential).
CONFIRMING_SYNC_STATES = ("sync", "quorum", "potential")


def describe_synchronous(setting):
    """parse_synchronous_standby_names(), or for a value it cannot read the empty form plus ``error``."""
    try:
        return parse_synchronous_standby_names(setting)
    except ValueError as exc:
        return {"method": None, "num": 0, "names": [], "any_standby": False, "error": str(exc)}


def sync_candidate_reasons(rows, candidates, setting=None, synchronous=None):
    """Why acknowledged commits could depend on a standby outside ``candidates``.

    ``candidates`` are the application names of the members that may confirm synchronous commits:
    sync-eligible and promotable (Patroni: no nosync tag, failover_priority > 0, same cluster). A
    standby outside them whose sync_state is sync or quorum confirms commits now; one in state
    potential takes over as soon as a synchronous standby drops out. Either way a commit acknowledged
    then may exist on no member that can be promoted. ``setting`` is the server's
    synchronous_standby_names (named in the reasons when it lets any standby count), ``synchronous``
    its describe_synchronous() when the caller has it already. Returns ``{name: reason}``.
    """
    allowed = set(candidates or [])
    if synchronous is None and setting is not None:
        synchronous = describe_synchronous(setting)
    reasons = {}
    for row in rows:
        name = standby_name(row)
        state = row.get("sync_state")
        if name in allowed or state not in CONFIRMING_SYNC_STATES:
            continue
        why = (
            "confirms synchronous commits now"
            if state != "potential"
            else "confirms synchronous commits as soon as a synchronous standby drops out"
        )
        if synchronous and synchronous["any_standby"]:
            why += " (synchronous_standby_names is %r: any standby counts)" % setting
        reasons[name] = (
            "standby '%s' is not a synchronous candidate (%s) but has sync_state %s: it %s, so a commit "
            "acknowledged then may exist on no member that can be promoted"
            % (name, ", ".join(sorted(allowed)) or "none", state, why)
        )
    return reasons


def evaluate(
    in_recovery,
    rows,
    thresholds,
    expected_standbys=None,
    receiver=None,
    sync_candidates=None,
    setting=None,
    archive=None,
):
    """Whole-server verdict.

    ``rows`` are pg_stat_replication rows (standbys fed by this server; on a
    standby these are cascading standbys). ``expected_standbys`` is checked only
    when the server is not in recovery: on a standby the list is ignored.
    ``receiver`` is the classify_receiver() input, used when in recovery.
    ``sync_candidates`` (checked on a primary when not None) are the standbys allowed to confirm
    synchronous commits, ``setting`` the server's synchronous_standby_names
    (sync_candidate_reasons()): any other confirming standby is critical. The verdict's
    ``synchronous`` is describe_synchronous(setting) (None without a setting).
    ``archive``: {"standbys": [...]} on a primary, the standbys that replay from the archive only
    (never expected in pg_stat_replication; a row of one is critical); {"only": True, "upstream_lsn",
    "archive_timeout"} on a standby that is one of them (classify_archive_replay()).
    """
    archive = archive or {}
    standbys = [classify_standby(row, thresholds) for row in rows]
    archive_only = set(archive.get("standbys") or [])
    expected = [name for name in expected_standbys or [] if name not in archive_only]
    missing = [] if in_recovery else missing_standbys(expected, rows)
    if not in_recovery and archive_only:
        streaming = archive_standby_reasons(rows, archive_only)
        for standby in standbys:
            reason = streaming.get(standby_name(standby))
            if reason:
                standby["status"] = "critical"
                standby["reasons"].append(reason)
    synchronous = None if setting is None else describe_synchronous(setting)
    if not in_recovery and sync_candidates is not None:
        unsafe = sync_candidate_reasons(rows, sync_candidates, setting, synchronous)
        allowed = set(sync_candidates)
        for standby in standbys:
            reason = unsafe.get(standby_name(standby))
            standby["sync_candidate"] = standby_name(standby) in allowed
            if reason:
                standby["status"] = "critical"
                standby["reasons"].append(reason)
    messages = []
    statuses = []
    for standby in standbys:
        statuses.append(standby["status"])
        messages.extend(standby["reasons"])
    for name in missing:
        statuses.append("critical")
        messages.append("expected standby '%s' is not connected (no row in pg_stat_replication)" % name)
    own = None
    if in_recovery and archive.get("only"):
        own = classify_archive_replay(
            receiver or {}, thresholds, archive.get("upstream_lsn"), archive.get("archive_timeout") or 0.0
        )
        statuses.append(own["status"])
        messages.extend(own["reasons"])
    elif in_recovery:
        own = classify_receiver(receiver or {}, thresholds)
        statuses.append(own["status"])
        messages.extend(own["reasons"])
    status = worst(statuses)
    return {
        "status": status,
        "standbys": standbys,
        "missing_standbys": missing,
        "receiver": own,
        "synchronous": synchronous,
        "messages": messages,
        "msg": summary(status, in_recovery, standbys, messages, thresholds),
    }


def describe_thresholds(thresholds):
    return "warning %s / %s, critical %s / %s" % (
        format_bytes(thresholds["warn_bytes"]) if thresholds["warn_bytes"] is not None else "off",
        format_seconds(thresholds["warn_seconds"]) if thresholds["warn_seconds"] is not None else "off",
        format_bytes(thresholds["crit_bytes"]) if thresholds["crit_bytes"] is not None else "off",
        format_seconds(thresholds["crit_seconds"]) if thresholds["crit_seconds"] is not None else "off",
    )


def summary(status, in_recovery, standbys, messages, thresholds):
    """One human line: the breaches, or what was checked when all is well."""
    if messages:
        return "%s: %s" % (status.upper(), "; ".join(messages))
    role = "standby" if in_recovery else "primary"
    return "OK: %s with %d connected standby(s), all within thresholds (%s)" % (
        role,
        len(standbys),
        describe_thresholds(thresholds),
    )
