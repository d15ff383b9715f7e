"""Shared fixtures for the Molecule verify step: the lab inventory, and each lab host reached as
a testinfra host through `docker exec` (the container names come from KEEL_LAB_NAME, which
Molecule's provisioner environment sets; there is no default so a test can never wander into
another lab)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import testinfra
from redislab import Lab


def _inventory():
    path = os.environ["MOLECULE_INVENTORY_FILE"]
    out = subprocess.run(
        ["ansible-inventory", "-i", os.path.dirname(path), "--list"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


INVENTORY = _inventory()
LAB_NAME = os.environ["KEEL_LAB_NAME"]
LAB_NET = os.environ["KEEL_LAB_NET"]


def pytest_generate_tests(metafunc):
    # One test per redis host for the in-container checks of redis/ (testinfra's own `host` fixture
    # would read ansible_host untemplated: "{{ keel_lab_name }}-...").
    if "redis_host" in metafunc.fixturenames:
        metafunc.parametrize("redis_host", Lab(INVENTORY).hosts, indirect=True)
    if "lab_host" in metafunc.fixturenames:
        group = getattr(metafunc.function, "lab_group", "lab")
        names = sorted(INVENTORY[group]["hosts"])
        metafunc.parametrize("lab_host", names, indirect=True, ids=names)


def on_group(group):
    """Decorator: run a lab_host test on the hosts of one inventory group only."""

    def mark(func):
        func.lab_group = group
        return func

    return mark


@pytest.fixture
def lab_host(request):
    return testinfra.get_host("docker://%s-%s" % (LAB_NAME, request.param))


@pytest.fixture(scope="session")
def inventory():
    return INVENTORY


@pytest.fixture(scope="session")
def etcd_hosts():
    hostvars = INVENTORY["_meta"]["hostvars"]
    return {h: "%s.%s" % (LAB_NET, hostvars[h]["keel_lab_host_id"]) for h in INVENTORY["etcd"]["hosts"]}


@pytest.fixture(scope="session")
def lab():
    """The Redis Cluster of the lab (redislab.Lab): its hosts, instances and a redis-cli runner."""
    return Lab(INVENTORY)


@pytest.fixture
def redis_host(request, lab):
    """testinfra host of one redis lab container, reached through the Docker backend."""
    host = testinfra.get_host("docker://%s" % lab.container(request.param))
    host.inventory_name = request.param
    return host
