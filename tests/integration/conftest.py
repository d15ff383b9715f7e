"""Fixtures for the integration tests: a real PostgreSQL 15 pair (see pgpair.py)."""

import os

import pytest
from pgpair import PG_BIN, run_module, running_pair


@pytest.fixture(scope="session")
def pg_pair():
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        pytest.skip("PostgreSQL server binaries not found in %s (apt-get install postgresql-15)" % PG_BIN)
    with running_pair() as pair:
        yield pair


@pytest.fixture(scope="session")
def module_runner():
    return run_module
