# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure checks of the platform inventory, run by the preflight before any host is touched.

Each check returns human-readable errors that name the variable or group, the value found,
and the fix. An empty list means the topology is acceptable.
"""

from __future__ import annotations

import ipaddress
import re

REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def _members(groups, name):
    return list(groups.get(name) or [])


def check_etcd(groups):
    members = _members(groups, "etcd")
    if not members:
        return ["group 'etcd' is empty: list 3 (or 5) hosts, one per site, to hold the Patroni DCS"]
    if len(members) % 2 == 0:
        return [
            "group 'etcd' has %d members (%s): an even count adds no fault tolerance and can split "
            "the vote; use an odd number (3 or 5)" % (len(members), ", ".join(sorted(members)))
        ]
    return []


def check_clusters(groups):
    errors = []
    both = sorted(set(_members(groups, "postgres")) & set(_members(groups, "postgres_dr")))
    if both:
        errors.append(
            "host(s) %s are in both 'postgres' and 'postgres_dr': a host belongs to exactly one "
            "Patroni cluster; remove it from one group" % ", ".join(both)
        )
    return errors


def check_platform(platform):
    errors = []
    names = {}
    for var in ("keel_cluster_name", "keel_dr_cluster_name"):
        value = platform.get(var)
        if value is None:
            continue
        if not isinstance(value, str) or not CLUSTER_NAME_RE.match(value):
            errors.append("%s=%r is not a valid cluster name: use letters, digits, '-' or '_'" % (var, value))
        names[var] = value
    if names.get("keel_cluster_name") and names.get("keel_cluster_name") == names.get("keel_dr_cluster_name"):
        errors.append(
            "keel_dr_cluster_name=%r equals keel_cluster_name: the DR standby cluster needs its own "
            "Patroni scope; give it a different name" % names["keel_dr_cluster_name"]
        )
    return errors


def check_hosts(hosts, names):
    """hosts: mapping host name -> mapping with keel_region and keel_address (either may be absent).

    ``names`` are the inventory hosts to check (Ansible's hostvars also holds the implicit localhost).
    """
    errors = []
    seen_addresses = {}
    for host in sorted(names):
        hvars = hosts.get(host) or {}
        region = hvars.get("keel_region")
        if not region:
            errors.append("host %s has no keel_region: set it (e.g. us-east-1) in the inventory" % host)
        elif not isinstance(region, str) or not REGION_RE.match(region):
            errors.append(
                "host %s: keel_region=%r is not a region name (lower-case letters, digits and '-')" % (host, region)
            )
        address = hvars.get("keel_address")
        if address in (None, ""):
            continue
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            errors.append("host %s: keel_address=%r is not an IP address" % (host, address))
            continue
        if str(address) in seen_addresses:
            errors.append(
                "host %s: keel_address=%s is already used by %s; every host needs its own address"
                % (host, address, seen_addresses[str(address)])
            )
        seen_addresses[str(address)] = host
    return errors


def validate(groups, hosts, platform):
    """Run every topology check and return the list of errors."""
    names = _members(groups, "all")
    return check_etcd(groups) + check_clusters(groups) + check_platform(platform) + check_hosts(hosts, names)


def overlapping_subnets(subnet, others):
    """Return the entries of ``others`` (CIDR strings; junk ignored) that overlap ``subnet``."""
    mine = ipaddress.ip_network(str(subnet), strict=False)
    found = []
    for other in others:
        try:
            net = ipaddress.ip_network(str(other), strict=False)
        except ValueError:
            continue
        if net.version == mine.version and net.overlaps(mine):
            found.append(str(other))
    return found
