# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m releasestation` runs the admin CLI."""

import sys

from releasestation.cli import main

sys.exit(main())
