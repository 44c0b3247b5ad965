"""The preprocessing presets as the panel shows them (light: no torch, no MRML), so the panel can
follow a preset choice before the heavy dependencies are installed."""

from __future__ import annotations

from epilepsy_suite.fcd.presets import PRESETS, get_preset

PRESET_NAMES = tuple(PRESETS)


def preset_choices(preprocessing: str) -> dict[str, object]:
    """What the preset ``preprocessing`` chooses by default: ``register_to_mni``,
    ``coregister_flair``, ``postprocess`` and ``threshold``.

    Raises:
        InputError: an unknown preset name.
    """
    preset = get_preset(preprocessing)
    return {
        "register_to_mni": preset.register_to_mni,
        "coregister_flair": preset.coregister_flair,
        "postprocess": preset.postprocess,
        "threshold": preset.threshold,
    }
