# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure checks of the platform inventory, run by the preflight before any host is touched.

Each check returns human-readable errors that name the variable or group, the value found,
and the fix. An empty list means the topology is acceptable.

The region model (patroni_members) turns keel_regions and the host overrides keel_nosync /
keel_failover_priority into the Patroni nosync and failover_priority tags of each member; the
checks refuse a model under which Patroni could not elect a leader or meet the synchronous count.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def _members(groups, name):
    return list(groups.get(name) or [])


def check_etcd(groups):
    members = _members(groups, "etcd")
    if not members:
        return ["group 'etcd' is empty: list 3 (or 5) hosts, one per site, to hold the Patroni DCS"]
    if len(members) % 2 == 0:
        return [
            "group 'etcd' has %d members (%s): an even count adds no fault tolerance and can split "
            "the vote; use an odd number (3 or 5)" % (len(members), ", ".join(sorted(members)))
        ]
    return []


def check_clusters(groups):
    errors = []
    both = sorted(set(_members(groups, "postgres")) & set(_members(groups, "postgres_dr")))
    if both:
        errors.append(
            "host(s) %s are in both 'postgres' and 'postgres_dr': a host belongs to exactly one "
            "Patroni cluster; remove it from one group" % ", ".join(both)
        )
    return errors


def check_platform(platform):
    errors = []
    names = {}
    for var in ("keel_cluster_name", "keel_dr_cluster_name"):
        value = platform.get(var)
        if value is None:
            continue
        if not isinstance(value, str) or not CLUSTER_NAME_RE.match(value):
            errors.append("%s=%r is not a valid cluster name: use letters, digits, '-' or '_'" % (var, value))
        names[var] = value
    if names.get("keel_cluster_name") and names.get("keel_cluster_name") == names.get("keel_dr_cluster_name"):
        errors.append(
            "keel_dr_cluster_name=%r equals keel_cluster_name: the DR standby cluster needs its own "
            "Patroni scope; give it a different name" % names["keel_dr_cluster_name"]
        )
    return errors


def check_hosts(hosts, names):
    """hosts: mapping host name -> mapping with keel_region and keel_address (either may be absent).

    ``names`` are the inventory hosts to check (Ansible's hostvars also holds the implicit localhost).
    """
    errors = []
    seen_addresses = {}
    for host in sorted(names):
        hvars = hosts.get(host) or {}
        region = hvars.get("keel_region")
        if not region:
            errors.append("host %s has no keel_region: set it (e.g. us-east-1) in the inventory" % host)
        elif not isinstance(region, str) or not REGION_RE.match(region):
            errors.append(
                "host %s: keel_region=%r is not a region name (lower-case letters, digits and '-')" % (host, region)
            )
        address = hvars.get("keel_address")
        if address in (None, ""):
            continue
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            errors.append("host %s: keel_address=%r is not an IP address" % (host, address))
            continue
        if str(address) in seen_addresses:
            errors.append(
                "host %s: keel_address=%s is already used by %s; every host needs its own address"
                % (host, address, seen_addresses[str(address)])
            )
        seen_addresses[str(address)] = host
    return errors


# --- region model -------------------------------------------------------------------------
# Patroni members of the primary cluster (group postgres) and of the DR standby cluster (group
# postgres_dr) get their Patroni tags from the region they run in (keel_regions) unless the host
# overrides them (keel_nosync, keel_failover_priority).

SYNC_MODES = ("on", "quorum", "off")
DEFAULT_SYNCHRONOUS_MODE = "on"
DEFAULT_SYNCHRONOUS_NODE_COUNT = 2
DEFAULT_SYNCHRONOUS_MODE_STRICT = True
REGION_KEYS = ("sync", "failover_priority")
# A member of the DR standby cluster without a priority may become its standby leader.
DR_DEFAULT_FAILOVER_PRIORITY = 1
CLUSTER_GROUPS = ("postgres", "postgres_dr")
REGION_EXAMPLE = "{us-east-1: {sync: true, failover_priority: 3}}"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_priority(value):
    return _is_int(value) and value >= 0


def _unquote_hint(value, var):
    if isinstance(value, str):
        return " (write the number without quotes; on the command line pass JSON: -e '{\"%s\": 2}')" % var
    return ""


