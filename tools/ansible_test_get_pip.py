"""Stand-in for ansible-test's get-pip bootstrap script.

ansible-test downloads get-pip from a host our build machines cannot reach; its error message
says the script may be saved by hand at ~/.ansible/test/cache/get_pip_<version>.py, which is
what tools/sanity.sh does with this file. It installs pip from the interpreter's bundled wheel
(ensurepip), then the requested packages from the package index. get-pip's own flags
(--no-setuptools, --no-wheel) mean "do not add these", which plain pip does by default.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY_FLAGS = {"--no-setuptools", "--no-wheel"}

ensurepip.bootstrap(upgrade=True)
# ensurepip sets PIP_CONFIG_FILE=/dev/null for its own run; the real install must see the
# machine's pip configuration (index, certificate authority).
os.environ.pop("PIP_CONFIG_FILE", None)
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
