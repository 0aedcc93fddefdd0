// sareeflow gallery page: a plain client of the public API (/api/v1). No build step, no library.
//
// Flow: upload a photo (POST /sarees) -> the page shows #/sarees/<id> -> start a job with one of
// the actions the gallery says are available (POST /sarees/<id>/jobs) -> poll the job
// (GET /jobs/<id>) and refresh the gallery as poses finish. All API text is put in the page with
// textContent, never as HTML.
"use strict";

const API = "/api/v1";
const POLL_MS = 800;
const MODES = {
  standard: { label: "Standard", hint: "Poses 01–04" },
  extend: { label: "Extend", hint: "Poses 05–12" },
  retry_failed: { label: "Retry failed", hint: "Only the poses that failed" },
};
const STATUS_TEXT = {
  passed: "Passed", failed: "Failed", running: "Running", queued: "Queued",
  not_started: "Not started", pending: "Pending", success: "Success",
};
const TERMINAL = ["success", "failed"];

const $ = (id) => document.getElementById(id);
const page = { sareeId: null, jobId: null, timer: null, poseKey: "", token: 0 };

// ------------------------------------------------------------------ API
async function api(path, options = {}) {
  const response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, {
    headers: { Accept: "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `The server answered ${response.status}.`;
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return body;
}

function notice(message) {
  const box = $("notice");
  box.textContent = message || "";
  box.hidden = !message;
}

// ------------------------------------------------------------------ routing
function route() {
  stopPolling();
  page.token += 1;
  const match = location.hash.match(/^#\/sarees\/([0-9a-f]{32})$/);
  notice("");
  if (match) {
    loadSaree(match[1], page.token);
  } else {
    page.sareeId = null;
    $("saree").hidden = true;
    $("start").hidden = false;
  }
}

async function upload(file) {
  if (!file) return;
  const drop = $("drop");
  drop.classList.add("busy");
  drop.querySelector(".drop-main").textContent = `Uploading ${file.name}…`;
  notice("");
  try {
    const form = new FormData();
    form.append("file", file, file.name);
    const saree = await api("sarees", { method: "POST", body: form });
    location.hash = `#/sarees/${saree.saree_id}`;
  } catch (error) {
    notice(error.message);
  } finally {
    drop.classList.remove("busy");
    drop.querySelector(".drop-main").textContent = "Choose a photo";
    $("file").value = "";
  }
}

// ------------------------------------------------------------------ saree
async function loadSaree(sareeId, token) {
  $("start").hidden = true;
  try {
    const [saree, gallery] = await Promise.all([
      api(`sarees/${sareeId}`),
      api(`sarees/${sareeId}/gallery`),
    ]);
    if (token !== page.token) return;
    page.sareeId = sareeId;
    renderSaree(saree);
    renderGallery(gallery);
    $("saree").hidden = false;
    const jobUrl = gallery.active_job_id
      ? `${API}/jobs/${gallery.active_job_id}`
      : saree.jobs.length ? saree.jobs[saree.jobs.length - 1].url : null;
    if (jobUrl) {
      const job = await api(jobUrl);
      if (token !== page.token) return;
      renderJob(job);
      if (!TERMINAL.includes(job.status)) startPolling(job.job_id);
    } else {
      $("job").hidden = true;
    }
  } catch (error) {
    if (token !== page.token) return;
    notice(error.status === 404 ? "No saree with that id." : error.message);
    $("start").hidden = false;
  }
}

function renderSaree(saree) {
  $("saree-id").textContent = saree.saree_id;
  const [w, h] = saree.original_size;
  $("saree-meta").textContent = `${saree.original_filename} · ${w}×${h} px`;
  $("original").src = saree.links.original;
  $("original-link").href = saree.links.original;
}

async function refreshGallery() {
  const token = page.token;
  const gallery = await api(`sarees/${page.sareeId}/gallery`);
  if (token === page.token) renderGallery(gallery);
}

function renderGallery(gallery) {
  renderActions(gallery.actions, Boolean(gallery.active_job_id));
  const grid = $("grid");
  grid.replaceChildren();
  const pending = [];
  for (const pose of gallery.poses) {
    if (pose.status === "not_started") pending.push(pose);
    else grid.append(poseCard(pose));
  }
  if (!grid.children.length) {
    const empty = document.createElement("p");
    empty.className = "muted empty";
    empty.textContent = "No pose generated yet. Start a standard job to make poses 01–04.";
    grid.append(empty);
  }
  $("pending").hidden = pending.length === 0;
  $("pending-list").replaceChildren(...pending.map((pose) => {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = `${pose.pose} ${pose.label}`;
    return chip;
  }));
}

function renderActions(actions, busy) {
  const box = $("actions");
  box.replaceChildren();
  for (const [mode, info] of Object.entries(MODES)) {
    if (!actions[mode]) continue;
    const button = document.createElement("button");
    button.type = "button";
    button.id = `action-${mode}`;
    button.dataset.testid = `action-${mode}`;
    button.className = mode === "retry_failed" ? "warn" : mode === "standard" ? "primary" : "";
    button.title = info.hint;
    button.textContent = info.label;
    const hint = document.createElement("small");
    hint.textContent = info.hint;
    button.append(hint);
    button.addEventListener("click", () => startJob(mode));
    box.append(button);
  }
  $("actions-note").textContent = box.children.length
    ? ""
    : busy ? "A job is running; new jobs can start when it ends." : "No job can start right now.";
}

// ------------------------------------------------------------------ pose cards
function poseCard(pose) {
  const card = $("card-template").content.firstElementChild.cloneNode(true);
  card.dataset.pose = pose.pose;
  card.dataset.status = pose.status;
  card.classList.add(`is-${pose.status}`);
  const badge = card.querySelector(".badge");
  badge.textContent = STATUS_TEXT[pose.status] || pose.status;
  badge.classList.add(pose.status);
  card.querySelector(".pose-id").textContent = pose.pose;
  card.querySelector(".pose-label").textContent = pose.label;

  const shot = card.querySelector(".shot");
  const img = card.querySelector(".shot-img");
  if (pose.image_url) {
    img.src = pose.image_url;
    img.alt = `${pose.pose} ${pose.label}`;
    shot.title = "Open full size";
    shot.addEventListener("click", () => openViewer(pose));
  } else {
    img.remove();
    shot.disabled = true;
    card.querySelector(".shot-empty").textContent =
      pose.status === "failed" ? "No image passed validation"
        : pose.status === "running" ? "Generating…" : "Waiting to start…";
  }

  const meta = [];
  if (pose.attempts) meta.push(`${pose.attempts} attempt${pose.attempts === 1 ? "" : "s"}`);
  if (pose.generation) meta.push(`generation ${pose.generation}`);
  card.querySelector(".card-meta").textContent = meta.join(" · ");

  const reasons = card.querySelector(".reasons");
  if (pose.status === "failed" && pose.reasons.length) {
    for (const reason of pose.reasons) {
      const item = document.createElement("li");
      item.textContent = reason;
      reasons.append(item);
    }
  } else {
    reasons.remove();
  }

  const details = card.querySelector(".regions");
  if (pose.regions.length) {
    const passing = pose.regions.filter((r) => r.pass).length;
    details.querySelector("summary").textContent =
      `Region checks: ${passing} of ${pose.regions.length} pass`;
    details.open = passing < pose.regions.length;
    const body = details.querySelector("tbody");
    for (const region of pose.regions) body.append(regionRow(region));
  } else {
    details.remove();
  }
  return card;
}

function regionRow(region) {
  const row = document.createElement("tr");
  row.className = region.pass ? "ok" : "bad";
  row.dataset.region = region.region;
  const cells = [
    region.region.replaceAll("_", " "),
    region.delta_e.toFixed(1),
    region.ssim.toFixed(2),
    region.pattern_score.toFixed(2),
    region.pass ? "✓" : "✗",
  ];
  for (const text of cells) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  row.title = region.reasons.join(" ") || "Within the limits";
  return row;
}

function openViewer(pose) {
  const viewer = $("viewer");
  $("viewer-img").src = pose.image_url;
  $("viewer-img").alt = `${pose.pose} ${pose.label}, full size`;
  $("viewer-title").textContent = `${pose.pose} ${pose.label}`;
  $("viewer-open").href = pose.image_url;
  viewer.showModal();
}

// ------------------------------------------------------------------ jobs
async function startJob(mode) {
  for (const button of $("actions").querySelectorAll("button")) button.disabled = true;
  notice("");
  try {
    const job = await api(`sarees/${page.sareeId}/jobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ mode }),
    });
    renderJob(job);
    await refreshGallery();
    startPolling(job.job_id);
  } catch (error) {
    notice(error.message);
    await refreshGallery().catch(() => {});
  }
}

function startPolling(jobId) {
  stopPolling();
  page.jobId = jobId;
  page.poseKey = "";
  const token = page.token;
  const tick = async () => {
    try {
      const job = await api(`jobs/${jobId}`);
      if (token !== page.token) return;
      renderJob(job);
      const key = job.poses.map((p) => `${p.pose}:${p.status}:${p.attempts}`).join(",");
      const done = TERMINAL.includes(job.status);
      if (key !== page.poseKey || done) {
        page.poseKey = key;
        await refreshGallery();
      }
      if (done) return;
    } catch (error) {
      if (token !== page.token) return;
      notice(`Lost contact with the server (${error.message}); retrying…`);
    }
    if (token === page.token) page.timer = setTimeout(tick, POLL_MS);
  };
  page.timer = setTimeout(tick, 0);
}

function stopPolling() {
  if (page.timer) clearTimeout(page.timer);
  page.timer = null;
}

function renderJob(job) {
  $("job").hidden = false;
  $("job").dataset.status = job.status;
  const pill = $("job-status");
  pill.textContent = STATUS_TEXT[job.status] || job.status;
  pill.className = `pill ${job.status}`;
  const title = `${(MODES[job.mode] || { label: job.mode }).label} job`;
  $("job-title").textContent = job.generation ? `${title} · generation ${job.generation}` : title;
  $("job-stage").textContent = job.current_stage && !TERMINAL.includes(job.status)
    ? `stage: ${job.current_stage}` : "";
  const { done, total } = job.progress;
  $("job-bar").style.width = total ? `${(100 * done) / total}%` : "0%";
  $("job-bar").className = `bar ${job.status}`;
  const parts = [total ? `${done} of ${total} poses finished` : "preparing"];
  if (job.retries) parts.push(`${job.retries} retr${job.retries === 1 ? "y" : "ies"}`);
  $("job-counts").textContent = parts.join(" · ");
  const error = $("job-error");
  error.hidden = !job.error;
  error.textContent = job.error ? job.error.message : "";
  if (!TERMINAL.includes(job.status)) notice("");
}

// ------------------------------------------------------------------ wiring
function wire() {
  $("file").addEventListener("change", (event) => upload(event.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    upload(event.dataTransfer.files[0]);
  });
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("open-id").value.trim().toLowerCase();
    if (/^[0-9a-f]{32}$/.test(id)) location.hash = `#/sarees/${id}`;
    else notice("A saree id is 32 characters, 0-9 and a-f.");
  });
  const viewer = $("viewer");
  viewer.addEventListener("click", (event) => { if (event.target === viewer) viewer.close(); });
  window.addEventListener("hashchange", route);
  route();
}

wire();
