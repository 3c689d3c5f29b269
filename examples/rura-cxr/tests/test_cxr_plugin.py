"""The plugin as installed: entry points, conformance, a light import, and its command."""

import json
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

from rura_cxr.chestxray14 import BOX_DISEASES
from rura_cxr.modality import CXR_PREPROCESSING

import rura
from rura.testing import check_modality

PACKAGE = Path(__file__).resolve().parents[1]


def test_each_hook_module_registers_through_its_entry_point():
    rows = {
        (row.name, row.kind): row for row in rura.list_plugins() if row.plugin.startswith("cxr")
    }
    assert set(rows) == {("cxr", "modality"), ("chestxray14", "dataset")}
    assert rows["cxr", "modality"].plugin == "cxr"
    assert rows["chestxray14", "dataset"].plugin == "cxr-datasets"
    assert {(row.status, row.version) for row in rows.values()} == {("ok", "0.1.0")}
    entry_points = {ep.name: ep.value for ep in distribution("rura-cxr").entry_points}
    assert entry_points == {
        "cxr": "rura_cxr.modality",
        "cxr-datasets": "rura_cxr.chestxray14",
        "cxr-commands": "rura_cxr.commands",
    }


def test_the_package_is_installed_editable_from_this_folder():
    """What `pip install -e examples/rura-cxr` (the tutorial's first command) leaves behind."""
    direct_url = json.loads(distribution("rura-cxr").read_text("direct_url.json") or "{}")
    assert direct_url.get("dir_info", {}).get("editable") is True
    assert Path(direct_url["url"].removeprefix("file://")).resolve() == PACKAGE


def test_cxr_passes_the_modality_conformance_check():
    modality = check_modality("cxr")
    assert rura.get_modality("chest-xray") == modality
    assert modality.preprocessing == CXR_PREPROCESSING
    assert modality.preprocessing.input_size == (3, 512, 512)


def test_public_dataset_names_map_onto_one_code_each():
    modality = rura.get_modality("cxr")
    for name, code in {
        "Infiltration": "consolidation",  # ChestX-ray14's Data_Entry_2017.csv
        "Infiltrate": "consolidation",  # ... and its BBox_List_2017.csv
        "Lung Opacity": "consolidation",  # RSNA Pneumonia Detection
        "Nodule/Mass": "nodule",  # VinDr-CXR
        "Mass": "nodule",
        "Pleural_Effusion": "effusion",
        "Cardiomegaly": "cardiomegaly",
        "Pneumothorax": "pneumothorax",
    }.items():
        assert modality.lesion(name).code == code
    box_findings = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltrate", "Mass", "Nodule")
    for finding in (*box_findings, "Pneumothorax", *BOX_DISEASES):
        assert (BOX_DISEASES.get(finding) or modality.lesion(finding).code) in {
            lesion.code for lesion in modality.lesions
        }


def test_the_plugin_modules_import_nothing_heavy():
    code = (
        "import sys, rura_cxr.modality, rura_cxr.chestxray14, rura_cxr.commands\n"
        "heavy = {'torch', 'numpy', 'PIL', 'pandas', 'typer'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_cxr_synth_is_a_rura_command(tmp_path, rura_cli):
    out = tmp_path / "synth"
    code, stdout, _ = rura_cli(
        f"rura cxr-synth {out} --size 64 --per-class 2 --classes normal,nodule"
    )
    assert code == 0 and "wrote 4 radiographs of 2 classes" in stdout
    assert rura.load_dataset("manifest", out).labels == ["nodule", "normal"]
    code, _, stderr = rura_cli(f"rura cxr-synth {out} --classes normal,covid")
    assert code == 1 and "error: unknown SynthCXR class 'covid'" in stderr
    code, _, stderr = rura_cli(f"rura cxr-synth {out} --size 32")
    assert code == 2 and "greater than or equal to 64" in stderr  # a usage error, from typer
