# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault suite: real servers stopped, stalled, flooded or given a wrong clock."""
