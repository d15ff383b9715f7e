"""Tests for the keel.postgres.pg_tune and pg_tune_settings filters."""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.filter import pg_tune as full_plugin
from ansible_collections.keel.postgres.plugins.filter import pg_tune_settings as flat_plugin

GiB = 1024**3
PLUGINS = {"pg_tune": full_plugin, "pg_tune_settings": flat_plugin}
FILTERS = {**full_plugin.FilterModule().filters(), **flat_plugin.FilterModule().filters()}
PROFILE = {
    "effective_memory_bytes": 8 * GiB,
    "effective_cpus": 4,
    "storage_class": "ssd",
    "data_volume_size_bytes": 200 * GiB,
    "hugepage_size_bytes": 2 * 1024**2,
    "container": None,
}


@pytest.mark.parametrize("name", ["pg_tune", "pg_tune_settings"])
def test_each_file_registers_only_its_own_filter(name):
    """One filter per file, so ansible-doc shows each filter its own DOCUMENTATION."""
    assert list(PLUGINS[name].FilterModule().filters()) == [name]


def test_pg_tune_returns_settings_with_reasons_and_summary():
    result = FILTERS["pg_tune"](PROFILE, "oltp", 15, 150, reserved_memory_bytes=GiB, replicas=3)
    assert result["settings"]["max_connections"]["value"] == 163
    assert result["settings"]["shared_buffers"]["value"] == "1792MB"  # 25% of 8GB - 1GB reserved
    assert all(item["reason"] for item in result["settings"].values())
    summary = result["summary"]
    assert summary["memory_commitment"]["total"] <= PROFILE["effective_memory_bytes"]
    assert summary["memory_commitment"]["reserved"] == GiB


def test_pg_tune_settings_is_the_flat_view_of_pg_tune():
    full = FILTERS["pg_tune"](PROFILE, "web", 16, 80, overrides={"shared_buffers": "1GB"})
    flat = FILTERS["pg_tune_settings"](PROFILE, "web", 16, 80, overrides={"shared_buffers": "1GB"})
    assert list(flat) == list(full["settings"])
    assert flat == {name: item["value"] for name, item in full["settings"].items()}
    assert flat["shared_buffers"] == "1GB"


@pytest.mark.parametrize(
    "args, kwargs, text",
    [
        (
            ("oltp", 15, 100000),
            {},
            "connection_budget: 100013 connections (connection budget 100000 + 3 superuser-reserved",
        ),
        (("olap",), {}, "workload: unknown workload 'olap'"),
        (("oltp", 11), {}, "pg_version"),
        (("oltp", 15, 100), {"overrides": {"work_mem": "16kB"}}, "overrides.work_mem"),
        (("oltp", 15, 100), {"reserved_memory_bytes": -1}, "reserved_memory_bytes: must not be negative"),
    ],
)
@pytest.mark.parametrize("name", ["pg_tune", "pg_tune_settings"])
def test_sizing_errors_become_filter_errors(name, args, kwargs, text):
    with pytest.raises(AnsibleFilterError, match="^pg_tune: ") as error:
        FILTERS[name](PROFILE, *args, **kwargs)
    assert text in str(error.value)


def test_profile_override_through_combine_changes_the_result():
    san = FILTERS["pg_tune_settings"](dict(PROFILE, storage_class="san"), "mixed")
    assert san["effective_io_concurrency"] == 300


@pytest.mark.parametrize("name", ["pg_tune", "pg_tune_settings"])
def test_documented_options_match_the_signature(name):
    module, function = PLUGINS[name], FILTERS[name]
    documentation = yaml.safe_load(module.DOCUMENTATION)
    assert documentation["name"] == name
    code = function.__code__
    parameters = list(code.co_varnames[1 : code.co_argcount])
    assert set(documentation["options"]) - {"_input"} == set(parameters)
    assert [item.strip() for item in documentation["positional"].split(",")] == parameters[:3]
    for option, default in zip(parameters, function.__defaults__, strict=True):
        assert documentation["options"][option]["default"] == (default if default is not None else {}), option
    assert "_value" in yaml.safe_load(module.RETURN)
    assert yaml.safe_load(module.EXAMPLES)
