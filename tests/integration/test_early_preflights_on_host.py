"""site.yml runs the TLS, etcd and Patroni preflights right after fact gathering, before any change.

Their plays used to start only after other roles had changed hosts (tls after os, Patroni after
PostgreSQL and pgBackRest). The "TLS, etcd and Patroni preflight" play of playbooks/site.yml (read
from the file, not copied) runs here after a facts play against three inventory hosts that are this
machine (connection local, no become); a member fenced by playbooks/dr_promote.yml is refused there.
Both plays only read. The plays are tagged always, so a run narrowed with --tags is refused too.
"""

from __future__ import annotations

import re
import secrets

import pytest
import yaml
from localplay import LOCAL_HOST, run_playbook, site_play

HOSTS = ("pg-a", "pg-b", "pg-c")


def _run(tmp_path, fenced=(), extra_args=()):
    facts = dict(site_play("Gather the facts"), tasks=[])
    playbook = tmp_path / "early-preflights.yml"
    playbook.write_text(yaml.safe_dump([facts, site_play("TLS, etcd and Patroni preflight")], sort_keys=False))
    hosts = {}
    for host in HOSTS:
        config_dir = tmp_path / host
        config_dir.mkdir()
        if host in fenced:
            (config_dir / "FENCED").write_text("fenced by a test\n")
        hosts[host] = {"patroni_config_dir": str(config_dir)}
    common = {
        **LOCAL_HOST,
        "keel_address": "127.0.0.1",
        "keel_cluster_name": "early",
        "keel_postgresql_manager": "patroni",
        "keel_tls_ca_dir": str(tmp_path / "ca"),
        **{
            name: secrets.token_urlsafe(18)
            for name in (
                "keel_etcd_root_password",
                "keel_etcd_patroni_password",
                "keel_patroni_superuser_password",
                "keel_patroni_replication_password",
                "keel_patroni_rewind_password",
                "keel_patroni_restapi_password",
            )
        },
    }
    groups = {"etcd": {"hosts": dict.fromkeys(HOSTS)}, "postgres": {"hosts": dict.fromkeys(HOSTS)}}
    return run_playbook(tmp_path, {"all": {"vars": common, "hosts": hosts, "children": groups}}, playbook, *extra_args)


@pytest.mark.parametrize("extra_args", [(), ("--tags", "patroni_configure,etcd_configure")], ids=["all", "tags"])
def test_a_fenced_member_is_refused_before_any_change(tmp_path, extra_args):
    # A run narrowed with --tags to role tags still runs the preflight plays (tagged always).
    result = _run(tmp_path, fenced=("pg-b",), extra_args=extra_args)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "pg-b was fenced by playbooks/dr_promote.yml" in result.stdout, output
    assert not re.search(r"^fatal: \[pg-[ac]\]", result.stdout, re.M), output
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", result.stdout, re.M)
    assert sorted(recap) == [("pg-a", "0", "0"), ("pg-b", "0", "1"), ("pg-c", "0", "0")], output


def test_the_three_preflights_pass_on_good_variables(tmp_path):
    result = _run(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for task in ("Refuse lifetimes shorter", "Refuse bad raft timing or ports", "Refuse Patroni timings"):
        assert task in result.stdout, output
