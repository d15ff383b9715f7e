# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Patroni REST API client and pure decision functions.

The client speaks to Patroni 4.1.x: GET /cluster and /config, POST /switchover,
/failover, /restart, /reinitialize and PATCH /config. HTTP Basic auth is sent
only with unsafe methods (Patroni protects only those with it); TLS is
verified against ``ca_cert`` and a client certificate can be presented.

Decision functions take the JSON of GET /cluster and GET /config and return a
dict ``{"action", "changed", "reason", "method", "path", "body", "member"}``:
``action`` is ``none`` (nothing to do, idempotent), ``refuse`` (``reason``
says why) or the action to perform with the request to send.
"""

import json
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url

LEADER_ROLES = ("leader", "primary", "master", "standby_leader")
SYNC_ROLES = ("sync_standby", "quorum_standby")
HEALTHY_STATES = ("running", "streaming")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_MAXIMUM_LAG_ON_FAILOVER = 1048576
ACTIONS = ["status", "switchover", "failover", "restart", "reinitialize", "pause", "resume"]


def patroni_api_argument_spec():
    """Argument spec of the keel.postgres.patroni_api doc fragment (keep both in step)."""
    return dict(
        api_url=dict(type="str", required=True),
        ca_cert=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        validate_certs=dict(type="bool", default=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        timeout=dict(type="int", default=10),
    )


class PatroniError(Exception):
    """A failed REST call: ``status`` is the HTTP status or None when no answer arrived."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


