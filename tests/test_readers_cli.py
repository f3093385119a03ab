# SPDX-License-Identifier: GPL-3.0-or-later
"""The `readers` command: list, and watch over a pty serial reader and a PaperCut reader."""

from __future__ import annotations

import os
import pty
import signal
import socket
import stat
import threading
import time

import pytest
from evdev import ecodes

from readers import cli, keys


class Feeder:
    """Sends data from a background thread until stopped, so a test need not know when the
    watched reader opened its port: what comes before that is discarded, as on real hardware."""

    def __init__(self, send, data: bytes, interval: float = 0.05):
        self.send, self.data, self.interval = send, data, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.send(self.data)
            except OSError:
                continue

    def __enter__(self) -> Feeder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)


def run_main(argv: list[str], timeout: float = 10.0) -> int | None:
    """main(argv) in a thread, so a failing test ends instead of hanging."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(cli.main(argv)), daemon=True)
    worker.start()
    worker.join(timeout)
    return result[0] if result else None


@pytest.fixture
def pty_port(tmp_path):
    master, slave = pty.openpty()
    link = tmp_path / "usb-Reader-if00-port0"
    link.symlink_to(os.ttyname(slave))
    os.close(slave)
    try:
        yield link, master
    finally:
        os.close(master)


def write_config(tmp_path, text: str):
    path = tmp_path / "releasestation.ini"
    path.write_text("[station]\nhold_queues = held\n\n" + text)
    return path


def test_watch_a_configured_serial_reader(tmp_path, pty_port, capsys):
    link, master = pty_port
    config = write_config(
        tmp_path,
        f"[reader:lobby]\ntype = serial   ; a pty here\nport = {link}\n"
        "convert = reverse_bytes, hex2dec, pad:10  # as the directory holds it\n",
    )
    with Feeder(lambda data: os.write(master, data), b"4E61BC00\r\n"):
        code = run_main(["watch", "lobby", "--config", str(config), "--count", "2"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == ["lobby  card  raw=4E61BC00  value=0012345678"] * 2


def test_watch_a_serial_port_from_the_command_line(pty_port, capsys):
    link, master = pty_port
    with Feeder(lambda data: os.write(master, data), b"\x02G123\x03"):
        code = run_main(
            ["watch", "--serial", str(link), "--baud", "19200", "--terminator", "stx-etx",
             "--convert", "hex2dec", "--count", "1"]
        )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "serial  card  raw=G123  value=(no value: this read would be dropped)" in out


class Terminal:
    """A PaperCut-style terminal dialling the station; connects on first send."""

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None

    def send(self, data: bytes) -> None:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        self.sock.sendall(data)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_watch_a_papercut_listen_reader_found_through_the_environment(
    tmp_path, monkeypatch, capsys
):
    port = free_port()
    config = write_config(
        tmp_path,
        "[reader:terminal]\ntype = papercut\nmode = listen\nhost = 127.0.0.1\n"
        f"port = {port}\nallow = 127.0.0.1\nconvert = prefix:0x, hex2dec\n",
    )
    monkeypatch.setenv("RELEASESTATION_CONFIG", str(config))
    terminal = Terminal(port)
    try:
        with Feeder(terminal.send, b"0x00BC614E\n"):
            code = run_main(["watch", "--count", "1"])  # the only reader section
    finally:
        terminal.close()
    assert code == 0
    assert capsys.readouterr().out == "terminal  card  raw=0x00BC614E  value=12345678\n"


def test_watch_until_ctrl_c(pty_port, capsys):
    link, master = pty_port
    main_thread = threading.get_ident()
    threading.Timer(0.5, signal.pthread_kill, (main_thread, signal.SIGINT)).start()
    with Feeder(lambda data: os.write(master, data), b"1234\r\n"):
        began = time.monotonic()
        code = cli.main(["watch", "--serial", str(link)])
    assert code == 0
    assert time.monotonic() - began < 3
    assert "serial  card  raw=1234  value=1234" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "config", "message"),
    [
        (["watch", "--config", "/nonexistent/x.ini"], None, "cannot read config file"),
        (["watch", "lobby"], "[reader:a]\ntype=serial\nport=/x\n[reader:b]\ntype=serial\n"
         "port=/y\n", "name a [reader:NAME] section to watch (there: a, b)"),
        (["watch"], "[reader:a]\ntype=serial\nport=/x\n[reader:b]\ntype=serial\nport=/y\n",
         "name a [reader:NAME] section"),
        (["watch", "a"], "[reader:a]\ntype=serail\n", "type: unknown reader type 'serail'"),
        (["watch", "a", "--convert", "hex2"], "[reader:a]\ntype=serial\nport=/x\n",
         "convert: unknown conversion step 'hex2'"),
        (["watch", "a"], "[reader:a\n", "File contains no section headers"),
    ],
)  # fmt: skip
def test_watch_reports_configuration_problems(tmp_path, capsys, argv, config, message):
    if config is not None:
        path = tmp_path / "x.ini"
        path.write_text(config)
        argv = [*argv, "--config", str(path)]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_watch_help_says_full_numbers_are_shown(capsys):
    with pytest.raises(SystemExit):
        cli.main(["watch", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "prints full card numbers on purpose" in out and "PINs stay hidden" in out


def test_list_shows_input_devices_with_stable_names_and_serial_ports(tmp_path, capsys):
    inputs = tmp_path / "input"
    (inputs / "by-id").mkdir(parents=True)
    # A character device that is not an input device (it is /dev/null's): listed, not opened.
    os.mknod(inputs / "event7", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    (inputs / "by-id" / "usb-RFIDeas_USB_Keyboard-event-kbd").symlink_to("../event7")
    (inputs / "not-an-event-device").write_text("")
    assert cli.main(["list", "--input-dir", str(inputs), "--serial-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Input devices that type digits and Enter")
    assert f"{inputs}/event7\n      {inputs}/by-id/usb-RFIDeas_USB_Keyboard-event-kbd" in out
    assert "cannot open: " in out
    assert "not-an-event-device" not in out
    assert "\nSerial ports:\n" in out


def test_list_with_nothing_there(tmp_path, capsys):
    assert cli.main(["list", "--input-dir", str(tmp_path), "--serial-dir", str(tmp_path)]) == 0
    assert "Input devices that type digits and Enter" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("codes", "kind"),
    [
        ({ecodes.KEY_1, ecodes.KEY_A, ecodes.KEY_ENTER}, "keyboard or card reader"),
        ({ecodes.KEY_KP1, ecodes.KEY_KPENTER, ecodes.KEY_BACKSPACE}, "keypad"),
        ({ecodes.KEY_POWER}, None),
        ({ecodes.BTN_LEFT, ecodes.KEY_1}, None),
    ],
)
def test_kind_of_device(codes, kind):
    assert cli.kind_of(codes) == kind
    assert keys.char_for(ecodes.KEY_KP1, shifted=True) == "1"


@pytest.mark.parametrize(
    "command", [["list"], ["watch", "lobby", "--count", "1"], ["learn", "1=1", "2=2", "3=3"]]
)
def test_options_work_before_or_after_the_command(command):
    def parsed(argv):
        return vars(cli.build_parser().parse_args(argv))

    before = parsed(["--config", "/x.ini", "-v", *command])
    assert before["config"] == "/x.ini" and before["verbose"] == 1
    assert parsed([*command, "-c", "/x.ini", "--verbose"]) == before
    assert parsed(["-v", *command, "-v"])["verbose"] == 2
    assert parsed([*command, "-q"])["verbose"] == -1 and parsed(command)["config"] is None


def test_watch_reads_the_config_given_before_the_command(capsys):
    assert cli.main(["-c", "/nonexistent/x.ini", "watch", "lobby"]) == 2
    assert "cannot read config file /nonexistent/x.ini" in capsys.readouterr().err
