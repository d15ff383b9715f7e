"""keel.postgres.replication_lag against a real PostgreSQL 15 primary + streaming standby."""

from pgpair import MONITOR_PASSWORD, MONITOR_USER, PLAIN_PASSWORD, PLAIN_USER, STANDBY_NAME


def lag(runner, server, check_mode=False, **args):
    return runner("replication_lag", dict(server.conninfo(), **args), check_mode=check_mode)


def test_idle_pair_is_ok_and_expected_standby_present(pg_pair, module_runner):
    pg_pair.wait_replayed()
    rc, result, _elapsed = lag(module_runner, pg_pair.primary, expected_standbys=[STANDBY_NAME])
    assert rc == 0, result
    assert result["status"] == "ok", result["msg"]
    assert result["changed"] is False
    assert result["in_recovery"] is False
    assert result["missing_standbys"] == []
    [standby] = result["standbys"]
    assert standby["application_name"] == STANDBY_NAME
    assert standby["state"] == "streaming"
    assert standby["replay_lag_bytes"] == 0
    # NULL time lags with zero byte lag count as 0 s
    for metric in ("write", "flush", "replay"):
        if standby["%s_lag_seconds" % metric] is None:
            assert standby["effective_%s_lag_seconds" % metric] == 0.0
    assert result["thresholds"] == {
        "warn_bytes": 100 * 1024**2,
        "crit_bytes": 1024**3,
        "warn_seconds": 10.0,
        "crit_seconds": 60.0,
    }
    assert any("pg_stat_replication" in q for q in result["queries"])
    assert result["msg"].startswith("OK: primary with 1 connected standby")


def test_missing_expected_standby_is_critical_and_fails(pg_pair, module_runner):
    rc, result, _elapsed = lag(module_runner, pg_pair.primary, expected_standbys=[STANDBY_NAME, "ghost"])
    assert rc == 1
    assert result["failed"] is True
    assert result["status"] == "critical"
    assert result["missing_standbys"] == ["ghost"]
    assert "expected standby 'ghost' is not connected" in result["msg"]

    rc, result, _elapsed = lag(module_runner, pg_pair.primary, expected_standbys=["ghost"], fail_on="never")
    assert rc == 0 and result["status"] == "critical"


def test_lag_appears_while_replay_paused_and_clears_after_resume(pg_pair, module_runner):
    standby = pg_pair.standby
    standby.sql("SELECT pg_wal_replay_pause()")
    try:
        pg_pair.generate_wal(rows=3000)
        pg_pair.wait_flushed()
        pg_pair.wait("replay lag visible on primary", lambda: pg_pair.standby_state()[2] > 64 * 1024)

        # Time thresholds far above any pause this test can take (a loaded CI machine stretches it past
        # the default 60 s critical): these calls are about the byte thresholds.
        slow = dict(warn_seconds=3600, crit_seconds=7200)
        rc, result, _elapsed = lag(
            module_runner, pg_pair.primary, warn_bytes="64kB", crit_bytes="1GB", check_mode=True, **slow
        )
        assert rc == 0, result
        assert result["status"] == "warning"
        [row] = result["standbys"]
        assert row["replay_lag_bytes"] > 64 * 1024
        assert row["flush_lag_bytes"] == 0
        assert "standby '%s' replay lag" % STANDBY_NAME in result["msg"]
        assert "above the warning threshold 64.0 kB" in result["msg"]

        rc, result, _elapsed = lag(module_runner, pg_pair.primary, warn_bytes="16kB", crit_bytes="32kB")
        assert rc == 1 and result["status"] == "critical"
        assert "critical threshold 32.0 kB" in result["msg"]

        rc, result, _elapsed = lag(module_runner, standby, warn_bytes="64kB", fail_on="never", **slow)
        assert rc == 0, result
        assert result["in_recovery"] is True
        receiver = result["receiver"]
        assert receiver["replay_paused"] is True
        assert receiver["replay_gap_bytes"] > 64 * 1024
        assert receiver["receiver_status"] == "streaming"
        assert receiver["slot_name"] == STANDBY_NAME
        assert receiver["sender_host"] == pg_pair.base
        assert result["status"] == "warning"
        assert "this standby has WAL replay paused" in result["msg"]
    finally:
        standby.sql("SELECT pg_wal_replay_resume()")

    pg_pair.wait_replayed()
    rc, result, _elapsed = lag(module_runner, pg_pair.primary, warn_bytes="64kB", warn_seconds=30, crit_seconds=60)
    assert rc == 0 and result["status"] == "ok", result["msg"]
    assert result["standbys"][0]["replay_lag_bytes"] == 0
    pg_pair.wait("standby replay gap closed", lambda: standby.value(
        "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())") == 0)  # fmt: skip
    rc, result, _elapsed = lag(module_runner, standby, warn_bytes="64kB")
    assert rc == 0 and result["status"] == "ok", result["msg"]
    assert result["receiver"]["replay_gap_bytes"] == 0
    assert result["receiver"]["effective_replay_lag_seconds"] == 0.0


