"""Configuration changes are applied with a reload, and with a restart only when pg_settings
reports pending_restart. Ends with the inventory's own configuration again.

Runs the configure and run phases of converge.yml on the DR host with -e overrides.
"""

from __future__ import annotations

from conftest import converge, recap

HOST = "pg-dr1"
TAGS = "postgresql_configure,postgresql_run"
# The standalone reload of the "Reload PostgreSQL" listen topic (converge.yml pins the standalone manager).
RELOAD = "RUNNING HANDLER [keel.postgres.postgresql : Reload the standalone server]"
RESTART_TASK = "TASK [keel.postgres.postgresql : Restart for settings that need it]"


def _restart_state(result):
    """'changed' or 'skipping' for the restart task in a playbook run."""
    block = result.stdout.split(RESTART_TASK, 1)[1].split("TASK [", 1)[0]
    return "changed" if "changed: [%s]" % HOST in block else "skipping"


def _started(psql, pg_hosts):
    return psql.value(pg_hosts[HOST], "monitor", "SELECT pg_postmaster_start_time()", dbname="postgres")


def _show(psql, pg_hosts, name):
    return psql.value(pg_hosts[HOST], "monitor", "SHOW %s" % name, dbname="postgres")


def test_reloadable_change_reloads_and_postmaster_change_restarts(psql, pg_hosts):
    started = _started(psql, pg_hosts)
    computed = _show(psql, pg_hosts, "shared_buffers")

    # statement_timeout is reloadable: reload, no restart.
    result = converge(HOST, {"postgresql_extra_parameters": {"statement_timeout": "1min"}}, TAGS)
    assert result.returncode == 0, result.stdout[-3000:]
    assert RELOAD in result.stdout and _restart_state(result) == "skipping"
    assert _show(psql, pg_hosts, "statement_timeout") == "1min"
    assert _started(psql, pg_hosts) == started

    # shared_buffers needs a restart: the reload leaves it pending, the role restarts.
    result = converge(HOST, {"postgresql_parameters": {"shared_buffers": "256MB"}}, TAGS)
    assert result.returncode == 0, result.stdout[-3000:]
    assert RELOAD in result.stdout and _restart_state(result) == "changed"
    assert _show(psql, pg_hosts, "shared_buffers") == "256MB"
    assert _show(psql, pg_hosts, "statement_timeout") == "0"
    assert _started(psql, pg_hosts) != started

    # Back to the inventory's configuration (restart again), then nothing left to do.
    result = converge(HOST, None, TAGS)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _restart_state(result) == "changed"
    assert _show(psql, pg_hosts, "shared_buffers") == computed
    result = converge(HOST, None, TAGS)
    assert recap(result, HOST)[1] == 0, result.stdout[-3000:]
