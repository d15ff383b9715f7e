# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decision logic for replication slots (no I/O, unit-tested).

Classification of one slot, most severe first:

- ``lost``: wal_status = lost; the WAL the slot needs is gone, its consumer
  must be re-seeded (critical).
- ``unreserved``: wal_status = unreserved; past max_slot_wal_keep_size, the WAL
  is removed at the next checkpoint (critical).
- ``retaining``: retained WAL above the warning (or critical) byte threshold.
- ``inactive``: no walsender uses the slot now (warning on a primary; on a
  standby Patroni keeps inactive copies of member slots by design, so ok).
- ``ok``.

Dropping: PostgreSQL 15 has no ``inactive_since`` column (it arrives in 17),
so the time a slot has been inactive cannot be read from the catalog. The
module therefore only drops a slot that it *observes* inactive, with an
unchanged restart_lsn, for the whole ``inactive_for`` window (see
confirm_inactive()). Slots managed by Patroni and protected names are never
candidates.
"""

import re

from ansible_collections.keel.postgres.plugins.module_utils.lsn import format_bytes, parse_size
from ansible_collections.keel.postgres.plugins.module_utils.replication import worst

DEFAULT_WARN_BYTES = "1GB"
DEFAULT_CRIT_BYTES = "5GB"
DROP_STATEMENT = "SELECT pg_drop_replication_slot(%s)"

_SLOT_INVALID_CHARS = re.compile(r"[^a-z0-9_]")
SLOT_NAME_MAX = 63


def patroni_slot_name(member_name):
    """Slot name Patroni derives from a member name.

    Patroni lowercases the name, turns '-' and '.' into '_', encodes any other
    character outside [a-z0-9_] as 'u' + its code point in 4 decimal digits,
    and keeps the first 63 characters.
    """

    def replace(match):
        char = match.group(0)
        return "_" if char in "-." else "u%04d" % ord(char)

    return _SLOT_INVALID_CHARS.sub(replace, member_name.lower())[:SLOT_NAME_MAX]


def simple_slot_name(member_name):
    """Conservative variant: every character outside [a-z0-9_] becomes '_'."""
    return _SLOT_INVALID_CHARS.sub("_", member_name.lower())[:SLOT_NAME_MAX]


def member_slot_names(members):
    """All slot names that may belong to these Patroni members (both derivations, to err on the safe side)."""
    names = set()
    for member in members or []:
        names.add(patroni_slot_name(member))
        names.add(simple_slot_name(member))
    return names


def permanent_slot_names(dynamic_config):
    """Names of permanent slots from Patroni's dynamic configuration (``slots:`` hashmap)."""
    slots = (dynamic_config or {}).get("slots") or {}
    if isinstance(slots, dict):
        return sorted(slots)
    return []


def parse_keep_size(text):
    """current_setting('max_slot_wal_keep_size') -> bytes, or None when unlimited ('-1')."""
    if text is None:
        return None
    text = str(text).strip()
    if text.startswith("-"):
        return None
    return parse_size(text)