def test_expected_standbys_ignored_on_a_standby(pg_pair, module_runner):
    rc, result, _elapsed = lag(module_runner, pg_pair.standby, expected_standbys=["primary-only-list"])
    assert rc == 0, result
    assert result["missing_standbys"] == []
    assert result["standbys"] == []


def test_monitor_role_over_tcp_with_password(pg_pair, module_runner):
    args = dict(
        login_host="127.0.0.1",
        login_port=pg_pair.primary.port,
        login_user=MONITOR_USER,
        login_password=MONITOR_PASSWORD,
        ssl_mode="disable",
        expected_standbys=[STANDBY_NAME],
    )
    rc, result, _elapsed = module_runner("replication_lag", args)
    assert rc == 0, result
    assert result["standbys"][0]["replay_lsn"] is not None
    assert MONITOR_PASSWORD not in str(result)


def test_role_without_pg_monitor_gets_a_clear_error(pg_pair, module_runner):
    args = dict(
        login_host="127.0.0.1",
        login_port=pg_pair.primary.port,
        login_user=PLAIN_USER,
        login_password=PLAIN_PASSWORD,
        ssl_mode="disable",
    )
    rc, result, _elapsed = module_runner("replication_lag", args)
    assert rc == 1
    assert "grant it pg_monitor" in result["msg"]


def test_wrong_password_names_the_target_not_the_secret(pg_pair, module_runner):
    args = dict(
        login_host="127.0.0.1",
        login_port=pg_pair.primary.port,
        login_user=MONITOR_USER,
        login_password="not-the-password",
        ssl_mode="disable",
    )
    rc, result, _elapsed = module_runner("replication_lag", args)
    assert rc == 1
    assert result["msg"].startswith(
        "unable to connect to PostgreSQL as keel_monitor@127.0.0.1:%d/postgres" % pg_pair.primary.port
    )
    assert "not-the-password" not in result["msg"]


def test_invalid_threshold_is_rejected(pg_pair, module_runner):
    rc, result, _elapsed = lag(module_runner, pg_pair.primary, warn_bytes="2GB", crit_bytes="1GB")
    assert rc == 1
    assert "warn_bytes" in result["msg"]
    rc, result, _elapsed = lag(module_runner, pg_pair.primary, warn_bytes="lots")
    assert rc == 1
    assert "invalid size 'lots'" in result["msg"]


def _sync_state(server):
    rows = server.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (STANDBY_NAME,))
    return rows[0][0] if rows else None


