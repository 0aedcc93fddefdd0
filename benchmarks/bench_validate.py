"""``make bench-validate``: how well validation catches defects and passes faithful images.

Run ``python -m benchmarks.bench_validate [--quick] [--sarees N] [--jobs J] [--out DIR]``.

The corpus (DESIGN §8): ``N`` generated sarees (:func:`sareeflow.synth.cloth.make_cloth`,
every body family, motif, border style and pallu design the generator draws, dark and
near-white cloth included), each flattened like a photo would be
(:func:`~sareeflow.synth.cloth.simulate_flat`) and rendered faithfully by the local compose
adapter in ``POSES_PER_SAREE`` poses of the catalogue (rotating, so every pose is used). Each
faithful render is validated as it is, after every benign change of :mod:`sareeflow.benign`,
and after every defect of :mod:`sareeflow.defects` at every graded level of
:data:`~sareeflow.defects.LEVELS`.

The clear level of every defect runs on every pose, the mild and strong levels on every
second one. Every ``CALIBRATION_EVERY``-th saree belongs to the *calibration* set, the others to the
disjoint *evaluation* set. The thresholds in :mod:`sareeflow.settings` were chosen by looking
at the calibration set only (its threshold-headroom table is printed here, so a change of
thresholds can be checked against it); the rates reported against the bars are those of the
evaluation set.

A defect is *caught* when the report does not pass; *right kind* says whether the failure
kinds include the one a retry prompt should get. A faithful or benign image that fails is a
*false alarm*. A defect that cannot show on a saree is not counted, and the table says how
often that happened and why: a pattern defect on a plain body, a border defect on a saree
without border (its border regions show body cloth), a mirror of a pattern that is symmetric
(mirrored, it is the same pattern shifted), a colour defect that the cloth cannot reach (a
hue rotation of near-grey cloth).

Time per pose: ``validate_output`` against scikit-image's ``structural_similarity`` +
``deltaE_ciede2000`` on the same regions (:func:`benchmarks.bench.skimage_baseline`),
alternating on the same faithful renders of evaluation poses, in this process after the
corpus ran (not beside the workers).

Results go to ``DIR/validate.json`` (default ``bench-out/``).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import statistics
import sys
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from adapters.local_compose import LocalComposeAdapter
from benchmarks.bench import skimage_baseline, timed
from metrics import delta_e_ciede2000, rgb_to_lab
from sareeflow.benign import BENIGN, apply_benign
from sareeflow.defects import CLEAR, DEFECTS, LEVELS, applies_to, apply_defect
from sareeflow.errors import InvalidInput
from sareeflow.models import PartInfo, PartsInfo, PlacementMap, ValidationReport
from sareeflow.placement import build_placement
from sareeflow.poses import load_catalogue
from sareeflow.settings import Settings, ValidationThresholds
from sareeflow.synth.cloth import ClothStyle, make_cloth, simulate_flat
from tasks.validate import ExpectedPose, measure_area, observe_region, validate_output

FULL_SAREES = 48
"""Sarees of the full run: 12 calibrate, 36 evaluate (108 evaluation poses)."""
QUICK_SAREES = 6
POSES_PER_SAREE = 3
QUICK_POSES_PER_SAREE = 2
CALIBRATION_EVERY = 4
"""Sarees 0, 4, 8, ... calibrate; the others evaluate."""
GRADED_EVERY = 2
"""The mild and strong levels run on every second pose: they inform, the clear level (run on
every pose) is judged against the bar, and it halves the run."""
SAREE_SEED_BASE = 5000
"""Saree ``i`` is generated from seed ``SAREE_SEED_BASE + i``: other seeds than the tests use."""
FLAT_WIDTH_PX = 2048
"""S_flat's long side: the pipeline analyses uploads at ``work_max_side_px`` = 2048."""
FLAT_HEIGHT_RANGE_PX = (448, 640)
"""S_flat's short side, drawn per saree: cloth photographed at different aspect ratios."""
CANVAS_HEIGHT_PX = 1536
"""Pose canvas height, the settings' default."""
TIMING_POSES = 12
QUICK_TIMING_POSES = 3
TIMING_RUNS = 3
"""Timed poses (evaluation set, faithful renders) and alternating runs of each side."""
CATCH_BAR = 0.99
FALSE_ALARM_BAR = 0.01
"""DESIGN §8 / issue 4: catch ≥ 99 % at the clear level, false alarms ≤ 1 %."""
VALIDATION_BUDGET_S = 0.150
"""DESIGN §12: validation of one pose."""
DELTA_E_SAMPLE_STRIDE = 16
"""A colour defect's ΔE2000 is measured on every 16th cloth pixel (tens of thousands: the
mean is within 0.01 of all of them, at a sixteenth of the cost)."""
MIRROR_LENGTH_ACROSS = 0.5
"""A left-right mirror changes banded cloth when its length runs within 60° of the output's
x axis (|cos| ≥ 0.5)."""
COLOUR_REACH = 0.9
"""A colour defect counts when it reached at least this share of its level's ΔE2000 target."""