def base_url_of(api_url):
    """``https://h:8008/patroni`` (a member's api_url) -> ``https://h:8008``."""
    parts = urlsplit(api_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError("invalid Patroni REST URL %r: expected e.g. https://host:8008" % api_url)
    return "%s://%s" % (parts.scheme, parts.netloc)


class PatroniClient:
    """Minimal REST client. Every call is appended to ``self.log`` (method, url, body, status)."""

    def __init__(
        self,
        api_url,
        ca_cert=None,
        client_cert=None,
        client_key=None,
        validate_certs=True,
        username=None,
        password=None,
        timeout=10,
        opener=open_url,
    ):
        self.base_url = base_url_of(api_url)
        self.ca_cert = ca_cert
        self.client_cert = client_cert
        self.client_key = client_key
        self.validate_certs = validate_certs
        self.username = username
        self.password = password
        self.timeout = timeout
        self.opener = opener
        self.log = []

    def request(self, method, path, body=None, base_url=None):
        """Send one request; return (status, decoded JSON or text). Raise PatroniError on HTTP >= 400."""
        url = (base_url or self.base_url) + path
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        auth = {}
        if method not in SAFE_METHODS and self.username:
            auth = dict(url_username=self.username, url_password=self.password or "", force_basic_auth=True)
        entry = {"method": method, "url": url, "body": body, "status": None}
        self.log.append(entry)
        try:
            response = self.opener(
                url,
                data=data,
                headers=headers,
                method=method,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
                ca_path=self.ca_cert,
                client_cert=self.client_cert,
                client_key=self.client_key,
                follow_redirects="none",
                use_proxy=False,
                **auth,
            )
            status = response.getcode()
            raw = response.read()
        except HTTPError as exc:
            raw = exc.read() if hasattr(exc, "read") else b""
            entry["status"] = exc.code
            decoded = _decode(raw)
            raise PatroniError(
                "Patroni %s %s answered HTTP %s: %s" % (method, url, exc.code, _short(decoded)), exc.code, decoded
            ) from exc
        except (TimeoutError, OSError, URLError, UrlConnectionError, ValueError) as exc:
            raise PatroniError("Patroni %s %s failed: %s" % (method, url, to_text(exc))) from exc
        entry["status"] = status
        return status, _decode(raw)

    def get_cluster(self):
        return self.request("GET", "/cluster")[1]

    def get_config(self):
        return self.request("GET", "/config")[1]


def _decode(raw):
    text = to_text(raw or b"", errors="surrogate_or_replace")
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _short(decoded):
    text = decoded if isinstance(decoded, str) else json.dumps(decoded, sort_keys=True)
    return text[:500]


def _as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def normalize_member(raw):
    """One /cluster member -> a stable dict (lag values are ints or None for 'unknown')."""
    return {
        "name": raw.get("name"),
        "role": raw.get("role"),
        "state": raw.get("state"),
        "host": raw.get("host"),
        "port": raw.get("port"),
        "api_url": raw.get("api_url"),
        "timeline": raw.get("timeline"),
        "lag": _as_int(raw.get("lag")),
        "receive_lag": _as_int(raw.get("receive_lag")),
        "replay_lag": _as_int(raw.get("replay_lag")),
        "receive_lsn": raw.get("receive_lsn"),
        "replay_lsn": raw.get("replay_lsn"),
        "tags": raw.get("tags") or {},
        "pending_restart": bool(raw.get("pending_restart")),
    }


def normalize_cluster(cluster, config=None):
    """GET /cluster (+ optional GET /config) JSON -> the status the module returns."""
    cluster = cluster or {}
    members = [normalize_member(m) for m in cluster.get("members") or []]
    leader = next((m for m in members if m["role"] in LEADER_ROLES), None)
    timelines = [m["timeline"] for m in members if isinstance(m["timeline"], int)]
    paused = bool(cluster.get("pause")) or bool((config or {}).get("pause"))
    return {
        "scope": cluster.get("scope"),
        "members": members,
        "leader": leader["name"] if leader else None,
        "sync_standbys": [m["name"] for m in members if m["role"] in SYNC_ROLES],
        "paused": paused,
        "timeline": leader["timeline"] if leader else (max(timelines) if timelines else None),
        "scheduled_switchover": cluster.get("scheduled_switchover"),
    }


def find_member(status, name):
    return next((m for m in status["members"] if m["name"] == name), None)


def synchronous_mode(config):
    """'off', 'on' or 'quorum' from the dynamic configuration."""
    value = (config or {}).get("synchronous_mode", False)
    if isinstance(value, str) and value.strip().lower() == "quorum":
        return "quorum"
    return "on" if _truthy(value) else "off"


def candidate_refusal(status, config, candidate, action="switchover"):
    """Reason the member ``candidate`` cannot become leader, or None when it is eligible.

    Checks: the member exists, is not the leader, is running/streaming, is not
    tagged nofailover (or failover_priority <= 0), is a synchronous/quorum
    standby when synchronous_mode demands it, and lags at most
    maximum_lag_on_failover bytes. A failover in a cluster without a leader
    skips the synchronous and lag checks, like Patroni itself.
    """
    member = find_member(status, candidate)
    if member is None:
        names = ", ".join(m["name"] for m in status["members"]) or "none"
        return "candidate '%s' is not a member of the cluster (members: %s)" % (candidate, names)
    if member["role"] in LEADER_ROLES:
        return "candidate '%s' is already the leader" % candidate
    # The permanent reasons first: a never-promoted member also replays from the archive (nostream).
    tags = member["tags"]
    if _truthy(tags.get("nofailover")):
        return "candidate '%s' is tagged nofailover" % candidate
    priority = _as_int(tags.get("failover_priority"))
    if priority is not None and priority <= 0:
        return "candidate '%s' has failover_priority %d (never promoted)" % (candidate, priority)
    # Without a leader, replicas lose their upstream and replay from the archive: still a running server.
    allowed = HEALTHY_STATES + (("in archive recovery",) if action == "failover" and status["leader"] is None else ())
    if member["state"] not in allowed:
        return "candidate '%s' is in state '%s', not running or streaming" % (candidate, member["state"])
    leaderless = status["leader"] is None
    if action == "failover" and leaderless:
        return None
    mode = synchronous_mode(config)
    if mode != "off" and candidate not in status["sync_standbys"]:
        return "synchronous_mode is %s and candidate '%s' is not a synchronous standby (sync standbys: %s)" % (
            mode,
            candidate,
            ", ".join(status["sync_standbys"]) or "none",
        )
    max_lag = _as_int((config or {}).get("maximum_lag_on_failover"))
    if max_lag is None:
        max_lag = DEFAULT_MAXIMUM_LAG_ON_FAILOVER
    if member["lag"] is None:
        return "candidate '%s' lag is unknown" % candidate
    if member["lag"] > max_lag:
        return "candidate '%s' lags %d bytes, more than maximum_lag_on_failover %d" % (
            candidate,
            member["lag"],
            max_lag,
        )
    return None


def _decision(action, changed=False, reason="", method=None, path=None, body=None, member=None):
    return {
        "action": action,
        "changed": changed,
        "reason": reason,
        "method": method,
        "path": path,
        "body": body,
        "member": member,
    }


def refuse(reason):
    return _decision("refuse", reason=reason)


def decide_switchover(status, config, candidate=None, leader=None, scheduled_at=None):
    """Decide a switchover. Idempotent: when ``candidate`` already leads (or, without a
    candidate, when ``leader`` no longer leads) there is nothing to do."""
    current = status["leader"]
    if candidate and candidate == current:
        return _decision("none", reason="'%s' is already the leader" % candidate)
    if current is None:
        return refuse("the cluster has no leader: use action=failover")
    if leader and leader != current:
        if not candidate:
            return _decision("none", reason="'%s' is no longer the leader (the leader is '%s')" % (leader, current))
        return refuse("leader '%s' given, but the current leader is '%s'" % (leader, current))
    scheduled = status.get("scheduled_switchover") or {}
    if scheduled_at and scheduled:
        if scheduled.get("at") == scheduled_at and scheduled.get("to") == candidate:
            return _decision("none", reason="this switchover is already scheduled at %s" % scheduled_at)
        return refuse("another switchover is already scheduled: %s" % json.dumps(scheduled, sort_keys=True))
    if status["paused"]:
        if scheduled_at:
            return refuse("the cluster is paused: a switchover cannot be scheduled in maintenance mode")
        if not candidate:
            return refuse("the cluster is paused: a switchover needs an explicit candidate")
    if candidate:
        reason = candidate_refusal(status, config, candidate, "switchover")
        if reason:
            return refuse(reason)
    else:
        eligible = [
            m["name"]
            for m in status["members"]
            if m["role"] not in LEADER_ROLES and candidate_refusal(status, config, m["name"], "switchover") is None
        ]
        if not eligible:
            return refuse("no member is eligible to take over from '%s'" % current)
    body = {"leader": current}
    if candidate:
        body["candidate"] = candidate
    if scheduled_at:
        body["scheduled_at"] = scheduled_at
    target = "'%s'" % candidate if candidate else "the best eligible member"
    when = " at %s" % scheduled_at if scheduled_at else ""
    return _decision(
        "switchover",
        changed=True,
        reason="switch over from '%s' to %s%s" % (current, target, when),
        method="POST",
        path="/switchover",
        body=body,
    )


def decide_failover(status, config, candidate):
    """Decide a manual failover to ``candidate`` (works without a leader)."""
    if not candidate:
        return refuse("a failover needs a candidate")
    if status["leader"] == candidate:
        return _decision("none", reason="'%s' is already the leader" % candidate)
    reason = candidate_refusal(status, config, candidate, "failover")
    if reason:
        return refuse(reason)
    return _decision(
        "failover",
        changed=True,
        reason="fail over to '%s'" % candidate,
        method="POST",
        path="/failover",
        body={"candidate": candidate},
    )


def decide_pause(status, pause):
    """Pause (maintenance mode) or resume; nothing to do when already in that state."""
    if status["paused"] == pause:
        return _decision("none", reason="the cluster is already %s" % ("paused" if pause else "not paused"))
    return _decision(
        "pause" if pause else "resume",
        changed=True,
        reason="%s cluster management" % ("pause" if pause else "resume"),
        method="PATCH",
        path="/config",
        body={"pause": pause},
    )


def decide_member_action(status, action, member):
    """restart or reinitialize one member; the request goes to that member's own REST API."""
    if not member:
        return refuse("action=%s needs member" % action)
    found = find_member(status, member)
    if found is None:
        return refuse("member '%s' is not in the cluster" % member)
    if not found.get("api_url"):
        return refuse("member '%s' publishes no api_url" % member)
    if action == "reinitialize" and found["role"] in LEADER_ROLES:
        return refuse("member '%s' is the leader: only replicas can be reinitialized" % member)
    if action == "reinitialize" and status["paused"]:
        return refuse("the cluster is paused: Patroni does not reinitialize members in maintenance mode")
    return _decision(
        action,
        changed=True,
        reason="%s member '%s'" % (action, member),
        method="POST",
        path="/%s" % action,
        body={},
        member=member,
    )


def decide(action, status, config, candidate=None, leader=None, member=None, scheduled_at=None):
    """Dispatch to the decision function of ``action``."""
    if action == "status":
        return _decision("none", reason="status only")
    if action == "switchover":
        return decide_switchover(status, config, candidate, leader, scheduled_at)
    if action == "failover":
        return decide_failover(status, config, candidate)
    if action in ("pause", "resume"):
        return decide_pause(status, action == "pause")
    if action in ("restart", "reinitialize"):
        return decide_member_action(status, action, member)
    raise ValueError("unknown action %r" % action)


def switchover_complete(status, old_leader, candidate=None):
    """True when a new leader (``candidate`` if given) holds the lock and is running."""
    new = status["leader"]
    if new is None or new == old_leader:
        return False
    if candidate and new != candidate:
        return False
    member = find_member(status, new)
    return member is not None and member["state"] in HEALTHY_STATES
