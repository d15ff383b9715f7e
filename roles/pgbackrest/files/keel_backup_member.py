#!/usr/bin/python3
"""Decide whether this member of a Patroni cluster takes the scheduled pgBackRest backup.

Installed by keel.postgres.pgbackrest as /usr/local/lib/keel-backup-member.py and used by
keel-backup@.service on every member of the primary cluster:

  condition        exit 0 when this member is the one (systemd ExecCondition), 1 to skip the run
  run CMD ARGS...  decide again and run CMD (pgbackrest ... backup) on the chosen member; on the
                   leader (no healthy replica) backup-standby is turned off for this run

Every member reads the same cluster state (Patroni's /cluster, from the DCS) and applies the same
rule, so exactly one of them backs up: the healthy replica with the least load on the commit path
(an asynchronous replica before a synchronous one), by name on a tie - healthy is streaming, or
replaying from the archive for a member tagged nostream; the leader when
no replica qualifies. The environment gives KEEL_BACKUP_PATRONI (this member's REST API URL),
KEEL_BACKUP_CA (CA file that verifies it), KEEL_BACKUP_MEMBER (this member's name) and optionally
KEEL_BACKUP_MAX_LAG (bytes; a replica further behind does not qualify, default 16 MiB).
"""

import json
import os
import ssl
import sys
import urllib.request

REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")
DEFAULT_MAX_LAG = 16 * 1024 * 1024


def choose(cluster, max_lag=DEFAULT_MAX_LAG):
    """Return (member name or None, reason) for Patroni's /cluster document."""
    members = cluster.get("members") or []
    leaders = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
    candidates = []
    for member in members:
        tags = member.get("tags") or {}
        lag = member.get("lag")
        # A member tagged nostream (never a synchronous candidate) replays from the archive only.
        replicating = "in archive recovery" if tags.get("nostream") else "streaming"
        if member.get("role") not in REPLICA_ROLES or member.get("state") != replicating:
            continue
        if tags.get("nobackup") or not isinstance(lag, int) or lag > max_lag:
            continue
        candidates.append(member)
    if candidates:
        best = min(candidates, key=lambda m: (m.get("role") != "replica", m["name"]))
        return best["name"], "healthy %s with lag %d bytes" % (best["role"], best["lag"])
    if leaders:
        return leaders[0]["name"], "no healthy replica: the leader backs up"
    return None, "no running leader and no healthy replica"


def read_cluster(url, cafile):
    context = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(url.rstrip("/") + "/cluster", context=context, timeout=10) as response:
        return json.load(response)


def main(argv):
    if not argv or argv[0] not in ("condition", "run") or (argv[0] == "run" and len(argv) < 2):
        print("usage: keel-backup-member.py condition | run CMD [ARGS...]", file=sys.stderr)
        return 2
    me = os.environ["KEEL_BACKUP_MEMBER"]
    try:
        cluster = read_cluster(os.environ["KEEL_BACKUP_PATRONI"], os.environ["KEEL_BACKUP_CA"])
    except (OSError, ValueError) as exc:
        print("skipped on %s: cannot read the cluster state from Patroni (%s)" % (me, exc))
        return 1
    chosen, reason = choose(cluster, int(os.environ.get("KEEL_BACKUP_MAX_LAG", DEFAULT_MAX_LAG)))
    if chosen != me:
        print("skipped on %s: the backup runs on %s (%s)" % (me, chosen or "no member", reason))
        return 1
    print("backup on %s: %s" % (me, reason))
    if argv[0] == "condition":
        return 0
    command = list(argv[1:])
    if reason.startswith("no healthy replica"):
        command.insert(1, "--no-backup-standby")
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
