"""Every class of bad inventory is refused by the controller preflight, before any host is contacted.

Each case runs the real ``ansible-playbook site.yml`` against a copy of inventories/lab (one case
against inventories/example) with one mistake, and with every host made unreachable (SSH to a
name under .invalid, which never resolves): a run that is not refused on the controller shows up
as UNREACHABLE hosts in the PLAY RECAP. The control cases (no mistake) prove exactly that.

The preflight play targets ``all`` (so that ``--limit`` cannot skip it) and runs each task once,
delegated to localhost: the PLAY RECAP names the first host of the run with ``unreachable=0``, every
task result reads ``[<host> -> localhost]``, and no later play starts. Some cases run with
``--limit`` on one host, also one that is not where the mistake is: the whole inventory is still
checked.

The runs are independent, so they run in a thread pool once for the module; each case is then its
own pytest test that reads its result.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import time

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
SITE = str(ROOT / "site.yml")
LAB = ROOT / "inventories" / "lab"
EXAMPLE = ROOT / "inventories" / "example"
UNREACHABLE = {
    "ansible_connection": "ssh",
    "ansible_host": "{{ inventory_hostname }}.keel-unreachable.invalid",
    "ansible_ssh_common_args": "-o ConnectTimeout=2",
}
LAB_REGIONS = {
    "us-east-1": {"sync": True, "failover_priority": 3},
    "us-west-2": {"sync": True, "failover_priority": 2},
    "eu-west-1": {"sync": True, "failover_priority": 2},
    "ap-south-1": {"sync": False, "failover_priority": 0},
    "dr-site": {"failover_priority": 1},
}


def _regions(**changes):
    regions = dict(LAB_REGIONS)
    for old, new in changes.items():
        regions[new] = regions.pop(old.replace("_", "-"))
    return regions


# (case id, variable the refusal must name, extra vars, host_vars files, base inventory)
CASES = [
    ("secret-too-short", "keel_patroni_superuser_password", {"keel_patroni_superuser_password": "short"}, {}),
    ("secret-common-password", "keel_patroni_restapi_password", {"keel_patroni_restapi_password": "Password123!"}, {}),
    ("secret-example-placeholder", "keel_etcd_root_password", {"keel_etcd_root_password": "CHANGE-ME"}, {}),
    (
        "secret-user-name-as-password",
        "keel_pgbouncer_admin_users[0]",
        {"keel_pgbouncer_admin_users": [{"name": "pgbouncer_admin_x", "password": "pgbouncer_admin_x"}]},
        {},
    ),
    ("secret-redis-too-short", "redis_cluster_app_password", {"redis_cluster_app_password": "fourteen-chars"}, {}),
    (
        "secret-cipher-pass-too-short",
        "keel_pgbackrest_cipher_pass",
        {"keel_pgbackrest_cipher_pass": "nineteen-characters"},
        {},
    ),
    ("secret-ca-passphrase-common", "tls_ca_key_passphrase", {"tls_ca_key_passphrase": "letmein"}, {}),
    ("secret-pgbouncer-auth-missing", "keel_pgbouncer_auth_password", {"keel_pgbouncer_auth_password": ""}, {}),
    ("secret-s3-key-secret-missing", "keel_pgbackrest_s3_key_secret", {"keel_pgbackrest_s3_key_secret": ""}, {}),
    (
        "user-empty-password",
        "postgresql_users[0] (app_user).password",
        {"postgresql_users": [{"name": "app_user", "kind": "app_rw", "database": "app", "password": ""}]},
        {},
    ),
    (
        "user-unknown-kind",
        "postgresql_users[0] (app_user): kind='superuser'",
        {"postgresql_users": [{"name": "app_user", "kind": "superuser", "password": secrets.token_urlsafe(18)}]},
        {},
    ),
    (
        "user-duplicate-name",
        "postgresql_users: user names must be unique",
        {"postgresql_users": [{"name": "monitor", "kind": "monitoring", "password": secrets.token_urlsafe(18)}] * 2},
        {},
    ),
    (
        "hba-trust",
        "postgresql_hba_rules[0]",
        {
            "postgresql_hba_rules": [
                {"type": "hostssl", "database": "all", "user": "all", "address": "10.0.0.0/8", "method": "trust"}
            ]
        },
        {},
    ),
    (
        "hba-without-tls",
        "postgresql_hba_rules[0]",
        {
            "postgresql_hba_rules": [
                {"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/8", "method": "scram-sha-256"}
            ]
        },
        {},
    ),
    ("pools-over-budget", "keel_connection_budget=50", {"keel_connection_budget": 50}, {}),
    (
        "pool-undeclared-database",
        "keel_pgbouncer_pools[nosuch]",
        {"keel_pgbouncer_pools": [{"database": "nosuch", "pool_size": 5, "max_db_connections": 10}]},
        {},
    ),
    (
        "pgbouncer-unknown-setting",
        "pgbouncer_extra_settings.no_such_setting",
        {"pgbouncer_extra_settings": {"no_such_setting": 1}},
        {},
    ),
    ("backup-bad-bucket", "keel_pgbackrest_s3_bucket", {"keel_pgbackrest_s3_bucket": "Bad_Bucket"}, {}),
    ("backup-retention-zero", "pgbackrest_retention_full", {"pgbackrest_retention_full": 0}, {}),
    ("backup-unencrypted-in-compliance-mode", "pgbackrest_cipher_type", {"pgbackrest_cipher_type": "none"}, {}),
    ("redis-layout", "redis_cluster_replicas", {"redis_cluster_replicas": 3}, {}),
    (
        "redis-memory",
        "redis_cluster_memory_total_mb",
        {},
        {"pg-use1": {"redis_cluster_memory_total_mb": 1024, "redis_cluster_maxmemory_mb": 2048}},
    ),
    ("redis-user-clash", "redis_cluster_app_user", {"redis_cluster_app_user": "admin"}, {}),
    ("version-disagreement", "postgresql_version", {"postgresql_version": 16}, {}),
    ("version-unsupported", "keel_postgresql_version", {"keel_postgresql_version": 12}, {}),
    ("member-name-duplicate", "patroni_name", {}, {"pg-dr1": {"patroni_name": "pg-use1"}}),
    ("region-key-typo", "keel_regions['us-wset-2']", {"keel_regions": _regions(us_west_2="us-wset-2")}, {}),
    (
        "host-region-typo",
        "keel_regions has no entry for region 'ap-sout-1'",
        {},
        {"pg-aps1": {"keel_region": "ap-sout-1"}},
    ),
    ("sync-count-too-high", "keel_synchronous_node_count", {"keel_synchronous_node_count": 3}, {}),
    ("sync-mode-unquoted-on", "keel_synchronous_mode", {"keel_synchronous_mode": True}, {}),
    ("dr-scope-equals-primary", "keel_dr_cluster_name", {"keel_dr_cluster_name": "keel-lab"}, {}),
    ("address-duplicate", "keel_address", {}, {"pg-usw2": {"keel_lab_host_id": 11}}),
    # Timings and lifetimes the Patroni, etcd and tls role preflights would refuse on the hosts.
    ("patroni-timings", "patroni_retry_timeout=10", {"patroni_retry_timeout": 10}, {}),
    ("etcd-election-timeout", "etcd_election_timeout=300", {"etcd_election_timeout": 300}, {}),
    ("tls-renew-window", "tls_renew_days=400", {"tls_renew_days": 400}, {}),
    # Redis sizes the inventory gives, checked without the host's RAM.
    ("redis-fraction-out-of-range", "redis_cluster_maxmemory_fraction", {"redis_cluster_maxmemory_fraction": 1.5}, {}),
    (
        "redis-maxmemory-not-a-number",
        "redis_cluster_maxmemory_mb",
        {},
        {"pg-usw2": {"redis_cluster_maxmemory_mb": "2g"}},
    ),
]
# (case id, variable, extra vars, host_vars files, --limit): a bad inventory run on one host.
LIMIT_CASES = [
    (
        "limit-one-host-weak-secret",
        "keel_patroni_superuser_password",
        {"keel_patroni_superuser_password": "short"},
        {},
        "pg-use1",
    ),
    (
        "limit-another-host-redis-memory",
        "redis_cluster_memory_total_mb",
        {},
        {"pg-use1": {"redis_cluster_memory_total_mb": 1024, "redis_cluster_maxmemory_mb": 2048}},
        "pg-aps1",
    ),
    ("limit-another-host-member-name", "patroni_name", {}, {"pg-dr1": {"patroni_name": "pg-use1"}}, "pg-euw1"),
    (
        "limit-dr-host-region-key-typo",
        "keel_regions['us-wset-2']",
        {"keel_regions": _regions(us_west_2="us-wset-2")},
        {},
        "pg-dr1",
    ),
]
PREFLIGHT_PLAY = "Preflight - validate the platform inventory"
# The lab's lab-only values in an inventory that is not the lab's (the example, with a vault of random values).
EXAMPLE_CASE = ("secret-lab-value-outside-the-lab", "keel_patroni_rewind_password")


def _inventory(base, tmp, name, host_vars):
    inventory = tmp / name
    shutil.copytree(base, inventory, ignore=shutil.ignore_patterns("vault.yml.example"))
    (inventory / "group_vars" / "all" / "zz_unreachable.yml").write_text(yaml.safe_dump(UNREACHABLE))
    if host_vars:
        (inventory / "host_vars").mkdir()
        for host, values in host_vars.items():
            (inventory / "host_vars" / ("%s.yml" % host)).write_text(yaml.safe_dump(values))
    return inventory


def _example_vault(inventory):
    template = yaml.safe_load((EXAMPLE / "group_vars" / "all" / "vault.yml.example").read_text())
    values = {name: secrets.token_urlsafe(24) for name in template}
    values["vault_patroni_rewind_password"] = "lab-only-pg-rewinder-not-secret"
    (inventory / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(values))


def _run(inventory, extra_vars, limit=None):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_TIMEOUT="3",
        NO_COLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    argv = [ANSIBLE_PLAYBOOK, "-i", str(inventory), SITE]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if limit:
        argv += ["--limit", limit]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, check=False, timeout=300)
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case's ansible-playbook run, in parallel; case id -> (CompletedProcess, seconds)."""
    tmp = tmp_path_factory.mktemp("refusals")
    jobs = {}
    for case_id, _variable, extra_vars, host_vars in CASES:
        jobs[case_id] = (_inventory(LAB, tmp, case_id, host_vars), extra_vars)
    for case_id, _variable, extra_vars, host_vars, limit in LIMIT_CASES:
        jobs[case_id] = (_inventory(LAB, tmp, case_id, host_vars), extra_vars, limit)
    jobs["control-lab-unchanged"] = (_inventory(LAB, tmp, "control", {}), {})
    jobs["control-limit"] = (_inventory(LAB, tmp, "control-limit", {}), {}, "pg-aps1")
    example = _inventory(EXAMPLE, tmp, EXAMPLE_CASE[0], {})
    _example_vault(example)
    jobs[EXAMPLE_CASE[0]] = (example, {})
    workers = max(2, min(8, (os.cpu_count() or 2) * 2))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {case_id: pool.submit(_run, *job) for case_id, job in jobs.items()}
        return {case_id: future.result() for case_id, future in futures.items()}


