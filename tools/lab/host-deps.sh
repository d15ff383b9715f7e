#!/usr/bin/env bash
# Install the Debian packages the controller needs, only those missing.
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || need+=(postgresql-15)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # promtool, for tests/unit/monitoring
# The exporter that runs the custom queries, for tests/integration/test_exporter_queries.py.
command -v prometheus-postgres-exporter >/dev/null 2>&1 || need+=(prometheus-postgres-exporter)
command -v stunnel4 >/dev/null 2>&1 || true   # not needed: the S3 launcher speaks TLS itself
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing Debian packages: ${need[*]}; fix: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  mkdir -p /etc/postgresql-common/createcluster.d
  # The tests start their own PostgreSQL instances; the package's default cluster is not wanted.
  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/keel-no-main.conf
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
