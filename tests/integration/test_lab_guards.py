"""`make lab`'s create playbook stops with a one-line reason, and creates nothing, when the Docker
engine does not answer or the lab subnet is taken. Needs a Docker engine (make docker)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The ansible-playbook of the interpreter running the tests (the project venv).
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
NET = "172.28.41"


def _docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def _create(lab_name, **env):
    full_env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        KEEL_LAB_NAME=lab_name,
        KEEL_LAB_NET=NET,
        NO_COLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        **env,
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "inventories/lab", "playbooks/lab/create.yml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        check=False,
    )


def _nothing_created(lab_name):
    containers = _docker("ps", "-aq", "--filter", "label=keel.lab=%s" % lab_name).stdout.split()
    network = _docker("network", "inspect", "%s-net" % lab_name)
    return containers == [] and network.returncode != 0


@pytest.fixture
def lab_name():
    return "keelguard%s" % uuid.uuid4().hex[:6]


def test_taken_subnet_is_refused_before_anything_is_created(lab_name):
    blocker = "keel-guard-blocker-%s" % uuid.uuid4().hex[:6]
    made = _docker("network", "create", "--subnet", "%s.0/24" % NET, blocker)
    assert made.returncode == 0, made.stderr
    try:
        result = _create(lab_name)
        assert result.returncode != 0
        assert "lab subnet %s.0/24 overlaps Docker network '%s'" % (NET, blocker) in result.stdout
        assert "fix: remove that network or set KEEL_LAB_NET" in result.stdout
        assert _nothing_created(lab_name)
    finally:
        _docker("network", "rm", blocker)


def test_unreachable_engine_gives_one_line_reason(lab_name):
    result = _create(lab_name, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert result.returncode != 0
    assert "the Docker engine does not answer" in result.stdout
    assert "fix: run `make docker`" in result.stdout
    assert _nothing_created(lab_name)