def test_a_standby_outside_the_sync_candidates_confirming_commits_is_critical(pg_pair, module_runner):
    """Patroni's strict mode with no candidate left sets synchronous_standby_names = '*': any walsender
    then confirms commits. The pair's one standby plays a member that can never be promoted."""
    primary = pg_pair.primary
    rc, result, _elapsed = lag(module_runner, primary, sync_candidates=["pg-promotable"])
    assert rc == 0 and result["status"] == "ok", result["msg"]  # async: it confirms nothing
    assert result["standbys"][0]["sync_state"] == "async"
    assert result["synchronous"]["method"] is None
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
    try:
        primary.sql("SELECT pg_reload_conf()")
        pg_pair.wait("standby is synchronous", lambda: _sync_state(primary) == "sync")
        primary.sql("CREATE TABLE IF NOT EXISTS keel_sync_probe (id int); INSERT INTO keel_sync_probe VALUES (1)")
        rc, result, _elapsed = lag(module_runner, primary, sync_candidates=["pg-promotable"])
        assert rc == 1 and result["status"] == "critical", result
        assert result["synchronous_standby_names"] == "*"
        assert result["synchronous"]["any_standby"] is True
        [row] = result["standbys"]
        assert row["sync_candidate"] is False and row["status"] == "critical"
        assert "standby '%s' is not a synchronous candidate (pg-promotable)" % STANDBY_NAME in result["msg"]
        assert "any standby counts" in result["msg"]
        # the same standby named as a candidate is fine; without the option nothing is judged
        rc, result, _elapsed = lag(module_runner, primary, sync_candidates=[STANDBY_NAME, "pg-promotable"])
        assert rc == 0 and result["status"] == "ok", result["msg"]
        assert result["standbys"][0]["sync_candidate"] is True
        rc, result, _elapsed = lag(module_runner, primary)
        assert rc == 0 and result["status"] == "ok", result["msg"]
    finally:
        primary.sql("ALTER SYSTEM RESET synchronous_standby_names")
        primary.sql("SELECT pg_reload_conf()")
        primary.sql("DROP TABLE IF EXISTS keel_sync_probe")
    pg_pair.wait("standby is asynchronous again", lambda: _sync_state(primary) == "async")


def test_archive_only_standbys_must_not_stream_and_report_their_lag_from_the_primary_position(pg_pair, module_runner):
    """A member that is not a synchronous candidate replays from the archive (Patroni nostream). While the
    pair's standby streams, naming it archive-only is critical on both sides; once its stream is cut (as
    nostream does) it is judged by the primary's position minus its replay position."""
    primary, standby = pg_pair.primary, pg_pair.standby
    pg_pair.wait_replayed()
    rc, result, _elapsed = lag(
        module_runner, primary, expected_standbys=[STANDBY_NAME], archive_standbys=[STANDBY_NAME]
    )
    assert rc == 1 and result["status"] == "critical", result["msg"]
    assert (
        "standby '%s' streams from this server although it must replay from the archive only" % STANDBY_NAME
        in (result["msg"])
    )
    assert result["missing_standbys"] == []
    rc, result, _elapsed = lag(module_runner, standby, archive_only=True, upstream_lsn="0/0")
    assert rc == 1 and result["status"] == "critical", result["msg"]
    assert "this archive-only standby has a WAL receiver (state 'streaming')" in result["msg"]

    conninfo = standby.value("SHOW primary_conninfo")
    standby.sql("ALTER SYSTEM SET primary_conninfo = ''")
    try:
        standby.sql("SELECT pg_reload_conf()")
        pg_pair.wait(
            "the standby's WAL receiver to stop",
            lambda: standby.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0,
        )
        pg_pair.generate_wal(rows=3000)
        rc, on_primary, _elapsed = lag(
            module_runner, primary, expected_standbys=[STANDBY_NAME], archive_standbys=[STANDBY_NAME]
        )
        assert rc == 0 and on_primary["status"] == "ok", on_primary["msg"]
        assert on_primary["standbys"] == [] and on_primary["missing_standbys"] == []
        # Time thresholds far above this test's duration: the byte lag decides here.
        args = dict(
            archive_only=True,
            upstream_lsn=on_primary["current_lsn"],
            archive_timeout=60,
            warn_seconds=3600,
            crit_seconds=7200,
        )
        rc, result, _elapsed = lag(module_runner, standby, warn_bytes="64kB", **args)
        assert rc == 0 and result["status"] == "warning", result["msg"]
        own = result["receiver"]
        assert own["receiver_status"] is None and own["archive_lag_bytes"] > 64 * 1024, own
        assert "this archive-only standby archive replay lag" in result["msg"]
        rc, result, _elapsed = lag(module_runner, standby, warn_bytes="1GB", crit_bytes="2GB", **args)
        assert rc == 0 and result["status"] == "ok", result["msg"]
        # Judged as a streaming standby, the same server has no WAL receiver: critical.
        rc, result, _elapsed = lag(module_runner, standby)
        assert rc == 1 and "has no WAL receiver" in result["msg"]
    finally:
        standby.sql("ALTER SYSTEM SET primary_conninfo = %s", (conninfo,))
        standby.sql("SELECT pg_reload_conf()")
    pg_pair.wait_streaming()
    pg_pair.wait_replayed()
