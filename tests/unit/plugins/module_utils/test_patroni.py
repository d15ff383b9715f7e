"""Patroni REST client and decisions (plugins/module_utils/patroni.py)."""

import base64
import io
import json
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.keel.postgres.plugins.module_utils.patroni import (
    PatroniClient,
    PatroniError,
    base_url_of,
    candidate_refusal,
    decide,
    decide_failover,
    decide_member_action,
    decide_pause,
    decide_switchover,
    normalize_cluster,
    switchover_complete,
    synchronous_mode,
)


def member(name, role="replica", state="streaming", lag=0, tags=None, **extra):
    data = {"name": name, "role": role, "state": state, "api_url": "https://%s:8008/patroni" % name, "timeline": 4}
    if role not in ("leader", "standby_leader"):
        data["lag"] = lag
    if tags:
        data["tags"] = tags
    data.update(extra)
    return data


def cluster(*members, **extra):
    data = {"scope": "keel-main", "members": list(members)}
    data.update(extra)
    return data


BASE = cluster(
    member("pg1", role="leader", state="running"),
    member("pg2", role="sync_standby"),
    member("pg3", role="replica", lag=5000),
    member("pg4", role="replica", tags={"nofailover": True}),
)
SYNC_ON = {"synchronous_mode": True, "maximum_lag_on_failover": 1048576}
ASYNC = {"synchronous_mode": False}


def status(data=None, config=None):
    return normalize_cluster(BASE if data is None else data, config)


def test_normalize_cluster():
    data = cluster(
        member("pg1", role="leader", state="running", pending_restart=True),
        member(
            "pg2",
            role="quorum_standby",
            lag="unknown",
            receive_lag=10,
            replay_lag=20,
            receive_lsn="0/5",
            replay_lsn="0/4",
        ),
        pause=True,
        scheduled_switchover={"at": "2030-01-01T00:00:00+00:00", "from": "pg1", "to": "pg2"},
    )
    result = normalize_cluster(data)
    assert result["leader"] == "pg1"
    assert result["sync_standbys"] == ["pg2"]
    assert result["paused"] is True
    assert result["timeline"] == 4
    assert result["scope"] == "keel-main"
    pg1, pg2 = result["members"]
    assert pg1["pending_restart"] is True and pg1["lag"] is None and pg1["tags"] == {}
    assert (pg2["lag"], pg2["receive_lag"], pg2["replay_lag"], pg2["replay_lsn"]) == (None, 10, 20, "0/4")


@pytest.mark.parametrize(
    "data, config, leader, paused",
    [
        (cluster(), None, None, False),
        (None, None, None, False),
        (cluster(member("dr1", role="standby_leader", state="running")), None, "dr1", False),
        (cluster(member("pg1", role="primary", state="running")), {"pause": True}, "pg1", True),
    ],
)
def test_normalize_cluster_edge_cases(data, config, leader, paused):
    result = normalize_cluster(data, config)
    assert (result["leader"], result["paused"]) == (leader, paused)


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, "off"),
        (None, "off"),
        ({"synchronous_mode": True}, "on"),
        ({"synchronous_mode": "on"}, "on"),
        ({"synchronous_mode": "quorum"}, "quorum"),
        ({"synchronous_mode": "off"}, "off"),
        ({"synchronous_mode": False}, "off"),
    ],
)
def test_synchronous_mode(config, expected):
    assert synchronous_mode(config) == expected


@pytest.mark.parametrize(
    "candidate, config, action, reason",
    [
        ("pg2", SYNC_ON, "switchover", None),
        ("pg3", ASYNC, "switchover", None),
        ("pg9", SYNC_ON, "switchover", "candidate 'pg9' is not a member of the cluster (members: pg1, pg2, pg3, pg4)"),
        ("pg1", SYNC_ON, "switchover", "candidate 'pg1' is already the leader"),
        ("pg4", ASYNC, "switchover", "candidate 'pg4' is tagged nofailover"),
        (
            "pg3",
            SYNC_ON,
            "switchover",
            "synchronous_mode is on and candidate 'pg3' is not a synchronous standby (sync standbys: pg2)",
        ),
        ("pg3", {"synchronous_mode": "quorum"}, "switchover", "synchronous_mode is quorum and candidate 'pg3'"),
        (
            "pg3",
            {"maximum_lag_on_failover": 1000},
            "switchover",
            "candidate 'pg3' lags 5000 bytes, more than maximum_lag_on_failover 1000",
        ),
        ("pg3", {}, "failover", None),
    ],
)
def test_candidate_refusal(candidate, config, action, reason):
    result = candidate_refusal(status(), config, candidate, action)
    if reason is None:
        assert result is None
    else:
        assert result.startswith(reason)


