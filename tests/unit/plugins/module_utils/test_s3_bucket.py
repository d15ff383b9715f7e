"""The backup bucket: lifecycle checks (no archive class inside the PITR window) and convergence,
against moto's in-process S3 (the lab's TLS S3 endpoint serves the same moto backend)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ansible_collections.keel.postgres.plugins.module_utils import s3_bucket
from ansible_collections.keel.postgres.plugins.modules import s3_bucket as module

RULES = [
    {"id": "archive", "transition_days": 60, "storage_class": "GLACIER", "expiration_days": 2557},
    {"id": "noncurrent", "noncurrent_expiration_days": 30, "abort_multipart_days": 7},
]


def _params(**changes):
    params = {
        "name": "keel-backups",
        "region": "eu-west-1",
        "versioning": True,
        "encryption": "AES256",
        "kms_key_id": None,
        "readable_days": 35,
        "lifecycle": [dict(rule) for rule in RULES],
    }
    params.update(changes)
    return params


def test_good_rules_have_no_errors():
    assert s3_bucket.rule_errors(RULES, readable_days=35) == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"id": "early", "transition_days": 7}, "lifecycle[early].transition_days: 7 moves objects to GLACIER before"),
        ({"id": "x", "transition_days": 60, "expiration_days": 30}, "expiration_days: 30 is not after transition_days"),
        ({"id": "short", "expiration_days": 10}, "deletes objects inside the 35-day point-in-time window"),
        ({"id": "odd", "transition_days": 60, "storage_class": "TAPE"}, "storage_class: 'TAPE' is not one of"),
        ({"id": "none"}, "the rule does nothing"),
        ({"id": "neg", "expiration_days": -1}, "must be a positive number of days"),
        ({"id": "typo", "expire_days": 40}, "unknown keys expire_days"),
        ({"transition_days": 60}, "every rule needs an id"),
    ],
)
def test_bad_rules(rule, expected):
    errors = s3_bucket.rule_errors([rule], readable_days=35)
    assert any(expected in error for error in errors), errors


def test_readable_classes_may_transition_early_and_ids_are_unique():
    assert s3_bucket.rule_errors([{"id": "ia", "transition_days": 30, "storage_class": "STANDARD_IA"}], 35) == []
    errors = s3_bucket.rule_errors([RULES[1], RULES[1]], 35)
    assert any("used twice" in error for error in errors)
    assert s3_bucket.rule_errors("rules", 0) == ["lifecycle: must be a list of rules"]


def test_document_and_normalisation_agree():
    document = s3_bucket.lifecycle_document(RULES)
    assert [rule["ID"] for rule in document["Rules"]] == ["archive", "noncurrent"]
    assert document["Rules"][0]["Transitions"] == [{"Days": 60, "StorageClass": "GLACIER"}]
    assert s3_bucket.normalize_lifecycle(document["Rules"]) == document["Rules"]
    # S3 may return the old Prefix form and extra keys; the comparison ignores what we do not set.
    returned = [dict(document["Rules"][1], Filter={}, Prefix="", ExpiredObjectDeleteMarker=False)]
    assert s3_bucket.normalize_lifecycle(returned) == [document["Rules"][1]]


def test_params_errors():
    assert s3_bucket.params_errors(_params()) == []
    assert "kms_key_id: only with encryption aws:kms" in s3_bucket.params_errors(_params(kms_key_id="k"))
    assert any("encryption:" in e for e in s3_bucket.params_errors(_params(encryption="rot13")))
    assert any("readable_days" in e for e in s3_bucket.params_errors(_params(readable_days=-2)))


@pytest.fixture
def client():
    with mock_aws():
        yield boto3.client("s3", region_name="eu-west-1", aws_access_key_id="k", aws_secret_access_key="s")


def test_creates_and_configures_then_changes_nothing(client):
    changes, created = s3_bucket.ensure(client, _params(), False, ClientError)
    assert created and changes[0] == "create bucket keel-backups in eu-west-1"
    assert "block public access" in changes and "versioning enabled" in changes
    assert client.get_bucket_versioning(Bucket="keel-backups")["Status"] == "Enabled"
    block = client.get_public_access_block(Bucket="keel-backups")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = client.get_bucket_lifecycle_configuration(Bucket="keel-backups")["Rules"]
    assert sorted(rule["ID"] for rule in rules) == ["archive", "noncurrent"]
    assert client.get_bucket_location(Bucket="keel-backups")["LocationConstraint"] == "eu-west-1"
    assert s3_bucket.ensure(client, _params(), False, ClientError) == ([], False)


def test_check_mode_reports_and_writes_nothing(client):
    changes, created = s3_bucket.ensure(client, _params(), True, ClientError)
    assert created and changes
    assert "keel-backups" not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    s3_bucket.ensure(client, _params(), False, ClientError)
    changed_rules = _params(lifecycle=[RULES[1]])
    changes, _created = s3_bucket.ensure(client, changed_rules, True, ClientError)
    assert changes == ["lifecycle rules noncurrent (were archive, noncurrent)"]
    assert len(client.get_bucket_lifecycle_configuration(Bucket="keel-backups")["Rules"]) == 2


def test_drift_is_repaired(client):
    s3_bucket.ensure(client, _params(), False, ClientError)
    client.delete_public_access_block(Bucket="keel-backups")
    client.put_bucket_versioning(Bucket="keel-backups", VersioningConfiguration={"Status": "Suspended"})
    client.delete_bucket_lifecycle(Bucket="keel-backups")
    changes, _created = s3_bucket.ensure(client, _params(), False, ClientError)
    assert changes == [
        "block public access",
        "versioning enabled",
        "lifecycle rules archive, noncurrent (were none)",
    ]
    assert s3_bucket.ensure(client, _params(), False, ClientError) == ([], False)


def test_bad_input_is_refused_before_any_call(client):
    with pytest.raises(s3_bucket.BucketError, match="transition_days: 7 moves objects"):
        s3_bucket.ensure(client, _params(lifecycle=[{"id": "early", "transition_days": 7}]), False, ClientError)
    assert client.list_buckets()["Buckets"] == []


def test_module_argument_spec_matches_its_documentation():
    import yaml

    doc = yaml.safe_load(module.DOCUMENTATION)
    spec = module.argument_spec()
    assert sorted(doc["options"]) == sorted(spec)
    for name, rules in spec.items():
        assert doc["options"][name].get("type", "str") == rules.get("type", "str"), name
        assert doc["options"][name].get("default") == rules.get("default"), name
    assert sorted(doc["options"]["lifecycle"]["suboptions"]) == sorted(spec["lifecycle"]["options"])
    assert spec["secret_key"]["no_log"] and spec["access_key"]["no_log"]
