#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: s3_bucket
short_description: The S3 bucket of a pgBackRest repository - private, versioned, encrypted, with lifecycle rules
version_added: 0.3.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Creates the bucket when it does not exist, then makes its settings what the options say, writing only what
    differs. It blocks all public access, turns versioning on (or suspends it), sets the default encryption
    (C(AES256) or C(aws:kms)), and sets the lifecycle rules to exactly O(lifecycle).
  - Lifecycle rules are checked before anything is sent. pgBackRest cannot read objects in an archive storage class
    such as C(GLACIER) or C(DEEP_ARCHIVE) - a restore fails until each object is restored by hand - so a transition
    to one of them before O(readable_days) is refused, as is an expiration inside that window.
  - Never deletes a bucket or an object.
  - "Runs where boto3 is installed: usually the controller, with C(delegate_to: localhost)."
requirements:
  - boto3
options:
  name:
    description: Bucket name.
    type: str
    required: true
  region:
    description: Region of the bucket.
    type: str
    required: true
  endpoint_url:
    description: S3 endpoint (C(https://host:port)); the AWS endpoint of O(region) when omitted.
    type: str
  ca_bundle:
    description: CA certificate file used to verify the endpoint; the system store when omitted.
    type: path
  path_style:
    description: Address the bucket as C(endpoint/bucket) instead of C(bucket.endpoint).
    type: bool
    default: false
  access_key:
    description: Access key; the default credential chain (instance profile, environment) when omitted.
    type: str
  secret_key:
    description: Secret key of O(access_key).
    type: str
  versioning:
    description: Keep overwritten and deleted objects as noncurrent versions (expire them with a lifecycle rule).
    type: bool
    default: true
  encryption:
    description: Default server-side encryption.
    type: str
    choices: [AES256, aws:kms]
    default: AES256
  kms_key_id:
    description: KMS key for O(encryption=aws:kms); the AWS managed key when omitted.
    type: str
  readable_days:
    description:
      - Days during which every object must stay readable by pgBackRest (the point-in-time window). Transitions to
        archive classes and expirations before it are refused.
    type: int
    default: 0
  lifecycle:
    description: The bucket's lifecycle rules; the bucket ends up with exactly these.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Rule ID.
        type: str
        required: true
      prefix:
        description: Key prefix the rule applies to (all keys when empty).
        type: str
        default: ""
      transition_days:
        description: Days after which objects move to O(lifecycle[].storage_class).
        type: int
      storage_class:
        description: Target class of the transition.
        type: str
        default: GLACIER
      expiration_days:
        description: Days after which current objects expire.
        type: int
      noncurrent_expiration_days:
        description: Days after which noncurrent versions are deleted.
        type: int
      abort_multipart_days:
        description: Days after which incomplete multipart uploads are aborted.
        type: int
attributes:
  check_mode:
    support: full
    description: Reports what would change and sends no write.
  diff_mode:
    support: none
    description: The changes are listed in RV(changes).
  platform:
    support: full
    platforms: posix
    description: Any host with boto3.
"""

EXAMPLES = r"""
- name: Backup bucket - 35 days readable, then Glacier, expired after 7 years
  keel.postgres.s3_bucket:
    name: keel-prod-pgbackrest
    region: us-east-1
    readable_days: 35
    lifecycle:
      - {id: archive-after-pitr-window, transition_days: 60, storage_class: GLACIER, expiration_days: 2557}
      - {id: noncurrent, noncurrent_expiration_days: 30, abort_multipart_days: 7}
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
changes:
  description: What was (or, in check mode, would be) changed.
  returned: always
  type: list
  elements: str
  sample: ["create bucket keel-prod-pgbackrest in us-east-1", "block public access"]
created:
  description: Whether the bucket was (or would be) created.
  returned: always
  type: bool
  sample: false
lifecycle:
  description: The lifecycle configuration the bucket has (or would have).
  returned: always
  type: dict
  sample: {"Rules": [{"ID": "noncurrent", "Filter": {"Prefix": ""}, "Status": "Enabled"}]}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.keel.postgres.plugins.module_utils.s3_bucket import (
    BucketError,
    ensure,
    lifecycle_document,
)

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    HAS_BOTO3, BOTO3_IMPORT_ERROR = True, None
except ImportError:  # pragma: no cover - depends on the host
    HAS_BOTO3, BOTO3_IMPORT_ERROR = False, traceback.format_exc()


def argument_spec():
    rule = dict(
        id=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        transition_days=dict(type="int"),
        storage_class=dict(type="str", default="GLACIER"),
        expiration_days=dict(type="int"),
        noncurrent_expiration_days=dict(type="int"),
        abort_multipart_days=dict(type="int"),
    )
    return dict(
        name=dict(type="str", required=True),
        region=dict(type="str", required=True),
        endpoint_url=dict(type="str"),
        ca_bundle=dict(type="path"),
        path_style=dict(type="bool", default=False),
        access_key=dict(type="str", no_log=True),
        secret_key=dict(type="str", no_log=True),
        versioning=dict(type="bool", default=True),
        encryption=dict(type="str", choices=["AES256", "aws:kms"], default="AES256"),
        kms_key_id=dict(type="str"),
        readable_days=dict(type="int", default=0),
        lifecycle=dict(type="list", elements="dict", default=[], options=rule),
    )


def s3_client(params):
    return boto3.client(
        "s3",
        region_name=params["region"],
        endpoint_url=params["endpoint_url"],
        verify=params["ca_bundle"] or True,
        aws_access_key_id=params["access_key"],
        aws_secret_access_key=params["secret_key"],
        config=Config(s3={"addressing_style": "path" if params["path_style"] else "auto"}),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_together=[("access_key", "secret_key")],
    )
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    params = dict(module.params)
    # Suboptions with no value come back as None: drop them, so the checks see only what was set.
    params["lifecycle"] = [{k: v for k, v in rule.items() if v is not None} for rule in params["lifecycle"]]
    try:
        changes, created = ensure(s3_client(params), params, module.check_mode, ClientError)
    except BucketError as exc:
        module.fail_json(msg=str(exc))
    except (BotoCoreError, ClientError) as exc:
        module.fail_json(msg="S3 bucket %s: %s" % (params["name"], exc), exception=traceback.format_exc())
    module.exit_json(
        changed=bool(changes), changes=changes, created=created, lifecycle=lifecycle_document(params["lifecycle"])
    )


if __name__ == "__main__":
    main()