EXPECTED_KINDS: dict[str, frozenset[str]] = {
    "color_shift": frozenset({"color_shift"}),
    "hue_rotation": frozenset({"color_shift"}),
    "saturation_loss": frozenset({"color_shift"}),
    "border_recoloured": frozenset({"color_shift", "border_missing"}),
    "pattern_loss": frozenset({"pattern_loss"}),
    "pattern_rescaled": frozenset({"pattern_loss"}),
    "motif_replaced": frozenset({"pattern_loss"}),
    "mirror_pattern": frozenset({"pattern_loss", "pallu_mismatch"}),
    "border_distortion": frozenset({"border_distortion"}),
    "border_gap": frozenset({"border_distortion", "border_missing"}),
    "border_missing": frozenset({"border_missing"}),
    "pallu_swap": frozenset({"pallu_mismatch"}),
    "region_shifted": frozenset({"misplaced", "border_distortion"}),
}
"""Failure kinds that name each defect correctly (what the retry prompt should say). A border
drawn off its line is reported as drifting from its path (``border_distortion``)."""

COLOUR_TARGETS: dict[str, tuple[str, ...]] = {
    "color_shift": ("body", "border", "pallu"),
    "hue_rotation": ("body", "border", "pallu"),
    "saturation_loss": ("body", "border", "pallu"),
    "border_recoloured": ("border",),
}
"""Colour defects and the region kinds whose pixels their measured ΔE2000 is taken over."""
COLOUR_DELTA_E_PER_SEVERITY = 8.0
"""Every colour defect is sized ``8 ΔE2000 × severity`` (see :data:`sareeflow.defects.LEVELS`)."""
BODY_PATTERN_DEFECTS = frozenset({"pattern_loss", "pattern_rescaled", "motif_replaced"})
BORDER_DEFECTS = frozenset(
    {"border_distortion", "border_gap", "border_missing", "border_recoloured"}
)


# ----------------------------------------------------------------------------- corpus
@dataclass(frozen=True)
class Case:
    """One faithful render to damage: a saree, a pose and the set it belongs to."""

    saree: int
    pose: str
    split: str
    all_levels: bool = True
    """Whether the mild and strong levels run too (every second pose; the clear level and
    the faithful and benign variants run on every pose)."""


@dataclass
class Outcome:
    """Validation of one variant of one case."""

    split: str
    saree: int
    pose: str
    family: str
    """``faithful``, ``benign`` or ``defect``."""
    name: str
    level: str = ""
    passed: bool | None = None
    failures: list[str] = field(default_factory=list)
    right_kind: bool | None = None
    measured_delta_e: float | None = None
    skipped: str | None = None
    """Why the variant was not validated (the defect cannot show on this saree or pose)."""
    regions: list[dict] = field(default_factory=list)
    """Per-region measures (faithful and benign variants only: the calibration headroom)."""


def corpus_cases(
    sarees: int, poses_per_saree: int, pose_ids: list[str], *, seed_base: int = SAREE_SEED_BASE
) -> list[Case]:
    """``poses_per_saree`` consecutive catalogue poses per saree, continuing where the last
    saree stopped, so every pose is rendered about equally often."""
    cases = []
    for index in range(sarees):
        split = "calibration" if index % CALIBRATION_EVERY == 0 else "evaluation"
        for j in range(poses_per_saree):
            pose = pose_ids[(index * poses_per_saree + j) % len(pose_ids)]
            every_second = len(cases) % GRADED_EVERY == 0
            cases.append(Case(seed_base + index, pose, split, every_second))
    return cases


