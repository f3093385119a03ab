# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers the benchmarks and the tests start: slapd, SMTP, a card terminal, a PostgreSQL
schema.

They live here, not under tests/, because the benchmarks run without pytest and take
nothing from tests/; the tests' fixtures (tests/fixtures/) wrap them. The product ships
neither bench/ nor tests/ (setup.cfg packages only releasestation, readers and credgen).
"""