@pytest.mark.parametrize(
    "extra, reason",
    [
        ({"state": "stopped"}, "candidate 'pg5' is in state 'stopped', not running or streaming"),
        ({"state": "starting"}, "candidate 'pg5' is in state 'starting'"),
        ({"tags": {"failover_priority": 0}}, "candidate 'pg5' has failover_priority 0"),
        ({"tags": {"nofailover": "true"}}, "candidate 'pg5' is tagged nofailover"),
        ({"lag": "unknown"}, "candidate 'pg5' lag is unknown"),
        ({"tags": {"failover_priority": 2}}, None),
    ],
)
def test_candidate_member_health(extra, reason):
    fields = {"state": "streaming", "lag": 0}
    fields.update(extra)
    data = cluster(member("pg1", role="leader", state="running"), member("pg5", **fields))
    result = candidate_refusal(status(data), ASYNC, "pg5")
    if reason is None:
        assert result is None
    else:
        assert result.startswith(reason)


def test_a_replica_replaying_the_archive_may_take_over_only_a_leaderless_cluster():
    # With the leader gone, replicas lose their upstream and Patroni reports them "in archive recovery".
    orphans = cluster(member("pg2", role="replica", state="in archive recovery", lag="unknown"))
    assert candidate_refusal(status(orphans), SYNC_ON, "pg2", "failover") is None
    led = cluster(member("pg1", role="leader", state="running"), member("pg2", state="in archive recovery", lag=0))
    assert candidate_refusal(status(led), ASYNC, "pg2", "failover").startswith(
        "candidate 'pg2' is in state 'in archive recovery'"
    )
    assert candidate_refusal(status(led), ASYNC, "pg2", "switchover").startswith("candidate 'pg2' is in state")


def test_failover_without_leader_skips_sync_and_lag_checks():
    data = cluster(member("pg2", role="replica", lag="unknown"), member("pg3", role="replica"))
    assert candidate_refusal(status(data), SYNC_ON, "pg2", "failover") is None
    decision = decide_failover(status(data), SYNC_ON, "pg2")
    assert decision["action"] == "failover" and decision["body"] == {"candidate": "pg2"}


@pytest.mark.parametrize(
    "kwargs, action, reason, body",
    [
        ({"candidate": "pg2"}, "switchover", "switch over from 'pg1' to 'pg2'", {"leader": "pg1", "candidate": "pg2"}),
        (
            {"candidate": "pg2", "leader": "pg1"},
            "switchover",
            "switch over from 'pg1' to 'pg2'",
            {"leader": "pg1", "candidate": "pg2"},
        ),
        ({"leader": "pg1"}, "switchover", "switch over from 'pg1' to the best eligible member", {"leader": "pg1"}),
        ({"candidate": "pg1"}, "none", "'pg1' is already the leader", None),
        ({"candidate": "pg1", "leader": "pg2"}, "none", "'pg1' is already the leader", None),
        ({"leader": "pg2"}, "none", "'pg2' is no longer the leader (the leader is 'pg1')", None),
        ({"candidate": "pg3", "leader": "pg2"}, "refuse", "leader 'pg2' given, but the current leader is 'pg1'", None),
        ({"candidate": "pg3"}, "refuse", "synchronous_mode is on", None),
        (
            {"candidate": "pg2", "scheduled_at": "2030-01-01T02:00:00+00:00"},
            "switchover",
            "switch over from 'pg1' to 'pg2' at 2030",
            {"leader": "pg1", "candidate": "pg2", "scheduled_at": "2030-01-01T02:00:00+00:00"},
        ),
    ],
)
def test_decide_switchover(kwargs, action, reason, body):
    decision = decide_switchover(status(), SYNC_ON, **kwargs)
    assert decision["action"] == action
    assert decision["reason"].startswith(reason)
    assert decision["body"] == body
    assert decision["changed"] is (action == "switchover")
    if action == "switchover":
        assert (decision["method"], decision["path"]) == ("POST", "/switchover")