@functools.lru_cache(maxsize=2)
def make_saree(seed: int) -> tuple[np.ndarray, PartsInfo, ClothStyle]:
    """(S_flat, its true parts, its design) of generated saree ``seed``."""
    height = int(np.random.default_rng([seed, 7]).integers(*FLAT_HEIGHT_RANGE_PX))
    cloth, truth = make_cloth(seed, size=(FLAT_WIDTH_PX, height))
    parts = {}
    for name in ("body", "border_top", "border_bottom", "pallu"):
        rect = getattr(truth, name)
        parts[name] = PartInfo(
            name=name,
            rect=rect,
            confidence=1.0,
            reason=None if rect is not None else "not in this saree's design",
        )
    return simulate_flat(cloth, seed), PartsInfo(flat_size=truth.size, parts=parts), truth.style


def render_case(case: Case) -> tuple[np.ndarray, PlacementMap, np.ndarray, ClothStyle]:
    """(S_flat, placement map, faithful render, design) of a case."""
    s_flat, parts, style = make_saree(case.saree)
    pose = load_catalogue().poses[case.pose]
    placement = build_placement(pose, parts, canvas_height=CANVAS_HEIGHT_PX)
    image = LocalComposeAdapter().run(s_flat, placement, case.saree, [], []).image
    return s_flat, placement, image, style


def variant_seed(case: Case, name: str, level: str) -> int:
    """A seed per variant, stable across runs and platforms (CRC-32 of its name)."""
    return zlib.crc32(f"{case.saree}/{case.pose}/{name}/{level}".encode())


def why_not_visible(name: str, style: ClothStyle, placement: PlacementMap) -> str | None:
    """Why defect ``name`` cannot show on this saree in this pose (``None`` if it can)."""
    kinds = {region.kind for region in placement.regions}
    if not applies_to(name, kinds):
        return "pose has no such region"
    if name in BODY_PATTERN_DEFECTS and style.body_motif == "plain":
        return "plain body"
    if name in BORDER_DEFECTS and not style.has_border:
        return "saree without border"
    if name == "pallu_swap" and not style.has_pallu:
        return "saree without pallu"
    if name == "mirror_pattern" and not mirror_shows(style, placement):
        return "symmetric pattern"
    return None


def mirror_shows(style: ClothStyle, placement: PlacementMap) -> bool:
    """Whether mirroring the body and pallu regions left-right changes what they show.

    Paisleys (body or pallu) are asymmetric whichever way they lie. The pallu's stripes and
    cross-bands change only along the saree's length: mirrored across an axis that the
    length runs along (a pallu hanging down the frame), they stay the same stripes. Dots,
    buttis, checks and regular stripes mirrored are the same pattern at another phase.
    """
    for region in placement.regions:
        if region.kind == "body" and style.body_motif == "paisley":
            return True
        if region.kind == "pallu" and style.has_pallu:
            if style.pallu_design == "big_motifs":
                return True
            banded = style.pallu_design == "stripes" or style.pallu_cross_bands > 0
            if banded and length_across(placement, region.name) >= MIRROR_LENGTH_ACROSS:
                return True
    return False


def length_across(placement: PlacementMap, region: str) -> float:
    """|cos| of the angle between the saree's length (S_flat x) and the output's x axis,
    from the map's median gradient over the region."""
    map_x = placement.arrays[region]["map_x"].astype(np.float64)
    inside = map_x >= 0
    inside[1:-1, 1:-1] &= (
        inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:]
    )
    grad_y, grad_x = np.gradient(map_x)
    along_x = float(np.median(np.abs(grad_x[inside])))
    along_y = float(np.median(np.abs(grad_y[inside])))
    return along_x / max(np.hypot(along_x, along_y), 1e-9)


