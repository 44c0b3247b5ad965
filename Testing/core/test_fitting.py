"""The shared training loop on a small real task: a linear regression whose answer is known.

The three models' own tests (cavity, FCD, GESTURES) check resumption bit for bit on their data;
these check what the loop owns whatever the model: it learns, the log schema, early stopping,
cancellation, and the errors for a ``last.pt`` that cannot be resumed from.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from epilepsy_suite.distributed import ProcessGroup
from epilepsy_suite.errors import CancelledError, InputError
from epilepsy_suite.fitting import LOG_COLUMNS, TrainingTask, fit
from epilepsy_suite.progress import CancelToken

TRUE_WEIGHTS = torch.tensor([[2.0, -1.0, 0.5]])


class LineTask(TrainingTask):
    """y = x @ TRUE_WEIGHTS.T + 0.3, learnt from batches drawn from the epoch's generator."""

    name = "line train"
    checkpoint_format = "test-line-v1"
    architecture = "linear model"

    def __init__(self, learning_rate: float = 0.1, frozen_after: int | None = None) -> None:
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=learning_rate)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=5, gamma=0.5)
        self.frozen_after = frozen_after
        self.restored: dict | None = None
        inputs = torch.from_numpy(np.random.default_rng(1).normal(size=(64, 3))).float()
        self.validation = inputs, inputs @ TRUE_WEIGHTS.T + 0.3

    def batches(self, epoch, rng, group):
        if self.frozen_after is not None and epoch >= self.frozen_after:
            self.optimizer.param_groups[0]["lr"] = 0.0  # no more progress: early stopping must end the run
        for _ in range(8):
            inputs = torch.from_numpy(rng.normal(size=(16, 3))).float()
            yield inputs, inputs @ TRUE_WEIGHTS.T + 0.3 + 0.01 * torch.randn(16, 1)

    def training_loss(self, network, batch):
        inputs, targets = batch
        loss = torch.nn.functional.mse_loss(network(inputs), targets)
        return loss, {"bias": float(self.model.bias.detach())}

    @torch.no_grad()
    def validate(self):
        inputs, targets = self.validation
        return {"validation_loss": float(torch.nn.functional.mse_loss(self.model(inputs), targets)), "extra": 1.0}

    def save(self, path: Path, **fields) -> None:
        payload = {"format": self.checkpoint_format, "state_dict": self.model.state_dict(), **fields}
        torch.save(payload, path)

    def restore(self, payload: dict) -> None:
        self.restored = payload


def _fit(task: TrainingTask, out: Path, epochs: int = 6, **options):
    return fit(task, out, ProcessGroup(), epochs, seed=3, show_bar=False, **options)


def test_fit_learns_the_known_answer_and_writes_one_log_schema(tmp_path: Path) -> None:
    result = _fit(LineTask(), tmp_path, epochs=12)
    model = torch.load(result.best_checkpoint, weights_only=False)["state_dict"]
    np.testing.assert_allclose(model["weight"].numpy(), TRUE_WEIGHTS.numpy(), atol=0.02)
    np.testing.assert_allclose(float(model["bias"]), 0.3, atol=0.02)
    with (tmp_path / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0])[: len(LOG_COLUMNS)] == LOG_COLUMNS and set(rows[0]) == {*LOG_COLUMNS, "bias", "extra"}
    assert [int(row["epoch"]) for row in rows] == list(range(12)) and {row["world_size"] for row in rows} == {"1"}
    assert float(rows[5]["learning_rate"]) == pytest.approx(0.05)  # the scheduler stepped once per epoch
    assert result.best_epoch == int(np.argmin([float(row["validation_loss"]) for row in rows]))
    last = torch.load(result.last_checkpoint, weights_only=False)
    assert last["epoch"] == 11 and last["written_by_rank"] == 0 and "optimizer" in last and "scheduler" in last


