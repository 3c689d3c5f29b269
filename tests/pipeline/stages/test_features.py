"""The features stage: ``runtime.feature_dtype`` joins its hash only when it is not float32."""

from rura.pipeline import Pipeline


def test_float16_features_rerun_from_the_features_stage_and_float32_stays_cached(shared_run):
    shared, _ = shared_run
    config = shared.run_dir.parent / f"{shared.run_dir.name}.yaml"  # as tiny_config wrote it

    def plan(*overrides: str) -> dict[str, str]:
        return dict(Pipeline.from_config(config, list(overrides), progress=False).plan())

    idle = {"cached", "disabled"}
    assert set(plan().values()) <= idle
    assert set(plan("runtime.feature_dtype=float32").values()) <= idle  # old runs stay cached
    half = plan("runtime.feature_dtype=float16")
    assert half["features"] == half["diagnosis"] == half["evaluation"] == "run"
    assert {half[stage] for stage in ("similarity", "segmentation", "masks")} <= idle
