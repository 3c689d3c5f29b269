"""Config validation: every mistake is one line naming the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rura.errors import RuraError
from rura.pipeline.config import PipelineConfig, apply_override, load_config
from tests.conftest import REPO, run_rura
from tests.pipeline.conftest import tiny_config


@pytest.fixture
def config_file(pipeline_data, tmp_path) -> Path:
    return tiny_config(pipeline_data, tmp_path / "run")


def edit(path: Path, change) -> Path:
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_valid_config_loads_with_defaults_filled_in(config_file):
    config, base = load_config(config_file)
    assert base == config_file.parent
    assert config.diagnosis.clusterer == "agg" and config.similarity.loss == "both"
    assert config.seeds == [0, 1]


def test_relative_paths_start_at_the_config_files_folder(pipeline_data, tmp_path):
    (tmp_path / "data").symlink_to(pipeline_data)
    path = tmp_path / "rura.yaml"
    path.write_text(
        "target: mild_dr\ndata: {known: data/known, evaluation: data/external}\n"
        "similarity: {enabled: false, most_similar: glaucoma}\n"
        "segmentation: {enabled: false}\ndiagnosis: {focus: none}\n"
    )
    config, base = load_config(path)
    assert base == tmp_path and config.data.known == "data/known"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["similarity"].update(epoch=3),
            "unknown key similarity.epoch; did you mean similarity.epochs?",
        ),
        (lambda c: c.update(seed=3), "unknown key seed; did you mean seeds?"),
        (
            lambda c: c["similarity"].update(epochs="ten"),
            "similarity.epochs: Input should be a valid integer",
        ),
        (lambda c: c["diagnosis"].update(focus="lesions"), "diagnosis.focus: Input should be"),
        (lambda c: c.pop("target"), "target is required"),
        (lambda c: c["data"].update(known="nowhere"), "data.known:"),
        (
            lambda c: c["diagnosis"].update(clusterer="kmean"),
            "diagnosis.clusterer: unknown clusterer 'kmean'; did you mean kmeans",
        ),
        (
            lambda c: c["similarity"].update(backbone="vgg91"),
            "similarity.backbone: unknown backbone 'vgg91'; did you mean vgg19",
        ),
        (
            lambda c: c["segmentation"].update(lesions=["ma", "xx"]),
            "segmentation.lesions: modality 'fundus' has no lesion 'xx'",
        ),
        (lambda c: c["data"].pop("target_examples"), "needs data.target_examples"),
        (
            lambda c: (c["data"].pop("lesions"), c["segmentation"].update(lesions=["drusen"])),
            "segmentation.lesions: pretrained:idrid-20 segments ex, he, ma, cws, not drusen",
        ),
        (
            lambda c: c["segmentation"].update(model="pretrained:idrid-21"),
            "segmentation.model: pretrained:idrid-21: no such pretrained segmenter",
        ),
        (lambda c: c.update(normal="mild_dr"), "target and normal are both"),
        (lambda c: c.update(seeds=[1, 1]), "seeds repeat"),
        (
            lambda c: c.update(runtime={"workers": -1}),
            "runtime.workers: Input should be greater than or equal to 0",
        ),
    ],
)
def test_config_mistakes_are_one_line_errors(config_file, change, message):
    edit(config_file, change)
    with pytest.raises(RuraError) as error:
        load_config(config_file)
    text = str(error.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(config_file))


@pytest.mark.parametrize(("value", "workers"), [("auto", None), (" Auto ", None), (3, 3), (0, 0)])
def test_runtime_workers_auto_is_unset_chosen_for_the_machine(config_file, value, workers):
    assert load_config(config_file)[0].runtime.workers is None  # the default: auto
    edit(config_file, lambda c: c.update(runtime={"workers": value}))
    assert load_config(config_file)[0].runtime.workers == workers


def test_disabled_segmentation_needs_whole_image_features(config_file):
    edit(config_file, lambda c: c["segmentation"].update(enabled=False))
    config, _ = load_config(config_file)  # the default focus falls back to whole images
    from rura.pipeline import Pipeline

    assert Pipeline(config, config_file.parent).focus == "none"
    with pytest.raises(RuraError, match=r"diagnosis\.focus 'masked' needs lesion masks"):
        load_config(config_file, ["diagnosis.focus=masked"])
    load_config(config_file, ["diagnosis.focus=none"])


def test_overrides_set_nested_values_read_as_yaml(config_file):
    config, _ = load_config(
        config_file, ["diagnosis.clusterer=pam", "seeds=[3, 4]", "similarity.lr=0.01"]
    )
    assert config.diagnosis.clusterer == "pam" and config.seeds == [3, 4]
    assert config.similarity.lr == 0.01
    with pytest.raises(RuraError, match="write KEY=VALUE"):
        apply_override({}, "diagnosis.clusterer")
    with pytest.raises(RuraError, match=r"unknown key diagnosis\.clusterr"):
        load_config(config_file, ["diagnosis.clusterr=pam"])


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("target: mild_dr\ndata: [known\n")
    with pytest.raises(RuraError, match=r"bad.yaml: not valid YAML at line 3"):
        load_config(path)
    with pytest.raises(RuraError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_the_cli_prints_one_line_and_exits_1(config_file):
    edit(config_file, lambda c: c["similarity"].update(epoch=3))
    done = run_rura("run", str(config_file))
    assert done.returncode == 1
    assert "did you mean similarity.epochs?" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_docs_list_every_config_key_as_the_code_describes_it():
    from rura.pipeline.config import config_reference

    page = (REPO / "docs" / "run.md").read_text()
    assert config_reference() in page, "docs/run.md is stale: paste config_reference() into it"
    for name, field in PipelineConfig.model_fields.items():
        members = getattr(field.annotation, "model_fields", None)
        for member in members or [None]:
            key = f"{name}.{member}" if member else name
            assert f"| `{key}` |" in page


def test_example_configs_are_valid():
    examples = sorted((REPO / "examples").glob("*.yaml"))
    assert examples
    for path in examples:
        raw = yaml.safe_load(path.read_text())
        PipelineConfig.model_validate(raw)


def test_dataset_options_reach_the_reader(config_file):
    from rura.pipeline import Pipeline

    pipeline = Pipeline.from_config(
        config_file, ["data.options={evaluation: {foo: 1}}"], progress=False
    )
    with pytest.raises(RuraError, match=r"data\.options\.evaluation: .*does not take.*foo"):
        _ = pipeline.inputs.evaluation
    with pytest.raises(RuraError, match=r"data\.options\.nowhere"):
        load_config(config_file, ["data.options={nowhere: {split: test}}"])


def test_without_a_lesion_set_the_shipped_segmenter_is_used(config_file, monkeypatch):
    from rura.pipeline.config import given_segmenter
    from rura.segmentation import pretrained

    edit(config_file, lambda c: c["data"].pop("lesions"))
    config, _ = load_config(config_file)
    assert given_segmenter(config) == "pretrained:idrid-20"
    monkeypatch.setattr(pretrained, "available", lambda: [])  # an install without it
    with pytest.raises(RuraError, match=r"segmentation needs data\.lesions"):
        load_config(config_file)


def test_preset_paper_sets_the_papers_method_and_the_config_still_wins(config_file):
    edit(config_file, lambda raw: raw.update(preset="paper"))
    config, _ = load_config(config_file)
    diagnosis = config.diagnosis
    assert (diagnosis.focus, diagnosis.clusterer, diagnosis.adapt) == ("masked", "agg", "none")
    assert (diagnosis.evidence, diagnosis.operating_point) == ("distance", "nearest")
    assert config.segmentation.loss == "focal" and config.segmentation.normalize == "none"
    assert config.similarity.loss == "contrastive"
    # the tiny config names its own backbones and encoders: those stay
    assert config.diagnosis.backbone == "resnet18" and config.segmentation.encoder == "resnet18"
    assert config.similarity.backbone == "resnet18"
    config, _ = load_config(config_file, ["diagnosis.focus=overlay"])
    assert config.diagnosis.focus == "overlay" and config.diagnosis.adapt == "none"


def test_preset_paper_without_overrides_is_the_published_architecture(pipeline_data, tmp_path):
    data = {"known": "k", "evaluation": "e", "target_examples": "t"}
    raw = {"preset": "paper", "target": "mild_dr", "data": data}
    from rura.pipeline.config import apply_preset

    config = PipelineConfig.model_validate(apply_preset(raw, "config"))
    assert config.similarity.backbone == "vgg19"
    assert (config.segmentation.architecture, config.segmentation.encoder) == ("unet", "resnet50")
    assert config.diagnosis.backbone == "resnet18"


def test_an_unknown_preset_is_one_line(config_file):
    edit(config_file, lambda raw: raw.update(preset="papers"))
    with pytest.raises(RuraError, match="preset 'papers' is unknown; choose default, paper"):
        load_config(config_file)


BASE = {"target": "mild_dr", "data": {"known": "k", "evaluation": "e", "target_examples": "t"}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"normal": "mild_dr"}, "target and normal are both"),
        ({"seeds": [1, 1]}, "seeds repeat"),
        ({"data": {"known": "k", "evaluation": "e"}}, "needs data.target_examples"),
        ({"similarity": {"enabled": False}}, "similarity.most_similar must name"),
        ({"similarity": {"enabled": False, "most_similar": "mild_dr"}}, "cannot be the target"),
        ({"similarity": {"most_similar": "normal"}}, "is the normal label"),
        (
            {"segmentation": {"enabled": False}, "diagnosis": {"focus": "masked"}},
            "needs lesion masks",
        ),
        (
            {"segmentation": {"enabled": False}, "diagnosis": {"evidence": "burden"}},
            "reads the lesion burden",
        ),
        (
            {"segmentation": {"enabled": False}, "diagnosis": {"mapping": "lesion-burden"}},
            "lesion-burden needs segmentation",
        ),
        ({"segmentation": {"size": 256, "patch": 512}}, "patch 512 px is larger than size"),
        ({"segmentation": {"size": 1000}}, "multiple of 32"),
        (
            {"similarity": {"freeze_backbone": True, "embedding_dim": 0}},
            "leaves nothing for the contrastive term",
        ),
    ],
)
def test_every_constructor_refuses_what_load_config_refuses(changes, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        PipelineConfig(**(BASE | changes))
    with pytest.raises(RuraError, match=message) as error:
        load_config(BASE | changes)
    assert "\n" not in str(error.value)


def test_the_rules_allow_what_they_should():
    config = PipelineConfig(
        **BASE, similarity={"freeze_backbone": True, "embedding_dim": 0, "loss": "bce"}
    )
    assert config.similarity.embedding_dim == 0
    PipelineConfig(**(BASE | {"segmentation": {"enabled": False}}))  # focus falls back to none


def test_check_config_still_refuses_a_config_changed_after_it_was_built(config_file):
    from rura.pipeline.config import check_config

    config, base = load_config(config_file)
    changed = config.model_copy(update={"normal": config.target})  # skips the validators
    with pytest.raises(RuraError, match="target and normal are both"):
        check_config(changed, base, "config")
