# SPDX-License-Identifier: GPL-3.0-or-later
"""Owner matching: domain, realm and case variants belong to the user; nothing else."""

import pytest

from releasestation.owner_names import NameForm, OwnerMatcher, fold

M = OwnerMatcher(domains=("CORP",), realms=("corp.example.org",))


@pytest.mark.parametrize(
    "owner", ["alice", "ALICE", "CORP\\alice", "corp\\Alice", "alice@corp.example.org",
              "Alice@CORP.EXAMPLE.ORG"],
)  # fmt: skip
def test_variants_belong_to_alice(owner):
    assert M.owns(owner, "alice")


@pytest.mark.parametrize(
    "owner", ["bob", "alice2", "OTHER\\alice", "alice@evil.example.org", "\\alice",
              "@corp.example.org", "", "alicé", "xalice"],
)  # fmt: skip
def test_others_do_not(owner):
    assert not M.owns(owner, "alice")


def test_no_domains_means_plain_names_only():
    plain = OwnerMatcher()
    assert plain.owns("ALICE", "alice")
    assert not plain.owns("CORP\\alice", "alice")
    assert plain.variants("Alice") == ["alice"]


def test_variants_cover_every_accepted_form():
    assert M.variants("alice") == ["alice", "CORP\\alice", "alice@corp.example.org"]
    assert all(M.owns(v, "alice") for v in M.variants("alice"))


def test_case_is_folded_as_cupsd_folds_it():
    """A-Z only: cupsd holds `\u212aarl`'s (Kelvin sign) and `STRASSE`'s jobs for someone
    other than karl and straße, and so does the station."""
    assert fold("CORP\\Alice") == "corp\\alice"
    assert not M.owns("\u212aarl", "karl")
    assert not M.owns("STRASSE", "straße")
    assert M.base_name("ÄLICE") == "Älice"
    assert NameForm().normalise("ÄLICE@Example.org") == "Älice@example.org"