def test_cancelled_run_resumes_to_the_same_weights(tmp_path: Path) -> None:
    token = CancelToken()

    def stop_after_three(fraction: float, _: str) -> None:
        if fraction >= 0.5:
            token.cancel()

    with pytest.raises(CancelledError):
        _fit(LineTask(), tmp_path / "parts", progress=stop_after_three, cancel=token)
    assert torch.load(tmp_path / "parts" / "last.pt", weights_only=False)["epoch"] == 2
    resumed_task = LineTask()
    resumed = _fit(resumed_task, tmp_path / "parts")
    assert resumed_task.restored is not None and resumed_task.restored["epoch"] == 2
    whole = _fit(LineTask(), tmp_path / "whole")
    for run in (resumed, whole):
        run.weights = torch.load(run.last_checkpoint, weights_only=False)["state_dict"]
    assert all(torch.equal(resumed.weights[key], whole.weights[key]) for key in whole.weights)
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in run.history] for run in (resumed, whole)]
    assert untimed[0] == untimed[1]


def test_patience_stops_a_run_that_no_longer_improves(tmp_path: Path) -> None:
    result = _fit(LineTask(frozen_after=2), tmp_path, epochs=30, patience=3)
    assert result.stopped_early and len(result.history) == 5 and result.best_epoch == 1
    assert not _fit(LineTask(frozen_after=2), tmp_path / "never", epochs=8).stopped_early


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a checkpoint", r"last.pt: is not a readable PyTorch file"),
        (
            {"format": "epilepsy_suite.fcd.msdsanet"},
            r"last.pt: is not a line train checkpoint \(format 'epilepsy_suite",
        ),
        (
            {"format": "test-line-v1", "state_dict": {}, "epoch": 0},
            r"last.pt: cannot be resumed from: it has no optimizer",
        ),
    ],
)
def test_a_last_checkpoint_that_cannot_be_resumed_is_named(tmp_path: Path, content, problem: str) -> None:
    path = tmp_path / "last.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(InputError, match=problem):
        _fit(LineTask(), tmp_path)


def test_last_checkpoint_of_another_architecture_is_named(tmp_path: Path) -> None:
    _fit(LineTask(), tmp_path, epochs=1)
    payload = torch.load(tmp_path / "last.pt", weights_only=False)
    payload["state_dict"] = torch.nn.Linear(4, 1).state_dict()
    torch.save(payload, tmp_path / "last.pt")
    with pytest.raises(InputError, match=r"last.pt: weights do not fit the linear model"):
        _fit(LineTask(), tmp_path, epochs=2)


def test_foreground_prior_starts_both_segmentation_networks_near_the_prior() -> None:
    from epilepsy_suite.cavity.model import CavityUNet
    from epilepsy_suite.fcd.model import MSDSANet
    from epilepsy_suite.initialisation import set_foreground_prior

    torch.manual_seed(0)
    for network, side in ((CavityUNet(first_channels=4), 32), (MSDSANet(patch_size=64, feature_size=8), 64)):
        network.eval()
        inputs = torch.randn(1, network.config["in_channels"], side, side, side)
        set_foreground_prior(network.head, 0.01)
        with torch.no_grad():
            last = [module for module in network.head.modules() if isinstance(module, torch.nn.Conv3d)][-1]
            last.weight.zero_()  # where the features say nothing, the network says the prior exactly
            np.testing.assert_allclose(torch.softmax(network(inputs), 1)[:, 1].numpy(), 0.01, rtol=1e-5)
    with pytest.raises(InputError, match="must be in"):
        set_foreground_prior(CavityUNet(first_channels=2).head, 1.0)


def test_a_last_checkpoint_of_other_settings_or_data_is_named(tmp_path: Path) -> None:
    """Resuming silently mixed runs: another learning rate, or video features of another extractor
    (issue 17, kind 6); more epochs are a legitimate continuation."""
    _fit(LineTask(), tmp_path, epochs=2, training_config={"learning_rate": 0.1, "max_epochs": 2})
    assert _fit(LineTask(), tmp_path, epochs=3, training_config={"learning_rate": 0.1, "max_epochs": 3}).history
    with pytest.raises(InputError, match=r"last.pt: was trained with learning_rate 0.1 \(now 0.2\).*--no-resume"):
        _fit(LineTask(), tmp_path, epochs=4, training_config={"learning_rate": 0.2})
    other = LineTask()
    other.data_identity = lambda: {"extractor": "r2plus1d_18"}  # type: ignore[method-assign]
    with pytest.raises(InputError, match=r"was trained with extractor None \(now 'r2plus1d_18'\)"):
        _fit(other, tmp_path, epochs=4, training_config={"learning_rate": 0.1})
