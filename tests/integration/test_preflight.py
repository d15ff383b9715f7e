"""The preflight play refuses a bad inventory on the controller, before any host is contacted.

The inventories here name hosts that do not exist: reaching one would fail differently.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The ansible-playbook of the interpreter running the tests (the project venv).
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")


def _run_preflight(tmp_path, inventory):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inv), str(ROOT / "playbooks" / "preflight.yml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )


def _inventory(etcd_hosts, dr=("dr1",), extra_postgres=()):
    hosts = {h: {"keel_region": "r-%s" % h, "keel_address": "10.9.0.%d" % i} for i, h in enumerate(etcd_hosts, 1)}
    for i, h in enumerate(dr, 50):
        hosts[h] = {"keel_region": "dr-site", "keel_address": "10.9.0.%d" % i}
    return {
        "all": {
            "vars": {"keel_cluster_name": "c1", "keel_dr_cluster_name": "c1-dr"},
            "children": {
                "etcd": {"hosts": {h: hosts[h] for h in etcd_hosts}},
                "postgres": {"hosts": {h: None for h in list(etcd_hosts) + list(extra_postgres)}},
                "postgres_dr": {"hosts": {h: hosts[h] for h in dr}},
            },
        }
    }


def test_accepts_the_lab_shape(tmp_path):
    result = _run_preflight(tmp_path, _inventory(["e1", "e2", "e3"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inventory topology accepted (4 hosts)" in result.stdout


def test_refuses_an_even_etcd_count(tmp_path):
    result = _run_preflight(tmp_path, _inventory(["e1", "e2", "e3", "e4"]))
    assert result.returncode != 0
    assert "group 'etcd' has 4 members (e1, e2, e3, e4)" in result.stdout
    assert "use an odd number" in result.stdout


def test_refuses_a_host_in_both_clusters(tmp_path):
    result = _run_preflight(tmp_path, _inventory(["e1", "e2", "e3"], extra_postgres=["dr1"]))
    assert result.returncode != 0
    assert "dr1 are in both 'postgres' and 'postgres_dr'" in result.stdout