def slot_thresholds(warn_bytes, crit_bytes, max_slot_wal_keep_size=None):
    """Byte thresholds for retained WAL, capped by max_slot_wal_keep_size when it is set.

    With a limit L, a slot is flagged before it gets invalidated: warning from
    L/2, critical from 8/10 of L (or the configured thresholds, whichever is
    lower). Raises ValueError for bad values.
    """
    warn = parse_size(warn_bytes)
    crit = parse_size(crit_bytes)
    if warn > crit:
        raise ValueError("warn_bytes (%d) must not be greater than crit_bytes (%d)" % (warn, crit))
    result = {
        "warn_bytes": warn,
        "crit_bytes": crit,
        "max_slot_wal_keep_size": max_slot_wal_keep_size,
        "effective_warn_bytes": warn,
        "effective_crit_bytes": crit,
    }
    if max_slot_wal_keep_size is not None:
        result["effective_warn_bytes"] = min(warn, max_slot_wal_keep_size // 2)
        result["effective_crit_bytes"] = min(crit, max_slot_wal_keep_size * 8 // 10)
    return result


def protection_reason(name, protected_slots=None, member_slots=None, permanent_slots=None):
    """Why a slot must never be dropped, or None."""
    if name in (permanent_slots or ()):
        return "permanent slot in the Patroni dynamic configuration"
    if name in (member_slots or ()):
        return "Patroni member slot"
    if name in (protected_slots or ()):
        return "listed in protected_slots"
    return None


def classify_slot(slot, thresholds, in_recovery=False):
    """Add ``classification``, ``severity`` and ``reasons`` to a copy of a slot row.

    ``slot`` keys: slot_name, slot_type, active, wal_status, retained_bytes,
    safe_wal_size (as read from pg_replication_slots plus the retained bytes).
    """
    result = dict(slot)
    name = slot["slot_name"]
    reasons = []
    severities = []
    labels = []
    wal_status = slot.get("wal_status")
    retained = slot.get("retained_bytes")
    if wal_status == "lost":
        labels.append("lost")
        severities.append("critical")
        reasons.append("slot '%s' is lost: the WAL it needs was removed, its consumer must be re-seeded" % name)
    elif wal_status == "unreserved":
        labels.append("unreserved")
        severities.append("critical")
        reasons.append(
            "slot '%s' is unreserved: it retains more than max_slot_wal_keep_size (%s) and will be lost at the"
            " next checkpoint" % (name, format_bytes(thresholds.get("max_slot_wal_keep_size")))
        )
    if retained is not None and wal_status != "lost":
        if retained > thresholds["effective_crit_bytes"]:
            labels.append("retaining")
            severities.append("critical")
            reasons.append(
                "slot '%s' retains %s of WAL, above the critical threshold %s"
                % (name, format_bytes(retained), format_bytes(thresholds["effective_crit_bytes"]))
            )
        elif retained > thresholds["effective_warn_bytes"]:
            labels.append("retaining")
            severities.append("warning")
            reasons.append(
                "slot '%s' retains %s of WAL, above the warning threshold %s"
                % (name, format_bytes(retained), format_bytes(thresholds["effective_warn_bytes"]))
            )
    if not slot.get("active"):
        labels.append("inactive")
        if in_recovery:
            severities.append("ok")
        else:
            severities.append("warning")
            reasons.append("slot '%s' is inactive: no consumer is connected" % name)
    result["classification"] = labels[0] if labels else "ok"
    result["severity"] = worst(severities)
    result["reasons"] = reasons
    return result


def plan_drops(
    slots,
    drop_inactive=False,
    drop_slots=None,
    protected_slots=None,
    member_slots=None,
    permanent_slots=None,
):
    """Decide which slots to drop. ``slots`` are classified slot dicts.

    Candidates: slots named in ``drop_slots``, plus, with ``drop_inactive``,
    every inactive slot classified ``retaining`` or ``lost``. A candidate is
    refused when it is protected (Patroni member or permanent slot, or listed in
    protected_slots), active or temporary. Names in drop_slots that do not
    exist are reported in ``not_found`` (already gone: nothing to do).

    Returns dict(candidates=[names], refused=[{slot, reason}], not_found=[names]).
    """
    by_name = dict((slot["slot_name"], slot) for slot in slots)
    wanted = []
    not_found = []
    for name in drop_slots or []:
        if name not in by_name:
            if name not in not_found:
                not_found.append(name)
        elif name not in wanted:
            wanted.append(name)
    if drop_inactive:
        for slot in slots:
            name = slot["slot_name"]
            if name in wanted or slot.get("active"):
                continue
            if slot.get("classification") in ("retaining", "lost"):
                wanted.append(name)
    candidates, refused = [], []
    for name in wanted:
        slot = by_name[name]
        reason = protection_reason(name, protected_slots, member_slots, permanent_slots)
        if reason is None and slot.get("active"):
            reason = "slot is active (walsender pid %s)" % slot.get("active_pid")
        if reason is None and slot.get("temporary"):
            reason = "temporary slot: it belongs to its session and goes away with it"
        if reason is None:
            candidates.append(name)
        else:
            refused.append({"slot": name, "reason": reason})
    return {"candidates": candidates, "refused": refused, "not_found": not_found}


def confirm_inactive(first, observations):
    """Check that a slot stayed unused during the observation window.

    ``first`` is the slot row when the window started; ``observations`` are the
    rows read during and at the end of the window (None when the slot had
    disappeared). Returns None when the slot stayed inactive with the same
    restart_lsn, else the reason not to drop it.
    """
    for row in observations:
        if row is None:
            return "slot disappeared during the inactivity window"
        if row.get("active"):
            return "slot became active during the inactivity window (pid %s)" % row.get("active_pid")
        if row.get("restart_lsn") != first.get("restart_lsn"):
            return "restart_lsn moved from %s to %s during the inactivity window: a consumer is using it" % (
                first.get("restart_lsn"),
                row.get("restart_lsn"),
            )
    return None


def summary(status, slots, dropped, would_drop, refused):
    """One human line for the module result."""
    reasons = [reason for slot in slots for reason in slot["reasons"]]
    parts = []
    if reasons:
        parts.append("; ".join(reasons))
    else:
        parts.append("%d slot(s), none retaining WAL above the thresholds" % len(slots))
    if dropped:
        parts.append("dropped: %s" % ", ".join(dropped))
    if would_drop:
        parts.append("would drop (check mode): %s" % ", ".join(would_drop))
    for item in refused:
        parts.append("not dropping '%s': %s" % (item["slot"], item["reason"]))
    return "%s: %s" % (status.upper(), "; ".join(parts))
