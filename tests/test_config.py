# SPDX-License-Identifier: GPL-3.0-or-later
"""Config validation: every problem named with its section and key; secrets masked."""

import dataclasses
import os
from pathlib import Path

import pytest

from releasestation import config
from releasestation.errors import ConfigError

MINIMAL = "[station]\nhold_queues = Secure\n"


def test_minimal_config_has_defaults():
    cfg = config.parse_text(MINIMAL)
    assert cfg.station.hold_queues == ("Secure",)
    assert cfg.station.debounce_seconds == 3.0
    assert cfg.directory.type == "local"
    assert cfg.cups.server == "/run/cups/cups.sock"
    assert cfg.directory.tls_validate is True


def test_every_problem_is_reported_with_section_and_key():
    text = """
[station]
hold_queues = Secure
debounce_secnds = 3
pin_max_digits = many
[directory]
type = ldap
[databse]
url = x
[reader:door]
type = papercut
port = 99999
"""
    with pytest.raises(ConfigError) as err:
        config.parse_text(text, "site.ini")
    problems = "\n".join(err.value.problems)
    assert "[station] debounce_secnds: unknown key (did you mean 'debounce_seconds'?)" in problems
    assert "[station] pin_max_digits: invalid literal" in problems
    assert "[directory] uri: required when type = ldap" in problems
    assert "[databse]: unknown section (did you mean 'database'?)" in problems
    assert "[reader:door] host: required in connect mode" in problems
    assert all(p.startswith("site.ini: ") for p in err.value.problems)


def test_unknown_reader_type_suggests():
    expected = r"unknown reader type 'papercat' \(did you mean 'papercut'"
    with pytest.raises(ConfigError, match=expected):
        config.parse_text(MINIMAL + "[reader:x]\ntype = papercat\n")


def test_missing_station_section():
    with pytest.raises(ConfigError, match=r"\[station\]: required section is missing"):
        config.parse_text("[cups]\nserver = /tmp/x\n")


def test_secrets_are_masked_when_shown():
    cfg = config.parse_text(
        MINIMAL + "[directory]\ntype=ldap\nuri=ldap://h\nbase_dn=dc=x\nbind_password=hunter2\n"
    )
    shown = cfg.show()
    assert "hunter2" not in shown
    assert "bind_password = ********" in shown


def test_locate_order(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    assert config.locate(None) == config.DEFAULT_PATH
    monkeypatch.setenv(config.ENV_VAR, "/env.ini")
    assert config.locate(None) == "/env.ini"
    assert config.locate("/arg.ini") == "/arg.ini"


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.ini"):
        config.load(str(tmp_path / "nope.ini"))


def test_example_config_is_valid_and_documents_every_key():
    example = Path(__file__).parent.parent / "examples" / "releasestation.ini"
    cfg = config.load(str(example))
    text = example.read_text()
    for name, cls in config.SECTIONS.items():
        for field in dataclasses.fields(cls):
            assert f"{field.name} =" in text or f"; {field.name} =" in text, (name, field.name)
    from readers import REGISTRY, reader_class

    for kind in REGISTRY:
        for field in dataclasses.fields(reader_class(kind).Settings):
            assert f"{field.name} =" in text, (kind, field.name)
    assert cfg.readers, "the example shows at least one reader"
    assert os.path.basename(cfg.path or "") == "releasestation.ini"


def test_secrets_stay_out_of_repr():
    cfg = config.parse_text(
        MINIMAL + "[directory]\ntype=ldap\nuri=ldap://h\nbase_dn=dc=x\nbind_password=hunter2\n"
        "[cups]\npassword=cupspw\n"
    )
    assert "hunter2" not in repr(cfg) and "cupspw" not in repr(cfg)
