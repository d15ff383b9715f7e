"""playbooks/check_replication.yml against the local pair (ansible-playbook, local connection)."""

import json
import os
import subprocess
import sys

from pgpair import ROOT, STANDBY_NAME


def write_inventory(pg_pair, directory, **platform):
    common = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "keel_pg_socket_dir": pg_pair.base,
        "keel_pg_monitor_become": False,
        **platform,
    }
    inventory = {
        "all": {
            "vars": common,
            "children": {
                "postgres": {
                    "hosts": {
                        "primary1": {"keel_region": "us-east-1", "keel_pg_port": pg_pair.primary.port},
                        STANDBY_NAME: {"keel_region": "us-west-2", "keel_pg_port": pg_pair.standby.port},
                    }
                },
                "postgres_dr": {"hosts": {}},
            },
        }
    }
    path = os.path.join(directory, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle)
    return path


def run_playbook(inventory, *extra):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=os.path.join(os.path.dirname(inventory), "ansible-tmp"),
    )
    playbook = os.path.join(ROOT, "playbooks", "check_replication.yml")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook]
    return subprocess.run(
        cmd + list(extra), capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False
    )


def test_healthy_pair_passes_and_prints_regions(pg_pair, tmp_path):
    pg_pair.wait_replayed()
    result = run_playbook(write_inventory(pg_pair, str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "== us-east-1 ==" in out and "== us-west-2 ==" in out
    assert "primary1" in out and "primary  lag ok" in out
    assert "standby  lag ok" in out


def test_missing_standby_fails_the_play(pg_pair, tmp_path):
    result = run_playbook(write_inventory(pg_pair, str(tmp_path)), "-e", '{"keel_pg_expected_standbys": ["ghost"]}')
    assert result.returncode == 2, result.stdout + result.stderr
    assert "lag critical" in result.stdout
    assert "expected standby 'ghost' is not connected" in result.stdout
    assert "primary1 (us-east-1) breaches fail_on=critical" in result.stdout


def test_a_never_promoted_standby_confirming_commits_fails_the_play(pg_pair, tmp_path):
    """The region model makes the pair's standby nosync and never promoted; strict mode's '*' lets it
    confirm commits: the playbook must say so and fail on the primary."""
    regions = {
        "keel_regions": {
            "us-east-1": {"sync": True, "failover_priority": 3},
            "us-west-2": {"sync": False, "failover_priority": 0},
        }
    }
    inventory = write_inventory(pg_pair, str(tmp_path))
    primary = pg_pair.primary
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
    try:
        primary.sql("SELECT pg_reload_conf()")
        pg_pair.wait("standby is synchronous", lambda: primary.value(
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1)  # fmt: skip
        result = run_playbook(inventory, "-e", json.dumps(regions))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "primary1 (us-east-1) breaches fail_on=critical" in result.stdout
        assert "standby '%s' is not a synchronous candidate (none)" % STANDBY_NAME in result.stdout
        # declared a candidate, the same state passes
        result = run_playbook(inventory, "-e", json.dumps(dict(regions, keel_pg_sync_candidates=[STANDBY_NAME])))
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        primary.sql("ALTER SYSTEM RESET synchronous_standby_names")
        primary.sql("SELECT pg_reload_conf()")
    pg_pair.wait("standby is asynchronous again", lambda: primary.value(
        "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'async'") == 1)  # fmt: skip


def test_a_member_that_must_replay_from_the_archive_but_streams_fails_both_sides(pg_pair, tmp_path):
    """The region model makes the standby's region never synchronous: under strict mode with
    keel_archive_only_replicas it must replay from the archive only (Patroni nostream). The pair's
    standby streams: the primary reports its walsender, the standby its WAL receiver, both critical."""
    pg_pair.wait_replayed()
    regions = {
        "us-east-1": {"sync": True, "failover_priority": 3},
        "us-west-2": {"sync": False, "failover_priority": 0},
    }
    opted = dict(keel_regions=regions, keel_synchronous_mode_strict=True, keel_archive_only_replicas=True)
    inventory = write_inventory(pg_pair, str(tmp_path), **opted)
    result = run_playbook(inventory)
    assert result.returncode == 2, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "standby '%s' streams from this server although it must replay from the archive only" % STANDBY_NAME in out
    assert "this archive-only standby has a WAL receiver (state 'streaming')" in out
    assert "Measure replay from the archive" in result.stdout
    # Not strict: nothing can make it confirm commits, so it may stream.
    relaxed = write_inventory(pg_pair, str(tmp_path), **dict(opted, keel_synchronous_mode_strict=False))
    result = run_playbook(relaxed)
    assert result.returncode == 0, result.stdout + result.stderr
