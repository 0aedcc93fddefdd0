"""The gallery page at ``/`` in a real browser against the real stack (issue 7's "must show").

Headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) driven by Playwright; the
stack (Prefect server, deployment runner, API) runs on its own loopback ports. A person's path:
upload a photo, start the standard job, watch it finish, see four labelled images, open one
full size; and, with pose 03 made to fail every attempt, see why it failed and the retry
action. Screenshots go to ``$SAREEFLOW_SCREENSHOTS`` (default: the system temp folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sareeflow.cli import sample_image_path
from sareeflow.stack import Stack

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 900}
JOB_TIMEOUT_MS = 180_000
"""A standard job on 2 busy cores takes 10-30 s; generous for CI."""
UI_TIMEOUT_MS = 15_000
SCREENSHOTS = Path(os.environ.get("SAREEFLOW_SCREENSHOTS", tempfile.gettempdir()))

# Ports away from a developer's `make run` (4200/8000) and tests/test_stack.py (4291/8091).
CLEAN_PORTS = (4292, 8092)
FAILING_PORTS = (4294, 8094)
FAILING_POSE = "03"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} not found: install Debian's chromium (`.ci/run` does) to run browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package (dev extra) is not installed"
)
# Playwright's assertions wait 5 s by default; on 2 cores shared by the stack, Chromium and
# pytest, a page's answer to a click took longer once in CI.
sync_api.expect.set_options(timeout=UI_TIMEOUT_MS)


def _stack(tmp_path_factory, name: str, ports: tuple[int, int], env: dict[str, str]):
    """A whole stack for one test (stopped before the next starts: 2 cores)."""
    prefect_port, api_port = ports
    env = {
        "SAREEFLOW_STORAGE_ROOT": str(tmp_path_factory.mktemp(f"{name}_root")),
        "PREFECT_HOME": str(tmp_path_factory.mktemp(f"{name}_prefect")),
        "SAREEFLOW_API_URL": f"http://127.0.0.1:{api_port}",
        **env,
    }
    with Stack(prefect_port=prefect_port, api_port=api_port, env=env) as running:
        yield running


@pytest.fixture
def clean_stack(tmp_path_factory):
    yield from _stack(tmp_path_factory, "clean", CLEAN_PORTS, {"SAREEFLOW_FAILURE_INJECTION": ""})


@pytest.fixture
def failing_stack(tmp_path_factory):
    injection = {"SAREEFLOW_FAILURE_INJECTION": f"{FAILING_POSE}:color_shift@*"}
    yield from _stack(tmp_path_factory, "failing", FAILING_PORTS, injection)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """One headless Chromium with a fresh profile for the module."""
    profile = tmp_path_factory.mktemp("chromium_profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _upload_and_run_standard(page, stack: Stack) -> str:
    """Upload the sample through the page, start the standard job, wait for it to end."""
    page.goto(f"{stack.api_url}/")
    expect = sync_api.expect
    expect(page.get_by_text("Upload a saree photo")).to_be_visible()
    page.set_input_files("#file", str(sample_image_path()))
    standard = page.get_by_test_id("action-standard")
    expect(standard).to_be_visible()
    saree_id = page.get_by_test_id("saree-id").inner_text().strip()
    assert len(saree_id) == 32 and page.url.endswith(f"#/sarees/{saree_id}")
    standard.click()
    expect(page.get_by_test_id("job")).to_be_visible()
    page.wait_for_selector(
        "[data-testid=job][data-status=success], [data-testid=job][data-status=failed]",
        timeout=JOB_TIMEOUT_MS,
    )
    return saree_id


def test_upload_run_standard_and_see_four_labelled_images(page, clean_stack):
    expect = sync_api.expect
    _upload_and_run_standard(page, clean_stack)
    expect(page.get_by_test_id("job-status")).to_have_text("Success")
    expect(page.get_by_test_id("job-progress")).to_contain_text("4 of 4 poses finished")

    cards = page.get_by_test_id("pose-card")
    expect(cards).to_have_count(4)
    labels = [
        page.locator(f"[data-testid=pose-card][data-pose='{pose}'] [data-testid=pose-label]")
        for pose in ("01", "02", "03", "04")
    ]
    for label, text in zip(
        labels,
        ("Front drape", "Pallu over shoulder", "Pleats close-up", "Pallu close-up"),
        strict=True,
    ):
        expect(label).to_have_text(text)
    expect(page.get_by_test_id("pose-badge")).to_have_text(["Passed"] * 4)
    images = page.locator("[data-testid=pose-card] img.shot-img")
    expect(images).to_have_count(4)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.shot-img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    # Each region's figures, from the gallery endpoint.
    first_regions = page.locator("[data-pose='01'] [data-testid=pose-regions] tbody tr")
    assert first_regions.count() >= 3
    assert all(len(row.locator("td").all_inner_texts()) == 5 for row in first_regions.all()), (
        "each region row shows name, ΔE, SSIM, pattern and the verdict"
    )
    # The backend says extend is now possible and retry_failed is not.
    expect(page.get_by_test_id("action-extend")).to_be_visible()
    expect(page.get_by_test_id("action-retry_failed")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "sareeflow_gallery_success.png"), full_page=True)

    # Full size: the viewer shows the published image at its real resolution.
    page.locator("[data-pose='02'] [data-testid=pose-image-button]").click()
    viewer = page.locator("#viewer")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-title")).to_have_text("02 Pallu over shoulder")
    page.wait_for_function(
        "() => { const img = document.getElementById('viewer-img');"
        " return img.complete && img.naturalWidth >= 512; }"
    )
    page.screenshot(path=str(SCREENSHOTS / "sareeflow_gallery_viewer.png"))
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()


def test_a_failing_pose_shows_its_reason_and_the_retry_failed_action(page, failing_stack):
    expect = sync_api.expect
    saree_id = _upload_and_run_standard(page, failing_stack)
    expect(page.get_by_test_id("job-status")).to_have_text("Failed")
    expect(page.get_by_test_id("job-error")).to_contain_text("03")

    failed = page.locator(f"[data-testid=pose-card][data-pose='{FAILING_POSE}']")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.get_by_test_id("pose-badge")).to_have_text("Failed")
    expect(failed.get_by_test_id("pose-label")).to_have_text("Pleats close-up")
    expect(failed.get_by_test_id("pose-reasons")).to_contain_text("changed colour")
    expect(failed.get_by_test_id("pose-reasons")).to_contain_text("limit")
    bad_rows = failed.locator("[data-testid=pose-regions] tbody tr.bad")
    expect(bad_rows.first).to_be_visible()  # the failing region's figures, shown open
    expect(failed.locator("img.shot-img")).to_have_count(0)
    # The other poses passed and show their images.
    expect(page.locator("[data-testid=pose-card][data-status=passed] img.shot-img")).to_have_count(
        3
    )

    retry = page.get_by_test_id("action-retry_failed")
    expect(retry).to_be_visible()
    expect(retry).to_be_enabled()
    page.screenshot(path=str(SCREENSHOTS / "sareeflow_gallery_failed.png"), full_page=True)

    # A fresh load of the saree's address shows the same story (state comes from the API).
    page.goto(f"{failing_stack.api_url}/#/sarees/{saree_id}")
    page.reload()
    expect(
        page.locator(f"[data-pose='{FAILING_POSE}'] [data-testid=pose-reasons]")
    ).to_contain_text("changed colour")
    expect(page.get_by_test_id("action-retry_failed")).to_be_visible()
