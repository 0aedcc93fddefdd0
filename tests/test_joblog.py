"""Job logs: every line carries the job's context and reaches disk; the retry log reads well."""

from __future__ import annotations

import json
import logging

from sareeflow.joblog import CONTEXT_KEYS, JobLog, read_log, render_retry_log_md
from sareeflow.store import new_id

SUMMARY = {
    "01": {"label": "Front drape", "pass": True, "attempts": 1},
    "03": {"label": "Pleats close-up", "pass": False, "attempts": 2},
}
ENTRIES = [
    {"pose": "01", "attempt": 1, "pass": True, "failures": [], "reasons": [], "injected_defect": None},
    {"pose": "03", "attempt": 1, "pass": False, "failures": ["color_shift"],
     "reasons": ["Region 'pleats' changed colour: mean ΔE2000 9.0 (limit 3.0)."],
     "injected_defect": "color_shift"},
    {"pose": "03", "attempt": 2, "pass": False, "failures": ["color_shift", "pattern_loss"],
     "reasons": ["Region 'pleats' changed colour.", "Region 'pleats' lost the cloth's pattern."],
     "injected_defect": None},
]  # fmt: skip


def test_every_line_has_the_context_on_disk_and_in_the_python_log(store, caplog):
    job_id, saree_id = new_id(), new_id()
    log = JobLog(store, job_id, saree_id, mode="standard", generation=1)
    with caplog.at_level(logging.INFO, logger="sareeflow.job"):
        log.info("job_started", "started")
        log.bind(pose="02", attempt=3).warning("attempt_finished", "failed", reasons=["r"])
    lines = read_log(store, job_id)
    assert [line["event"] for line in lines] == ["job_started", "attempt_finished"]
    for line in lines:
        assert set(CONTEXT_KEYS) <= set(line) and line["at"]
        assert line["job"] == job_id and line["saree"] == saree_id and line["generation"] == 1
    assert lines[0]["pose"] is None and lines[0]["attempt"] is None
    assert lines[1]["pose"] == "02" and lines[1]["attempt"] == 3 and lines[1]["reasons"] == ["r"]
    # Outside a Prefect run the same JSON goes to the plain logger, message first.
    shipped = [json.loads(record.getMessage()) for record in caplog.records]
    assert [s["msg"] for s in shipped] == ["started", "failed"]
    assert shipped[1]["attempt"] == 3 and caplog.records[1].levelno == logging.WARNING


def test_a_log_that_cannot_be_stored_does_not_raise(store, monkeypatch, caplog):
    log = JobLog(store, new_id(), new_id())

    def refuse(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "append_log", refuse)
    with caplog.at_level(logging.WARNING, logger="sareeflow.job"):
        log.error("job_failed", "boom")
    assert any("not stored" in r.getMessage() for r in caplog.records)


def test_retry_log_markdown_names_every_attempt_and_its_reasons():
    text = render_retry_log_md(1, "standard", ENTRIES, SUMMARY)
    assert text.startswith("# Retry log: generation 1 (standard)\n")
    assert "2 poses: 1 passed, 1 failed, 1 retry." in text
    assert "| 03 | Pleats close-up | **failed** | 2 |" in text
    assert "## 03 Pleats close-up: failed after 2 attempts" in text
    assert "- Attempt 1: failed (color shift); defect injected for testing: color shift." in text
    assert "- Attempt 2: failed (color shift, pattern loss)." in text
    assert "  - Region 'pleats' changed colour: mean ΔE2000 9.0 (limit 3.0)." in text
    assert text.index("## 01") < text.index("## 03")
    assert render_retry_log_md(1, "standard", ENTRIES, SUMMARY) == text  # no time, no ids


def test_retry_log_markdown_says_when_a_pose_never_finished_an_attempt():
    text = render_retry_log_md(
        2, "retry_failed", [], {"07": {"label": "A | B", "pass": False, "attempts": 0}}
    )
    assert "| 07 | A \\| B | **failed** | 0 |" in text
    assert "No attempt finished" in text
