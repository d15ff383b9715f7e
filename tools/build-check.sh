#!/usr/bin/env bash
# Build the collection artifact, install it into a scratch path and check that Ansible lists
# its content: what a user of `ansible-galaxy collection install` would get.
# Then install the same artifact beside ansible-core alone plus the collections galaxy.yml
# declares (nothing else: no `ansible` package, no other collection) and check its playbooks and
# plugin documentation load there. A collection the content uses but galaxy.yml does not declare
# fails the check, by name.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.build/artifact
# `make build` puts the project's venv on PATH; a direct run finds it too.
command -v ansible-galaxy >/dev/null || PATH=$root/.venv/bin:$PATH
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" "$root" >/dev/null
tarball=$(ls "$out"/keel-postgres-*.tar.gz)
contents=$(tar -tzf "$tarball")
printf "[defaults]\ncollections_path = %s\n" "$out/installed" > "$out/ansible.cfg"
export ANSIBLE_CONFIG=$out/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$out/installed
# --offline: the dependencies resolve against the project venv's collections, never Galaxy.
ansible-galaxy collection install --offline --force -p "$out/installed" "$tarball" >/dev/null \
  || { echo "build: the artifact does not install beside the project venv's collections (see above)" >&2; exit 1; }
listed=$(cd "$out" && ansible-doc -t module -l keel.postgres; ansible-doc -t filter -l keel.postgres)
shopt -s nullglob
for file in "$root"/plugins/modules/*.py; do
  plugin=$(basename "$file" .py)
  grep -q "keel.postgres.$plugin " <<<"$listed" || { echo "build: module $plugin missing from the artifact" >&2; exit 1; }
done
roles=("$root"/roles/*/)
for dir in "${roles[@]}"; do
  role=$(basename "$dir")
  # A role is a directory with tasks (roles/monitoring ships only its rule files so far).
  [[ -d "$dir/tasks" ]] || continue
  grep -qx "roles/$role/tasks/main.yml" <<<"$contents" || { echo "build: role $role missing" >&2; exit 1; }
done
(cd "$out" && ansible-doc -t role -l keel.postgres >/dev/null)
grep -qx 'playbooks/site.yml' <<<"$contents" || { echo "build: playbooks/site.yml missing" >&2; exit 1; }
if grep -qE '^(collections|\.lab|\.venv|\.build|\.hypothesis)/' <<<"$contents"; then
  echo "build: the artifact carries local state" >&2; exit 1
fi
if grep -q '^playbooks/lab/' <<<"$contents"; then
  echo "build: the artifact carries playbooks/lab (lab-only tooling, needs community.docker): see build_ignore" >&2; exit 1
fi
echo "build: $(basename "$tarball") installs; $(grep -c 'keel.postgres\.' <<<"$listed") plugins listed, ${#roles[@]} roles"
# keel.postgres.site and every other shipped playbook are syntax-checked below, from the artifact
# installed beside ansible-core and the declared dependencies only.

