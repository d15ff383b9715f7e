#!/usr/bin/python
# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: patroni_cluster
short_description: Read a Patroni cluster's state and switch over, fail over, restart, reinitialize, pause or resume
version_added: 0.1.0
author:
  - keel.postgres maintainers (@keel)
description:
  - Talks to the Patroni 4.1 REST API. O(action=status) reads C(GET /cluster) and C(GET /config) and returns
    members (name, role, state, host, port, timeline, lag, receive/replay lag, tags, pending_restart), the leader,
    the synchronous (or quorum) standbys, whether the cluster is paused, the scope and the timeline.
  - Every other action first reads the cluster and decides, then sends at most one unsafe request
    (C(POST /switchover), C(POST /failover), C(POST /restart), C(POST /reinitialize), C(PATCH /config)).
  - "Idempotence: a switchover or failover to the member that already leads, a switchover away from a O(leader)
    that no longer leads, pausing a paused cluster and resuming a running one change nothing."
  - "A switchover or failover candidate must exist, be running or streaming, not be tagged C(nofailover) (or
    C(failover_priority) <= 0), be a synchronous or quorum standby when C(synchronous_mode) is on or quorum, and
    lag at most C(maximum_lag_on_failover) bytes; otherwise the module fails with the reason and sends nothing.
    A failover in a cluster without a leader skips the synchronous and lag checks, as Patroni does."
  - In a paused cluster a switchover needs an explicit O(candidate) and cannot be scheduled.
options:
  action:
    description:
      - What to do. V(restart) and V(reinitialize) act on O(member) and are sent to that member's own REST API;
        they are not idempotent (every run restarts or re-clones).
    type: str
    default: status
    choices: [status, switchover, failover, restart, reinitialize, pause, resume]
  candidate:
    description:
      - Member to promote. Required for V(failover). For V(switchover), Patroni picks the best member when
        omitted (then O(leader) is required).
    type: str
  leader:
    description:
      - Expected current leader for V(switchover). When it no longer leads and no O(candidate) is given, there
        is nothing to do; when another member leads and O(candidate) is given, the module refuses.
    type: str
  member:
    description:
      - Member to act on with V(restart) or V(reinitialize).
    type: str
  scheduled_at:
    description:
      - ISO 8601 time with time zone for a scheduled V(switchover), for example V(2025-01-31T02:00:00+00:00).
        Patroni answers 202 and the module does not wait. Not possible in a paused cluster.
    type: str
  wait:
    description:
      - After V(switchover) or V(failover), wait until the new leader holds the lock and runs; after V(pause) or
        V(resume), until C(GET /cluster) shows the new state.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait with O(wait).
    type: int
    default: 120
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - keel.postgres.patroni_api
attributes:
  check_mode:
    support: full
    details: Reads the cluster and reports the decision and the request it would send; sends nothing unsafe.
  diff_mode:
    support: none
  platform:
    platforms: postgres
seealso:
  - module: keel.postgres.replication_lag
"""

EXAMPLES = r"""
- name: Cluster status
  keel.postgres.patroni_cluster:
    api_url: https://pg1.example.com:8008
    ca_cert: /etc/patroni/tls/ca.crt
  register: patroni

- name: Planned switchover to a synchronous standby
  keel.postgres.patroni_cluster:
    api_url: https://pg1.example.com:8008
    ca_cert: /etc/patroni/tls/ca.crt
    username: "{{ patroni_restapi_username }}"
    password: "{{ patroni_restapi_password }}"
    action: switchover
    candidate: pg2
    wait_timeout: 90

- name: Maintenance mode
  keel.postgres.patroni_cluster:
    api_url: https://pg1.example.com:8008
    ca_cert: /etc/patroni/tls/ca.crt
    username: "{{ patroni_restapi_username }}"
    password: "{{ patroni_restapi_password }}"
    action: pause
"""

RETURN = r"""
changed:
  description: True when an unsafe request was sent (in check mode, when one would be sent).
  returned: always
  type: bool
  sample: true
msg:
  description: What was decided and done.
  returned: always
  type: str
  sample: "switch over from 'pg1' to 'pg2': done, 'pg2' leads on timeline 3"
action:
  description: The requested action.
  returned: always
  type: str
  sample: switchover
decision:
  description: The decision; C(action) is V(none) (nothing to do), V(refuse) or the action performed, C(reason)
    explains it.
  returned: always
  type: dict
  sample: {action: switchover, changed: true, reason: "switch over from 'pg1' to 'pg2'", member: null}
request:
  description: The unsafe request sent (or that would be sent in check mode); null when none.
  returned: always
  type: dict
  sample: {method: POST, url: "https://pg1.example.com:8008/switchover", body: {leader: pg1, candidate: pg2}}
response:
  description: HTTP status and body of the unsafe request; null when none was sent.
  returned: always
  type: dict
  sample: {status: 200, body: "Successfully switched over to \"pg2\""}
requests:
  description: Every request sent, in order (method, url, body, status). Never contains credentials.
  returned: always
  type: list
  elements: dict
  sample: [{method: GET, url: "https://pg1.example.com:8008/cluster", body: null, status: 200}]
scope:
  description: Patroni scope (cluster name), after the action.
  returned: always
  type: str
  sample: keel-main
leader:
  description: Name of the member holding the leader lock, after the action; null without a leader.
  returned: always
  type: str
  sample: pg2
sync_standbys:
  description: Members whose role is C(sync_standby) or C(quorum_standby).
  returned: always
  type: list
  elements: str
  sample: [pg1, pg3]
paused:
  description: Whether the cluster is in maintenance mode.
  returned: always
  type: bool
  sample: false
timeline:
  description: Timeline of the leader.
  returned: always
  type: int
  sample: 3
