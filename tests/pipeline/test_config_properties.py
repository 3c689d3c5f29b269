"""Property-based tests of the config loader: any input is a config or one RuraError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rura.errors import RuraError
from rura.pipeline.config import PipelineConfig, apply_override, load_config

KEYS = st.sampled_from(
    [
        "target",
        "normal",
        "out",
        "seeds",
        "data",
        "known",
        "evaluation",
        "diagnosis",
        "clusterer",
        "clusterer_params",
        "segmentation",
        "patch",
        "size",
        "runtime",
        "device",
        "preset",
        "options",
        "x",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
#: Fragments of real configs, shuffled into documents that are often nearly valid.
LINES = st.sampled_from(
    [
        "target: mild_dr",
        "target: mild_dr",
        "data: {known: ., evaluation: .}",
        "data: {known: known, evaluation: evaluation}",
        "data:",
        "  known: .",
        "  evaluation: .",
        "seeds: [0, 1]",
        "seeds: [-1]",
        "diagnosis: {clusterer_params: {n: &a [1, 2]}}",
        "x: *a",
        "segmentation: {enabled: false, size: 64, patch: 128}",
        "similarity: {enabled: false, most_similar: amd}",
        "runtime: {device: cuda:7}",
        "preset: paper",
        "preset: fast",
        "- item",
        "{",
        "key: !!python/name:os.system",
        "\t",
        "out: ''",
    ]
)

FOLDER = Path(tempfile.mkdtemp(prefix="rura-config-props-"))
for _name in ("known", "evaluation"):
    (FOLDER / _name).mkdir()
VALID = {
    "target": "mild_dr",
    "data": {"known": "known", "evaluation": "evaluation"},
    "similarity": {"enabled": False, "most_similar": "amd"},
    "segmentation": {"enabled": False},
}


def _loads_or_refuses(source: object) -> None:
    try:
        config, _ = load_config(source, base=FOLDER)  # type: ignore[arg-type]
    except RuraError as error:
        assert "\n" not in str(error).strip()
        return
    assert isinstance(config, PipelineConfig)
    assert all(seed >= 0 for seed in config.seeds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_mapping_is_a_config_or_one_error(raw):
    _loads_or_refuses(VALID | raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=10))
def test_any_yaml_text_is_a_config_or_one_error(lines):
    path = FOLDER / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _loads_or_refuses(path)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_config_or_one_error(data):
    path = FOLDER / "bytes.yaml"
    path.write_bytes(data)
    _loads_or_refuses(path)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_override_applies_or_is_one_error(text):
    raw: dict = {
        key: dict(value) if isinstance(value, dict) else value for key, value in VALID.items()
    }
    try:
        apply_override(raw, text)
    except RuraError:
        return
    _loads_or_refuses(raw)


def test_a_written_config_loads_back_to_itself():
    config, _ = load_config(VALID | {"seeds": [3, 1]}, base=FOLDER)
    written = yaml.safe_load(yaml.safe_dump(config.model_dump(mode="json")))
    again, _ = load_config(written, base=FOLDER)
    assert again == config
