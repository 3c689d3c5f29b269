"""A corpus of hostile inputs through the real CLI entry point (``rura.cli.main``).

Each case builds its input in a temporary folder, runs one command and asserts what rura
promises for bad input (docs/reliability.md): the documented exit code, one error line on
stderr, last, that names the culprit, no traceback, no "internal error", and no output left
behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rura.cli import main
from tests.reliability.conftest import BASE_CONFIG, datasets, write_image

USER, USAGE = 1, 2


@dataclass
class Case:
    """One hostile input: the command (``{d}`` is the case's folder), its setup and the
    fragments its one-line error must contain."""

    name: str
    args: list[str]
    code: int
    says: tuple[str, ...]
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _config(extra: str = "", **replace: str) -> Callable[[Path], None]:
    """A setup writing the datasets and ``config.yaml`` (base text, edited, plus ``extra``)."""

    def setup(root: Path) -> None:
        datasets(root)
        text = BASE_CONFIG.format(out=root / "out")
        for old, new in replace.items():
            text = text.replace(old, new)
        (root / "config.yaml").write_text(text + extra, encoding="utf-8")

    return setup


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        datasets(root)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data.replace("{out}", str(root / "out")), encoding="utf-8")
        else:
            path.write_bytes(data)

    return setup


def _bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n" + BASE_CONFIG


def _datasets_only() -> Callable[[Path], None]:
    return datasets


def _and(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for step in setups:
            step(root)

    return setup


def _bad_name_file(root: Path) -> None:
    datasets(root)
    folder = os.fsencode(root / "evaluation" / "normal")
    with open(os.path.join(folder, b"bad\xff.png"), "wb") as handle:
        handle.write(b"")


def _tiny_image(root: Path) -> None:
    write_image(root / "tiny" / "normal" / "one.png", side=1)
    write_image(root / "tiny" / "amd" / "ok.png")


def _random_bytes_image(root: Path) -> None:
    write_image(root / "broken" / "normal" / "ok.png")
    path = root / "broken" / "amd" / "noise.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(np.random.default_rng(0).bytes(300))


def _escaping_manifest(root: Path) -> None:
    write_image(root / "outside.png")
    (root / "set").mkdir()
    (root / "set" / "manifest.csv").write_text("id,path,label\na,../outside.png,normal\n")


def _symlink_out(root: Path) -> None:
    write_image(root / "secret" / "s.png")
    (root / "set" / "normal").mkdir(parents=True)
    write_image(root / "set" / "normal" / "a.png")
    os.symlink(root / "secret" / "s.png", root / "set" / "normal" / "b.png")
    (root / "set" / "manifest.csv").write_text(
        "id,path,label\na,normal/a.png,normal\nb,normal/b.png,normal\n"
    )


def _root_sidecar(root: Path) -> None:
    write_image(root / "secret" / "s.png")
    (root / "set").mkdir()
    (root / "set" / "manifest.csv").write_text("id,path,label\ns,secret/s.png,normal\n")
    (root / "set" / "manifest.root").write_text("..\n")


def _mask_mismatch(root: Path) -> None:
    (root / "lesions").mkdir()
    rows = ["id,path,label,mask_ma"]
    for k in range(2):
        write_image(root / "lesions" / f"i{k}.png", side=64, seed=k)
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(root / "lesions" / f"m{k}.png")
        rows.append(f"i{k},i{k}.png,dr,m{k}.png")
    (root / "lesions" / "manifest.csv").write_text("\n".join(rows) + "\n")


def _model_folder(files: dict[str, bytes | str]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        write_image(root / "photo.png")
        model = root / "model"
        model.mkdir()
        for name, data in files.items():
            target = model / name
            if isinstance(data, str):
                target.write_text(data)
            else:
                target.write_bytes(data)

    return setup


RUN = ["run", "{d}/config.yaml"]
CASES = [
    # -- the config file itself -------------------------------------------------------------
    Case("config missing", ["run", "{d}/none.yaml"], USER, ("none.yaml", "no such config")),
    Case("config is a folder", ["run", "{d}/known"], USER, ("known",), datasets),
    Case(
        "config not UTF-8",
        RUN,
        USER,
        ("config.yaml", "UTF-8"),
        _write("config.yaml", b"\xff\xfe\x00t"),
    ),
    Case(
        "config YAML error", RUN, USER, ("config.yaml", "line"), _write("config.yaml", "a: [1, 2\n")
    ),
    Case(
        "config is a list",
        RUN,
        USER,
        ("config.yaml", "mapping"),
        _write("config.yaml", "- 1\n- 2\n"),
    ),
    Case("config is empty", RUN, USER, ("config.yaml",), _write("config.yaml", "")),
    Case("duplicate key", RUN, USER, ("'target'", "twice"), _config("target: amd\n")),
    Case("alias bomb", RUN, USER, ("config.yaml",), _write("config.yaml", _bomb())),
    Case(
        "deep nesting",
        RUN,
        USER,
        ("nested too deeply",),
        _config("x: " + "[" * 80 + "]" * 80 + "\n"),
    ),
    Case(
        "python tag",
        RUN,
        USER,
        ("config.yaml", "tag"),
        _config("y: !!python/object/apply:os.system ['echo owned']\n"),
    ),
    Case("huge config", RUN, USER, ("MiB",), _config("# " + "x" * (2 << 20) + "\n")),
    Case("unknown key", RUN, USER, ("unknown key", "did you mean"), _config("targt: x\n")),
    Case(
        "misspelt target",
        RUN,
        USER,
        ("mild-dr", "did you mean 'mild_dr'"),
        _config(**{"target: mild_dr": "target: mild-dr"}),
    ),
    Case(
        "target absent",
        RUN,
        USER,
        ("glaucoma", "labels are"),
        _config(**{"target: mild_dr": "target: glaucoma"}),
    ),
    Case(
        "target is normal", RUN, USER, ("both",), _config(**{"target: mild_dr": "target: normal"})
    ),
    Case(
        "clusterer param typo",
        RUN,
        USER,
        ("clusterer_params", "bogus"),
        _config(**{"select: false,": "select: false, clusterer_params: {bogus: 1},"}),
    ),
    Case(
        "clusterer param value",
        RUN,
        USER,
        ("clusterer_params", "n_init"),
        _config(
            **{
                "select: false,": "select: false, clusterer: kmeans, "
                "clusterer_params: {n_init: -4},"
            }
        ),
    ),
    Case(
        "clusterer param nested",
        RUN,
        USER,
        ("clusterer_params", "plain value"),
        _config(**{"select: false,": "select: false, clusterer_params: {a: {b: 1}},"}),
    ),
    Case(
        "unknown clusterer",
        RUN,
        USER,
        ("diagnosis.clusterer", "unknown"),
        _config(**{"select: false,": "select: false, clusterer: agglo,"}),
    ),
    Case("negative seed", RUN, USER, ("seeds",), _config("seeds: [-1]\n")),
    Case("repeated seeds", RUN, USER, ("seeds repeat",), _config("seeds: [1, 1]\n")),
    Case(
        "patch above size",
        RUN,
        USER,
        ("patch",),
        _config(**{"enabled: false}\ndiag": "enabled: false, size: 64, patch: 128}\ndiag"}),
    ),
    Case(
        "device unknown",
        RUN,
        USER,
        ("runtime.device", "tpu9"),
        _config("runtime: {device: tpu9}\n"),
    ),
    Case("device absent GPU", RUN, USER, ("cuda:99",), _config("runtime: {device: 'cuda:99'}\n")),
    Case(
        "out is a file", RUN, USER, ("out", "file"), _and(_config(), _write("out", "not a folder"))
    ),
    Case(
        "known set missing",
        RUN,
        USER,
        ("data.known", "does not exist"),
        _config(**{"known: known": "known: nowhere"}),
    ),
    Case(
        "known holds the target",
        RUN,
        USER,
        ("target",),
        _and(_config(), lambda d: write_image(d / "known" / "mild_dr" / "x.png")),
    ),
    Case(
        "options not plain",
        RUN,
        USER,
        ("data.options",),
        _config(
            **{
                "evaluation: evaluation": "evaluation: evaluation\n"
                "  options: {known: {x: {y: {z: 1}}}}"
            }
        ),
    ),
    Case(
        "set without value",
        [*RUN, "--set", "diagnosis.clusterer"],
        USER,
        ("--set", "KEY=VALUE"),
        _config(),
    ),
    Case(
        "set unknown key",
        [*RUN, "--set", "diagnosis.clusterr=pam"],
        USER,
        ("did you mean",),
        _config(),
    ),
    Case(
        "most similar is normal",
        RUN,
        USER,
        ("most_similar", "normal"),
        _config(**{"most_similar: amd": "most_similar: normal"}),
    ),
    Case(
        "out inside the data",
        RUN,
        USER,
        ("data.known", "hold one another"),
        _config(**{"out: ": "out: known/run  # "}),
    ),
    Case(
        "out holds the data",
        RUN,
        USER,
        ("hold one another",),
        _config(**{"out: ": "out: .  # "}),
    ),
    Case(
        "from after until",
        [*RUN, "--from", "report", "--until", "features"],
        USER,
        ("--from report comes after --until features",),
        _config(),
    ),
    Case(
        "select a focus without masks",
        ["select", "{d}/config.yaml", "--focus", "masked"],
        USER,
        ("--focus masked", "segmentation off"),
        _config(),
    ),
    # -- options -------------------------------------------------------------------------------
    Case("seed negative", [*RUN, "--seed", "-1"], USAGE, ("--seed", "outside 0"), _config()),
    Case("seed huge", [*RUN, "--seed", "10" + "0" * 27], USAGE, ("--seed", "32-bit"), _config()),
    Case(
        "segmenter lr NaN",
        ["segment", "train", "{d}/known", "--out", "{d}/out", "--lr", "nan"],
        USAGE,
        ("--lr", "finite"),
        _datasets_only(),
    ),
    Case("empty dataset path", ["embed", "", "--out", "{d}/out"], USER, ("empty dataset path",)),
    Case(
        "normal not a known label",
        RUN,
        USER,
        ("normal", "healthy", "labels are"),
        _config("normal: healthy\n"),
    ),
    Case(
        "similar not a known label",
        RUN,
        USER,
        ("most_similar", "rvo"),
        _config(**{"most_similar: amd": "most_similar: rvo"}),
    ),
    Case("seed not a number", [*RUN, "--seed", "one"], USAGE, ("--seed", "integer"), _config()),
    Case("no such command", ["diagnoze"], USAGE, ("diagnoze",)),
    Case("plugin kind", ["plugins", "--kind", "gadget"], USAGE, ("gadget",)),
    Case(
        "embed device",
        ["embed", "{d}/known", "--out", "{d}/out", "--device", "tpu9"],
        USAGE,
        ("--device", "tpu9"),
        datasets,
    ),
    Case(
        "embed absent GPU",
        ["embed", "{d}/known", "--out", "{d}/out", "--device", "cuda:99"],
        USAGE,
        ("cuda:99",),
        datasets,
    ),
    Case(
        "embed size negative",
        ["embed", "{d}/known", "--out", "{d}/out", "--size", "-1"],
        USAGE,
        ("--size", "-1 px"),
        datasets,
    ),
    Case(
        "embed size huge",
        ["embed", "{d}/known", "--out", "{d}/out", "--size", "99999999"],
        USAGE,
        ("--size", "4096"),
        datasets,
    ),
    Case("synth seed", ["synth", "{d}/out", "--seed", "-3"], USAGE, ("--seed",)),
    Case(
        "segment device",
        ["segment", "train", "{d}/known", "--out", "{d}/out", "--device", "npu"],
        USAGE,
        ("npu",),
        datasets,
    ),
    # -- data ----------------------------------------------------------------------------------
    Case("embed missing data", ["embed", "{d}/nothing", "--out", "{d}/out"], USER, ("nothing",)),
    Case(
        "embed out is a file",
        ["embed", "{d}/known", "--out", "{d}/out", "--weights", "none"],
        USER,
        ("out",),
        _and(datasets, _write("out", "x")),
    ),
    Case(
        "image below minimum",
        [
            "embed",
            "{d}/tiny",
            "--out",
            "{d}/out",
            "--weights",
            "none",
            "--size",
            "32",
            "--workers",
            "0",
        ],
        USER,
        ("one.png", "minimum"),
        _tiny_image,
    ),
    Case(
        "image is noise",
        [
            "embed",
            "{d}/broken",
            "--out",
            "{d}/out",
            "--weights",
            "none",
            "--size",
            "32",
            "--workers",
            "0",
        ],
        USER,
        ("noise.png",),
        _random_bytes_image,
    ),
    Case(
        "path escapes root",
        ["embed", "{d}/set/manifest.csv", "--out", "{d}/out", "--weights", "none"],
        USER,
        ("outside.png",),
        _escaping_manifest,
    ),
    Case(
        "symlink escapes root",
        [
            "embed",
            "{d}/set/manifest.csv",
            "--out",
            "{d}/out",
            "--weights",
            "none",
            "--size",
            "32",
            "--workers",
            "0",
        ],
        USER,
        ("b.png",),
        _symlink_out,
    ),
    Case(
        "root file escapes",
        [
            "embed",
            "{d}/set/manifest.csv",
            "--out",
            "{d}/out",
            "--weights",
            "none",
            "--size",
            "32",
            "--workers",
            "0",
        ],
        USER,
        ("manifest.root",),
        _root_sidecar,
    ),
    Case(
        "reader option unknown",
        ["data", "inspect", "folder", "{d}/known", "-o", "bogus=1"],
        USER,
        ("bogus", "it takes"),
        datasets,
    ),
    Case(
        "manifest without rows",
        ["embed", "{d}/set.csv", "--out", "{d}/out", "--weights", "none"],
        USER,
        ("set.csv", "no image"),
        _write("set.csv", "id,path,label\n"),
    ),
    Case(
        "file name not UTF-8",
        ["data", "inspect", "folder", "{d}/evaluation", "--quick"],
        USER,
        ("UTF-8",),
        _bad_name_file,
    ),
    Case(
        "mask size differs",
        [
            "segment",
            "train",
            "{d}/lesions/manifest.csv",
            "--out",
            "{d}/out",
            "--lesions",
            "ma",
            "--weights",
            "none",
            "--encoder",
            "resnet18",
            "--size",
            "64",
            "--patch",
            "32",
            "--epochs",
            "1",
        ],
        USER,
        ("the mask is 32x32 px", "64x64"),
        _mask_mismatch,
    ),
    Case(
        "segment patch above size",
        [
            "segment",
            "train",
            "{d}/lesions/manifest.csv",
            "--out",
            "{d}/out",
            "--lesions",
            "ma",
            "--size",
            "64",
            "--patch",
            "128",
        ],
        USER,
        ("patch",),
        _mask_mismatch,
    ),
    # -- model folders -------------------------------------------------------------------------
    Case(
        "model folder missing",
        ["diagnose", "{d}/nomodel", "{d}/photo.png", "--out", "{d}/out"],
        USER,
        ("nomodel",),
        _model_folder({}),
    ),
    Case(
        "model pipeline.json not JSON",
        ["diagnose", "{d}/model", "{d}/photo.png", "--out", "{d}/out"],
        USER,
        ("pipeline.json",),
        _model_folder({"pipeline.json": "{not json"}),
    ),
    Case(
        "model pipeline.json random",
        ["diagnose", "{d}/model", "{d}/photo.png", "--out", "{d}/out"],
        USER,
        ("pipeline.json",),
        _model_folder({"pipeline.json": np.random.default_rng(1).bytes(200)}),
    ),
    Case(
        "model pipeline.json a list",
        ["diagnose", "{d}/model", "{d}/photo.png", "--out", "{d}/out"],
        USER,
        ("pipeline.json",),
        _model_folder({"pipeline.json": "[1, 2]"}),
    ),
    Case("report on a non-run", ["report", "{d}/known"], USER, ("run.json",), datasets),
    Case(
        "plugin not importable",
        ["plugins", "--check"],
        USER,
        ("no_such_module_xyz",),
        None,
        {"RURA_PLUGINS": "no_such_module_xyz"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_gets_one_line_and_leaves_nothing(case, tmp_path, monkeypatch, capsys):
    if case.setup is not None:
        case.setup(tmp_path)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RURA_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal must not wrap the line
    out_existed = (tmp_path / "out").exists()
    before = _files(tmp_path)
    args = [arg.replace("{d}", str(tmp_path)) for arg in case.args]
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert exited.value.code == case.code, captured.err
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    # A progress bar may come first; the failure is the last line, and the only error line.
    assert errors == lines[-1:], captured.err
    for fragment in case.says:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    assert _files(tmp_path) == before, "a failed command left files behind"
    if not out_existed:
        assert not (tmp_path / "out").exists()


def _files(root: Path) -> set[str]:
    """Every file and folder under ``root`` except write locks (kept, unlocked: harmless)."""
    return {
        os.fsdecode(path.relative_to(root))
        for path in root.rglob("*")
        if not path.name.endswith(".rura.lock")
    }


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RURA_DEBUG", "1")
    _config("target: amd\n")(tmp_path)
    with pytest.raises(Exception, match="twice"):
        main(["run", str(tmp_path / "config.yaml")])
