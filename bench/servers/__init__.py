# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers the benchmarks and the tests start: slapd, SMTP, a card terminal, a PostgreSQL
schema.

They live here, not under tests/, because the benchmarks run without pytest and must not
depend on the test tree, while the tests may use anything (ARCHITECTURE.md): the tests'
fixtures (tests/fixtures/) wrap these. The product ships neither bench/ nor tests/
(setup.cfg packages only releasestation, readers and credgen).
"""
