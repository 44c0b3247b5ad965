"""The MS-DSA-Net authors' published ``model.pth`` layout and our parameter names.

Their file is a plain state dict (316 tensors for the paper's configuration) with the names
of their source code. Our :class:`~epilepsy_suite.fcd.model.MSDSANet` is the same network
under other names; the mapping (ours <- theirs), with ``s`` = 3..6 the encoder stage of a
DSA pathway and ``j`` its transformer block:

==========================================  ==============================================
theirs                                      ours
==========================================  ==============================================
``encoder{i}.*`` (i = 1..6)                 ``encoder.{i-1}.*``
``patch_embedding{s}.0.conv.weight``        ``pathways.{s-3}.reduce.0.weight``
``patch_embedding{s}.1.*`` (GroupNorm)      ``pathways.{s-3}.reduce.1.*``
``trans{s}.{j}.pos_embed``                  ``pathways.{s-3}.blocks.{j}.position_embedding``
``trans{s}.{j}.gamma``, ``.norm.*``         ``...blocks.{j}.gamma``, ``.norm.*``
``trans{s}.{j}.conv51.*``                   ``...blocks.{j}.conv_block.*``
``trans{s}.{j}.conv8.1.*``                  ``...blocks.{j}.conv_out.1.*``
``trans{s}.{j}.dsa.qkvv.weight``            ``...blocks.{j}.attention.qkvv.weight``
``trans{s}.{j}.dsa.temperature``            ``...blocks.{j}.attention.channel_temperature``
``trans{s}.{j}.dsa.temperature2``           ``...blocks.{j}.attention.spatial_temperature``
``trans{s}.{j}.dsa.EF`` (N, P)              ``...blocks.{j}.attention.token_projection.weight``
                                            (P, N): **transposed** (they compute x @ EF)
``decoder5`` ... ``decoder1``               ``decoder.0`` ... ``decoder.4`` (**reversed**)
``out.*``                                   ``head.*``
==========================================  ==============================================

A file saved from a ``DataParallel`` / DDP wrapper has every name prefixed by ``module.``;
:func:`strip_module_prefix` removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

DECODER_STAGES = 5
FIRST_PATHWAY_STAGE = 3  # their encoder stages are numbered from 1; DSA pathways start at stage 3
# Inside one transformer block: (ours, theirs). Names ending with "." are module prefixes.
_BLOCK_NAMES = (
    ("position_embedding", "pos_embed"),
    ("gamma", "gamma"),
    ("attention.qkvv.weight", "dsa.qkvv.weight"),
    ("attention.channel_temperature", "dsa.temperature"),
    ("attention.spatial_temperature", "dsa.temperature2"),
    ("attention.token_projection.weight", "dsa.EF"),
    ("norm.", "norm."),
    ("conv_block.", "conv51."),
    ("conv_out.1.", "conv8.1."),
)
_TRANSPOSED = ("attention.token_projection.weight", "dsa.EF")
_PUBLISHED_KEY = re.compile(r"^(encoder[1-9]|patch_embedding\d|trans\d|decoder[1-9]|out\.)")

State = Mapping[str, torch.Tensor]


def strip_module_prefix(state: State) -> dict[str, torch.Tensor]:
    """``state`` without the ``module.`` prefix a (Distributed)DataParallel wrapper adds to every name."""
    if state and all(key.startswith("module.") for key in state):
        return {key[len("module.") :]: value for key, value in state.items()}
    return dict(state)


def is_published_state_dict(state: State) -> bool:
    """Whether ``state`` (without ``module.``) uses the authors' names (``encoder1.*``, ``trans3.*``...)."""
    return any(_PUBLISHED_KEY.match(key) for key in state)


def _rename_block(rest: str, to_published: bool) -> str:
    """A name inside one transformer block, in the other convention (unknown names unchanged)."""
    source, target = (0, 1) if to_published else (1, 0)
    for pair in _BLOCK_NAMES:
        if pair[source].endswith(".") and rest.startswith(pair[source]):
            return pair[target] + rest[len(pair[source]) :]
        if rest == pair[source]:
            return pair[target]
    return rest


