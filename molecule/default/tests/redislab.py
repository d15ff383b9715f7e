"""The lab's Redis Cluster as the tests of redis/ see it (fixtures `lab` and `redis_host` in conftest.py).

Checks run from OUTSIDE the instance under test: redis-cli inside one lab container talks TLS
to the instances on the OTHER redis hosts, over the lab network, as the application user (the
test runner itself has no redis-cli). Passwords come from the lab inventory (lab-only values).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

CA = "/etc/keel/tls/ca.crt"


@dataclass(frozen=True)
class Instance:
    host: str
    address: str
    port: int

    @property
    def endpoint(self):
        return "%s:%d" % (self.address, self.port)


class Lab:
    """The redis hosts of the lab inventory and a redis-cli that runs inside a lab container."""

    def __init__(self, inventory):
        self.name = os.environ.get("KEEL_LAB_NAME", "keel")
        net = os.environ.get("KEEL_LAB_NET", "172.28.10")
        hostvars = inventory["_meta"]["hostvars"]
        self.hosts = list(inventory["redis"]["hosts"])
        self.address = {h: "%s.%s" % (net, hostvars[h]["keel_lab_host_id"]) for h in self.hosts}
        self.host_of = {a: h for h, a in self.address.items()}
        some = hostvars[self.hosts[0]]
        self.ports = [int(p) for p in some.get("redis_cluster_ports", [7000, 7001])]
        self.passwords = {
            some.get("redis_cluster_app_user", "app"): some["redis_cluster_app_password"],
            some.get("redis_cluster_admin_user", "admin"): some["redis_cluster_admin_password"],
        }
        self.app_user = some.get("redis_cluster_app_user", "app")
        self.down = set()  # hosts a destructive test has stopped: never used to run redis-cli

    def container(self, host):
        return "%s-%s" % (self.name, host)

    def instances(self, host=None):
        return [Instance(h, self.address[h], p) for h in self.hosts if host in (None, h) for p in self.ports]

    def runner_for(self, target_host):
        """A redis host other than the target's, to run redis-cli from."""
        return next(h for h in self.hosts if h != target_host and h not in self.down)

    def cli(self, target, *args, user=None, password=None, follow=False, tls=True, cacert=CA, runner=None, timeout=20):
        """redis-cli from a container other than the target's; returns (rc, stdout + stderr)."""
        user = user or self.app_user
        runner = runner or self.runner_for(target.host)
        env = dict(os.environ)
        argv = ["docker", "exec"]
        if password is not False:
            env["REDISCLI_AUTH"] = password if password is not None else self.passwords[user]
            argv += ["-e", "REDISCLI_AUTH"]  # the value comes from this process's environment, not argv
        argv += [self.container(runner), "redis-cli", "-h", target.address, "-p", str(target.port)]
        if tls:
            argv += ["--tls"] + (["--cacert", cacert] if cacert else [])
        if password is not False:
            argv += ["--user", user]
        if follow:
            argv.append("-c")
        proc = subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout)
        return proc.returncode, (proc.stdout + proc.stderr).strip()

    def nodes(self, target=None):
        target = target or self.instances()[0]
        rc, out = self.cli(target, "CLUSTER", "NODES")
        assert rc == 0, out
        parsed = []
        for line in out.splitlines():
            parts = line.split()
            endpoint = parts[1].split("@")[0]
            parsed.append(
                {
                    "id": parts[0],
                    "endpoint": endpoint,
                    "host": self.host_of.get(endpoint.rpartition(":")[0]),
                    "flags": parts[2].split(","),
                    "master": None if parts[3] == "-" else parts[3],
                    "link": parts[7],
                    "slots": parts[8:],
                }
            )
        return parsed

    def info(self, target):
        rc, out = self.cli(target, "CLUSTER", "INFO")
        assert rc == 0, out
        return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
