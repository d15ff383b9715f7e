#!/usr/bin/env bash
# Make sure a Docker engine answers; start one when it does not. One-line reason on failure.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  systemctl start docker >/dev/null 2>&1 || true
fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup dockerd >/var/log/keel-dockerd.log 2>&1 &
fi
for _ in $(seq 1 30); do
  if docker info >/dev/null 2>&1; then echo "docker engine started"; exit 0; fi
  sleep 1
done
echo "the Docker engine did not start (see /var/log/keel-dockerd.log); fix: start dockerd by hand and re-run" >&2
exit 1