def _recap(output):
    """PLAY RECAP as host -> {ok: n, changed: n, unreachable: n, failed: n, ...}."""
    recap = output.split("PLAY RECAP", 1)[-1]
    return {
        host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
        for host, counts in re.findall(r"^(\S+)\s+: (ok=.*)$", recap, re.M)
    }


def _recap_hosts(output):
    return list(_recap(output))


def _plays(output):
    return re.findall(r"^PLAY \[(.*)\] \*", output, re.M)


def _assert_refused_on_the_controller(result, variable, limit=None):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "UNREACHABLE" not in output, output
    # The preflight play is the only one that started: no play after it reached a host.
    assert _plays(result.stdout) == [PREFLIGHT_PLAY], output
    # One host in the recap (the first of the run, which carries the run_once results), never unreachable.
    recap = _recap(result.stdout)
    assert len(recap) == 1, output
    host, counts = next(iter(recap.items()))
    assert counts["unreachable"] == 0 and counts["failed"] == 1, output
    if limit:
        assert host == limit, output
    # Every task ran on the controller: each result is [<host> -> localhost...].
    results = re.findall(r"^(?:ok|changed|failed|fatal): \[([^\]]*)\]", result.stdout, re.M)
    assert results, output
    assert all(name.startswith(host + " -> localhost") for name in results), output
    assert re.search(r"^fatal: \[%s -> localhost" % re.escape(host), result.stdout, re.M), output
    message = next((line for line in result.stdout.splitlines() if "inventory refused: " in line), "")
    assert variable in message, output
    return message


