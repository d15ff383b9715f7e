"""Make the collection importable as ansible_collections.keel.postgres for pytest.

The repository root *is* the collection; collections/ansible_collections/keel/postgres is a
committed symlink back to it, so Python (and ansible-playbook, see ansible.cfg) find the
namespace path Ansible expects without copying anything.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
