# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Patroni REST API connection options.
    # Keep in step with plugins/module_utils/patroni.py patroni_api_argument_spec().
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the REST API of one Patroni member, for example V(https://pg1.example.com:8008).
      - Cluster-wide calls go to this member; O(action=restart) and O(action=reinitialize) go to the
        C(api_url) that the target member publishes in C(GET /cluster).
    type: str
    required: true
  ca_cert:
    description:
      - CA bundle used to verify the REST API certificate (Patroni C(restapi.cafile) issuer).
    type: path
  client_cert:
    description:
      - Client certificate presented to Patroni (needed with C(restapi.verify_client) C(required),
        or C(optional) for unsafe methods).
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
  validate_certs:
    description:
      - Verify the server certificate. Only set to V(false) in a throw-away lab.
    type: bool
    default: true
  username:
    description:
      - C(restapi.authentication.username); sent as HTTP Basic auth with unsafe methods (POST, PATCH) only.
    type: str
  password:
    description:
      - C(restapi.authentication.password).
    type: str
  timeout:
    description:
      - Seconds to wait for one HTTP request.
    type: int
    default: 10
"""
