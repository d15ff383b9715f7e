"""Playbooks run against inventory hosts that are this machine (connection local, no become).

Used by the tests that run role preflights or site.yml's early plays on the controller itself
(test_early_preflights_on_host.py, test_redis_preflight_on_host.py, test_role_secret_policy.py):
one place for the host variables, the reading of site.yml's plays and the ansible-playbook call.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
# What makes an inventory host this machine, run by this Python, as the current user.
LOCAL_HOST = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_become": False}


def site_play(name_start):
    """The play of playbooks/site.yml whose name starts with name_start (read, not copied)."""
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    return next(play for play in plays if play["name"].startswith(name_start))


def run_playbook(directory, inventory, playbook, *args, timeout=300):
    """Write the inventory (a dict) to directory/hosts.yml and run the playbook with the repository's
    ansible.cfg; returns the CompletedProcess (output as text, never raises on failure)."""
    path = pathlib.Path(directory) / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(path), str(playbook), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=timeout,
    )