@pytest.mark.parametrize(
    "kwargs, action, reason",
    [
        ({"leader": "pg1"}, "refuse", "the cluster is paused: a switchover needs an explicit candidate"),
        (
            {"candidate": "pg2", "scheduled_at": "2030-01-01T02:00:00+00:00"},
            "refuse",
            "the cluster is paused: a switchover cannot be scheduled",
        ),
        ({"candidate": "pg2"}, "switchover", "switch over from 'pg1' to 'pg2'"),
    ],
)
def test_decide_switchover_paused_cluster(kwargs, action, reason):
    decision = decide_switchover(status(dict(BASE, pause=True)), SYNC_ON, **kwargs)
    assert decision["action"] == action
    assert decision["reason"].startswith(reason)


def test_decide_switchover_without_leader_or_candidates():
    leaderless = cluster(member("pg2"), member("pg3"))
    assert decide_switchover(status(leaderless), ASYNC, candidate="pg2")["reason"].startswith(
        "the cluster has no leader"
    )
    lonely = cluster(member("pg1", role="leader", state="running"), member("pg4", tags={"nofailover": True}))
    decision = decide_switchover(status(lonely), ASYNC, leader="pg1")
    assert decision == dict(decision, action="refuse", reason="no member is eligible to take over from 'pg1'")


@pytest.mark.parametrize(
    "scheduled, action, reason",
    [
        (
            {"at": "2030-01-01T02:00:00+00:00", "from": "pg1", "to": "pg2"},
            "none",
            "this switchover is already scheduled",
        ),
        (
            {"at": "2031-01-01T02:00:00+00:00", "from": "pg1", "to": "pg2"},
            "refuse",
            "another switchover is already scheduled",
        ),
    ],
)
def test_decide_scheduled_switchover_idempotence(scheduled, action, reason):
    data = dict(BASE, scheduled_switchover=scheduled)
    decision = decide_switchover(status(data), SYNC_ON, candidate="pg2", scheduled_at="2030-01-01T02:00:00+00:00")
    assert decision["action"] == action and decision["reason"].startswith(reason)


@pytest.mark.parametrize(
    "candidate, action, reason",
    [
        ("pg1", "none", "'pg1' is already the leader"),
        ("pg2", "failover", "fail over to 'pg2'"),
        ("pg4", "refuse", "candidate 'pg4' is tagged nofailover"),
        (None, "refuse", "a failover needs a candidate"),
    ],
)
def test_decide_failover(candidate, action, reason):
    decision = decide_failover(status(), SYNC_ON, candidate)
    assert (decision["action"], decision["reason"]) == (action, reason)


@pytest.mark.parametrize(
    "paused, pause, action, body",
    [
        (False, True, "pause", {"pause": True}),
        (True, True, "none", None),
        (True, False, "resume", {"pause": False}),
        (False, False, "none", None),
    ],
)
def test_decide_pause(paused, pause, action, body):
    data = dict(BASE, pause=True) if paused else BASE
    decision = decide_pause(status(data), pause)
    assert decision["action"] == action
    assert decision["body"] == body
    assert decision["changed"] is (action != "none")
    if body:
        assert (decision["method"], decision["path"]) == ("PATCH", "/config")


@pytest.mark.parametrize(
    "action, name, paused, result, reason",
    [
        ("restart", "pg2", False, "restart", "restart member 'pg2'"),
        ("restart", "pg1", False, "restart", "restart member 'pg1'"),
        ("reinitialize", "pg2", False, "reinitialize", "reinitialize member 'pg2'"),
        ("reinitialize", "pg1", False, "refuse", "member 'pg1' is the leader: only replicas can be reinitialized"),
        ("reinitialize", "pg2", True, "refuse", "the cluster is paused"),
        ("restart", "pg9", False, "refuse", "member 'pg9' is not in the cluster"),
        ("restart", None, False, "refuse", "action=restart needs member"),
    ],
)
def test_decide_member_action(action, name, paused, result, reason):
    data = dict(BASE, pause=True) if paused else BASE
    decision = decide_member_action(status(data), action, name)
    assert decision["action"] == result
    assert decision["reason"].startswith(reason)
    if result != "refuse":
        assert decision["member"] == name and decision["path"] == "/" + action


def test_decide_dispatch():
    assert decide("status", status(), {})["action"] == "none"
    assert decide("pause", status(), {})["action"] == "pause"
    assert decide("resume", status(), {})["action"] == "none"
    with pytest.raises(ValueError):
        decide("explode", status(), {})


