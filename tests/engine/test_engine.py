"""Choosing an engine: known names only, and a one-line error when Ray is not installed."""

import sys

import pytest

from rura.engine import check_engine, require_ray
from rura.errors import RuraError
from tests.conftest import invoke_rura


@pytest.fixture
def no_ray(monkeypatch):
    """Ray as if it were not installed: importing it fails."""
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)


def test_known_engines_pass_and_others_are_refused():
    assert check_engine("local") == "local"
    assert check_engine(" Ray ") == "ray"
    with pytest.raises(RuraError, match=r"engine='spark': unknown engine; choose local or ray"):
        check_engine("spark")


def test_ray_missing_says_to_install_the_extra(no_ray):
    assert check_engine("local") == "local"  # the local engine never imports Ray
    with pytest.raises(RuraError, match=r"engine='ray': Ray is not installed: .*'rura\[ray\]'"):
        check_engine("ray")
    with pytest.raises(RuraError, match=r"^runtime\.engine: Ray is not installed"):
        require_ray("runtime.engine")


def test_the_library_refuses_the_ray_engine_before_writing(no_ray, tmp_path):
    from rura.features.embed import embed
    from tests.features.test_embed import SETTINGS, make_images

    manifest = make_images(tmp_path / "data", n=2)
    with pytest.raises(RuraError, match=r"rura\[ray\]"):
        embed(manifest, tmp_path / "f", **SETTINGS, engine="ray")
    assert not (tmp_path / "f").exists()


def test_the_command_line_refuses_the_ray_engine_in_one_line(no_ray, tmp_path):
    result = invoke_rura("embed", str(tmp_path), "--out", str(tmp_path / "f"), "--engine", "ray")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --engine ray: Ray is not installed: pip install 'rura[ray]' (or use the local "
        "engine)"
    ]


def test_a_run_with_engine_ray_is_refused_before_any_stage(no_ray, pipeline_data, tmp_path):
    from rura.pipeline import Pipeline
    from tests.pipeline.conftest import tiny_config

    config = tiny_config(pipeline_data, tmp_path / "run", runtime={"engine": "ray"})
    with pytest.raises(RuraError, match=r"^runtime\.engine: Ray is not installed"):
        Pipeline.from_config(config, progress=False).run()
    assert not (tmp_path / "run").exists()


def test_a_run_whose_ray_address_does_not_answer_fails_before_any_stage(
    pipeline_data, tmp_path, monkeypatch
):
    from types import SimpleNamespace

    from rura.pipeline import Pipeline
    from tests.pipeline.conftest import tiny_config

    def init(**kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    fake = SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setattr("rura.engine.session.require_ray", lambda where: fake)
    runtime = {"engine": "ray", "ray_address": "10.0.0.1:6379"}
    config = tiny_config(pipeline_data, tmp_path / "run", runtime=runtime)
    with pytest.raises(RuraError, match=r"^runtime\.ray_address '10\.0\.0\.1:6379': could not"):
        Pipeline.from_config(config, progress=False).run()
    assert not (tmp_path / "run").exists()


def test_an_unknown_engine_in_a_config_is_a_validation_error(pipeline_data, tmp_path):
    from rura.pipeline import Pipeline
    from tests.pipeline.conftest import tiny_config

    config = tiny_config(pipeline_data, tmp_path / "run", runtime={"engine": "spark"})
    with pytest.raises(RuraError, match=r"runtime\.engine"):
        Pipeline.from_config(config, progress=False)


@pytest.mark.parametrize(
    ("command", "target"),
    [
        (["embed", "DATA", "--out", "OUT"], "rura.features.embed.embed"),
        (["segment", "predict", "MODEL", "DATA", "--out", "OUT"], "PREDICT"),
        (["diagnose", "MODEL", "DATA", "--out", "OUT"], "rura.diagnosis.diagnose.diagnose"),
    ],
)
def test_each_command_hands_engine_and_address_to_the_library(
    command, target, tmp_path, monkeypatch
):
    """``--engine`` and ``--ray-address`` reach the library call (which is stopped there)."""
    seen = {}

    class Reached(Exception):
        pass

    def library(*args, **kwargs):
        seen.update(kwargs)
        raise Reached

    if target == "PREDICT":
        target = "rura.segmentation.predict.predict_segmentation"
        monkeypatch.setattr("rura.segmentation.predict.resolve_images", lambda *a, **k: None)
    monkeypatch.setattr("rura.data.spec.resolve_dataset", lambda *a, **k: None)
    monkeypatch.setattr(target, library)
    args = [str(tmp_path / word) if word.isupper() else word for word in command]
    with pytest.raises(Reached):
        import typer.main

        from rura.cli import make_app

        typer.main.get_command(make_app()).main(
            [*args, "--engine", "ray", "--ray-address", "head:6379"], standalone_mode=False
        )
    assert (seen["engine"], seen["ray_address"]) == ("ray", "head:6379")
