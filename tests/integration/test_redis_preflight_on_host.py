"""The Redis preflight that needs the host's RAM runs in site.yml right after fact gathering.

site.yml's "Redis Cluster preflight" play (read from playbooks/site.yml, not copied) runs here
after a facts play against three inventory hosts that are this machine (connection local, no
become): maxmemory is checked against the RAM keel.postgres.host_profile measures, which the
controller preflight cannot know. Both plays only read: facts, /proc and /sys, and the role's
planner on the controller.
"""

from __future__ import annotations

import pathlib
import re
import secrets

import pytest
import yaml
from localplay import LOCAL_HOST, run_playbook, site_play

HOSTS = ("redis-a", "redis-b", "redis-c")


def _run(tmp_path, **host_vars):
    facts = dict(site_play("Gather the facts"), tasks=[])
    playbook = tmp_path / "redis-preflight.yml"
    playbook.write_text(yaml.safe_dump([facts, site_play("Redis Cluster preflight")], sort_keys=False))
    common = {
        **LOCAL_HOST,
        "keel_address": "127.0.0.1",
        "redis_cluster_admin_password": secrets.token_urlsafe(18),
        "redis_cluster_replication_password": secrets.token_urlsafe(18),
        "redis_cluster_app_password": secrets.token_urlsafe(18),
        **host_vars,
    }
    inventory = {"all": {"vars": common, "children": {"redis": {"hosts": dict.fromkeys(HOSTS)}}}}
    return run_playbook(tmp_path, inventory, playbook)


@pytest.mark.skipif(not pathlib.Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_a_maxmemory_above_the_measured_ram_is_refused_before_any_change(tmp_path):
    # 100 TB per instance: more than any host has, and the inventory does not give the RAM.
    result = _run(tmp_path, redis_cluster_maxmemory_mb=100 * 1024 * 1024)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    refusal = next(
        (line for line in result.stdout.splitlines() if "redis_cluster_maxmemory_mb=104857600 x 2" in line), ""
    )
    assert "is above the" in refusal and "lower redis_cluster_maxmemory_mb to at most" in refusal, output
    assert "Measure the memory this host may use" in result.stdout, output
    # Every host refused, nothing changed anywhere.
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", result.stdout, re.M)
    assert sorted(recap) == [(host, "0", "1") for host in HOSTS], output


@pytest.mark.skipif(not pathlib.Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_the_default_sizing_passes_on_this_host(tmp_path):
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Size maxmemory from the RAM left after PostgreSQL" in result.stdout
