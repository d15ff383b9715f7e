#!/usr/bin/env bash
# `make test`: the static checks and the Molecule scenarios in two lanes at once, then a table of
# every stage's duration.
#
# Converging the lab is mostly waiting (package downloads, Patroni and etcd starting, pgBackRest
# talking to S3), so the checks (lint, unit, sanity, build) run meanwhile instead of before it.
# The Molecule lane streams its output; the checks lane's output is kept in a file and printed
# when that lane ends, so the two never interleave. The exit code is non-zero when any stage failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
make=${MAKE:-make}
logs=$root/.build/test
rm -rf "$logs" && mkdir -p "$logs"
times=$logs/times

# One stage: run `make <target>`, record "<name> <seconds> <passed|FAILED>".
stage() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  "$make" --no-print-directory "$@"
  rc=$?
  echo "$name $(( $(date +%s) - start )) $([ $rc -eq 0 ] && echo passed || echo FAILED)" >>"$times"
  return $rc
}

checks_lane() {
  local rc=0
  for target in lint unit sanity build; do
    stage "$target" "$target" || rc=1
  done
  return $rc
}

molecule_lane() {
  local rc=0
  for scenario in ${SCENARIOS:-default postgresql}; do
    stage "molecule:$scenario" molecule SCENARIOS="$scenario" || { rc=1; break; }
  done
  return $rc
}

start=$(date +%s)
# What both lanes need, once and in order: the tool venv, the Debian packages, the Docker engine and
# the base image.
stage prepare venv image || { echo "make test: FAILED (prepare)"; exit 1; }

checks_lane >"$logs/checks.log" 2>&1 &
checks_pid=$!
molecule_lane
molecule_rc=$?
wait "$checks_pid"
checks_rc=$?

echo "=== lint, unit, sanity, build (ran beside Molecule; output kept in $logs/checks.log)"
cat "$logs/checks.log"

echo "=== make test stages (the two lanes overlap in time)"
printf '%-22s %8s  %s\n' stage seconds result
while read -r name seconds result; do
  printf '%-22s %8s  %s\n' "$name" "$seconds" "$result"
done <"$times"
total=$(( $(date +%s) - start ))
if [ $checks_rc -eq 0 ] && [ $molecule_rc -eq 0 ]; then
  echo "make test: passed in $total s"
  exit 0
fi
echo "make test: FAILED in $total s"
exit 1
