"""Every failure is one line: user errors, disk full, bad names, and rura's own bugs."""

from __future__ import annotations

import errno

import pytest

from rura.cli import main
from rura.cli.failures import INTERNAL_EXIT, explain
from rura.errors import RuraError


def test_a_full_disk_names_the_path_and_the_free_space(tmp_path):
    error = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x.npy"))
    message, code = explain(error)
    assert code == 1
    assert str(tmp_path / "out" / "x.npy") in message and "no space left" in message
    assert "MiB free there" in message and "--out" in message


def test_os_errors_name_their_file(tmp_path):
    message, code = explain(PermissionError(errno.EACCES, "Permission denied", "/etc/shadow"))
    assert code == 1 and message.startswith("/etc/shadow: permission denied")
    message, _ = explain(IsADirectoryError(errno.EISDIR, "Is a directory", str(tmp_path)))
    assert message == f"{tmp_path}: is a directory"


def test_undecodable_names_and_text_are_user_errors():
    error = UnicodeEncodeError("utf-8", "bad\udcff.png", 3, 4, "surrogates not allowed")
    message, code = explain(error)
    assert code == 1 and "UTF-8" in message and "rename" in message


def test_a_bug_is_an_internal_error_that_asks_for_a_report():
    message, code = explain(ZeroDivisionError("division by zero"))
    assert code == INTERNAL_EXIT
    assert "internal error (ZeroDivisionError" in message and "--debug" in message


def test_messages_are_folded_into_one_line():
    message, _ = explain(RuraError("first\nsecond\n  third"))
    assert message == "first second third"


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/data/out/images/x.png")


def test_the_cli_turns_a_full_disk_into_one_line(tmp_path, monkeypatch, capsys):
    import rura.data.synth

    monkeypatch.setattr(rura.data.synth, "generate", _disk_full)
    monkeypatch.delenv("RURA_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["synth", str(tmp_path / "out"), "--per-class", "1", "--size", "64"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 1
    assert err.startswith("error: /data/out/images/x.png: no space left on the device")
    assert "\n" not in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    import rura.data.synth

    monkeypatch.setattr(rura.data.synth, "generate", _disk_full)
    monkeypatch.setenv("RURA_DEBUG", "")  # restored after the test, though --debug sets it
    with pytest.raises(OSError, match="No space left"):
        main(["--debug", "synth", str(tmp_path / "out"), "--per-class", "1", "--size", "64"])
