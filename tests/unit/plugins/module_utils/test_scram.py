"""SCRAM verifiers: byte-for-byte what PostgreSQL 15 stores, and stable for the same inputs."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.keel.postgres.plugins.filter import scram_verifier as plugin
from ansible_collections.keel.postgres.plugins.module_utils import scram

# Stored by PostgreSQL 15.18 for CREATE ROLE vec PASSWORD 'correct horse' (password_encryption
# scram-sha-256), read from pg_authid.rolpassword.
POSTGRES_15 = (
    "SCRAM-SHA-256$4096:b4egeUC79cTYYKEUJ+SZFQ==$saVxAZJE9L2uieIwsFIaODSey7jNRJxNVGtcFeNePg8="
    ":qfj4bt363SrJCJe3v+TDh5lJ0ynSX3ouzxkNfxRsuMM="
)


def test_same_verifier_as_postgresql_for_its_salt():
    salt = base64.b64decode(POSTGRES_15.split(":")[1].split("$")[0])
    assert scram.verifier("correct horse", salt) == POSTGRES_15


def test_a_different_password_gives_a_different_verifier():
    salt = base64.b64decode("b4egeUC79cTYYKEUJ+SZFQ==")
    assert scram.verifier("correct horse!", salt) != POSTGRES_15


def test_user_verifier_is_stable_and_salted_per_user():
    first = scram.user_verifier("admin", "s3cret")
    assert first == scram.user_verifier("admin", "s3cret")
    assert first != scram.user_verifier("stats", "s3cret")
    assert first != scram.user_verifier("admin", "s3cret2")
    iterations, salt = first.split("$")[1].split(":")
    assert iterations == "4096" and len(base64.b64decode(salt)) == scram.SALT_BYTES


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", b"12345678"), "password"),
        ((None, b"12345678"), "password"),
        (("pw", b"short"), "salt"),
        (("pw", "not-bytes-salt"), "salt"),
    ],
)
def test_verifier_refuses_bad_input(args, field):
    with pytest.raises(scram.ScramError, match=field):
        scram.verifier(*args)


@pytest.mark.parametrize("iterations", [0, 4095, True, "4096"])
def test_verifier_refuses_weak_or_odd_iterations(iterations):
    with pytest.raises(scram.ScramError, match="iterations"):
        scram.verifier("pw", b"12345678", iterations)


def test_filter_wraps_the_error_in_an_ansible_error():
    from ansible.errors import AnsibleFilterError

    verify = plugin.FilterModule().filters()["scram_verifier"]
    assert verify("s3cret", "admin") == scram.user_verifier("admin", "s3cret")
    with pytest.raises(AnsibleFilterError, match="user"):
        verify("s3cret", "")
