"""The preflight play refuses a bad inventory on the controller, before any host is contacted.

The inventories here name hosts that do not exist or cannot be reached (the lab's containers are
not running, the example's host names do not resolve): reaching one would fail differently.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The ansible-playbook of the interpreter running the tests (the project venv).
ANSIBLE_PLAYBOOK = str(pathlib.Path(sys.executable).parent / "ansible-playbook")
ANSIBLE_VAULT = str(pathlib.Path(sys.executable).parent / "ansible-vault")
PREFLIGHT = str(ROOT / "playbooks" / "preflight.yml")
LAB = str(ROOT / "inventories" / "lab")
EXAMPLE = ROOT / "inventories" / "example"


def _env():
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), NO_COLOR="1", ANSIBLE_FORCE_COLOR="0")


def _ansible_playbook(*args):
    return subprocess.run([ANSIBLE_PLAYBOOK, *args], capture_output=True, text=True, cwd=ROOT, env=_env(), check=False)


def _run_preflight(tmp_path, inventory):
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump(inventory))
    return _ansible_playbook("-i", str(inv), PREFLIGHT)


def _refused(result, *fragments):
    """The preflight failed on its assertion (not on a host) with every fragment in one message."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "inventory refused: " in result.stdout, output
    assert "UNREACHABLE" not in output, output
    # ansible-core prints the whole message on one "[ERROR]: Task failed" line.
    message = next(line for line in result.stdout.splitlines() if "inventory refused: " in line)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _inventory(etcd_hosts, dr=("dr1",), extra_postgres=()):
    hosts = {h: {"keel_region": "r-%s" % h, "keel_address": "10.9.0.%d" % i} for i, h in enumerate(etcd_hosts, 1)}
    for i, h in enumerate(dr, 50):
        hosts[h] = {"keel_region": "dr-site", "keel_address": "10.9.0.%d" % i}
    return {
        "all": {
            "vars": {
                "keel_cluster_name": "c1",
                "keel_dr_cluster_name": "c1-dr",
                "keel_primary_region": "r-e1",
                # etcd's secrets are checked whenever the group has members.
                "keel_etcd_root_password": secrets.token_urlsafe(24),
                "keel_etcd_patroni_password": secrets.token_urlsafe(24),
                "keel_regions": {
                    "r-e1": {"sync": True, "failover_priority": 2},
                    "r-e2": {"sync": True, "failover_priority": 1},
                    "r-e3": {"sync": True, "failover_priority": 1},
                    "dr-site": {"failover_priority": 1},
                },
            },
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


# --- region model, on the lab's own inventory (-e has the highest precedence) -----------------


def test_accepts_the_lab_inventory():
    result = _ansible_playbook("-i", LAB, PREFLIGHT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inventory topology accepted (5 hosts)" in result.stdout


def test_refuses_more_synchronous_standbys_than_the_lab_has():
    result = _ansible_playbook("-i", LAB, PREFLIGHT, "-e", json.dumps({"keel_synchronous_node_count": 3}))
    message = _refused(
        result,
        "keel_synchronous_node_count=3 (keel_synchronous_mode=on) needs 4 synchronous-eligible members",
        "(one of them is the leader, which cannot be its own standby)",
        "but 3 are eligible (pg-euw1, pg-use1, pg-usw2)",
        "lower keel_synchronous_node_count to 2 or make more regions sync: true in keel_regions",
    )
    assert message.count(" | ") == 0, message


def test_refuses_a_quoted_node_count_from_the_command_line():
    result = _ansible_playbook("-i", LAB, PREFLIGHT, "-e", "keel_synchronous_node_count=3")
    _refused(result, "keel_synchronous_node_count='3' is not an integer >= 1", '{"keel_synchronous_node_count": 2}')


def test_refuses_regions_that_may_never_be_promoted():
    regions = {
        "us-east-1": {"sync": True, "failover_priority": 0},
        "us-west-2": {"sync": True, "failover_priority": 0},
        "eu-west-1": {"sync": True, "failover_priority": 0},
        "ap-south-1": {"sync": False, "failover_priority": 0},
        "dr-site": {"failover_priority": 0},
    }
    result = _ansible_playbook("-i", LAB, PREFLIGHT, "-e", json.dumps({"keel_regions": regions}))
    _refused(
        result,
        "no member of group 'postgres' may become leader: every member has failover_priority 0",
        "pg-use1 (us-east-1, failover_priority 0)",
        "give the primary region a failover_priority > 0 in keel_regions",
        "no member of group 'postgres_dr' may become the DR standby leader",
    )


def test_refuses_a_lab_host_in_both_clusters(tmp_path):
    # A second inventory source adds the DR member to the primary cluster too.
    extra = tmp_path / "extra.yml"
    extra.write_text(yaml.safe_dump({"all": {"children": {"postgres": {"hosts": {"pg-dr1": None}}}}}))
    result = _ansible_playbook("-i", LAB, "-i", str(extra), PREFLIGHT)
    _refused(result, "host(s) pg-dr1 are in both 'postgres' and 'postgres_dr'", "remove it from one group")


def test_refuses_a_dr_scope_equal_to_the_primary_scope():
    result = _ansible_playbook("-i", LAB, PREFLIGHT, "-e", "keel_dr_cluster_name=keel-lab")
    _refused(result, "keel_dr_cluster_name='keel-lab' equals keel_cluster_name", "give it a different name")


def test_refuses_an_unquoted_on():
    # What `keel_synchronous_mode: on` (unquoted) becomes in YAML 1.1.
    result = _ansible_playbook("-i", LAB, PREFLIGHT, "-e", json.dumps({"keel_synchronous_mode": True}))
    _refused(result, "keel_synchronous_mode=True is not one of on, quorum, off", 'keel_synchronous_mode: "on"')


def test_refuses_a_missing_dr_scope(tmp_path):
    inventory = _inventory(["e1", "e2", "e3"])
    del inventory["all"]["vars"]["keel_dr_cluster_name"]
    _refused(_run_preflight(tmp_path, inventory), "keel_dr_cluster_name is not set but group 'postgres_dr' has members")


def test_the_filter_reads_the_lab_hostvars(tmp_path):
    """keel.postgres.patroni_members over real hostvars, as the Patroni role calls it."""
    out = tmp_path / "members.json"
    expression = (
        "{{ {'postgres': groups | keel.postgres.patroni_members(hostvars, __platform, 'postgres'),"
        " 'postgres_dr': groups | keel.postgres.patroni_members(hostvars, __platform, 'postgres_dr')} | to_json }}"
    )
    play = {
        "name": "Patroni members",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"__platform": {"keel_regions": "{{ keel_regions }}"}},
        "tasks": [{"name": "Write the members", "ansible.builtin.copy": {"content": expression, "dest": str(out)}}],
    }
    playbook = tmp_path / "members.yml"
    playbook.write_text(yaml.safe_dump([play]))
    result = _ansible_playbook("-i", LAB, str(playbook))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(out.read_text()) == {
        "postgres": {
            "pg-use1": {
                "region": "us-east-1",
                "nosync": False,
                "failover_priority": 3,
                "sync_candidate": True,
                "nostream": False,
            },
            "pg-usw2": {
                "region": "us-west-2",
                "nosync": False,
                "failover_priority": 2,
                "sync_candidate": True,
                "nostream": False,
            },
            "pg-euw1": {
                "region": "eu-west-1",
                "nosync": False,
                "failover_priority": 2,
                "sync_candidate": True,
                "nostream": False,
            },
            "pg-aps1": {
                "region": "ap-south-1",
                "nosync": True,
                "failover_priority": 0,
                "sync_candidate": False,
                "nostream": False,
            },
        },
        "postgres_dr": {
            "pg-dr1": {
                "region": "dr-site",
                "nosync": True,
                "failover_priority": 1,
                "sync_candidate": False,
                "nostream": False,
            }
        },
    }


# --- the production-shaped example ------------------------------------------------------------


def test_the_example_passes_without_its_vault():
    # group_vars/all/vault.yml does not exist: every vault_* variable is undefined.
    assert not (EXAMPLE / "group_vars" / "all" / "vault.yml").exists()
    result = _ansible_playbook("-i", str(EXAMPLE), PREFLIGHT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inventory topology accepted (12 hosts)" in result.stdout


def _example_with_vault(tmp_path, values):
    """The example as a user sets it up: vault.yml from vault.yml.example, encrypted with a dummy password."""
    inventory = tmp_path / "example"
    shutil.copytree(EXAMPLE, inventory)
    vault = inventory / "group_vars" / "all" / "vault.yml"
    template = yaml.safe_load(vault.with_name("vault.yml.example").read_text())
    vault.write_text(yaml.safe_dump({name: values(name, value) for name, value in template.items()}))
    password = tmp_path / "vault-password"
    password.write_text("dummy-vault-password\n")
    encrypt = subprocess.run(
        [ANSIBLE_VAULT, "encrypt", "--vault-password-file", str(password), str(vault)],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    assert encrypt.returncode == 0, encrypt.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    return _ansible_playbook("-i", str(inventory), "--vault-password-file", str(password), PREFLIGHT)


def test_the_example_passes_with_an_encrypted_vault_of_random_values(tmp_path):
    result = _example_with_vault(tmp_path, lambda name, value: "%s-%s" % (secrets.token_urlsafe(24), name[-4:]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inventory topology accepted (12 hosts)" in result.stdout


def test_the_example_refuses_its_own_placeholders(tmp_path):
    """vault.yml copied from vault.yml.example and encrypted without replacing CHANGE-ME is refused."""
    result = _example_with_vault(tmp_path, lambda name, value: value)
    message = _refused(
        result,
        "keel_patroni_superuser_password=<secret> is refused:",
        "it is a placeholder of the example inventory (CHANGE-ME)",
        "redis_cluster_app_password=<secret> is refused: it has 9 characters, fewer than the 16 required",
        "tls_ca_key_passphrase=<secret> is refused",
    )
    assert "CHANGE-ME;" not in message and "=CHANGE-ME" not in message


def test_the_example_maps_every_vault_variable():
    """Every vault_* name of vault.yml.example is used by secrets.yml, and only those are referenced."""
    template = yaml.safe_load((EXAMPLE / "group_vars" / "all" / "vault.yml.example").read_text())
    secrets = (EXAMPLE / "group_vars" / "all" / "secrets.yml").read_text()
    assert template and all(name.startswith("vault_") for name in template)
    referenced = set(re.findall(r"\{\{\s*(vault_\w+)\s*\}\}", secrets))
    assert referenced == set(template)
    # The variables the roles read (keel.postgres.patroni, etcd, redis_cluster, tls), each from the vault.
    for var in (
        "keel_patroni_superuser_password",
        "keel_patroni_replication_password",
        "keel_patroni_rewind_password",
        "keel_patroni_restapi_password",
        "keel_etcd_root_password",
        "keel_etcd_patroni_password",
        "redis_cluster_admin_password",
        "redis_cluster_replication_password",
        "redis_cluster_app_password",
        "tls_ca_key_passphrase",
    ):
        assert re.search(r"^%s: \"\{\{ vault_\w+ \}\}\"$" % var, secrets, re.M), var


def test_the_example_declares_the_lab_users():
    """The example has the lab's PostgreSQL login roles, each password from the vault."""
    lab = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "postgresql.yml").read_text())
    example = yaml.safe_load((EXAMPLE / "group_vars" / "all" / "secrets.yml").read_text())
    users = example["postgresql_users"]
    assert [(u["name"], u["kind"]) for u in users] == [(u["name"], u["kind"]) for u in lab["postgresql_users"]]
    replicator = next(u for u in users if u["kind"] == "replication")
    assert replicator["name"] == "replicator"
    # One password for the replication role and Patroni's replication user.
    assert replicator["password"] == "{{ keel_patroni_replication_password }}"
    assert example["keel_patroni_replication_password"] == "{{ vault_pg_replicator_password }}"
    assert all(u["password"].startswith("{{ vault_pg_") for u in users if u is not replicator)