def check_regions(platform):
    """Type checks of keel_regions: a mapping region -> {sync: bool, failover_priority: int >= 0}."""
    regions = platform.get("keel_regions")
    if regions is None:
        return []
    if not isinstance(regions, Mapping):
        return [
            "keel_regions=%r is not a mapping: write region name -> {sync: true|false, failover_priority: N}, "
            "e.g. %s" % (regions, REGION_EXAMPLE)
        ]
    errors = []
    for region in sorted(regions, key=str):
        entry = regions[region]
        where = "keel_regions[%r]" % (region,)
        if not isinstance(region, str) or not REGION_RE.match(region):
            errors.append(
                "%s: %r is not a region name (lower-case letters, digits and '-'); use the hosts' keel_region"
                % (where, region)
            )
        if entry is None:
            entry = {}
        if not isinstance(entry, Mapping):
            errors.append("%s=%r is not a mapping: write {sync: true|false, failover_priority: N}" % (where, entry))
            continue
        unknown = sorted(set(entry) - set(REGION_KEYS), key=str)
        if unknown:
            errors.append(
                "%s has unknown key(s) %s: the keys are sync and failover_priority"
                % (where, ", ".join(repr(k) for k in unknown))
            )
        if "sync" in entry and not isinstance(entry["sync"], bool):
            errors.append(
                "%s.sync=%r is not a boolean: write true (members may be synchronous standbys) or false, "
                "unquoted" % (where, entry["sync"])
            )
        if "failover_priority" in entry and not _is_priority(entry["failover_priority"]):
            errors.append(
                "%s.failover_priority=%r is not an integer >= 0: use 0 (never promoted) or a higher number "
                "(preferred among equally advanced replicas)" % (where, entry["failover_priority"])
            )
    return errors


def check_host_overrides(hosts, names):
    """Type checks of the host-level overrides keel_nosync (bool) and keel_failover_priority (int >= 0)."""
    errors = []
    for host in sorted(names):
        hvars = hosts.get(host) or {}
        nosync = hvars.get("keel_nosync")
        if nosync is not None and not isinstance(nosync, bool):
            errors.append("host %s: keel_nosync=%r is not a boolean: write true or false, unquoted" % (host, nosync))
        priority = hvars.get("keel_failover_priority")
        if priority is not None and not _is_priority(priority):
            errors.append(
                "host %s: keel_failover_priority=%r is not an integer >= 0: use 0 (never promoted) or a higher "
                "number%s" % (host, priority, _unquote_hint(priority, "keel_failover_priority"))
            )
    return errors


def check_sync_settings(platform):
    """Type checks of keel_synchronous_mode, keel_synchronous_node_count and keel_synchronous_mode_strict."""
    errors = []
    mode = platform.get("keel_synchronous_mode")
    if mode is not None and (not isinstance(mode, str) or mode not in SYNC_MODES):
        hint = ""
        if isinstance(mode, bool):
            hint = ' (YAML reads a bare on/off as a boolean: quote it, keel_synchronous_mode: "on")'
        errors.append("keel_synchronous_mode=%r is not one of on, quorum, off%s" % (mode, hint))
    count = platform.get("keel_synchronous_node_count")
    if count is not None and not (_is_int(count) and count >= 1):
        errors.append(
            "keel_synchronous_node_count=%r is not an integer >= 1: set how many synchronous standbys "
            "must confirm each commit (FIRST n), e.g. 2%s"
            % (count, _unquote_hint(count, "keel_synchronous_node_count"))
        )
    strict = platform.get("keel_synchronous_mode_strict")
    if strict is not None and not isinstance(strict, bool):
        errors.append("keel_synchronous_mode_strict=%r is not a boolean: write true or false, unquoted" % (strict,))
    archive_only = platform.get("keel_archive_only_replicas")
    if archive_only is not None and not isinstance(archive_only, bool):
        errors.append("keel_archive_only_replicas=%r is not a boolean: write true or false, unquoted" % (archive_only,))
    return errors


def synchronous_settings(platform):
    """The synchronous replication settings with the defaults applied (values assumed valid)."""

    def pick(name, default):
        value = platform.get(name)
        return default if value is None else value

    return {
        "mode": pick("keel_synchronous_mode", DEFAULT_SYNCHRONOUS_MODE),
        "node_count": pick("keel_synchronous_node_count", DEFAULT_SYNCHRONOUS_NODE_COUNT),
        "strict": pick("keel_synchronous_mode_strict", DEFAULT_SYNCHRONOUS_MODE_STRICT),
    }


def _member(hvars, regions, dr):
    region = hvars.get("keel_region")
    entry = regions.get(region) if isinstance(region, str) else None
    entry = entry if isinstance(entry, Mapping) else {}
    if dr:
        nosync = True
    elif hvars.get("keel_nosync") is not None:
        nosync = hvars["keel_nosync"]
    else:
        nosync = not entry.get("sync", False)
    if hvars.get("keel_failover_priority") is not None:
        priority = hvars["keel_failover_priority"]
    elif entry.get("failover_priority") is not None:
        priority = entry["failover_priority"]
    else:
        priority = DR_DEFAULT_FAILOVER_PRIORITY if dr else 0
    return {
        "region": region if isinstance(region, str) else "",
        "nosync": bool(nosync),
        "failover_priority": priority,
        "sync_candidate": is_sync_candidate(bool(nosync), priority),
    }


