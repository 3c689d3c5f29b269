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


def test_check_output_folder_accepts_a_new_an_empty_and_an_own_folder(tmp_path):
    from rura.io import check_output_folder

    check_output_folder(tmp_path / "new" / "out", what="a model folder")
    check_output_folder(tmp_path, what="a model folder")
    (tmp_path / "model.json").write_text("{}")
    (tmp_path / ".model.json.x1y2.tmp").write_text("half")  # a killed write is not foreign
    check_output_folder(tmp_path, what="a model folder", ours={"model.json"})


def test_check_output_folder_refuses_foreign_files_naming_one_and_the_fix(tmp_path):
    from rura.errors import RuraError
    from rura.io import check_output_folder

    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "photos").mkdir()
    with pytest.raises(RuraError) as error:
        check_output_folder(tmp_path, what="a model folder", ours={"model.json"}, fix="go away")
    assert str(error.value) == (
        f"{tmp_path}: exists and is not a model folder (it holds notes.txt, ...); go away"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]


def test_check_output_folder_lets_a_claimed_folder_be_replaced(tmp_path):
    from rura.io import check_output_folder

    (tmp_path / "notes.txt").write_text("an earlier run's")
    check_output_folder(tmp_path, what="a model folder", claimed=True)


@pytest.mark.parametrize("below", ["", "out"])
def test_check_output_folder_refuses_a_file_even_when_claimed(tmp_path, below):
    from rura.errors import RuraError
    from rura.io import check_output_folder

    (tmp_path / "taken.txt").write_text("mine")
    out = tmp_path / "taken.txt" / below if below else tmp_path / "taken.txt"
    with pytest.raises(RuraError, match=r"taken\.txt.* not a folder; choose another out=$"):
        check_output_folder(out, what="a model folder", claimed=True)
    assert (tmp_path / "taken.txt").read_text() == "mine"
