"""Damaged model folders: each is refused with one line naming the file, the field and the fix.

Every case damages a copy of the tiny bundle (hard links: a damaged file is replaced, never
written through) and opens it as ``rura diagnose`` does before writing anything.
"""

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from rura.diagnosis.bundle import load_bundle
from rura.diagnosis.diagnoser import ZeroShotDiagnoser
from rura.errors import RuraError


def _open(folder):
    """What ``diagnose`` checks before it writes: settings, parts, diagnoser, backbone."""
    bundle = load_bundle(folder)
    bundle.check_backbone(bundle.load_diagnoser().n_features)
    return bundle


def _replace(path, data: bytes):
    path.unlink()  # a hard link to the shared bundle: never write through it
    path.write_bytes(data)


def _edit_json(name, **changes):
    def damage(folder):
        path = folder / name
        config = json.loads(path.read_text())
        for key, value in changes.items():
            if value is _DROP:
                del config[key]
            else:
                config[key] = value
        _replace(path, json.dumps(config).encode())

    return damage


def _write(name, data: bytes):
    return lambda folder: _replace(folder / name, data)


def _truncate(name):
    return lambda folder: _replace(folder / name, (folder / name).read_bytes()[:-7])


def _edit_tensors(name, edit):
    def damage(folder):
        tensors = load_file(str(folder / name))
        edit(tensors)
        (folder / name).unlink()
        save_file(tensors, str(folder / name))

    return damage


_DROP = object()
PIPE, DIAG, TENSORS = "pipeline.json", "diagnoser/diagnoser.json", "diagnoser/diagnoser.safetensors"
BACKBONE, SEGMENTER = "backbone.safetensors", "segmenter/config.json"


def _narrow(tensors):
    """A consistent diagnoser of 10 features: wrong for resnet18's 512."""
    for key in ("anchors", "centroids"):
        tensors[key] = np.ascontiguousarray(tensors[key][:, :10])
    for key in ("shift", "scale"):
        tensors[key] = np.ascontiguousarray(tensors[key][:10])