def is_sync_candidate(nosync, failover_priority):
    """A member may confirm synchronous commits only if it may also be promoted: never a nosync member,
    never one with failover_priority 0 (a commit confirmed only by it would be lost with the leader)."""
    return not nosync and _is_priority(failover_priority) and failover_priority > 0


def streams_only_to_candidates(platform):
    """True when the leader must have no walsender but the synchronous candidates'.

    Under strict synchronous replication (keel_synchronous_mode on or quorum with
    keel_synchronous_mode_strict) Patroni sets synchronous_standby_names = '*' after every failover
    and switchover and whenever no candidate is left: then any standby that streams from the leader
    confirms commits, and a commit confirmed only by a member that can never be promoted is lost
    with the leader. Such members can be kept off the leader: they replay from the WAL archive
    (Patroni nostream). Opt-in (keel_archive_only_replicas: true) until the archive has no gaps such a
    member cannot cross (docs/failover-measured.md): a killed leader's unarchived tail, WAL dropped
    beyond archive-push-queue-max.
    """
    sync = synchronous_settings(platform)
    return (
        platform.get("keel_archive_only_replicas") is True
        and sync["mode"] in ("on", "quorum")
        and sync["strict"] is True
    )


def _members_model(groups, hosts, platform, group):
    regions = platform.get("keel_regions") or {}
    dr = group == "postgres_dr"
    members = {host: _member(hosts.get(host) or {}, regions, dr) for host in _members(groups, group)}
    archive_only = not dr and streams_only_to_candidates(platform)
    for member in members.values():
        member["nostream"] = archive_only and not member["sync_candidate"]
    return members


def patroni_members(groups, hosts, platform, group):
    """The Patroni tags of every member of ``group`` (postgres or postgres_dr).

    Returns host -> {"region": str, "nosync": bool, "failover_priority": int, "sync_candidate": bool,
    "nostream": bool}. sync_candidate: the member may confirm synchronous commits and be promoted (not
    nosync, failover_priority > 0), the only standbys allowed to hold an acknowledged commit.
    nostream: a member of postgres that is not a candidate, under strict synchronous replication with
    keel_archive_only_replicas (streams_only_to_candidates): it replays from the archive and never
    streams from the leader.
    A host's keel_nosync /
    keel_failover_priority wins; else its region's entry in keel_regions; else never sync and never
    promoted. Members of postgres_dr are always nosync (a standby cluster is asynchronous to its
    source) and default to failover_priority 1 so that the DR cluster can elect its standby leader.
    Raises ValueError when the group is not a cluster group or a value has the wrong type.
    """
    if group not in CLUSTER_GROUPS:
        raise ValueError("group=%r is not a Patroni cluster group: use one of %s" % (group, ", ".join(CLUSTER_GROUPS)))
    errors = check_regions(platform) + check_host_overrides(hosts, _members(groups, group))
    if errors:
        raise ValueError("; ".join(errors))
    return _members_model(groups, hosts, platform, group)


def _describe(members, hosts_):
    return ", ".join(
        "%s (%s, failover_priority %d)" % (h, members[h]["region"] or "no region", members[h]["failover_priority"])
        for h in sorted(hosts_)
    )


