# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m credgen`: the same as the `credgen` command."""

import sys

from credgen.cli import main

sys.exit(main())
