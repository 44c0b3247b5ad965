"""Both segmentation networks learn: each overfits one case in a few dozen steps with the
project's own loss, initialisation and optimiser. A change that stops learning (a head starting
at p = 0.5 under the TV term, a wrong label channel, a detached loss) fails here, in the default run.
"""

from __future__ import annotations

import numpy as np
import torch
from epilepsy_suite.cavity.dataset import template_subject
from epilepsy_suite.cavity.evaluation import dice
from epilepsy_suite.cavity.model import CavityUNet
from epilepsy_suite.cavity.simulation import RandomResection
from epilepsy_suite.fcd.dataset import TrainingSubject
from epilepsy_suite.fcd.losses import build_loss
from epilepsy_suite.fcd.model import MSDSANet
from epilepsy_suite.fcd.synthetic import make_synthetic_subject
from epilepsy_suite.initialisation import set_foreground_prior
from monai.losses import DiceLoss


def _overfit(network, loss_function, image, label, steps: int, learning_rate: float) -> float:
    """Dice of the foreground channel on the training case after ``steps`` AdamW steps."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate, weight_decay=1e-2)
    network.train()
    for _ in range(steps):
        loss = loss_function(network(image), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    network.eval()
    with torch.no_grad():
        prediction = network(image).argmax(1).numpy()
    return dice(prediction > 0, label[:, 0].numpy() > 0)


def _centred_crop(array: np.ndarray, centre, size: int) -> np.ndarray:
    starts = [int(np.clip(c - size // 2, 0, extent - size)) for c, extent in zip(centre, array.shape[1:], strict=True)]
    return array[:, starts[0] : starts[0] + size, starts[1] : starts[1] + size, starts[2] : starts[2] + size]


def test_ms_dsa_net_overfits_one_fcd_patch_with_dice_and_tv() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    synthetic = make_synthetic_subject(3, spacing=2.0)
    subject = TrainingSubject.from_images("s", synthetic.t1, synthetic.flair, synthetic.lesion)
    centre = [int(np.mean(axis)) for axis in np.nonzero(subject.label[0])]
    image = torch.from_numpy(_centred_crop(subject.image, centre, 64)[None]).float()
    label = torch.from_numpy(_centred_crop(subject.label, centre, 64)[None]).float()
    assert 0 < label.mean() < 0.05  # a small lesion in the patch, as in training
    network = MSDSANet(patch_size=64, feature_size=8, dropout=0.0)
    set_foreground_prior(network.head, 0.01)
    assert _overfit(network, build_loss("dice_tv", tv_weight=0.1), image, label, 30, 2e-3) >= 0.9


def test_cavity_unet_overfits_one_simulated_resection() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    resected = RandomResection(volumes=(8000, 20000), seed=5)(template_subject(3))
    image = resected["image"].data.float()
    image = (image - image.mean()) / image.std()
    label = (resected["label"].data > 0).float()
    centre = [int(np.mean(axis)) for axis in np.nonzero(label[0].numpy())]
    image = torch.from_numpy(_centred_crop(image.numpy(), centre, 32)[None])
    label = torch.from_numpy(_centred_crop(label.numpy(), centre, 32)[None])
    network = CavityUNet(first_channels=8)
    set_foreground_prior(network.head, 0.01)
    loss_function = DiceLoss(include_background=False, to_onehot_y=True, softmax=True)
    assert _overfit(network, lambda logits, target: loss_function(logits, target), image, label, 30, 2e-3) >= 0.9
