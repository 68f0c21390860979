"""``python -m sealyard`` runs the CLI."""

from __future__ import annotations

import sys

from sealyard.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