# --- ansible-core plus the declared dependencies only ---------------------------------------------
# The project's venv has the whole `ansible` package, so the checks above cannot see a missing
# dependency. A scratch venv with only ansible-core, at the version requirements-dev.txt pins, is kept
# between runs under .build/core-env and rebuilt when that pin or the Python changes.
env_dir=$root/.build/core-env
core=$env_dir/venv
deps=$env_dir/collections
fail() { # fail LOG MESSAGE: show what the command said, then name the problem
  [ -s "$1" ] && cat "$1" >&2
  echo "build: $2" >&2
  exit 1
}
core_pin=$(grep -E '^ansible-core==' "$root/requirements-dev.txt") || fail /dev/null "no ansible-core== pin in requirements-dev.txt"
want="$core_pin $(python3 --version)"
if [ "$(cat "$core/.keel-stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$core"
  python3 -m venv "$core"
  "$core/bin/pip" install --quiet --disable-pip-version-check "$core_pin" >"$out/core-pip.log" 2>&1 \
    || fail "$out/core-pip.log" "pip could not install $core_pin into $core"
  echo "$want" >"$core/.keel-stamp"
fi

# Where the project's venv keeps each collection: the offline source of the dependencies (Galaxy is
# not reachable from the build machines).
ansible-galaxy collection list --format json >"$out/available.json" 2>"$out/available.log" \
  || fail "$out/available.log" "ansible-galaxy collection list failed in the project venv"

# Compare what the installed artifact uses with what its MANIFEST.json declares and requirements.yml
# lists, and resolve the declared dependencies (and theirs) to the project venv's copies.
"$core/bin/python" - "$out/installed/ansible_collections/keel/postgres" "$out/available.json" \
  "$root/requirements.yml" >"$out/deps.txt" 2>"$out/deps.log" <<'PY' || fail "$out/deps.log" "dependency check failed"
import json, pathlib, re, sys
import yaml

keel, available, requirements = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
declared = json.loads((keel / "MANIFEST.json").read_text())["collection_info"]["dependencies"]
sources = {}
for path, found in json.load(open(available)).items():
    for name, info in found.items():
        sources.setdefault(name, (pathlib.Path(path, *name.split(".")), info["version"]))
known = {n for n in sources if n != "keel.postgres" and not n.startswith(("ansible.builtin", "ansible.legacy", "ansible._"))}

# FQCNs in task files, templates and playbooks (comment lines skipped) and collection imports in plugins.
fqcn = re.compile(r"(?<![\w.])([a-z]\w*\.[a-z]\w*)\.[A-Za-z_]\w*")
imports = re.compile(r"ansible_collections\.([a-z]\w*\.[a-z]\w*)\b")
used = {}
for top, pattern, suffixes in (("roles", fqcn, {".yml", ".yaml", ".j2"}), ("playbooks", fqcn, {".yml", ".yaml"}),
                               ("plugins", imports, {".py"})):
    for file in sorted((keel / top).rglob("*")):
        if file.suffix not in suffixes or not file.is_file():
            continue
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            if line.lstrip().startswith(("#", "{#")) and pattern is fqcn:
                continue
            for name in pattern.findall(line):
                if name in known:
                    used.setdefault(name, f"{file.relative_to(keel)}:{number}")

errors = [f"keel.postgres uses {name} ({where}) but galaxy.yml does not declare it in dependencies"
          for name, where in sorted(used.items()) if name not in declared]
listed = {c["name"]: str(c.get("version", "*")) for c in yaml.safe_load(open(requirements))["collections"]}
galaxy = {name: str(spec) for name, spec in declared.items()}
for name in sorted(set(listed) | set(galaxy)):
    if listed.get(name) != galaxy.get(name):
        errors.append(f"{name}: requirements.yml has {listed.get(name, 'nothing')}, galaxy.yml {galaxy.get(name, 'nothing')}:"
                      " keep the two lists the same")
for name in sorted(set(declared) - set(used)):
    print(f"build: warning: galaxy.yml declares {name}, which no role, playbook or plugin uses", file=sys.stderr)

# The closure of the declared dependencies, from the project venv's copies.
todo, seen = list(declared), {}
while todo:
    name = todo.pop()
    if name in seen:
        continue
    if name not in sources:
        errors.append(f"dependency {name} is not in the project venv (requirements-dev.txt): it cannot be installed offline")
        continue
    seen[name] = sources[name]
    todo.extend(json.loads((sources[name][0] / "MANIFEST.json").read_text())["collection_info"]["dependencies"])
if errors:
    sys.exit("\n".join(f"build: {e}" for e in errors))
for name, (path, version) in sorted(seen.items()):
    print(name, version, path)
PY
[ -s "$out/deps.log" ] && cat "$out/deps.log" >&2

# The dependencies go into their own collections path (copied once per list of name, version, source);
# the artifact is installed into a fresh one with --offline, so ansible-galaxy resolves the declared
# version ranges against those copies and fails naming any requirement they do not satisfy.
stale=false
[ "$(cat "$deps/.keel-stamp" 2>/dev/null)" = "$(cat "$out/deps.txt")" ] || stale=true
while read -r name _; do
  [ -f "$deps/ansible_collections/${name%%.*}/${name#*.}/MANIFEST.json" ] || stale=true
done <"$out/deps.txt"
if $stale; then
  rm -rf "$deps" && mkdir -p "$deps/ansible_collections"
  while read -r name _ source; do
    mkdir -p "$deps/ansible_collections/${name%%.*}"
    cp -a "$source" "$deps/ansible_collections/${name%%.*}/${name#*.}"
  done <"$out/deps.txt"
  cp "$out/deps.txt" "$deps/.keel-stamp"
fi
keel_core=$out/core-installed
printf "[defaults]\ncollections_path = %s:%s\n" "$keel_core" "$deps" >"$out/core.cfg"
core_run() { # a clean environment: no variable of the caller's shell, no ~/.ansible, no site-packages scan
  env -i PATH="$core/bin:/usr/bin:/bin" HOME="$env_dir/home" LANG=C.UTF-8 LC_ALL=C.UTF-8 PYTHONWARNINGS=ignore \
    ANSIBLE_CONFIG="$out/core.cfg" ANSIBLE_HOME="$env_dir/home" ANSIBLE_COLLECTIONS_PATH="$keel_core:$deps" \
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_NOCOLOR=1 "$@"
}
core_run ansible-galaxy collection install --offline -p "$keel_core" "$tarball" >"$out/core-install.log" 2>&1 \
  || fail "$out/core-install.log" "the artifact does not install beside ansible-core and its declared dependencies"

# Every playbook the artifact ships, by FQCN, in one run.
playbooks=()
for file in "$keel_core"/ansible_collections/keel/postgres/playbooks/*.yml; do
  playbooks+=("keel.postgres.$(basename "$file" .yml)")
done
(cd "$out" && core_run ansible-playbook -i "$root/inventories/lab" "${playbooks[@]}" --syntax-check) \
  >"$out/core-syntax.log" 2>&1 \
  || fail "$out/core-syntax.log" "--syntax-check fails with ansible-core and the declared dependencies only (a dependency missing from galaxy.yml?)"

# The documentation of every module and filter, loaded (not only listed) in that environment.
modules=()
for file in "$keel_core"/ansible_collections/keel/postgres/plugins/modules/*.py; do
  modules+=("keel.postgres.$(basename "$file" .py)")
done
mapfile -t filters < <(cd "$out" && core_run ansible-doc -t filter -l keel.postgres 2>>"$out/core-doc.log" | awk '{print $1}')
for kind in module filter; do
  if [ "$kind" = module ]; then names=("${modules[@]}"); else names=("${filters[@]}"); fi
  [ ${#names[@]} -gt 0 ] || fail "$out/core-doc.log" "no keel.postgres ${kind}s found in the core environment"
  (cd "$out" && core_run ansible-doc -t "$kind" --json "${names[@]}") >"$out/core-doc-$kind.json" 2>>"$out/core-doc.log" \
    || fail "$out/core-doc.log" "ansible-doc -t $kind fails with ansible-core and the declared dependencies only"
  "$core/bin/python" - "$out/core-doc-$kind.json" "${names[@]}" 2>>"$out/core-doc.log" <<'PY' \
    || fail "$out/core-doc.log" "ansible-doc -t $kind did not document every keel.postgres $kind"
import json, sys
docs = json.load(open(sys.argv[1]))
missing = [n for n in sys.argv[2:] if not (docs.get(n) or {}).get("doc", {}).get("short_description")]
sys.exit(f"no documentation for {', '.join(missing)}" if missing else 0)
PY
done
core_version=$(core_run ansible --version | sed -n '1s/.*\[core \(.*\)\]/\1/p')
only=$(awk '{print $1, $2}' "$out/deps.txt" | paste -sd, - | sed 's/,/, /g')
echo "build: with ansible-core $core_version and only ${only:-no other collection}:" \
  "${#playbooks[@]} playbooks pass --syntax-check, ${#modules[@]} modules and ${#filters[@]} filters documented"
