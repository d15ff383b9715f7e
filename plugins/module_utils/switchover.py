# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which member a planned switchover (or a manual failover) should promote: pure decision logic.

Input is the member list keel.postgres.patroni_cluster returns (name, role, state, lag in bytes or
None, tags). The region model lives in the tags: failover_priority (0: never promoted, higher
first), nosync, region.
"""

from __future__ import annotations

from ansible_collections.keel.postgres.plugins.module_utils.lsn import parse_lsn

PROMOTABLE_STATES = ("streaming", "running")
# Without a leader, replicas lose their upstream and replay from the archive (restore_command).
FAILOVER_STATES = PROMOTABLE_STATES + ("in archive recovery",)
STANDBY_ROLES = ("replica", "sync_standby", "quorum_standby")


def _priority(member):
    tags = member.get("tags") or {}
    if tags.get("nofailover"):
        return 0
    try:
        return int(tags.get("failover_priority", 1))
    except (TypeError, ValueError):
        return 0


def verdict(member, leader, sync_standbys, max_lag):
    """None when `member` may be promoted now, else the reason it may not."""
    name = member.get("name")
    if name == leader:
        return "is the current leader"
    if member.get("role") not in STANDBY_ROLES:
        return "is not a standby of this cluster (role %s)" % member.get("role")
    # The permanent reason first: a never-promoted member also replays from the archive (nostream).
    if _priority(member) <= 0:
        return "may never be promoted (failover_priority 0 or nofailover)"
    if member.get("state") not in PROMOTABLE_STATES:
        return "is %s, not streaming" % member.get("state")
    if sync_standbys and name not in sync_standbys:
        return "is not a synchronous standby (%s are): promoting it could lose acknowledged commits" % ", ".join(
            sorted(sync_standbys)
        )
    lag = member.get("lag")
    if not isinstance(lag, int):
        return "reports no replication lag (unknown)"
    if lag > max_lag:
        return "lags %d bytes, more than the %d allowed" % (lag, max_lag)
    return None


def plan(members, leader, sync_standbys, candidate=None, max_lag=1048576):
    """Return {leader, candidate, reason, errors, considered}; errors is empty when the plan may run."""
    members = list(members or [])
    considered = []
    for member in sorted(members, key=lambda m: m.get("name") or ""):
        reason = verdict(member, leader, sync_standbys or [], max_lag)
        considered.append({"name": member.get("name"), "eligible": reason is None, "reason": reason or "eligible"})
    result = {"leader": leader, "candidate": None, "reason": "", "errors": [], "considered": considered}
    if not leader:
        result["errors"].append(
            "the cluster has no leader: this is a failover (playbooks/failover.yml), not a switchover"
        )
        return result
    names = {m.get("name"): m for m in members}
    if candidate:
        if candidate not in names:
            result["errors"].append(
                "switchover_candidate=%s is not a member of the cluster (members: %s)"
                % (candidate, ", ".join(sorted(n for n in names if n)))
            )
            return result
        reason = verdict(names[candidate], leader, sync_standbys or [], max_lag)
        if reason:
            result["errors"].append("switchover_candidate=%s %s" % (candidate, reason))
            return result
        result["candidate"] = candidate
        result["reason"] = "requested by name"
        return result
    eligible = [names[c["name"]] for c in considered if c["eligible"]]
    if not eligible:
        result["errors"].append(
            "no member may take over now: "
            + "; ".join("%s %s" % (c["name"], c["reason"]) for c in considered if c["name"] != leader)
        )
        return result
    best = min(eligible, key=lambda m: (-_priority(m), m.get("lag"), m.get("name")))
    result["candidate"] = best["name"]
    result["reason"] = "highest failover priority (%d), then least lag (%d bytes), then name" % (
        _priority(best),
        best.get("lag"),
    )
    return result


def _position(member):
    """Newest WAL position a member holds (received or replayed), None when it reports none."""
    positions = []
    for key in ("receive_lsn", "replay_lsn"):
        value = member.get(key)
        if isinstance(value, int):
            positions.append(value)
        elif isinstance(value, str) and value:
            try:
                positions.append(parse_lsn(value))
            except ValueError:
                pass
    return max(positions) if positions else None


def plan_failover(members, sync_standbys, candidate=None):
    """The member a manual failover (no running leader) should promote.

    Eligible: a standby that runs, may be promoted, reports its WAL position and, when the cluster had
    synchronous standbys, is one of them (it holds every acknowledged commit). The most advanced one
    wins, then the highest failover_priority, then the name. A named candidate must be eligible and as
    advanced as the most advanced eligible member. Returns {candidate, reason, errors, considered}.
    """
    members = list(members or [])
    result = {"leader": None, "candidate": None, "reason": "", "errors": [], "considered": []}
    running = [m for m in members if m.get("role") in ("leader", "standby_leader") and m.get("state") == "running"]
    if running:
        result["leader"] = running[0]["name"]
        result["errors"].append(
            "%s leads and runs: this is a planned switchover (playbooks/switchover.yml), not a failover"
            % running[0]["name"]
        )
        return result
    eligible = []
    for member in sorted(members, key=lambda m: m.get("name") or ""):
        position = _position(member)
        if member.get("role") not in STANDBY_ROLES:
            reason = "is not a standby (role %s)" % member.get("role")
        elif member.get("state") not in FAILOVER_STATES:
            reason = "is %s" % member.get("state")
        elif _priority(member) <= 0:
            reason = "may never be promoted (failover_priority 0 or nofailover)"
        elif sync_standbys and member.get("name") not in sync_standbys:
            reason = "was not a synchronous standby: it may lack acknowledged commits"
        elif position is None:
            reason = "reports no WAL position"
        else:
            reason = None
            eligible.append((member, position))
        result["considered"].append(
            {
                "name": member.get("name"),
                "eligible": reason is None,
                "reason": reason or "eligible",
                "position": position,
            }
        )
    if not eligible:
        result["errors"].append(
            "no member may be promoted: " + "; ".join("%s %s" % (c["name"], c["reason"]) for c in result["considered"])
        )
        return result
    newest = max(position for _member, position in eligible)
    if candidate:
        chosen = next((m for m, _p in eligible if m.get("name") == candidate), None)
        if chosen is None:
            verdicts = {c["name"]: c["reason"] for c in result["considered"]}
            result["errors"].append(
                "failover_candidate=%s %s" % (candidate, verdicts.get(candidate, "is not a member of the cluster"))
            )
            return result
        if _position(chosen) < newest:
            ahead = [m.get("name") for m, p in eligible if p == newest]
            result["errors"].append(
                "failover_candidate=%s is %d bytes behind %s: promoting it would lose what they received"
                % (candidate, newest - _position(chosen), ", ".join(ahead))
            )
            return result
        result["candidate"] = candidate
        result["reason"] = "requested by name, as advanced as any eligible member"
        return result
    best = min(eligible, key=lambda mp: (-mp[1], -_priority(mp[0]), mp[0].get("name")))[0]
    result["candidate"] = best["name"]
    result["reason"] = "most advanced eligible member, then highest failover priority (%d), then name" % _priority(best)
    return result