def check_cluster_members(groups, hosts, platform):
    """Region and synchronous-replication checks of group postgres (values assumed well-typed)."""
    errors = []
    postgres = _members(groups, "postgres")
    members = _members_model(groups, hosts, platform, "postgres")
    sync = synchronous_settings(platform)

    leaders = sorted(h for h in postgres if members[h]["failover_priority"] > 0)
    if not leaders:
        errors.append(
            "no member of group 'postgres' may become leader: every member has failover_priority 0 (%s); "
            "give the primary region a failover_priority > 0 in keel_regions (or a host "
            "keel_failover_priority > 0)" % _describe(members, postgres)
        )

    primary = platform.get("keel_primary_region")
    member_regions = sorted({m["region"] for m in members.values() if m["region"]})
    if primary in (None, ""):
        errors.append(
            "keel_primary_region is not set: set it to the region where the leader normally runs, one of "
            "the regions of group 'postgres' (%s)" % ", ".join(member_regions)
        )
    elif primary not in member_regions:
        errors.append(
            "keel_primary_region=%r is not the keel_region of any member of group 'postgres' (regions: %s); "
            "set it to the region where the leader normally runs" % (primary, ", ".join(member_regions))
        )
    elif leaders and not [h for h in leaders if members[h]["region"] == primary]:
        errors.append(
            "keel_primary_region=%r: no member of group 'postgres' in that region may become leader "
            "(failover_priority 0); give the region a failover_priority > 0 in keel_regions or choose "
            "another primary region" % (primary,)
        )

    if sync["mode"] in ("on", "quorum"):
        count = sync["node_count"]
        eligible = sorted(h for h in postgres if not members[h]["nosync"])
        if count > len(eligible) - 1:
            if len(eligible) >= 2:
                fix = "lower keel_synchronous_node_count to %d or" % (len(eligible) - 1)
            else:
                fix = 'set keel_synchronous_mode: "off" or'
            errors.append(
                "keel_synchronous_node_count=%d (keel_synchronous_mode=%s) needs %d synchronous-eligible "
                "members in group 'postgres' (one of them is the leader, which cannot be its own standby), "
                "but %d are eligible (%s); %s make more regions sync: true in keel_regions"
                % (count, sync["mode"], count + 1, len(eligible), ", ".join(eligible) or "none", fix)
            )
        if eligible and leaders and not [h for h in eligible if members[h]["sync_candidate"]]:
            errors.append(
                "keel_synchronous_mode=%s: no synchronous-eligible member of group 'postgres' has "
                "failover_priority > 0 (eligible: %s); Patroni only promotes a synchronous standby "
                "automatically, so no failover could happen: give a sync: true region a failover_priority > 0 "
                'in keel_regions, or set keel_synchronous_mode: "off"' % (sync["mode"], _describe(members, eligible))
            )
    if streams_only_to_candidates(platform):
        for host in postgres:
            if members[host]["nostream"] and not (hosts.get(host) or {}).get("keel_pgbackrest_stanza"):
                errors.append(
                    "host %s (%s, failover_priority %d, nosync %s) is not a synchronous candidate: under strict "
                    "synchronous replication it must not stream from the leader (after a failover Patroni's "
                    "synchronous_standby_names '*' would let it confirm commits that no promotable member holds), "
                    "so it replays from the WAL archive, but keel_pgbackrest_stanza is empty for it: set "
                    "keel_pgbackrest_stanza, make its region sync: true with failover_priority > 0, or set "
                    "keel_synchronous_mode_strict: false"
                    % (
                        host,
                        members[host]["region"] or "no region",
                        members[host]["failover_priority"],
                        str(members[host]["nosync"]).lower(),
                    )
                )
    return errors


def check_scopes(groups, platform):
    """Each non-empty Patroni cluster needs its scope (keel_cluster_name, keel_dr_cluster_name)."""
    errors = []
    if _members(groups, "postgres") and platform.get("keel_cluster_name") is None:
        errors.append(
            "keel_cluster_name is not set but group 'postgres' has members: set it to the primary "
            "cluster's Patroni scope (e.g. keel-prod)"
        )
    dr = _members(groups, "postgres_dr")
    if dr and platform.get("keel_dr_cluster_name") is None:
        errors.append(
            "keel_dr_cluster_name is not set but group 'postgres_dr' has members (%s): set it to the DR "
            "standby cluster's Patroni scope, different from keel_cluster_name (e.g. %s-dr)"
            % (", ".join(sorted(dr)), platform.get("keel_cluster_name") or "keel-prod")
        )
    return errors


def check_dr_members(groups, hosts, platform):
    """The DR standby cluster needs a member that may become its standby leader (values assumed well-typed)."""
    dr = _members(groups, "postgres_dr")
    members = _members_model(groups, hosts, platform, "postgres_dr")
    if dr and not [h for h in dr if members[h]["failover_priority"] > 0]:
        return [
            "no member of group 'postgres_dr' may become the DR standby leader: every member has "
            "failover_priority 0 (%s); remove the 0 from keel_regions (the DR default is 1) or set a host "
            "keel_failover_priority > 0" % _describe(members, dr)
        ]
    return []


def validate(groups, hosts, platform):
    """Run every topology check and return the list of errors."""
    names = _members(groups, "all")
    errors = check_etcd(groups) + check_clusters(groups) + check_platform(platform) + check_scopes(groups, platform)
    errors += check_hosts(hosts, names)
    types = check_regions(platform) + check_sync_settings(platform) + check_host_overrides(hosts, names)
    errors += types
    # The region and synchronous-replication checks need well-typed values: fix the types first.
    if not types:
        if _members(groups, "postgres"):
            errors += check_cluster_members(groups, hosts, platform)
        errors += check_dr_members(groups, hosts, platform)
    return errors


def overlapping_subnets(subnet, others):
    """Return the entries of ``others`` (CIDR strings; junk ignored) that overlap ``subnet``."""
    mine = ipaddress.ip_network(str(subnet), strict=False)
    found = []
    for other in others:
        try:
            net = ipaddress.ip_network(str(other), strict=False)
        except ValueError:
            continue
        if net.version == mine.version and net.overlaps(mine):
            found.append(str(other))
    return found
