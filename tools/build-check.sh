#!/usr/bin/env bash
# Build the collection artifact, install it into a scratch path and check that Ansible lists
# its content: what a user of `ansible-galaxy collection install` would get.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.build/artifact
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" "$root" >/dev/null
tarball=$(ls "$out"/keel-postgres-*.tar.gz)
contents=$(tar -tzf "$tarball")
ansible-galaxy collection install --force -p "$out/installed" "$tarball" >/dev/null
printf "[defaults]\ncollections_path = %s\n" "$out/installed" > "$out/ansible.cfg"
export ANSIBLE_CONFIG=$out/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$out/installed
listed=$(cd "$out" && ansible-doc -t module -l keel.postgres; ansible-doc -t filter -l keel.postgres)
shopt -s nullglob
for file in "$root"/plugins/modules/*.py; do
  plugin=$(basename "$file" .py)
  grep -q "keel.postgres.$plugin " <<<"$listed" || { echo "build: module $plugin missing from the artifact" >&2; exit 1; }
done
for role in $(ls "$root/roles"); do
  grep -qx "roles/$role/tasks/main.yml" <<<"$contents" || { echo "build: role $role missing" >&2; exit 1; }
done
(cd "$out" && ansible-doc -t role -l keel.postgres >/dev/null)
grep -qx 'playbooks/site.yml' <<<"$contents" || { echo "build: playbooks/site.yml missing" >&2; exit 1; }
if grep -qE '^(collections|\.lab|\.venv|\.build|\.hypothesis)/' <<<"$contents"; then
  echo "build: the artifact carries local state" >&2; exit 1
fi
echo "build: $(basename "$tarball") installs; $(grep -c 'keel.postgres\.' <<<"$listed") plugins listed, $(ls "$root/roles" | wc -l) roles"
# The platform playbook resolves from the installed artifact alone.
(cd "$out" && ansible-playbook -i "$root/inventories/lab" keel.postgres.site --syntax-check >/dev/null)
echo "build: keel.postgres.site passes --syntax-check from the installed artifact"