@pytest.mark.parametrize("case_id, variable", [(case[0], case[1]) for case in CASES] + [EXAMPLE_CASE])
def test_refused_on_the_controller(runs, case_id, variable):
    result, _seconds = runs[case_id]
    _assert_refused_on_the_controller(result, variable)


@pytest.mark.parametrize("case_id, variable, limit", [(case[0], case[1], case[4]) for case in LIMIT_CASES])
def test_refused_on_the_controller_under_limit(runs, case_id, variable, limit):
    """--limit to one host (also one that is not where the mistake is) still checks the whole inventory."""
    result, _seconds = runs[case_id]
    _assert_refused_on_the_controller(result, variable, limit)


def test_the_unchanged_lab_under_limit_is_accepted_and_contacts_only_that_host(runs):
    result, _seconds = runs["control-limit"]
    output = result.stdout + result.stderr
    assert _plays(result.stdout)[0] == PREFLIGHT_PLAY, output
    assert "inventory topology accepted (5 hosts)" in result.stdout, output
    recap = _recap(result.stdout)
    assert list(recap) == ["pg-aps1"], output
    assert recap["pg-aps1"]["unreachable"] == 1, output


def test_the_preflight_play_can_contact_no_host():
    """Structure of playbooks/preflight.yml that keeps every task on the controller under any --limit."""
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())
    assert len(plays) == 1
    play = plays[0]
    assert play["hosts"] == "all" and play["gather_facts"] is False and play["run_once"] is True
    assert play["any_errors_fatal"] is True and "always" in play["tags"]
    assert not {"pre_tasks", "post_tasks", "roles", "handlers"} & set(play)
    assert len(play["tasks"]) == 1
    block = play["tasks"][0]
    assert block["delegate_to"] == "localhost" and block["become"] is False
    assert block["block"] and not {"rescue", "always"} & set(block)
    for task in block["block"]:
        # Nothing inside the block may point elsewhere, run per host or hide its message.
        assert not {"delegate_to", "run_once", "connection", "block", "no_log"} & set(task), task["name"]


