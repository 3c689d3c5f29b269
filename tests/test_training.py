"""The shared training loop: resume equals a run never stopped, the best epoch, divergence."""

import math

import pytest
import torch

from rura.errors import RuraError
from rura.training import Best, CheckpointFile, Epoch, fit


def tiny() -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[3], gamma=0.5)
    return model, optimizer, scheduler


def trainer(model, optimizer):
    """An epoch of noisy regression through dropout, drawn from torch's global generator."""

    def train_epoch(epoch: Epoch) -> dict:
        model.train()
        x = torch.randn(32, 4)
        y = x.sum(dim=1, keepdim=True) + torch.randn(32, 1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        epoch.advance(1, loss=f"{float(loss.detach()):.3f}")
        return {"lr": optimizer.param_groups[0]["lr"], "loss": float(loss.detach())}

    return train_epoch


def run(tmp_path, epochs, *, resume=False, reseed=True, **changes):
    model, optimizer, scheduler = tiny()
    torch.manual_seed(7 if resume else 99)  # a resumed run must not depend on the caller's seed
    fitted = fit(
        model,
        epochs=epochs,
        train_epoch=trainer(model, optimizer),
        validate=lambda index: {"val_loss": float(model[0].weight.detach().abs().sum())},
        best=Best("val_loss", "min"),
        optimizer=optimizer,
        scheduler=scheduler,
        checkpoint=CheckpointFile(tmp_path / "state.safetensors", "test/1", "start afresh"),
        resume=resume,
        reseed=(lambda index: torch.manual_seed(1000 + index)) if reseed else None,
        progress=False,
        **changes,
    )
    return model, fitted


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("reseed", [True, False], ids=["reseeded", "generators saved"])
def test_a_resumed_run_equals_one_never_stopped(tmp_path, reseed):
    whole, fitted = run(tmp_path / "whole", 4, reseed=reseed)
    run(tmp_path / "cut", 2, reseed=reseed)
    resumed, again = run(tmp_path / "cut", 4, resume=True, reseed=reseed)
    assert same_weights(whole.state_dict(), resumed.state_dict())
    assert again.history == fitted.history
    assert [row["lr"] for row in fitted.history] == [0.05, 0.05, 0.05, 0.025]
    assert again.best == fitted.best
    assert same_weights(again.best_weights, fitted.best_weights)


def test_the_best_epoch_and_its_weights_are_kept(tmp_path):
    model, optimizer, _ = tiny()
    scores = [0.5, 0.9, 0.7, 0.8]
    weights = []

    def keep(row: dict) -> None:
        weights.append({k: v.clone() for k, v in model.state_dict().items()})

    def fitted(mode, epochs=4, resume=False):
        return fit(
            model,
            epochs=epochs,
            train_epoch=trainer(model, optimizer),
            validate=lambda index: {"score": scores[index], "note": f"epoch {index + 1}"},
            best=Best("score", mode, keep=("note",)),
            optimizer=optimizer,
            checkpoint=CheckpointFile(tmp_path / f"{mode}.safetensors", "test/1", "start afresh"),
            resume=resume,
            on_epoch_end=keep,
            progress=False,
        )

    highest = fitted("max")
    assert highest.best == {"epoch": 2, "score": 0.9, "note": "epoch 2"}
    assert same_weights(highest.best_weights, weights[1])
    weights.clear()
    fitted("min", epochs=2)
    lowest = fitted("min", resume=True)  # epochs 3 and 4 do worse than epoch 1
    assert lowest.best == {"epoch": 1, "score": 0.5, "note": "epoch 1"}
    assert same_weights(lowest.best_weights, weights[0])
    assert not same_weights(lowest.best_weights, model.state_dict())
    assert [row["score"] for row in lowest.history] == scores


def test_a_non_finite_metric_is_never_the_best():
    best = Best("score")
    assert not best.improves(math.nan, None) and not best.improves(None, None)
    assert best.improves(0.1, None) and not best.improves(0.1, {"score": 0.2})
    assert Best("score", "min").improves(0.1, {"score": 0.2})


def test_the_history_rows_hooks_and_model_files(tmp_path):
    model, optimizer, _ = tiny()
    published, ended = [], []
    checkpoint = CheckpointFile(tmp_path / "state.safetensors", "test/1", "start afresh")

    def go(epochs, resume=False):
        return fit(
            model,
            epochs=epochs,
            train_epoch=trainer(model, optimizer),
            validate=lambda index: {"score": [0.2, 0.1, 0.3][index]},
            best=Best("score"),
            optimizer=optimizer,
            checkpoint=checkpoint,
            resume=resume,
            publish=lambda fitted, improved: published.append((len(fitted.history), improved)),
            on_epoch_end=ended.append,
            summary=lambda row, improved: f"epoch {row['epoch']}",
            timed=True,
            progress=True,
        )

    first = go(2)
    assert [list(row) for row in first.history] == [["epoch", "lr", "loss", "score", "seconds"]] * 2
    assert ended == first.history and published == [(1, True), (2, False)]
    assert checkpoint.read_state()["epoch"] == 2
    published.clear()
    resumed = go(3, resume=True)
    assert published == [(2, True), (3, True)]  # the files rewritten from the checkpoint first
    assert resumed.history[:2] == first.history and resumed.best["epoch"] == 3


def test_a_diverged_epoch_is_a_one_line_error_and_never_checkpointed(tmp_path):
    model, optimizer, _ = tiny()
    checkpoint = CheckpointFile(tmp_path / "state.safetensors", "test/1", "start afresh")
    losses = iter([1.0, math.inf])

    def train_epoch(epoch: Epoch) -> dict:
        return {"loss": next(losses)}

    with pytest.raises(RuraError) as error:
        fit(
            model,
            epochs=3,
            train_epoch=train_epoch,
            optimizer=optimizer,
            checkpoint=checkpoint,
            progress=False,
            name="out/model",
            lr_hint="--lr",
        )
    assert str(error.value) == (
        "out/model: training diverged in epoch 2 (loss inf); lower the learning rate (--lr)"
    )
    assert checkpoint.read_state()["epoch"] == 1
    nan = fit(model, epochs=1, train_epoch=lambda epoch: {"loss": math.nan}, progress=False)
    assert math.isnan(nan.history[0]["loss"])  # no lr_hint: the caller's to judge


def test_an_unusable_checkpoint_is_a_one_line_error(tmp_path):
    model, optimizer, _ = tiny()
    run(tmp_path, 1)
    wrong = CheckpointFile(tmp_path / "state.safetensors", "other/1", "start afresh")
    with pytest.raises(RuraError, match=r"unreadable checkpoint .*other/1.*; start afresh$"):
        fit(model, epochs=2, train_epoch=trainer(model, optimizer), checkpoint=wrong, resume=True)
    other = torch.nn.Linear(3, 3)
    right = CheckpointFile(tmp_path / "state.safetensors", "test/1", "start afresh")
    with pytest.raises(RuraError, match=r"unreadable checkpoint .*; start afresh$"):
        fit(other, epochs=2, train_epoch=trainer(other, optimizer), checkpoint=right, resume=True)
