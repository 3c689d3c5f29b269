"""``benchmarks/gpu.py --quick`` measures every stage on this machine's device and prints its
JSON (tiny inputs; on a machine without a GPU it names the CPU)."""

import json
import runpy
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
STAGES = {"embed", "segment_predict", "siamese_encode", "segment_train"}


@pytest.mark.slow  # four stages, three measurements each
def test_gpu_benchmark_quick_prints_every_stage_and_names_the_device(monkeypatch, capsys):
    script = REPO / "benchmarks" / "gpu.py"
    monkeypatch.syspath_prepend(str(script.parent))
    monkeypatch.setattr(sys, "argv", [str(script), "--quick", "--device", "cpu"])
    runpy.run_path(str(script), run_name="__main__")
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["device"].startswith("CPU: ") and result["autocast"] == "float32"
    assert set(result["stages"]) == STAGES and result["images"] == 4
    for figures in result["stages"].values():
        assert min(figures[k] for k in ("e2e_img_s", "forward_img_s", "decode_img_s")) > 0
        # one round: the bound's ratio is the larger of the other two
        assert figures["ratio_bound"] == max(figures["ratio_forward"], figures["ratio_decode"])
    assert torch.get_num_threads() == result["threads"]
