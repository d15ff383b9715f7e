"""keel.postgres.patroni_cluster, run as a real module process against a Patroni-shaped HTTP(S) server.

Checks the requests the module sends (method, path, body, auth header, target
member) and the idempotence rules. A real Patroni cluster test comes with the
Patroni role.
"""

import pytest
from fake_patroni import PASSWORD, USERNAME, FakePatroni, make_cert, three_members


def patroni(runner, fake, check_mode=False, **args):
    args.setdefault("username", USERNAME)
    args.setdefault("password", PASSWORD)
    args.setdefault("wait_timeout", 5)
    return runner("patroni_cluster", dict(api_url=fake.url, **args), check_mode=check_mode)


@pytest.fixture
def fake():
    with FakePatroni() as server:
        yield server


def test_status(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake)
    assert rc == 0, result
    assert result["changed"] is False
    assert result["leader"] == "pg1"
    assert result["sync_standbys"] == ["pg2"]
    assert result["paused"] is False
    assert result["scope"] == "keel-main"
    assert result["timeline"] == 2
    names = [m["name"] for m in result["members"]]
    assert names == ["pg1", "pg2", "pg3"]
    pg3 = result["members"][2]
    assert pg3["tags"] == {"nofailover": True} and pg3["lag"] == 0 and pg3["pending_restart"] is False
    assert fake.unsafe_requests() == []
    # GETs carry no credentials
    assert all(r["authorization"] is None for r in fake.requests)
    assert PASSWORD not in str(result)


def test_switchover_sends_one_authenticated_post_and_waits(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover", candidate="pg2")
    assert rc == 0, result
    assert result["changed"] is True
    [post] = fake.unsafe_requests()
    assert (post["method"], post["path"]) == ("POST", "/switchover")
    assert post["body"] == {"leader": "pg1", "candidate": "pg2"}
    assert post["authorization"] == FakePatroni.basic()
    assert result["response"]["status"] == 200
    assert result["leader"] == "pg2" and result["timeline"] == 3
    assert "done, 'pg2' leads on timeline 3" in result["msg"]

    # idempotent: the candidate already leads
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover", candidate="pg2", leader="pg1")
    assert rc == 0 and result["changed"] is False, result
    assert result["decision"]["reason"] == "'pg2' is already the leader"
    assert len(fake.unsafe_requests()) == 1

    # idempotent: switch away from pg1 without a candidate, pg1 no longer leads
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover", leader="pg1")
    assert rc == 0 and result["changed"] is False
    assert len(fake.unsafe_requests()) == 1


def test_check_mode_sends_nothing_unsafe(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake, check_mode=True, action="switchover", candidate="pg2")
    assert rc == 0, result
    assert result["changed"] is True
    assert result["request"] == {
        "method": "POST",
        "url": fake.url + "/switchover",
        "body": {"leader": "pg1", "candidate": "pg2"},
    }
    assert result["response"] is None
    assert fake.unsafe_requests() == []
    assert result["leader"] == "pg1"


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"candidate": "pg3"}, "candidate 'pg3' is tagged nofailover"),
        ({"candidate": "pg9"}, "candidate 'pg9' is not a member of the cluster"),
        ({"candidate": "pg2", "leader": "pg3"}, "leader 'pg3' given, but the current leader is 'pg1'"),
    ],
)
def test_refusals_fail_without_sending(fake, module_runner, args, reason):
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover", **args)
    assert rc == 1
    assert reason in result["msg"]
    assert result["decision"]["action"] == "refuse"
    assert fake.unsafe_requests() == []


def test_async_candidate_refused_in_synchronous_mode(module_runner):
    with FakePatroni(cluster_factory=lambda url: three_members(url, sync=())) as fake:
        rc, result, _elapsed = patroni(module_runner, fake, action="switchover", candidate="pg2")
        assert rc == 1
        assert "synchronous_mode is on and candidate 'pg2' is not a synchronous standby" in result["msg"]
        assert fake.unsafe_requests() == []


def test_pause_and_resume_are_idempotent(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake, action="resume")
    assert rc == 0 and result["changed"] is False and fake.unsafe_requests() == []

    rc, result, _elapsed = patroni(module_runner, fake, action="pause")
    assert rc == 0 and result["changed"] is True and result["paused"] is True
    [patch] = fake.unsafe_requests()
    assert (patch["method"], patch["path"], patch["body"]) == ("PATCH", "/config", {"pause": True})

    rc, result, _elapsed = patroni(module_runner, fake, action="pause")
    assert rc == 0 and result["changed"] is False and len(fake.unsafe_requests()) == 1

    # a paused cluster only switches over to an explicit candidate
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover", leader="pg1")
    assert rc == 1 and "needs an explicit candidate" in result["msg"]

    rc, result, _elapsed = patroni(module_runner, fake, action="resume")
    assert rc == 0 and result["changed"] is True and result["paused"] is False
    assert fake.unsafe_requests()[-1]["body"] == {"pause": False}


def test_failover_and_scheduled_switchover(fake, module_runner):
    rc, result, _elapsed = patroni(
        module_runner, fake, action="switchover", candidate="pg2", scheduled_at="2030-01-01T02:00:00+00:00"
    )
    assert rc == 0 and result["changed"] is True and result["response"]["status"] == 202
    assert fake.unsafe_requests()[-1]["body"]["scheduled_at"] == "2030-01-01T02:00:00+00:00"
    rc, result, _elapsed = patroni(
        module_runner, fake, action="switchover", candidate="pg2", scheduled_at="2030-01-01T02:00:00+00:00"
    )
    assert rc == 0 and result["changed"] is False and len(fake.unsafe_requests()) == 1

    rc, result, _elapsed = patroni(module_runner, fake, action="failover", candidate="pg2")
    assert rc == 0 and result["changed"] is True and result["leader"] == "pg2"
    assert fake.unsafe_requests()[-1]["body"] == {"candidate": "pg2"}


def test_restart_goes_to_the_member_api(module_runner):
    with FakePatroni(cluster_factory=lambda url: three_members(url, member_host="localhost")) as fake:
        rc, result, _elapsed = patroni(module_runner, fake, action="restart", member="pg2")
        assert rc == 0, result
        [post] = fake.unsafe_requests()
        assert (post["method"], post["path"]) == ("POST", "/restart")
        assert post["host"].startswith("localhost:")
        assert result["request"]["url"].startswith("http://localhost:")

        rc, result, _elapsed = patroni(module_runner, fake, action="reinitialize", member="pg1")
        assert rc == 1 and "only replicas can be reinitialized" in result["msg"]


def test_wrong_password_reports_http_401(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake, action="pause", password="wrong")
    assert rc == 1
    assert "answered HTTP 401" in result["msg"]
    assert "wrong" not in result["msg"]


def test_required_options(fake, module_runner):
    rc, result, _elapsed = patroni(module_runner, fake, action="failover")
    assert rc == 1 and "candidate" in result["msg"]
    rc, result, _elapsed = patroni(module_runner, fake, action="switchover")
    assert rc == 1 and "candidate, leader" in result["msg"]


def test_https_with_ca_cert(tmp_path, module_runner):
    cert, key = make_cert(str(tmp_path))
    with FakePatroni(tls=(cert, key)) as fake:
        rc, result, _elapsed = patroni(module_runner, fake, ca_cert=cert)
        assert rc == 0, result
        assert result["leader"] == "pg1"

        rc, result, _elapsed = patroni(module_runner, fake)
        assert rc == 1 and "certificate" in result["msg"].lower()

        rc, result, _elapsed = patroni(module_runner, fake, validate_certs=False)
        assert rc == 0, result