def published_name(key: str) -> str:
    """Our parameter name -> the authors' name (unknown names unchanged)."""
    if match := re.fullmatch(r"encoder\.(\d+)\.(.+)", key):
        return f"encoder{int(match[1]) + 1}.{match[2]}"
    if match := re.fullmatch(r"pathways\.(\d+)\.reduce\.(\d)\.(.+)", key):
        stage = int(match[1]) + FIRST_PATHWAY_STAGE
        return (
            f"patch_embedding{stage}.0.conv.{match[3]}" if match[2] == "0" else f"patch_embedding{stage}.1.{match[3]}"
        )
    if match := re.fullmatch(r"pathways\.(\d+)\.blocks\.(\d+)\.(.+)", key):
        stage = int(match[1]) + FIRST_PATHWAY_STAGE
        return f"trans{stage}.{match[2]}.{_rename_block(match[3], to_published=True)}"
    if match := re.fullmatch(r"decoder\.(\d+)\.(.+)", key):
        return f"decoder{DECODER_STAGES - int(match[1])}.{match[2]}"
    if key.startswith("head."):
        return "out." + key[len("head.") :]
    return key


def _our_name(key: str) -> str:
    """The authors' parameter name -> ours (unknown names unchanged)."""
    if match := re.fullmatch(r"encoder(\d+)\.(.+)", key):
        return f"encoder.{int(match[1]) - 1}.{match[2]}"
    if match := re.fullmatch(r"patch_embedding(\d+)\.0\.conv\.(.+)", key):
        return f"pathways.{int(match[1]) - FIRST_PATHWAY_STAGE}.reduce.0.{match[2]}"
    if match := re.fullmatch(r"patch_embedding(\d+)\.1\.(.+)", key):
        return f"pathways.{int(match[1]) - FIRST_PATHWAY_STAGE}.reduce.1.{match[2]}"
    if match := re.fullmatch(r"trans(\d+)\.(\d+)\.(.+)", key):
        pathway = int(match[1]) - FIRST_PATHWAY_STAGE
        return f"pathways.{pathway}.blocks.{match[2]}.{_rename_block(match[3], to_published=False)}"
    if match := re.fullmatch(r"decoder(\d+)\.(.+)", key):
        return f"decoder.{DECODER_STAGES - int(match[1])}.{match[2]}"
    if key.startswith("out."):
        return "head." + key[len("out.") :]
    return key


def from_published_state_dict(state: State) -> dict[str, torch.Tensor]:
    """The authors' state dict (optionally ``module.``-prefixed) under our names, ready for
    ``MSDSANet.load_state_dict``; the token projections ``EF`` (N, P) become (P, N).

    Names that are not in the table are kept, so a strict load reports them as unexpected.
    """
    renamed = {}
    for key, value in strip_module_prefix(state).items():
        ours = _our_name(key)
        renamed[ours] = value.t().contiguous() if key.endswith(_TRANSPOSED[1]) and value.ndim == 2 else value
    return renamed


def to_published_state_dict(state: State) -> dict[str, torch.Tensor]:
    """Our state dict under the authors' names and shapes: the inverse of :func:`from_published_state_dict`.

    ``torch.save(to_published_state_dict(model.state_dict()), path)`` writes a file laid out
    like their ``model.pth``.
    """
    converted = {}
    for key, value in strip_module_prefix(state).items():
        theirs = published_name(key)
        converted[theirs] = value.t().contiguous() if key.endswith(_TRANSPOSED[0]) and value.ndim == 2 else value
    return converted


def infer_config(state: State) -> dict[str, int]:
    """The :class:`MSDSANet` arguments that give ``state``'s shapes (our names).

    Returns ``in_channels``, ``out_channels``, ``patch_size``, ``feature_size``,
    ``projected_tokens``, ``depth`` and ``heads`` (dropout is not stored in weights).

    Raises:
        KeyError: the first parameter name this needs that ``state`` lacks.
    """
    first_conv = state["encoder.0.layer.conv1.conv.weight"]  # (feature_size, in_channels, 3, 3, 3)
    block = "pathways.0.blocks.0."
    tokens = state[block + "position_embedding"].shape[1]  # (patch_size / 4)^3 at the first pathway
    edge = round(tokens ** (1 / 3))
    depth = len({key.split(".")[3] for key in state if key.startswith("pathways.0.blocks.")})
    return {
        "in_channels": int(first_conv.shape[1]),
        "out_channels": int(state["head.conv.conv.weight"].shape[0]),
        "patch_size": int(4 * edge),
        "feature_size": int(first_conv.shape[0]),
        "projected_tokens": int(state[block + "attention.token_projection.weight"].shape[0]),
        "depth": depth,
        "heads": int(state[block + "attention.channel_temperature"].shape[0]),
    }
