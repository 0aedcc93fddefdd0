"""Generated sarees and product photos with known ground truth (for tests and benchmarks)."""

from sareeflow.synth.cloth import ClothStyle, ClothTruth, make_cloth, simulate_flat
from sareeflow.synth.photo import PhotoTruth, make_large_photo, make_photo

__all__ = [
    "ClothStyle",
    "ClothTruth",
    "PhotoTruth",
    "make_cloth",
    "make_large_photo",
    "make_photo",
    "simulate_flat",
]
