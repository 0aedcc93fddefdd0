"""Pure, scikit-image-style metric functions used by validation.

Images are positional, everything else keyword-only; inputs are validated first with exact
messages; work is done in float32 and reductions in float64.
"""

from metrics.border import BorderContinuity, border_continuity
from metrics.color import rgb_to_lab
from metrics.delta_e import delta_e_ciede2000, mean_delta_e
from metrics.pattern import PatternReference, pattern_similarity
from metrics.ssim import structural_similarity

__all__ = [
    "BorderContinuity",
    "PatternReference",
    "border_continuity",
    "delta_e_ciede2000",
    "mean_delta_e",
    "pattern_similarity",
    "rgb_to_lab",
    "structural_similarity",
]
