#!/usr/bin/env bash
# ansible-test sanity on the plugins. ansible-test wants the collection under
# .../ansible_collections/keel/postgres and a git tree: build that copy in .build/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.build"
work=$(mktemp -d "$root/.build/sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/keel/postgres
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | grep -zv '^collections/' | xargs -0 cp --parents -P -t "$dest")
cd "$dest"
git init -q && git add -A && git -c user.email=ci@keel -c user.name=ci commit -qm sanity
# ansible-test bootstraps pip in its own venvs: the machine-wide find-links (an older pip wheel)
# would be picked over the pip it asks for.
pip_version=$(python -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v.replace(".", "_"))' 2>/dev/null || echo 24_2)
# ansible-test keeps its venvs and caches under ~/.ansible/test: give it a home of its own.
export HOME=$root/.build/ansible-test-home
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/tools/ansible_test_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version}.py"
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PIP_FIND_LINKS= ansible-test sanity --color no --python "$python_version" "$@" plugins/ tests/unit/