def stand_ins_only(
    damaged: np.ndarray, faithful: np.ndarray, placement: PlacementMap, style: ClothStyle
) -> bool:
    """Whether every region the damage touched stands in for a part the saree lacks.

    The placement map fills the border or pallu regions of a saree without that part with
    body cloth: a defect that only moved such a stand-in (``region_shifted`` draws its region
    by seed) damaged body cloth, not a border or a pallu.
    """
    changed = np.any(damaged != faithful, axis=2)
    present = {"body": True, "border": style.has_border, "pallu": style.has_pallu}
    touched = []
    for region in placement.regions:
        x, y, w, h = region.bbox
        if (changed[y : y + h, x : x + w] & placement.mask(region.name)).any():
            touched.append(present[region.kind])
    return bool(touched) and not any(touched)


def measured_delta_e(
    name: str, faithful: np.ndarray, damaged: np.ndarray, placement: PlacementMap
) -> float:
    """Mean ΔE2000 the colour defect ``name`` made on the pixels of its target regions."""
    rows, cols = [], []
    for region in placement.regions:
        if region.kind in COLOUR_TARGETS[name]:
            r, c = np.nonzero(placement.mask(region.name))
            rows.append(r + region.bbox[1])
            cols.append(c + region.bbox[0])
    where = (
        np.concatenate(rows)[::DELTA_E_SAMPLE_STRIDE],
        np.concatenate(cols)[::DELTA_E_SAMPLE_STRIDE],
    )
    before, after = rgb_to_lab(faithful[where]), rgb_to_lab(damaged[where])
    return float(delta_e_ciede2000(before, after).mean(dtype=np.float64))


def changed_shares(image: np.ndarray, expected: ExpectedPose) -> dict[str, float]:
    """Share of each region's colour blocks that show other cloth (the report leaves it out)."""
    return {
        region.region.name: measure_area(observe_region(image, region)).changed_fraction
        for region in expected.regions
    }


def region_measures(report: ValidationReport) -> list[dict]:
    return [
        {
            "region": check.region,
            "kind": check.kind,
            "ssim": check.ssim,
            "delta_e": check.delta_e,
            "pattern_score": check.pattern_score,
            "border_continuity": check.border_continuity,
            "border_max_offset_px": check.border_max_offset_px,
            "failures": list(check.failures),
        }
        for check in report.regions
    ]


def evaluate_case(case: Case, thresholds: ValidationThresholds) -> list[Outcome]:
    """Validate the faithful render of a case, its benign changes and its defects."""
    s_flat, placement, faithful, style = render_case(case)
    base = {"split": case.split, "saree": case.saree, "pose": case.pose}

    # All variants are checked against one map: its expected side is computed once.
    expected = ExpectedPose(placement, s_flat)

    def judged(image: np.ndarray) -> ValidationReport:
        return validate_output(image, placement, s_flat, thresholds=thresholds, expected=expected)

    def passing_side(family: str, name: str, image: np.ndarray) -> Outcome:
        report = judged(image)
        regions = region_measures(report)
        if case.split == "calibration":  # the headroom of the changed-block share too
            shares = changed_shares(image, expected)
            for region in regions:
                region["changed_share"] = shares[region["region"]]
        return Outcome(**base, family=family, name=name, passed=report.passed,
                       failures=list(report.failures), regions=regions)  # fmt: skip

    outcomes = [passing_side("faithful", "faithful", faithful)]
    for name in BENIGN:
        image = apply_benign(name, faithful, seed=variant_seed(case, name, ""))
        outcomes.append(passing_side("benign", name, image))
    for name in DEFECTS:
        reason = why_not_visible(name, style, placement)
        for level in LEVELS[name]:
            if level.name != CLEAR and not case.all_levels:
                continue
            outcome = Outcome(**base, family="defect", name=name, level=level.name)
            outcomes.append(outcome)
            if reason is not None:
                outcome.skipped = reason
                continue
            seed = variant_seed(case, name, level.name)
            try:
                damaged = apply_defect(
                    name, faithful, placement, seed=seed, severity=level.severity
                )
            except InvalidInput as exc:  # e.g. every border of the pose is too short to bend
                outcome.skipped = f"not applicable: {exc}"
                continue
            if np.array_equal(damaged, faithful):
                outcome.skipped = "changed no pixel"
                continue
            if stand_ins_only(damaged, faithful, placement, style):
                outcome.skipped = "moved a stand-in for a part the saree lacks"
                continue
            if name in COLOUR_TARGETS:
                outcome.measured_delta_e = measured_delta_e(name, faithful, damaged, placement)
                target = COLOUR_DELTA_E_PER_SEVERITY * level.severity
                if outcome.measured_delta_e < COLOUR_REACH * target:
                    outcome.skipped = "cloth cannot reach this ΔE"
                    continue
            report = judged(damaged)
            outcome.passed = report.passed
            outcome.failures = list(report.failures)
            outcome.right_kind = bool(EXPECTED_KINDS[name] & set(report.failures))
    return outcomes


