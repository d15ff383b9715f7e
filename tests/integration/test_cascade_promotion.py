"""What PostgreSQL does to a cascading standby when its upstream is promoted (issue 17's design).

The question: if members that must never confirm a synchronous commit (a `nosync` replica, the DR
standby cluster) stream from a synchronous standby instead of from the leader (Patroni's
`replicatefrom`), are they kept out of strict mode's `synchronous_standby_names = '*'` window?

Measured here on a real PostgreSQL 15 chain primary -> standby -> cascade, with the standby
configured with '*' (what Patroni's strict mode sets on a new leader): while the standby is in
recovery its cascading walsender has sync_priority 0 and confirms nothing; once the standby is
promoted, the SAME walsender (same pid, the connection survives the promotion) becomes
`sync_state = sync` and confirms the new leader's first commit. So cascading from a synchronous
candidate does NOT close the window: a member that can never be promoted still holds commits
acknowledged right after a failover. keel.postgres.replication_lag with sync_candidates flags it.
"""

from __future__ import annotations

import os

from pgpair import Server, free_port, pg, running_pair

CASCADE_NAME = "cascade1"


def _walsenders(server):
    return server.sql(
        "SELECT application_name, sync_state, sync_priority, pid FROM pg_stat_replication ORDER BY application_name"
    )


def test_a_cascading_standby_confirms_commits_once_its_upstream_is_promoted(module_runner):
    with running_pair() as pair:
        standby = pair.standby
        cascade = Server("cascade", pair.base, free_port())
        pg("pg_basebackup", "-D", cascade.datadir, "-R", "-X", "stream", "-c", "fast",
           "-h", pair.base, "-p", str(standby.port), "-U", "postgres")  # fmt: skip
        cascade.append_conf(["port = %d" % cascade.port, "cluster_name = '%s'" % CASCADE_NAME])
        # After what pg_basebackup -R wrote (the standby's own slot, which does not exist upstream).
        with open(os.path.join(cascade.datadir, "postgresql.auto.conf"), "a") as auto:
            auto.write(
                "primary_slot_name = ''\nprimary_conninfo = 'host=%s port=%d user=postgres application_name=%s'\n"
                % (pair.base, standby.port, CASCADE_NAME)
            )
        cascade.start()
        try:
            pair.wait("cascade streaming from the standby", lambda: len(_walsenders(standby)) == 1)
            standby.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
            standby.sql("SELECT pg_reload_conf()")
            pair.wait("reload on the standby", lambda: standby.value("SHOW synchronous_standby_names") == "*")
            [(name, state, priority, pid_before)] = _walsenders(standby)
            assert (name, state, priority) == (CASCADE_NAME, "async", 0)

            pair.primary.stop()
            pg("pg_ctl", "-D", standby.datadir, "-w", "promote")
            pair.wait("standby promoted", lambda: standby.value("SELECT NOT pg_is_in_recovery()"))
            pair.wait("cascade synchronous on the new primary", lambda: _walsenders(standby)[0][1] == "sync")
            [(name, state, priority, pid_after)] = _walsenders(standby)
            assert (name, state, priority) == (CASCADE_NAME, "sync", 1)
            assert pid_after == pid_before, "the cascade's connection survived the promotion"
            # The new primary's first commit is confirmed by the cascade: under '*' it returns only once a
            # walsender flushed it, and the cascade is the only walsender there is.
            standby.sql("CREATE TABLE keel_after_promotion (id int); INSERT INTO keel_after_promotion VALUES (1)")

            rc, result, _elapsed = module_runner(
                "replication_lag", dict(standby.conninfo(), sync_candidates=["some-sync-candidate"])
            )
            assert rc == 1 and result["status"] == "critical", result
            assert "standby '%s' is not a synchronous candidate" % CASCADE_NAME in result["msg"]
        finally:
            cascade.stop()
