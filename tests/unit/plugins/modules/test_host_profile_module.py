"""Run the host_profile module's main() against a fixture root and check the JSON it prints."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.keel.postgres.plugins.modules import host_profile as module

GiB = 1024**3


def write(root, path, text):
    target = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(text)


def container_root(root, mem_total, limit):
    """A cgroup v2 container with a private namespace, overlay root and 4 CPUs."""
    write(root, "/proc/meminfo", "MemTotal: %d kB\nHugePages_Total: 0\nHugepagesize: 2048 kB\n" % (mem_total // 1024))
    write(root, "/sys/devices/system/cpu/online", "0-3\n")
    write(root, "/proc/self/status", "Cpus_allowed_list:\t0-3\n")
    write(
        root,
        "/proc/self/mountinfo",
        "500 1 0:52 / / rw - overlay overlay rw\n501 500 0:26 / /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n",
    )
    write(root, "/proc/self/cgroup", "0::/\n")
    write(root, "/sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
    write(root, "/sys/fs/cgroup/memory.max", "%d\n" % limit)
    write(root, "/sys/fs/cgroup/cpu.max", "150000 100000\n")
    write(root, "/.dockerenv", "")


def run_module(args, capsys):
    """Run main() with ``args``; return the parsed JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        module.main()
    result = json.loads(capsys.readouterr().out)
    return exit_info.value.code, result


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_returns_profile_and_fact(tmp_path, capsys, check_mode):
    container_root(tmp_path, 16 * GiB, 3 * GiB)
    args = {"root": str(tmp_path), "data_directory": "/var/lib/postgresql/15/main", "_ansible_check_mode": check_mode}
    code, result = run_module(args, capsys)
    assert code == 0
    assert result["changed"] is False
    profile = result["profile"]
    assert result["ansible_facts"]["keel_host_profile"] == profile
    assert profile["effective_memory_bytes"] == 3 * GiB
    assert profile["cgroup_version"] == 2
    assert profile["effective_cpus"] == 2
    assert profile["container"] == "docker"
    assert profile["storage_class"] == "unknown"
    assert profile["data_directory"] == "/var/lib/postgresql/15/main"


def test_module_fails_cleanly_without_meminfo(tmp_path, capsys):
    code, result = run_module({"root": str(tmp_path)}, capsys)
    assert code == 1
    assert result["failed"] is True
    assert "MemTotal" in result["msg"]


def test_documented_return_keys_match_the_profile(tmp_path, capsys):
    """RETURN must document every key the module returns (and nothing else)."""
    import yaml

    container_root(tmp_path, 8 * GiB, 2 * GiB)
    _rc, result = run_module({"root": str(tmp_path)}, capsys)
    documented = yaml.safe_load(module.RETURN)["profile"]["contains"]
    assert set(documented) == set(result["profile"])
    for key, spec in documented.items():
        assert "sample" in spec and "type" in spec, key