def _worker_init() -> None:
    """One OpenCV thread per worker: the workers already use the cores."""
    cv2.setNumThreads(1)


def run_corpus(
    cases: list[Case], thresholds: ValidationThresholds, jobs: int, poses_per_saree: int
) -> Iterator[list[Outcome]]:
    """Outcomes case by case, in order; a saree's poses go to one worker (its cloth is cached)."""
    work = functools.partial(evaluate_case, thresholds=thresholds)
    if jobs <= 1:
        yield from map(work, cases)
        return
    context = multiprocessing.get_context("spawn")  # no inherited OpenCV/BLAS thread state
    with context.Pool(jobs, initializer=_worker_init) as pool:
        yield from pool.imap(work, cases, chunksize=poses_per_saree)


# ----------------------------------------------------------------------------- tables
@dataclass
class Row:
    """One line of a rate table."""

    family: str
    name: str
    level: str
    size: str
    n: int
    hits: int
    right_kind: int
    skipped: dict[str, int]
    measured_delta_e: float | None
    bar: str

    @property
    def rate(self) -> float | None:
        return self.hits / self.n if self.n else None


def defect_rows(outcomes: list[Outcome]) -> list[Row]:
    """Catch rate per defect and level (``bar`` judged at the clear level only)."""
    rows = []
    for name in DEFECTS:
        for level in LEVELS[name]:
            mine = [o for o in outcomes if o.name == name and o.level == level.name]
            done = [o for o in mine if o.skipped is None]
            skipped: dict[str, int] = {}
            for o in mine:
                if o.skipped is not None:
                    key = o.skipped.split(":")[0]
                    skipped[key] = skipped.get(key, 0) + 1
            caught = sum(1 for o in done if not o.passed)
            right = sum(1 for o in done if o.right_kind)
            des = [o.measured_delta_e for o in done if o.measured_delta_e is not None]
            row = Row("defect", name, level.name, level.size, len(done), caught, right, skipped,
                      statistics.median(des) if des else None, "")  # fmt: skip
            if level.name == CLEAR:
                row.bar = _bar(row.rate, CATCH_BAR, higher_is_better=True)
            rows.append(row)
    return rows


def false_alarm_rows(outcomes: list[Outcome]) -> list[Row]:
    """False-alarm rate on faithful renders and on each benign change."""
    rows = []
    for family, name in [("faithful", "faithful"), *(("benign", b) for b in BENIGN)]:
        mine = [o for o in outcomes if o.family == family and o.name == name]
        alarms = sum(1 for o in mine if not o.passed)
        row = Row(family, name, "", "", len(mine), alarms, 0, {}, None, "")
        row.bar = _bar(row.rate, FALSE_ALARM_BAR, higher_is_better=False)
        rows.append(row)
    return rows


def _bar(rate: float | None, bar: float, *, higher_is_better: bool) -> str:
    if rate is None:
        return "n/a"
    ok = rate >= bar if higher_is_better else rate <= bar
    return "met" if ok else "MISSED"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_rates(title: str, outcomes: list[Outcome]) -> tuple[list[Row], list[Row]]:
    sarees = len({o.saree for o in outcomes})
    poses = len({(o.saree, o.pose) for o in outcomes})
    print(f"\n{title}: {sarees} sarees, {poses} poses")
    header = (f"{'defect':<18} {'level':<7} {'size':<24} {'n':>4} {'caught':>7} "
              f"{'right kind':>10} {'ΔE meas.':>8}  {'bar':<6} not shown (why)")  # fmt: skip
    print(header)
    rows = defect_rows(outcomes)
    for row in rows:
        right = _pct(row.right_kind / row.n) if row.n else "-"
        de = "-" if row.measured_delta_e is None else f"{row.measured_delta_e:.2f}"
        why = ", ".join(f"{k} {v}" for k, v in sorted(row.skipped.items()))
        print(f"{row.name:<18} {row.level:<7} {row.size:<24} {row.n:>4} {_pct(row.rate):>7} "
              f"{right:>10} {de:>8}  {row.bar:<6} {why}")  # fmt: skip
    alarms = false_alarm_rows(outcomes)
    print(f"\n{'false alarms on':<51} {'n':>4} {'alarms':>7}  {'bar':<6}")
    for row in alarms:
        print(f"{row.name:<51} {row.n:>4} {_pct(row.rate):>7}  {row.bar:<6}")
    return rows, alarms


