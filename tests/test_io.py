"""Atomic writes leave either the old file or the new one, never half of one."""

import pytest

from rura.io import atomic_open, write_text


def test_write_text_replaces_the_file(tmp_path):
    write_text(tmp_path / "a" / "out.txt", "one")
    write_text(tmp_path / "a" / "out.txt", "two")
    assert (tmp_path / "a" / "out.txt").read_text() == "two"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["out.txt"]


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    write_text(tmp_path / "out.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_replace_folder_swaps_in_the_new_folder_and_drops_the_old(tmp_path):
    from rura.io import replace_folder

    out, staging = tmp_path / "out", tmp_path / "staging"
    out.mkdir()
    (out / "old.txt").write_text("old")
    staging.mkdir()
    (staging / "new.txt").write_text("new")
    replace_folder(staging, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_folder_puts_the_old_folder_back_when_the_rename_fails(tmp_path):
    import pytest

    from rura.io import replace_folder

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_folder(tmp_path / "missing", out)
    assert (out / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