scheduled_switchover:
  description: The pending scheduled switchover from C(GET /cluster), null when none.
  returned: always
  type: dict
  sample: {at: "2025-01-31T02:00:00+00:00", from: pg1, to: pg2}
members:
  description: Members after the action. C(lag), C(receive_lag) and C(replay_lag) are bytes, null when Patroni
    reports them unknown.
  returned: always
  type: list
  elements: dict
  sample:
    - name: pg2
      role: leader
      state: running
      host: 10.0.1.12
      port: 5432
      api_url: https://10.0.1.12:8008/patroni
      timeline: 3
      lag: null
      receive_lag: null
      replay_lag: null
      receive_lsn: null
      replay_lsn: null
      tags: {}
      pending_restart: false
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keel.postgres.plugins.module_utils.patroni import (
    ACTIONS,
    PatroniClient,
    PatroniError,
    base_url_of,
    decide,
    find_member,
    normalize_cluster,
    patroni_api_argument_spec,
    switchover_complete,
)

STATUS_KEYS = ("scope", "leader", "sync_standbys", "paused", "timeline", "scheduled_switchover", "members")


def argument_spec():
    spec = patroni_api_argument_spec()
    spec.update(
        action=dict(type="str", default="status", choices=ACTIONS),
        candidate=dict(type="str"),
        leader=dict(type="str"),
        member=dict(type="str"),
        scheduled_at=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
    return spec


def read_status(client):
    cluster = client.get_cluster()
    config = client.get_config()
    if not isinstance(cluster, dict) or not isinstance(config, dict):
        raise PatroniError("unexpected answer from Patroni: GET /cluster and GET /config must return JSON objects")
    return normalize_cluster(cluster, config), config


def wait_for(client, done, timeout, interval=1.0):
    """Poll GET /cluster until done(status) or timeout; return (ok, last status)."""
    deadline = time.monotonic() + timeout
    while True:
        status = normalize_cluster(client.get_cluster())
        if done(status):
            return True, status
        if time.monotonic() >= deadline:
            return False, status
        time.sleep(interval)


def run(module, client):
    params = module.params
    action = params["action"]
    status, config = read_status(client)
    decision = decide(
        action,
        status,
        config,
        candidate=params["candidate"],
        leader=params["leader"],
        member=params["member"],
        scheduled_at=params["scheduled_at"],
    )
    result = dict(changed=False, action=action, decision=decision, request=None, response=None)
    if decision["action"] == "refuse":
        result.update((k, status[k]) for k in STATUS_KEYS)
        result["requests"] = client.log
        module.fail_json(msg="refusing to %s: %s" % (action, decision["reason"]), **result)
    if decision["action"] == "none":
        result.update((k, status[k]) for k in STATUS_KEYS)
        result["requests"] = client.log
        result["msg"] = decision["reason"] if action != "status" else _status_line(status)
        return result

    base_url = client.base_url
    if decision["member"]:
        base_url = base_url_of(find_member(status, decision["member"])["api_url"])
    result["request"] = dict(method=decision["method"], url=base_url + decision["path"], body=decision["body"])
    result["changed"] = True
    if module.check_mode:
        result.update((k, status[k]) for k in STATUS_KEYS)
        result["requests"] = client.log
        result["msg"] = "would %s (check mode)" % decision["reason"]
        return result

    code, body = client.request(decision["method"], decision["path"], decision["body"], base_url=base_url)
    result["response"] = dict(status=code, body=body)
    msg = "%s: HTTP %s" % (decision["reason"], code)
    after = None
    if params["wait"] and code == 200 and action in ("switchover", "failover"):
        target = params["candidate"]
        ok, after = wait_for(client, lambda s: switchover_complete(s, status["leader"], target), params["wait_timeout"])
        if not ok:
            result.update((k, after[k]) for k in STATUS_KEYS)
            result["requests"] = client.log
            module.fail_json(
                msg="%s was accepted, but no new leader%s was running within %d s (leader now: %s)"
                % (action, " '%s'" % target if target else "", params["wait_timeout"], after["leader"]),
                **result,
            )
        msg = "%s: done, '%s' leads on timeline %s" % (decision["reason"], after["leader"], after["timeline"])
    elif params["wait"] and action in ("pause", "resume"):
        want = action == "pause"
        ok, after = wait_for(client, lambda s: s["paused"] == want, params["wait_timeout"])
        if not ok:
            module.warn("Patroni accepted %s but GET /cluster does not show it yet" % action)
    if after is None:
        after, _config = read_status(client)
    result.update((k, after[k]) for k in STATUS_KEYS)
    result["requests"] = client.log
    result["msg"] = msg
    return result


def _status_line(status):
    return "scope %s: leader %s, timeline %s, %d member(s), sync standbys: %s%s" % (
        status["scope"],
        status["leader"],
        status["timeline"],
        len(status["members"]),
        ", ".join(status["sync_standbys"]) or "none",
        ", paused" if status["paused"] else "",
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[
            ("action", "switchover", ("candidate", "leader"), True),
            ("action", "failover", ("candidate",)),
            ("action", "restart", ("member",)),
            ("action", "reinitialize", ("member",)),
        ],
        required_together=[("client_cert", "client_key")],
    )
    params = module.params
    try:
        client = PatroniClient(
            params["api_url"],
            ca_cert=params["ca_cert"],
            client_cert=params["client_cert"],
            client_key=params["client_key"],
            validate_certs=params["validate_certs"],
            username=params["username"],
            password=params["password"],
            timeout=params["timeout"],
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        result = run(module, client)
    except PatroniError as exc:
        module.fail_json(msg=str(exc), status_code=exc.status, body=exc.body, requests=client.log)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
