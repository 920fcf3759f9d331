"""``python -m monitor.sim``: the PBX simulator without Django (same options as pbxsim)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