CASES = {
    # pipeline.json
    "settings-not-json": (_write(PIPE, b"{not json"), PIPE, "not valid JSON"),
    "settings-random-bytes": (_write(PIPE, os.urandom(64)), PIPE, "not valid JSON"),
    "settings-an-array": (_write(PIPE, b"[1, 2]"), PIPE, "a JSON object expected"),
    "settings-no-format": (_edit_json(PIPE, format=_DROP), PIPE, "field 'format'"),
    "settings-future-format": (
        _edit_json(PIPE, format="rura-pipeline-model/9"),
        "model",
        "rura-pipeline-model/9",
    ),
    "settings-missing-field": (_edit_json(PIPE, backbone=_DROP), PIPE, "'backbone' is missing"),
    "settings-threshold-text": (
        _edit_json(PIPE, threshold="abc"),
        PIPE,
        "field 'threshold' must be a valid number",
    ),
    "settings-seed-text": (_edit_json(PIPE, seed="3"), PIPE, "field 'seed'"),
    "settings-lesions-text": (_edit_json(PIPE, lesions="ma"), PIPE, "field 'lesions'"),
    "settings-unknown-focus": (_edit_json(PIPE, focus="blurry"), PIPE, "field 'focus'"),
    "settings-same-names": (_edit_json(PIPE, normal="mild_dr"), PIPE, "'target' and 'normal'"),
    "settings-path-escapes": (
        _edit_json(PIPE, diagnoser="../diagnoser"),
        PIPE,
        "field 'diagnoser' must be a path inside",
    ),
    "settings-absolute-path": (
        _edit_json(PIPE, backbone_weights="/etc/passwd"),
        PIPE,
        "field 'backbone_weights'",
    ),
    "settings-missing-part": (
        _edit_json(PIPE, segmenter="elsewhere"),
        "elsewhere/config.json is missing",
        "segmenter",
    ),
    "settings-lesion-not-predicted": (_edit_json(PIPE, lesions=["ex"]), PIPE, "'lesions' names ex"),
    # diagnoser.json
    "diagnoser-not-json": (_write(DIAG, b'{"format": '), DIAG, "not valid JSON"),
    "diagnoser-null": (_write(DIAG, b"null"), DIAG, "a JSON object expected, got null"),
    "diagnoser-other-format": (_edit_json(DIAG, format="pickle"), DIAG, "field 'format'"),
    "diagnoser-missing-field": (
        _edit_json(DIAG, neighbours=_DROP),
        DIAG,
        "'neighbours' is missing",
    ),
    "diagnoser-threshold-text": (
        _edit_json(DIAG, threshold="abc"),
        DIAG,
        "field 'threshold' must be a valid number, got 'abc'",
    ),
    "diagnoser-unknown-mapping": (_edit_json(DIAG, mapping="magic"), DIAG, "field 'mapping'"),
    "diagnoser-evidence-without-stats": (
        _edit_json(DIAG, evidence="combined"),
        DIAG,
        "field 'evidence_stats' must hold",
    ),
    # diagnoser.safetensors
    "tensors-random-bytes": (
        _write(TENSORS, os.urandom(256)),
        TENSORS,
        "not a readable safetensors",
    ),
    "tensors-truncated": (_truncate(TENSORS), TENSORS, "not a readable safetensors"),
    "tensors-missing": (
        _edit_tensors(TENSORS, lambda t: t.pop("scale")),
        TENSORS,
        "tensor 'scale' is missing",
    ),
    "tensors-wrong-shape": (
        _edit_tensors(TENSORS, lambda t: t.update(centroids=t["centroids"][:, :-1].copy())),
        TENSORS,
        "tensor 'centroids' has shape",
    ),
    "tensors-wrong-dtype": (
        _edit_tensors(TENSORS, lambda t: t.update(anchors=t["anchors"].astype(np.int64))),
        TENSORS,
        "tensor 'anchors' has dtype I64",
    ),
    "tensors-nan": (
        _edit_tensors(TENSORS, lambda t: t["anchors"].__setitem__((0, 0), np.nan)),
        TENSORS,
        "'anchors' holds NaN",
    ),
    "tensors-label-out-of-range": (
        _edit_tensors(TENSORS, lambda t: t["anchor_labels"].__setitem__(0, 7)),
        TENSORS,
        "'anchor_labels' outside",
    ),
    "tensors-narrower-than-backbone": (
        _edit_tensors(TENSORS, _narrow),
        "diagnoser",
        "reads 10 features",
    ),
    # backbone.safetensors and the segmenter copy
    "backbone-random-bytes": (_write(BACKBONE, os.urandom(300)), BACKBONE, "not a readable"),
    "backbone-truncated": (_truncate(BACKBONE), BACKBONE, "not a readable safetensors"),
    "backbone-missing-tensor": (
        _edit_tensors(BACKBONE, lambda t: t.pop("layer1.0.conv1.weight")),
        BACKBONE,
        "tensor 'layer1.0.conv1.weight' of backbone 'resnet18' is missing",
    ),
    "backbone-wrong-shape": (
        _edit_tensors(
            BACKBONE, lambda t: t.update({"conv1.weight": t["conv1.weight"][:32].copy()})
        ),
        BACKBONE,
        "tensor 'conv1.weight' has shape [32, 3, 7, 7]",
    ),
    "segmenter-lesions-text": (_edit_json(SEGMENTER, lesions="ma"), SEGMENTER, "field 'lesions'"),
    "segmenter-no-preprocessing": (
        _edit_json(SEGMENTER, preprocessing=_DROP),
        SEGMENTER,
        "'preprocessing' is missing",
    ),
    "segmenter-weights-truncated": (
        _truncate("segmenter/model.safetensors"),
        "model.safetensors",
        "not a readable",
    ),
}


@pytest.mark.parametrize(("damage", "where", "what"), CASES.values(), ids=CASES.keys())
def test_a_damaged_model_folder_is_refused_in_one_line(pipeline, tmp_path, damage, where, what):
    folder = tmp_path / "model"
    shutil.copytree(pipeline.bundle, folder, copy_function=os.link)
    damage(folder)
    with pytest.raises(RuraError) as error:
        _open(folder)
    message = str(error.value)
    assert "\n" not in message
    assert where in message and what in message, message
    if where != "model":  # the fix, except for a format from another rura version
        assert "rura run" in message, message


def test_the_undamaged_copy_opens(pipeline, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(pipeline.bundle, folder, copy_function=os.link)
    assert _open(folder).lesions == ("ma", "he", "cws")


def test_a_standalone_diagnoser_names_its_own_fix(pipeline, tmp_path):
    folder = pipeline.diagnoser.save(tmp_path / "diagnoser")
    _edit_json("diagnoser.json", n_clusters=1)(folder)
    with pytest.raises(RuraError, match=r"diagnoser\.json: field 'n_clusters'.*save the diagnoser"):
        ZeroShotDiagnoser.load(folder)
