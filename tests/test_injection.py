import pytest

from sareeflow.constraints import build_constraints
from sareeflow.errors import InvalidInput
from sareeflow.injection import defect_for, parse_injection


def test_design_example_parses():
    rules = parse_injection("02:border_distortion@1,03:color_shift@*")
    assert defect_for(rules, "02", 1) == "border_distortion"
    assert defect_for(rules, "02", 2) is None
    assert [defect_for(rules, "03", n) for n in (1, 2, 3, 4)] == ["color_shift"] * 4
    assert defect_for(rules, "01", 1) is None


def test_ranges():
    rules = parse_injection("05:pattern_loss@2-3")
    assert [defect_for(rules, "05", n) for n in (1, 2, 3, 4)] == [
        None,
        "pattern_loss",
        "pattern_loss",
        None,
    ]


@pytest.mark.parametrize("bad", ["02border@1", "2:x@1", "02:x@0", "02:x@3-1", "02:x@a"])
def test_bad_rules_are_invalid_input(bad):
    with pytest.raises(InvalidInput, match="failure-injection"):
        parse_injection(bad)


def test_unknown_defect_named_in_error():
    with pytest.raises(InvalidInput, match="nonsense"):
        parse_injection("02:nonsense@1", known_defects={"color_shift"})


def test_constraints_follow_the_seed_example_and_add_forbidden_changes():
    instructions, forbidden = build_constraints(
        ["border_distortion"], ["Border 'hem' drifts 9 px."]
    )
    assert instructions[0] == (
        "Previous output failed due to border distortion. Preserve border geometry exactly."
    )
    assert any("drifts 9 px" in line for line in instructions)
    assert "border_geometry" in forbidden and "border_path" in forbidden


def test_no_failures_means_no_instructions_but_base_forbidden_changes():
    instructions, forbidden = build_constraints([], [])
    assert instructions == [] and "cloth_colors" in forbidden


def test_settings_refuse_a_misspelt_defect_at_start_up(monkeypatch):
    from sareeflow.settings import Settings

    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", "02:border_distorsion@1")
    with pytest.raises(InvalidInput, match="border_distorsion"):
        Settings()
    monkeypatch.setenv("SAREEFLOW_FAILURE_INJECTION", "02:border_distortion@1,03:color_shift@*")
    assert Settings().failure_injection.startswith("02:border_distortion")