@pytest.mark.parametrize(
    "data, old, candidate, expected",
    [
        (BASE, "pg1", None, False),
        (cluster(member("pg2", role="leader", state="running")), "pg1", None, True),
        (cluster(member("pg2", role="leader", state="running")), "pg1", "pg2", True),
        (cluster(member("pg3", role="leader", state="running")), "pg1", "pg2", False),
        (cluster(member("pg2", role="leader", state="starting")), "pg1", "pg2", False),
        (cluster(member("pg2")), "pg1", "pg2", False),
    ],
)
def test_switchover_complete(data, old, candidate, expected):
    assert switchover_complete(status(data), old, candidate) is expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://pg1:8008", "https://pg1:8008"),
        ("https://pg1:8008/", "https://pg1:8008"),
        ("http://10.0.0.1:8008/patroni", "http://10.0.0.1:8008"),
    ],
)
def test_base_url_of(url, expected):
    assert base_url_of(url) == expected


@pytest.mark.parametrize("url", ["pg1:8008", "", "/patroni"])
def test_base_url_of_rejects(url):
    with pytest.raises(ValueError):
        base_url_of(url)


class FakeResponse:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def getcode(self):
        return self.status

    def read(self):
        return self.body


class RecordingOpener:
    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append(dict(kwargs, url=url))
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_client_get_sends_no_credentials_and_decodes_json():
    opener = RecordingOpener(FakeResponse(200, json.dumps(BASE).encode()))
    client = PatroniClient("https://pg1:8008/", ca_cert="/ca.crt", username="u", password="p", timeout=3, opener=opener)
    assert client.get_cluster() == BASE
    [call] = opener.calls
    assert call["url"] == "https://pg1:8008/cluster"
    assert call["method"] == "GET" and call["data"] is None
    assert "url_username" not in call and "force_basic_auth" not in call
    assert (call["ca_path"], call["timeout"], call["validate_certs"]) == ("/ca.crt", 3, True)
    assert client.log == [{"method": "GET", "url": "https://pg1:8008/cluster", "body": None, "status": 200}]


def test_client_unsafe_request_uses_basic_auth_and_json_body():
    opener = RecordingOpener(FakeResponse(200, b'Successfully switched over to "pg2"'))
    client = PatroniClient(
        "https://pg1:8008", username="u", password="pw-9f3a", client_cert="c", client_key="k", opener=opener
    )
    code, body = client.request("POST", "/switchover", {"leader": "pg1", "candidate": "pg2"})
    assert (code, body) == (200, 'Successfully switched over to "pg2"')
    [call] = opener.calls
    assert json.loads(call["data"]) == {"leader": "pg1", "candidate": "pg2"}
    assert call["headers"]["Content-Type"] == "application/json"
    assert (call["url_username"], call["url_password"], call["force_basic_auth"]) == ("u", "pw-9f3a", True)
    assert (call["client_cert"], call["client_key"]) == ("c", "k")
    assert "pw-9f3a" not in json.dumps(client.log)


def test_client_member_request_goes_to_member_url():
    opener = RecordingOpener(FakeResponse(200, b"restarted"))
    client = PatroniClient("https://pg1:8008", opener=opener)
    client.request("POST", "/restart", {}, base_url="https://pg2:8008")
    assert opener.calls[0]["url"] == "https://pg2:8008/restart"


def test_client_http_error_carries_status_and_body():
    error = HTTPError("https://pg1:8008/switchover", 412, "Precondition Failed", {}, io.BytesIO(b"candidate not sync"))
    client = PatroniClient("https://pg1:8008", opener=RecordingOpener(error))
    with pytest.raises(PatroniError) as info:
        client.request("POST", "/switchover", {"leader": "pg1"})
    assert info.value.status == 412
    assert info.value.body == "candidate not sync"
    assert "answered HTTP 412: candidate not sync" in str(info.value)
    assert client.log[0]["status"] == 412


def test_client_connection_error():
    client = PatroniClient("https://pg1:8008", opener=RecordingOpener(URLError("Connection refused")))
    with pytest.raises(PatroniError, match="Patroni GET https://pg1:8008/config failed: .*Connection refused") as info:
        client.get_config()
    assert info.value.status is None


def test_basic_header_format_is_standard():
    # what force_basic_auth produces for u:p, for reference in the HTTP server tests
    assert base64.b64encode(b"u:p").decode() == "dTpw"