def test_site_runs_the_redis_preflight_after_facts_and_before_any_change():
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    names = [play["name"] for play in plays]
    facts = names.index("Gather the facts of every host once")
    baseline = names.index("Operating system baseline")
    redis = next(i for i, play in enumerate(plays) if play.get("hosts") == "redis")
    assert facts < redis < baseline
    play = plays[redis]
    assert play["any_errors_fatal"] is True and play["gather_facts"] is False
    include = play["tasks"][0]["ansible.builtin.include_role"]
    assert include == {"name": "keel.postgres.redis_cluster", "tasks_from": "preflight.yml"}
    # Every play between facts and the first role that changes hosts only runs preflights.
    for play in plays[facts + 1 : baseline]:
        for task in play["tasks"]:
            assert task["ansible.builtin.include_role"]["tasks_from"] == "preflight.yml", play["name"]


def test_no_secret_value_in_any_refusal(runs):
    """A refused secret shows as <secret>: the value given never appears in the refusal."""
    checked = 0
    for case_id, _variable, extra_vars, _host_vars in CASES:
        message = next((line for line in runs[case_id][0].stdout.splitlines() if "inventory refused: " in line), "")
        for key, value in extra_vars.items():
            if key.endswith(("_password", "_pass", "_passphrase", "_secret")) and len(value) >= 5:
                assert "=<secret> is refused" in message, case_id
                assert value not in message.replace("(CHANGE-ME)", ""), case_id
                checked += 1
    assert checked >= 6
    example = next(line for line in runs[EXAMPLE_CASE[0]][0].stdout.splitlines() if "inventory refused: " in line)
    assert "lab-only-pg-rewinder-not-secret" not in example


def test_the_unchanged_lab_is_accepted_and_then_contacts_the_hosts(runs):
    """The control: no mistake, so the preflight passes and the run reaches for the (unreachable) hosts."""
    result, _seconds = runs["control-lab-unchanged"]
    output = result.stdout + result.stderr
    assert "inventory topology accepted (5 hosts)" in result.stdout, output
    assert "UNREACHABLE" in output, output
    assert "pg-use1" in _recap_hosts(result.stdout), output
    assert _recap(result.stdout)["pg-use1"]["unreachable"] == 1, output
