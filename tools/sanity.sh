#!/usr/bin/env bash
# ansible-test sanity on the plugins. ansible-test wants the collection under
# .../ansible_collections/keel/postgres and a git tree: build that copy in .build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.build/sanity/ansible_collections/keel/postgres
rm -rf "$root/.build/sanity"
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | grep -zv '^collections/' | xargs -0 cp --parents -P -t "$dest")
cd "$dest"
git init -q && git add -A && git -c user.email=ci@keel -c user.name=ci commit -qm sanity
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --color no --python "$python_version" "$@" plugins/ tests/unit/
