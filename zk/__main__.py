"""``python -m zk``: the verifier-only command line (see zk.cli)."""

import sys

from zk.cli import main

sys.exit(main())
