"""Debian's package-created main cluster: dropped when it holds only initdb's defaults, kept (and
the role stopped, loudly) when it holds user data.

The main clusters are made by hand with pg_createcluster on the DR host (the package itself never
creates one, createcluster.d prevents it); the install phase of converge.yml then runs there.
"""

from __future__ import annotations

import json

import pytest
from conftest import converge, lab_host, recap

HOST = "pg-dr1"
TAGS = "postgresql_install"


@pytest.fixture
def dr_host():
    host = lab_host(HOST)
    yield host
    host.run("pg_dropcluster --stop 15 main")  # whatever a failed assertion left behind


def _clusters(host):
    return sorted((c["version"], c["cluster"]) for c in json.loads(host.check_output("pg_lsclusters --json")))


def _make_main(host, *sql):
    host.check_output("pg_createcluster --port 5433 --start 15 main")
    for statement in sql:
        host.check_output("runuser -u postgres -- psql --cluster 15/main -XAtc %s", statement)


def test_empty_main_cluster_is_dropped(dr_host):
    _make_main(dr_host)
    assert _clusters(dr_host) == [(15, "keel"), (15, "main")]
    result = converge(HOST, tags=TAGS)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _clusters(dr_host) == [(15, "keel")]
    assert not dr_host.file("/var/lib/postgresql/15/main").exists
    assert dr_host.service("postgresql@15-keel").is_running


@pytest.mark.parametrize(
    "sql, found",
    [
        (["CREATE DATABASE userdata"], "database userdata"),
        (["CREATE TABLE public.orders (id int)"], "relation postgres.public.orders"),
        (["CREATE ROLE someone"], "role someone"),
    ],
    ids=["database", "table", "role"],
)
def test_main_cluster_with_user_data_stops_the_role(dr_host, sql, found):
    _make_main(dr_host, *sql)
    result = converge(HOST, tags=TAGS)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cluster 15/main on %s holds user data (%s)" % (HOST, found) in output, output[-3000:]
    assert "refusing to drop it" in output
    assert recap(result, HOST)[2] == 1
    assert _clusters(dr_host) == [(15, "keel"), (15, "main")]
