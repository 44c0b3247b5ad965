"""Fixtures of the Logic tests."""

from __future__ import annotations

import pytest
import torch
from epilepsy_suite.fcd.checkpoint import save_checkpoint
from epilepsy_suite.fcd.model import MSDSANet


@pytest.fixture(scope="session")
def fcd_checkpoint(tmp_path_factory):
    """A small MS-DSA-Net whose head reads "FCD" where the last decoder features are large: with
    the bias, the prediction has a few confident blobs rather than noise, which is all a Logic
    test needs (the method's learning is tested in Testing/core)."""
    torch.manual_seed(0)
    model = MSDSANet(patch_size=64, feature_size=8)
    with torch.no_grad():
        model.head.conv.conv.bias.copy_(torch.tensor([0.0, -2.0]))
    return save_checkpoint(tmp_path_factory.mktemp("model") / "fcd.pt", model)
