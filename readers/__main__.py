# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m readers` runs the reader diagnostics CLI."""

import sys

from readers.cli import main

sys.exit(main())
