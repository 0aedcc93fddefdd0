"""Failure kinds of earlier attempts → explicit constraints for the next adapter call (DESIGN §6).

The sentences follow the seed's example ("Previous output failed due to border distortion.
Preserve border geometry exactly."); the region-level reasons measured by validation are appended
so a generative model knows where and by how much it drifted.
"""

from __future__ import annotations

from collections.abc import Iterable

BASE_FORBIDDEN_CHANGES: tuple[str, ...] = (
    "cloth_colors",
    "body_pattern",
    "border_geometry",
    "pallu_design",
)
"""What no adapter may ever change, retry or not."""

RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "border_distortion": (
        "Previous output failed due to border distortion. Preserve border geometry exactly.",
        ("border_geometry", "border_path"),
    ),
    "border_missing": (
        "Previous output failed because a border was missing or broken. "
        "Render every border band completely and unbroken along its path.",
        ("border_presence", "border_geometry"),
    ),
    "color_shift": (
        "Previous output failed due to a colour shift. Keep every colour exactly as in the source cloth.",
        ("cloth_colors", "white_balance", "saturation"),
    ),
    "pattern_loss": (
        "Previous output failed due to pattern loss. Reproduce the body pattern at its original "
        "scale, orientation and sharpness.",
        ("body_pattern", "pattern_scale", "pattern_sharpness"),
    ),
    "pallu_mismatch": (
        "Previous output failed because the pallu did not match. Use the pallu panel exactly as "
        "given for every pallu region.",
        ("pallu_design",),
    ),
    "misplaced": (
        "Previous output failed because cloth was misplaced. Keep every region exactly where the "
        "placement map puts it.",
        ("placement",),
    ),
}


def build_constraints(
    earlier_failures: Iterable[str], earlier_reasons: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(strict_instructions, forbidden_changes) for the next attempt, deterministic in order."""
    instructions: list[str] = []
    forbidden: list[str] = list(BASE_FORBIDDEN_CHANGES)
    for kind in earlier_failures:
        sentence, extra = RULES.get(
            kind, (f"Previous output failed ({kind}). Stay faithful to the cloth.", ())
        )
        if sentence not in instructions:
            instructions.append(sentence)
        forbidden.extend(item for item in extra if item not in forbidden)
    for reason in earlier_reasons:
        line = f"Measured problem to fix: {reason}"
        if line not in instructions:
            instructions.append(line)
    return instructions, forbidden
