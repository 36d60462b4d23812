"""``python -m xops_provider.cli``, the same as the ``xops`` command."""

from __future__ import annotations

import sys

from xops_provider.cli import main

sys.exit(main())
