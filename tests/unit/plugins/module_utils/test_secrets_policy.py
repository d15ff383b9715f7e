from __future__ import annotations

import pytest

from ansible_collections.keel.postgres.plugins.filter.secret_errors import FilterModule
from ansible_collections.keel.postgres.plugins.module_utils.secrets_policy import secret_errors, secrets_errors

STRONG = "vX3q-9fKd_2LmPz7Rt0w"


@pytest.mark.parametrize(
    "value, kwargs, reason",
    [
        ("short", {}, "it has 5 characters, fewer than the 12 required"),
        ("a" * 19, {"min_length": 20}, "fewer than the 20 required"),
        ("CHANGE-ME", {}, "placeholder of the example inventory"),
        ("change_me_please_now", {}, "placeholder of the example inventory"),
        ("ChangeMe-2026-now!", {}, "placeholder of the example inventory"),
        ("Password123!", {}, "common password"),
        ("correct-horse-battery-staple", {}, "common password"),
        ("postgres2024", {}, "common password"),
        ("P@ssw0rd", {}, "common password"),
        ("app_user_login", {"user": "app_user_login"}, "it is the login's own user name"),
        ("APP-USER-LOGIN", {"user": "app_user_login"}, "own user name"),
        ("lab-only-pg-app-not-secret", {}, "throw-away value of the lab inventory"),
        ("prefix-LAB-ONLY-suffix-xx", {}, "throw-away value of the lab inventory"),
    ],
)
def test_refused(value, kwargs, reason):
    errors = secret_errors("some_password", value, **kwargs)
    assert len(errors) == 1
    assert errors[0].startswith("some_password=<secret> is refused: ")
    assert reason in errors[0]
    assert value not in errors[0].replace("(CHANGE-ME)", "")
    assert "openssl rand" in errors[0]


@pytest.mark.parametrize(
    "value, kwargs",
    [
        (STRONG, {}),
        (STRONG, {"user": "app_user"}),
        ("lab-only-pg-app-not-secret", {"lab": True}),
        ("", {"required": False}),
        (None, {"required": False}),
        ("x" * 20, {"min_length": 20}),
        ("83920174659201746592", {}),
        ("!#%&*()+=!#%&*()+=", {}),
    ],
)
def test_accepted(value, kwargs):
    assert secret_errors("some_password", value, **kwargs) == []


@pytest.mark.parametrize("value", ["", None])
def test_missing_required_secret_names_the_variable_and_length(value):
    assert secret_errors("keel_etcd_root_password", value, min_length=16) == [
        "keel_etcd_root_password is not set: set it from the vault (e.g. `openssl rand -base64 33`), "
        "at least 16 characters"
    ]


@pytest.mark.parametrize("value", [123456789012345, True, ["a" * 20], {"a": "b"}])
def test_non_strings_are_refused_without_showing_the_value(value):
    (error,) = secret_errors("redis_cluster_app_password", value)
    assert error.startswith("redis_cluster_app_password=<secret> is a ")
    assert str(value) not in error


def test_every_reason_in_one_message():
    (error,) = secret_errors("x_password", "changeme", user="changeme")
    assert "fewer than the 12 required" in error and "placeholder" in error and "own user name" in error


def test_secrets_errors_deduplicates():
    entries = [{"variable": "a_password", "value": "short"}] * 3 + [{"variable": "b", "value": STRONG}]
    assert len(secrets_errors(entries)) == 1


def test_filter():
    flt = FilterModule().filters()["secret_errors"]
    assert flt(STRONG, "v") == []
    assert flt("", "tls_ca_key_passphrase", required=False) == []
    assert flt("lab-only-xxxxxxxxxxxxxxxx", "v", lab=True) == []
    assert "own user name" in flt("monitor-user", "v", "monitor-user")[0]
