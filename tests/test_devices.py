"""Device choice, mixed precision, layouts and worker counts (rura.devices)."""

import pytest
import torch

from rura import devices
from rura.devices import (
    autocast,
    autocast_dtype,
    default_workers,
    memory_format,
    resolve_workers,
)
from rura.errors import RuraError

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_autocast_is_bf16_on_gpus_that_have_it_fp16_on_older_ones_none_elsewhere():
    assert autocast_dtype("cuda", bf16=True) is torch.bfloat16
    assert autocast_dtype("cuda:1", bf16=False) is torch.float16
    assert autocast_dtype("cpu") is None and autocast_dtype("mps") is None


def test_autocast_on_the_cpu_keeps_full_precision():
    layer = torch.nn.Linear(4, 4)
    with autocast("cpu"):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


@CUDA
def test_autocast_on_this_gpu_runs_in_its_reduced_precision():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    layer = torch.nn.Linear(4, 4).cuda()
    with autocast("cuda"):
        assert layer(torch.ones(1, 4, device="cuda")).dtype == expected


def test_gradients_are_scaled_only_where_the_model_runs_in_float16(monkeypatch):
    precision = {"cpu": None, "cuda": torch.float16, "cuda:1": torch.bfloat16}
    monkeypatch.setattr(devices, "autocast_dtype", lambda device: precision[device])
    monkeypatch.setattr(torch.amp, "GradScaler", lambda device, enabled: (device, enabled))
    scalers = [devices.grad_scaler(name) for name in precision]
    assert scalers == [("cuda", False), ("cuda", True), ("cuda", False)]


def test_a_disabled_scaler_leaves_the_step_as_it_was():
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    plain = torch.nn.Linear(3, 1)
    plain.load_state_dict(layer.state_dict())
    scaled, unscaled = (torch.optim.SGD(m.parameters(), lr=0.1) for m in (layer, plain))
    scaler, x = devices.grad_scaler("cpu"), torch.randn(5, 3)
    scaler.scale(layer(x).square().mean()).backward()
    scaler.step(scaled)
    scaler.update()
    plain(x).square().mean().backward()
    unscaled.step()
    assert torch.equal(layer.weight, plain.weight) and torch.equal(layer.bias, plain.bias)


def test_inference_is_channels_last_everywhere_training_only_on_cuda():
    assert memory_format("cpu") is torch.channels_last
    assert memory_format("cuda") is torch.channels_last
    assert memory_format("cpu", training=True) is torch.contiguous_format
    assert memory_format("cuda:0", training=True) is torch.channels_last


@pytest.mark.parametrize(
    ("cpus", "device", "expected"),
    [(1, "cpu", 0), (2, "cpu", 1), (5, "cpu", 4), (64, "cpu", 4), (2, "cuda", 1), (64, "cuda", 8)],
)
def test_default_workers_leave_a_core_to_the_model(monkeypatch, cpus, device, expected):
    monkeypatch.setattr(devices, "available_cpus", lambda: cpus)
    assert default_workers(device) == expected


def test_workers_unset_is_the_default_zero_is_the_main_process(monkeypatch):
    monkeypatch.setattr(devices, "available_cpus", lambda: 3)
    assert resolve_workers(None) == 2
    assert resolve_workers(0) == 0 and resolve_workers(6) == 6


@pytest.mark.parametrize("bad", [-1, True, 2.5, "4"])
def test_workers_that_are_no_count_are_a_one_line_error(bad):
    with pytest.raises(RuraError, match=r"workers=.*must be 0 \(the main process\)") as error:
        resolve_workers(bad)
    assert "\n" not in str(error.value)
