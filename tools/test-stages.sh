#!/usr/bin/env bash
# `make test`: the static checks and the Molecule scenarios in lanes that overlap, then a table of
# every stage's duration.
#
# - checks lane: lint, unit, sanity, build, from the start (converging the lab is partly waiting:
#   packages, Patroni and etcd starting, pgBackRest talking to S3).
# - default lane: the `default` scenario step by step (destroy, syntax, create, converge,
#   idempotence, verify, destroy), so that each step's time shows in the table.
# - other scenarios (`postgresql`): start when the default lab has converged and passed idempotence,
#   beside its verify step, which is mostly waiting (failovers, TTLs, DR promotion, restores).
#   Each scenario has its own lab name and subnet (molecule/*/molecule.yml), so they never meet.
# Only the default lane streams its output; the others are kept in files and printed when they end,
# so that nothing interleaves. The exit code is non-zero when any stage failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
make=${MAKE:-make}
bin=$root/.venv/bin
logs=$root/.build/test
rm -rf "$logs" && mkdir -p "$logs"
times=$logs/times
converged=$logs/default-converged

# One stage: run a command, record "<name> <seconds> <passed|FAILED>".
stage() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  "$@"
  rc=$?
  echo "$name $(( $(date +%s) - start )) $([ $rc -eq 0 ] && echo passed || echo FAILED)" >>"$times"
  return $rc
}

checks_lane() {
  local rc=0
  for target in lint unit sanity build; do
    stage "$target" "$make" --no-print-directory "$target" || rc=1
  done
  return $rc
}

molecule_step() {
  echo "=== molecule $2 -s $1"
  stage "molecule:$1:$2" "$bin/molecule" "$2" -s "$1"
}

default_lane() {
  local rc=0 step
  for step in destroy syntax create converge idempotence; do
    molecule_step default "$step" || { rc=1; break; }
  done
  touch "$converged"   # the other scenarios may start (also when this lane failed: they still run)
  if [ $rc -eq 0 ]; then
    molecule_step default verify || rc=1
  fi
  molecule_step default destroy || rc=1
  return $rc
}

# The scenarios other than default, one after the other, once the default lab has converged.
others_lane() {
  local rc=0 scenario
  while [ "$with_default" = yes ] && [ ! -e "$converged" ]; do sleep 5; done
  for scenario in $others; do
    stage "molecule:$scenario" "$bin/molecule" test -s "$scenario" >"$logs/molecule-$scenario.log" 2>&1 || rc=1
  done
  return $rc
}

scenarios=${SCENARIOS:-default postgresql}
others=""
with_default=no
for scenario in $scenarios; do
  if [ "$scenario" = default ]; then with_default=yes; else others="$others $scenario"; fi
done

start=$(date +%s)
# What every lane needs, once and in order: the tool venv, the Debian packages, the Docker engine and
# the base image.
stage prepare "$make" --no-print-directory venv image || { echo "make test: FAILED (prepare)"; exit 1; }

# Molecule's own S3 endpoint (port and state apart from a running `make lab`), stopped at the end.
export KEEL_S3_PORT=9444 KEEL_S3_STATE_DIR=$root/.lab/s3-molecule
"$bin/python" tools/lab/s3.py start --state-dir "$KEEL_S3_STATE_DIR" || { echo "make test: FAILED (S3 endpoint)"; exit 1; }
trap '"$bin/python" tools/lab/s3.py stop --state-dir "$KEEL_S3_STATE_DIR"' EXIT

checks_lane >"$logs/checks.log" 2>&1 &
checks_pid=$!
others_rc=0
if [ -n "$others" ]; then
  others_lane &
  others_pid=$!
fi
default_rc=0
if [ "$with_default" = yes ]; then
  default_lane
  default_rc=$?
fi
if [ -n "$others" ]; then
  wait "$others_pid"
  others_rc=$?
fi
wait "$checks_pid"
checks_rc=$?

for scenario in $others; do
  echo "=== molecule test -s $scenario (ran beside the default scenario's verify; output kept in $logs/molecule-$scenario.log)"
  cat "$logs/molecule-$scenario.log"
done
echo "=== lint, unit, sanity, build (ran beside Molecule; output kept in $logs/checks.log)"
cat "$logs/checks.log"

echo "=== make test stages (the lanes overlap in time)"
printf '%-30s %8s  %s\n' stage seconds result
while read -r name seconds result; do
  printf '%-30s %8s  %s\n' "$name" "$seconds" "$result"
done <"$times"
total=$(( $(date +%s) - start ))
if [ $checks_rc -eq 0 ] && [ $default_rc -eq 0 ] && [ $others_rc -eq 0 ]; then
  echo "make test: passed in $total s"
  exit 0
fi
echo "make test: FAILED in $total s"
exit 1
