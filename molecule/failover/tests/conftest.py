"""The failover scenario reuses the default scenario's verify code instead of copying it: its
conftest (the lab inventory, `lab_host`, `on_group`) is loaded here under another module name and
re-exported, and its directory goes on sys.path so that `labclient` imports as usual (labclient's
`from conftest import ...` then finds this module, which carries the same names)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

DEFAULT_TESTS = pathlib.Path(__file__).resolve().parents[2] / "default" / "tests"
_SPEC = importlib.util.spec_from_file_location("keel_default_conftest", DEFAULT_TESTS / "conftest.py")
_DEFAULT = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = _DEFAULT
_SPEC.loader.exec_module(_DEFAULT)
if str(DEFAULT_TESTS) not in sys.path:
    sys.path.append(str(DEFAULT_TESTS))

INVENTORY = _DEFAULT.INVENTORY
LAB_NAME = _DEFAULT.LAB_NAME
LAB_NET = _DEFAULT.LAB_NET
on_group = _DEFAULT.on_group
pytest_generate_tests = _DEFAULT.pytest_generate_tests
lab_host = _DEFAULT.lab_host
inventory = _DEFAULT.inventory
etcd_hosts = _DEFAULT.etcd_hosts
