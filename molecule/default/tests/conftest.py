"""Shared fixtures for the Molecule verify step: the lab inventory, read through Ansible."""

from __future__ import annotations

import json
import os
import subprocess

import pytest


def _inventory():
    path = os.environ["MOLECULE_INVENTORY_FILE"]
    out = subprocess.run(
        ["ansible-inventory", "-i", os.path.dirname(path), "--list"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_CONFIG": os.environ.get("ANSIBLE_CONFIG", "")},
    ).stdout
    return json.loads(out)


@pytest.fixture(scope="session")
def inventory():
    return _inventory()


@pytest.fixture(scope="session")
def lab_net():
    return os.environ.get("KEEL_LAB_NET", "172.28.10")


@pytest.fixture(scope="session")
def etcd_hosts(inventory, lab_net):
    hostvars = inventory["_meta"]["hostvars"]
    return {h: "%s.%s" % (lab_net, hostvars[h]["keel_lab_host_id"]) for h in inventory["etcd"]["hosts"]}