# ----------------------------------------------------------------------------- calibration
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("ssim", "min_ssim", "min"),
    ("delta_e", "max_delta_e", "max"),
    ("pattern_score", "min_pattern_score", "min"),
    ("border_continuity", "min_border_continuity", "min"),
    ("border_max_offset_px", "max_border_offset_px", "max"),
    ("changed_share", "max_changed_share", "max"),
)
"""(region measure, its threshold in RegionThresholds, which side of it passes)."""


def headroom_rows(outcomes: list[Outcome], thresholds: ValidationThresholds) -> list[dict]:
    """Per region kind and measure: the threshold and the worst faithful/benign value seen.

    Over the regions of faithful and benign images: the worst value, the 99.5th-percentile
    value on the failing side, and the headroom (threshold to worst, positive = inside).
    """
    rows = []
    for kind in ("body", "border", "pallu"):
        limits = getattr(thresholds, kind)
        for measure, limit_name, side in MEASURES:
            values = [
                region[measure]
                for o in outcomes
                if o.family in ("faithful", "benign")
                for region in o.regions
                if region["kind"] == kind and region.get(measure) is not None
            ]
            if not values:
                continue
            limit = float(getattr(limits, limit_name))
            array = np.asarray(values, np.float64)
            worst = float(array.min() if side == "min" else array.max())
            tail = float(np.quantile(array, 0.005 if side == "min" else 0.995))
            rows.append(
                {
                    "kind": kind,
                    "measure": measure,
                    "threshold": limit,
                    "passes_when": ">=" if side == "min" else "<=",
                    "worst": worst,
                    "tail_0.5%": tail,
                    "headroom": worst - limit if side == "min" else limit - worst,
                    "n": len(values),
                }
            )
    return rows


def print_headroom(rows: list[dict]) -> None:
    print("\nthresholds against faithful + benign regions of the calibration set")
    print(f"{'kind':<7} {'measure':<21} {'passes':<7} {'threshold':>9} {'worst':>8} "
          f"{'0.5% tail':>9} {'headroom':>9} {'n':>6}")  # fmt: skip
    for r in rows:
        print(f"{r['kind']:<7} {r['measure']:<21} {r['passes_when'] + ' thr':<7} "
              f"{r['threshold']:>9.3f} {r['worst']:>8.3f} {r['tail_0.5%']:>9.3f} "
              f"{r['headroom']:>9.3f} {r['n']:>6}")  # fmt: skip


# ----------------------------------------------------------------------------- timing
def time_validation(
    cases: list[Case], thresholds: ValidationThresholds, runs: int
) -> dict[str, object]:
    """Median time per pose of ``validate_output`` and of the scikit-image baseline.

    Each case's faithful render is validated ``runs`` times by both, alternating, so that
    load from elsewhere on the machine hits both sides alike; per pose the median run counts.
    """
    ours, base = [], []
    for case in cases:
        s_flat, placement, image, _ = render_case(case)
        validate_output(image, placement, s_flat, thresholds=thresholds)  # warm caches
        mine, theirs = [], []
        for _ in range(runs):
            mine.append(timed(validate_output, image, placement, s_flat, thresholds=thresholds)[0])
            theirs.append(timed(skimage_baseline, image, placement, s_flat)[0])
        ours.append(statistics.median(mine))
        base.append(statistics.median(theirs))
    return {
        "poses": len(cases),
        "runs": runs,
        "ours_ms": [1000 * t for t in ours],
        "skimage_ms": [1000 * t for t in base],
        "ours_median_ms": 1000 * statistics.median(ours),
        "ours_max_ms": 1000 * max(ours),
        "skimage_median_ms": 1000 * statistics.median(base),
        "ratio": statistics.median(base) / statistics.median(ours),
    }


