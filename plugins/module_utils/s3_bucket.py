# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3 bucket of the backup repository: desired state, comparison and the calls that converge it.

Pure functions build and compare the documents S3 returns (versioning, default encryption, public
access block, lifecycle rules); ``ensure`` reads each setting through a boto3 S3 client and writes
only what differs (nothing in check mode). The module keel.postgres.s3_bucket is a thin shell.

Lifecycle rules are checked against ``readable_days``: pgBackRest cannot read an object that was
moved to an archive storage class (a restore would fail until the object is restored by hand), so
no transition may happen before the backups and WAL of the point-in-time window are out of it.
"""

from __future__ import annotations

ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING")
# Classes pgBackRest reads like STANDARD (no restore request needed).
READABLE_CLASSES = ("STANDARD_IA", "ONEZONE_IA", "GLACIER_IR", "INTELLIGENT_TIERING")
ENCRYPTIONS = ("AES256", "aws:kms")
RULE_KEYS = {
    "id",
    "prefix",
    "transition_days",
    "storage_class",
    "expiration_days",
    "noncurrent_expiration_days",
    "abort_multipart_days",
}


class BucketError(ValueError):
    """Bad input, naming the option."""


def _positive(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def rule_errors(rules, readable_days=0):
    """Messages for lifecycle rules that S3 would refuse or that would break restores."""
    if not isinstance(rules, list):
        return ["lifecycle: must be a list of rules"]
    errors, seen = [], set()
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or not isinstance(rule.get("id"), str) or not rule["id"]:
            errors.append("lifecycle[%d]: every rule needs an id" % index)
            continue
        where = "lifecycle[%s]" % rule["id"]
        if rule["id"] in seen:
            errors.append("%s: the id is used twice" % where)
        seen.add(rule["id"])
        unknown = sorted(set(rule) - RULE_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        for key in ("transition_days", "expiration_days", "noncurrent_expiration_days", "abort_multipart_days"):
            if rule.get(key) is not None and not _positive(rule[key]):
                errors.append("%s.%s: must be a positive number of days, got %r" % (where, key, rule[key]))
        actions = ("transition_days", "expiration_days", "noncurrent_expiration_days", "abort_multipart_days")
        if all(rule.get(key) is None for key in actions):
            errors.append("%s: the rule does nothing (no transition, expiration or abort)" % where)
        storage_class = rule.get("storage_class", "GLACIER")
        if rule.get("transition_days") is not None:
            if storage_class not in ARCHIVE_CLASSES:
                errors.append(
                    "%s.storage_class: %r is not one of %s" % (where, storage_class, ", ".join(ARCHIVE_CLASSES))
                )
            elif (
                storage_class not in READABLE_CLASSES
                and _positive(rule["transition_days"])
                and rule["transition_days"] < readable_days
            ):
                errors.append(
                    "%s.transition_days: %d moves objects to %s before the %d days pgBackRest must be able to read "
                    "(the point-in-time window); a restore would fail on archived objects"
                    % (where, rule["transition_days"], storage_class, readable_days)
                )
            if _positive(rule.get("expiration_days")) and _positive(rule["transition_days"]):
                if rule["expiration_days"] <= rule["transition_days"]:
                    errors.append(
                        "%s.expiration_days: %d is not after transition_days %d"
                        % (where, rule["expiration_days"], rule["transition_days"])
                    )
        if _positive(rule.get("expiration_days")) and rule["expiration_days"] < readable_days:
            errors.append(
                "%s.expiration_days: %d deletes objects inside the %d-day point-in-time window"
                % (where, rule["expiration_days"], readable_days)
            )
    return errors


def lifecycle_document(rules):
    """The LifecycleConfiguration for put_bucket_lifecycle_configuration."""
    document = []
    for rule in sorted(rules, key=lambda r: r["id"]):
        entry = {"ID": rule["id"], "Filter": {"Prefix": rule.get("prefix", "")}, "Status": "Enabled"}
        if rule.get("transition_days"):
            entry["Transitions"] = [
                {"Days": rule["transition_days"], "StorageClass": rule.get("storage_class", "GLACIER")}
            ]
        if rule.get("expiration_days"):
            entry["Expiration"] = {"Days": rule["expiration_days"]}
        if rule.get("noncurrent_expiration_days"):
            entry["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["noncurrent_expiration_days"]}
        if rule.get("abort_multipart_days"):
            entry["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule["abort_multipart_days"]}
        document.append(entry)
    return {"Rules": document}


def normalize_lifecycle(rules):
    """Rules as S3 returns them, reduced to what lifecycle_document sets, sorted by ID."""
    normalized = []
    for rule in rules or []:
        filter_ = rule.get("Filter") or {}
        entry = {
            "ID": rule.get("ID", ""),
            "Filter": {"Prefix": filter_.get("Prefix", rule.get("Prefix", ""))},
            "Status": rule.get("Status", "Enabled"),
        }
        transitions = [
            {"Days": t.get("Days"), "StorageClass": t.get("StorageClass")} for t in rule.get("Transitions") or []
        ]
        if transitions:
            entry["Transitions"] = transitions
        if (rule.get("Expiration") or {}).get("Days"):
            entry["Expiration"] = {"Days": rule["Expiration"]["Days"]}
        if (rule.get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"):
            entry["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            }
        if (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"):
            entry["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
            }
        normalized.append(entry)
    return sorted(normalized, key=lambda r: r["ID"])


def encryption_document(algorithm, kms_key_id=None):
    default = {"SSEAlgorithm": algorithm}
    if algorithm == "aws:kms" and kms_key_id:
        default["KMSMasterKeyID"] = kms_key_id
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default}]}


def normalize_encryption(document):
    rules = (document or {}).get("Rules") or []
    if not rules:
        return None
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    return {k: v for k, v in default.items() if k in ("SSEAlgorithm", "KMSMasterKeyID")}


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def params_errors(params):
    errors = []
    if params.get("encryption") not in ENCRYPTIONS:
        errors.append("encryption: %r is not one of %s" % (params.get("encryption"), ", ".join(ENCRYPTIONS)))
    if params.get("kms_key_id") and params.get("encryption") != "aws:kms":
        errors.append("kms_key_id: only with encryption aws:kms")
    readable = params.get("readable_days") or 0
    if isinstance(readable, bool) or not isinstance(readable, int) or readable < 0:
        errors.append("readable_days: must be a non-negative integer")
        readable = 0
    errors += rule_errors(params.get("lifecycle") or [], readable)
    return errors


def _error_code(exc):
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def ensure(client, params, check_mode, client_error):
    """Converge the bucket; returns (changes, created). `client_error` is botocore's ClientError."""
    errors = params_errors(params)
    if errors:
        raise BucketError("; ".join(errors))
    bucket, changes, created = params["name"], [], False

    try:
        client.head_bucket(Bucket=bucket)
    except client_error as exc:
        code = _error_code(exc)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketError(
                "name: bucket %s exists but these credentials may not use it (%s)" % (bucket, code)
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        created = True
        changes.append("create bucket %s in %s" % (bucket, params["region"]))
        if check_mode:
            return changes + ["then configure versioning, encryption, public access block and lifecycle"], created
        kwargs = {"Bucket": bucket}
        if params["region"] != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": params["region"]}
        client.create_bucket(**kwargs)

    # Block every form of public access.
    try:
        current = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except client_error as exc:
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current = {}
    if {k: bool(current.get(k)) for k in PUBLIC_ACCESS_BLOCK} != PUBLIC_ACCESS_BLOCK:
        changes.append("block public access")
        if not check_mode:
            client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK))

    # Versioning: a deleted or overwritten object stays recoverable (until noncurrent expiration).
    wanted = "Enabled" if params["versioning"] else "Suspended"
    status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != wanted and (params["versioning"] or status == "Enabled"):
        changes.append("versioning %s" % wanted.lower())
        if not check_mode:
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": wanted})

    # Default encryption at rest (pgBackRest also encrypts client-side with repo cipher).
    desired = encryption_document(params["encryption"], params.get("kms_key_id"))
    try:
        current = normalize_encryption(client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"])
    except client_error as exc:
        if _error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        current = None
    if current != normalize_encryption(desired):
        changes.append("default encryption %s" % params["encryption"])
        if not check_mode:
            client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=desired)

    # Lifecycle: exactly the rules asked for (rules set by hand are replaced, and reported).
    try:
        current = normalize_lifecycle(client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules"))
    except client_error as exc:
        if _error_code(exc) != "NoSuchLifecycleConfiguration":
            raise
        current = []
    document = lifecycle_document(params.get("lifecycle") or [])
    if current != normalize_lifecycle(document["Rules"]):
        changes.append(
            "lifecycle rules %s (were %s)"
            % (", ".join(r["ID"] for r in document["Rules"]) or "none", ", ".join(r["ID"] for r in current) or "none")
        )
        if not check_mode:
            if document["Rules"]:
                client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=document)
            else:
                client.delete_bucket_lifecycle(Bucket=bucket)
    return changes, created