def print_timing(timing: dict) -> None:
    ours, theirs = timing["ours_median_ms"], timing["skimage_median_ms"]
    verdict = "met" if ours <= 1000 * VALIDATION_BUDGET_S else "MISSED"
    print(f"\ntime per pose ({timing['poses']} evaluation poses x {timing['runs']} runs, "
          f"median over poses of the median run)")  # fmt: skip
    print(f"validate_output per pose          {ours:8.0f} ms  (max {timing['ours_max_ms']:.0f} ms)"
          f"  budget < {1000 * VALIDATION_BUDGET_S:.0f} ms  {verdict}")  # fmt: skip
    print(f"skimage SSIM + deltaE_ciede2000   {theirs:8.0f} ms  (same regions)")
    print(f"baseline ratio: validate_output is {timing['ratio']:.1f}x faster than skimage")


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (CI)")
    parser.add_argument("--sarees", type=int, default=None, help="sarees in the corpus")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--seed-base",
        type=int,
        default=SAREE_SEED_BASE,
        help="first saree seed: another base gives a development corpus to study misses on "
        "without looking at the reported sets",
    )
    parser.add_argument("--out", default="bench-out")
    args = parser.parse_args(argv)
    sarees = args.sarees or (QUICK_SAREES if args.quick else FULL_SAREES)
    per_saree = QUICK_POSES_PER_SAREE if args.quick else POSES_PER_SAREE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    thresholds = Settings(storage_root=Path(out).resolve()).thresholds
    pose_ids = sorted(load_catalogue().poses)
    cases = corpus_cases(sarees, per_saree, pose_ids, seed_base=args.seed_base)

    started = time.perf_counter()
    print(f"validation benchmark: {sarees} sarees x {per_saree} poses, {args.jobs} job(s), "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip
    outcomes: list[Outcome] = []
    for done, result in enumerate(run_corpus(cases, thresholds, args.jobs, per_saree), 1):
        outcomes.extend(result)
        if done % max(1, len(cases) // 10) == 0:
            print(f"  {done}/{len(cases)} poses, {time.perf_counter() - started:.0f} s", flush=True)
    calibration = [o for o in outcomes if o.split == "calibration"]
    evaluation = [o for o in outcomes if o.split == "evaluation"]

    headroom = headroom_rows(calibration, thresholds)
    print_headroom(headroom)
    cal_rows, cal_alarms = print_rates("calibration set", calibration)
    eval_rows, eval_alarms = print_rates("EVALUATION set (reported)", evaluation)
    timed_cases = [c for c in cases if c.split == "evaluation"]
    timed_cases = timed_cases[: QUICK_TIMING_POSES if args.quick else TIMING_POSES]
    timing = time_validation(timed_cases, thresholds, 1 if args.quick else TIMING_RUNS)
    print_timing(timing)
    missed = [f"{r.name} ({r.level})" for r in eval_rows if r.bar == "MISSED"]
    missed += [f"false alarms on {r.name}" for r in eval_alarms if r.bar == "MISSED"]
    print(f"\nbars missed on the evaluation set: {', '.join(missed) if missed else 'none'}")
    print(f"total {time.perf_counter() - started:.0f} s")

    result = {
        "quick": args.quick,
        "sarees": sarees,
        "poses_per_saree": per_saree,
        "seed_base": args.seed_base,
        "thresholds": thresholds.model_dump(),
        "headroom": headroom,
        "calibration": {"defects": _dicts(cal_rows), "false_alarms": _dicts(cal_alarms)},
        "evaluation": {"defects": _dicts(eval_rows), "false_alarms": _dicts(eval_alarms)},
        "timing": timing,
        "missed": missed,
        "outcomes": [asdict(o) for o in outcomes],
    }
    (out / "validate.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(f"results: {out / 'validate.json'}")
    return 0


def _dicts(rows: Iterable[Row]) -> list[dict]:
    return [{**asdict(r), "rate": r.rate} for r in rows]


if __name__ == "__main__":
    sys.exit(main())
