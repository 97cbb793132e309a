// Stridesync coach dashboard: live view and history. No build step, no network
// beyond the Pi: uPlot is vendored (service/dashboard/vendor/uplot, MIT).
// Memory stays flat however long the session: every buffer here is bounded.
"use strict";

const TRACE_WINDOW_S = 6;      // seconds of trace on screen
const STEP_ROWS = 12;          // rows of the live step table
const ASYM_STEPS = 20;         // steps for the left/right asymmetry
const REP_ROWS = 8;
const SCORE_MAX = 1.5;         // every link's bar on one scale; 1.0 (the baseline) is marked
const G = 9.81;                // m/s², for the force plot's scale in body weights

const $ = (id) => document.getElementById(id);
const state = {
  token: null,
  role: null,
  ws: null,
  backoff: 500,
  session: null,
  athletes: [],
  recent: [],          // last ASYM_STEPS steps
  steps: 0,
  trace: new Map(),    // series key -> {label, t: Float64Array ring, y, n, head, kind}
  dirty: false,
  lastLight: null,
  lightChanges: 0,
  messages: 0,
  lost: 0,
  selected: null,      // history: session id
  kept: 0,             // steps the session keeps (retracted ones gone)
  resting: false,      // between reps: the last rep's summary, not a stale light
  bodyWeightN: 75 * G, // the force plot's scale
};

// --- token and API --------------------------------------------------------------------

function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("stridesync-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = localStorage.getItem("stridesync-token");
}

function askToken() {
  $("token-input").value = "";
  if (!$("token-dialog").open) $("token-dialog").showModal();
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${state.token}` };
  if (options.body && typeof options.body !== "string") {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.body);
  }
  const r = await fetch(path, { ...options, headers });
  if (r.status === 401) {
    askToken();
    throw new Error("a valid token is needed");
  }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (_) { /* not JSON */ }
    throw new Error(detail);
  }
  return r;
}

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

// --- websocket ------------------------------------------------------------------------

async function connect() {
  if (!state.token) { askToken(); return; }
  let ticket;
  try {
    ticket = (await (await api("/api/ws-ticket", { method: "POST" })).json()).ticket;
  } catch (e) {
    return retry(`Cannot reach the Pi: ${e.message}`);
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/live?ticket=${encodeURIComponent(ticket)}`);
  state.ws = ws;
  ws.onopen = () => {
    state.backoff = 500;
    $("conn").textContent = "live";
    $("conn").className = "badge on";
    banner("");
  };
  ws.onmessage = (e) => handle(JSON.parse(e.data));
  ws.onclose = () => {
    if (state.ws === ws) retry("Connection to the Pi lost: reconnecting…");
  };
}

function retry(text) {
  $("conn").textContent = "offline";
  $("conn").className = "badge off";
  banner(text);
  const wait = state.backoff;
  state.backoff = Math.min(state.backoff * 2, 5000);
  setTimeout(connect, wait);
}

function handle(msg) {
  state.messages++;
  switch (msg.type) {
    case "hello":
      state.role = msg.role;
      $("role").textContent = msg.role;
      applyRole();
      renderStatus(msg);
      backfill(msg.snapshot);
      break;
    case "status": renderStatus(msg); break;
    case "step": onStep(msg); break;
    case "rep": onRep(msg); break;
    case "steps_confirmed": onConfirmed(msg.steps); break;
    case "steps_retracted": onRetracted(msg.steps); break;
    case "trace": onTrace(msg); break;
    case "session":
      if (msg.event === "started") resetLive();
      loadAthletes(); renderSession(msg.event === "started" ? msg : null); break;
    case "cue": $("last-cue").textContent = msg.text; break;
    case "mark": onMark(msg); break;
    case "lost": state.lost += msg.count; banner(`The screen fell behind: ${state.lost} messages skipped`); break;
    default: break;
  }
}

// --- live view -------------------------------------------------------------------------

// A moment in the browser's own time zone: 2026-12-02 23:20 (with seconds: 23:20:05).
function clock(date, seconds = true) {
  const p = (n) => String(n).padStart(2, "0");
  return `${p(date.getHours())}:${p(date.getMinutes())}` + (seconds ? `:${p(date.getSeconds())}` : "");
}

function localDate(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(d, false)}`;
}

function fmt(v, digits = 0, scale = 1) {
  if (v === null || v === undefined) return "–";
  const text = (v * scale).toFixed(digits);
  return Number(text) === 0 ? text.replace("-", "") : text;  // never "-0.00"
}

function setLight(kind, text, sub) {
  const el = $("light");
  if (state.lastLight !== kind) state.lightChanges++;
  state.lastLight = kind;
  el.className = `light ${kind}`;
  el.dataset.state = kind;
  $("light-text").textContent = text;
  $("light-sub").textContent = sub || "";
}

// The light names a link only when the step's verdict does (docs/scoring.md): aligned,
// or the limiting link; a step with no verdict (a rep's first steps) is neutral.
function stepLight(s) {
  if (s.aligned === true) return setLight("aligned", "ALIGNED", `step ${s.n}`);
  if (s.limiter) return setLight(s.limiter, s.limiter.toUpperCase(), `limits · step ${s.n}`);
  setLight("running", "RUNNING", `step ${s.n} · no verdict yet`);
}

function scoreBar(link, v) {
  const shown = v === null || v === undefined ? null : Math.min(Math.max(v, 0), SCORE_MAX);
  $(`bar-${link}`).style.width = shown === null ? "0" : `${shown / SCORE_MAX * 100}%`;
  $(`val-${link}`).textContent = fmt(shown, 2);
}

function onStep(s) {
  state.steps = s.n;
  state.kept += 1;
  state.resting = false;
  $("live").classList.remove("resting");
  stepLight(s);
  for (const link of ["push", "swing", "torso"]) scoreBar(link, s[`${link}_score`]);
  $("n-contact").textContent = fmt(s.contact_time_s, 0, 1000);
  $("n-flight").textContent = fmt(s.flight_time_s, 0, 1000);
  $("n-freq").textContent = fmt(s.step_frequency_hz, 2);
  $("n-speed").textContent = fmt(s.velocity_m_s, 1);
  // A step timed by the shanks alone had no plate under it: no force metrics, and why.
  $("n-force").textContent = s.source === "imu" ? "no plate" : fmt(s.peak_vertical_force_bw, 1);
  $("n-force").classList.toggle("missing", s.source === "imu");
  $("n-steps").textContent = state.kept;
  $("n-rep").textContent = `rep ${s.rep ?? "–"}`;
  state.recent.push(s);
  if (state.recent.length > ASYM_STEPS) state.recent.shift();
  renderAsymmetry();
  const row = document.createElement("tr");
  row.dataset.n = s.n;
  // Provisional: the first steps of what may be a sprint, or slowing down at its end.
  if (s.provisional) row.classList.add("provisional");
  const system = s.system_score === null || s.system_score === undefined ? null : Math.max(s.system_score, 0);
  for (const v of [s.n, s.foot ?? "–", fmt(s.contact_time_s, 0, 1000), fmt(s.flight_time_s, 0, 1000),
    fmt(system, 2), s.aligned ? "aligned" : (s.limiter ?? "–")]) {
    const td = document.createElement("td");
    td.textContent = v;
    row.appendChild(td);
  }
  const body = $("steps").tBodies[0];
  body.prepend(row);
  while (body.rows.length > STEP_ROWS) body.deleteRow(-1);
}

function renderAsymmetry() {
  const mean = (foot) => {
    const c = state.recent.filter((x) => x.foot === foot && x.contact_time_s).map((x) => x.contact_time_s);
    return c.length ? c.reduce((a, b) => a + b) / c.length : null;
  };
  const l = mean("left"), r = mean("right");
  $("n-asym").textContent = l && r ? fmt((l - r) / ((l + r) / 2) * 100, 1) : "–";
}

function stepRows(numbers) {
  const want = new Set(numbers.map(String));
  return [...$("steps").tBodies[0].rows].filter((row) => want.has(row.dataset.n));
}

function onConfirmed(numbers) {
  for (const row of stepRows(numbers)) row.classList.remove("provisional");
}

function onRetracted(numbers) {
  // Not part of a sprint (jogging, or slowing down after it): gone from the session.
  for (const row of stepRows(numbers)) row.remove();
  const gone = new Set(numbers);
  state.recent = state.recent.filter((x) => !gone.has(x.n));
  renderAsymmetry();
  state.kept = Math.max(0, state.kept - numbers.length);
  $("n-steps").textContent = state.kept;
}

function repSummary(r) {
  return `Rep ${r.rep}: ${r.steps} steps, ${r.aligned_steps ?? 0} aligned` +
    (r.main_limiter ? `, mostly ${r.main_limiter}` : "") +
    (r.mss_m_s ? `, top speed ${r.mss_m_s.toFixed(2)} m/s` : "");
}

function listItem(text, kind) {
  const li = document.createElement("li");
  li.textContent = text;
  li.className = kind;
  $("reps").prepend(li);
  while ($("reps").children.length > REP_ROWS) $("reps").lastChild.remove();
}

function onRep(r) {
  listItem(repSummary(r), "rep");
  // Resting: the rep's summary, and the last step's numbers greyed, until the next step.
  state.resting = true;
  $("live").classList.add("resting");
  const limited = r.main_limiter ? `mostly ${r.main_limiter}` : "no link limited";
  setLight("resting", "RESTING", `rep ${r.rep}: ${r.aligned_steps ?? 0} of ${r.steps} aligned · ${limited}`);
}

function onMark(m) {
  listItem(`Mark at ${fmt(m.time_s, 1)} s: ${m.label}`, "mark");
}

function resetLive() {
  state.recent = [];
  state.kept = 0;
  state.resting = false;
  $("live").classList.remove("resting");
  $("steps").tBodies[0].replaceChildren();
  $("reps").replaceChildren();
  $("last-cue").textContent = "–";
  for (const link of ["push", "swing", "torso"]) scoreBar(link, null);
  for (const id of ["n-contact", "n-flight", "n-freq", "n-asym", "n-speed", "n-force"]) $(id).textContent = "–";
  $("n-force").classList.remove("missing");
  $("n-steps").textContent = "0";
  $("n-rep").textContent = "rep –";
  setLight("idle", state.session ? "READY" : "NO SESSION", state.session ? "waiting for the first sprint" : "");
}

// A page that joins mid-session (or reconnects) replays the session's last messages
// from the hello, through the same handler: it shows what an early page shows.
function backfill(snapshot) {
  resetLive();
  if (!snapshot) return;
  for (const m of snapshot.messages) handle(m);
  state.kept = snapshot.steps;
  $("n-steps").textContent = state.kept;
}

function renderSession(s) {
  state.session = s;
  const athlete = s && state.athletes.find((a) => a.id === s.athlete_id);
  state.bodyWeightN = (athlete ? athlete.body_mass_kg : 75) * G;
  const info = s ? `Session ${s.session_id} recording` : "No session recording";
  $("session-info").textContent = info;
  if (!s) {
    state.resting = false;
    $("live").classList.remove("resting");
    setLight("idle", "NO SESSION", "");
  } else if (state.lastLight === "idle" || state.lastLight === null) setLight("idle", "READY", "waiting for the first sprint");
  applyRole();
}

function renderStatus(msg) {
  if ((msg.session && !state.session) || (!msg.session && state.session) ||
      (msg.session && state.session && msg.session.session_id !== state.session.session_id)) {
    renderSession(msg.session);
  }
  const body = $("sensors").tBodies[0];
  const rows = [];
  const warnings = [];
  for (const d of msg.devices) {
    const tr = document.createElement("tr");
    let status = "ok";
    // Since when: from the age of its last frame, as the Pi counts it (the same on every page).
    const since = d.last_frame_age_s === null ? "" : ` since ${clock(new Date(Date.now() - d.last_frame_age_s * 1000))}`;
    if (!d.connected) { status = "DISCONNECTED"; tr.className = "bad"; warnings.push(`${d.name} disconnected${since}`); }
    else if (d.last_frame_age_s > 0.5) { status = "silent"; tr.className = "bad"; warnings.push(`${d.name} silent${since}`); }
    else if (Math.abs(d.clock_drift_ppm) > 200) { status = "clock?"; tr.className = "warn"; }
    else if (d.overflow_samples > 0) { status = "overflow"; tr.className = "warn"; }
    else if (d.lost_samples > 0) { status = "gaps"; tr.className = "warn"; }
    // Lost: on the wire, plus what the sensor itself had to drop (the host read too late).
    const lost = d.lost_samples + (d.overflow_samples || 0);
    for (const v of [d.name, status, `${fmt(d.samples_per_s)}/s`, lost, `${fmt(d.clock_drift_ppm)} ppm`]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  if (!msg.devices.length) warnings.push("no sensors connected");
  if (msg.engine && msg.engine.overloaded) {
    warnings.push(`overloaded: ${fmt(msg.engine.lag_s, 1)} s behind the sensors; live plot paused`);
  }
  if (msg.storage && !msg.storage.ok) warnings.push(`storage failing: ${msg.storage.error}`);
  else if (msg.storage && msg.storage.behind) {
    warnings.push(`storage ${fmt(msg.storage.backlog_s, 1)} s behind (catching up)`);
  }
  if (state.ws && state.ws.readyState === WebSocket.OPEN) banner(warnings.join(" · "));
}

// --- traces ----------------------------------------------------------------------------

const plots = {};

function makePlot(id, unit, yRange) {
  const el = $(id);
  const width = Math.max(el.clientWidth, 300);
  return new uPlot({
    width, height: 200,
    legend: { show: true, live: false },
    cursor: { show: false },
    scales: { x: { time: false }, y: yRange ? { range: yRange } : {} },
    axes: [{ label: "s" }, { label: unit, size: 60 }],
    series: [{}],
  }, [[]], el);
}

// The force plot from 0 to twice body weight at least: a plate with nobody on it is a
// flat line at 0, not autoscaled noise; a contact fills the plot as a contact should.
function forceRange(_u, _min, max) {
  return [0, Math.max(max * 1.1, 2 * state.bodyWeightN)];
}
const PLATE_IDLE_N = 50;  // below this on every plate for the window: nobody on them

function onTrace(msg) {
  for (const s of msg.series) {
    const kind = s.channel.startsWith("fz") ? "force" : s.channel.startsWith("gy") && s.placement.startsWith("shank") ? "gyro" : null;
    if (!kind) continue;
    const key = `${s.device}/${s.stream_id}`;
    let buf = state.trace.get(key);
    if (!buf) {
      const cap = 256 * TRACE_WINDOW_S;  // bounded: never more points than this per series
      buf = { kind, label: s.device, t: new Float64Array(cap), y: new Float64Array(cap), n: 0, head: 0 };
      state.trace.set(key, buf);
      addSeries(kind, s.device);
    }
    for (let i = 0; i < s.t.length; i++) {
      buf.t[buf.head] = s.t[i];
      buf.y[buf.head] = s.y[i] ?? NaN;
      buf.head = (buf.head + 1) % buf.t.length;
      buf.n = Math.min(buf.n + 1, buf.t.length);
    }
  }
  if (!state.dirty) {
    state.dirty = true;
    requestAnimationFrame(drawTraces);
  }
}

function addSeries(kind, label) {
  const colors = ["#000", "#b00020", "#0047ab", "#00703c", "#6a1b9a"];
  const p = plots[kind];
  p.addSeries({ label, stroke: colors[(p.series.length - 1) % colors.length], width: 2, spanGaps: false }, p.series.length);
}

function drawTraces() {
  state.dirty = false;
  for (const kind of ["force", "gyro"]) {
    const series = [...state.trace.values()].filter((b) => b.kind === kind);
    if (!series.length) continue;
    let newest = -Infinity;
    for (const b of series) if (b.n) newest = Math.max(newest, b.t[(b.head - 1 + b.t.length) % b.t.length]);
    const from = newest - TRACE_WINDOW_S;
    // One shared x axis: the bin centres of the first series; the others sampled on it.
    const ref = ordered(series[0], from);
    const data = [ref.t.map((t) => t - newest)];
    for (const b of series) {
      const o = b === series[0] ? ref : ordered(b, from);
      const byT = new Map();
      for (let i = 0; i < o.t.length; i++) byT.set(Math.round(o.t[i] * 1000), o.y[i]);
      data.push(ref.t.map((t) => byT.get(Math.round(t * 1000)) ?? null));
    }
    plots[kind].setData(data);
    if (kind === "force") {
      const peak = Math.max(0, ...data.slice(1).flat().filter((v) => v !== null));
      $("force-note").hidden = peak >= PLATE_IDLE_N;
    }
  }
}

function ordered(b, from) {
  const t = [], y = [];
  const cap = b.t.length;
  for (let k = 0; k < b.n; k++) {
    const i = (b.head - b.n + k + cap) % cap;
    if (b.t[i] >= from) { t.push(b.t[i]); y.push(b.y[i]); }
  }
  return { t, y };
}

// --- controls --------------------------------------------------------------------------

function applyRole() {
  const viewer = state.role !== "admin";
  for (const el of document.querySelectorAll(".write")) el.disabled = viewer;
  if (!viewer) {
    $("start").disabled = !!state.session;
    $("stop").disabled = !state.session;
    $("mark").disabled = !state.session;
  }
}

async function loadAthletes() {
  try {
    state.athletes = await (await api("/api/athletes")).json();
  } catch (_) { return; }
  for (const sel of [$("athlete"), $("history-athlete")]) {
    const keep = sel.value;
    sel.replaceChildren(...state.athletes.map((a) => new Option(`${a.name} (${a.body_mass_kg} kg)`, a.id)));
    if (keep) sel.value = keep;
  }
}

async function act(fn) {
  try { await fn(); } catch (e) { banner(e.message); }
}

$("start").onclick = () => act(async () => {
  await api("/api/sessions", { method: "POST", body: { athlete_id: Number($("athlete").value) } });
});
$("stop").onclick = () => act(async () => {
  if (state.session) await api(`/api/sessions/${state.session.session_id}/stop`, { method: "POST" });
});
$("mark").onclick = () => act(async () => {
  const label = $("mark-label").value.trim() || `mark ${new Date().toLocaleTimeString()}`;
  await api(`/api/sessions/${state.session.session_id}/marks`, { method: "POST", body: { label } });
  $("mark-label").value = "";
});

// --- history ---------------------------------------------------------------------------

async function loadHistory() {
  if (!$("history-athlete").value) await loadAthletes();  // opened before the list came
  const athlete = $("history-athlete").value;
  if (!athlete) return;
  const sessions = await (await api(`/api/sessions?athlete_id=${athlete}&limit=50`)).json();
  const rows = [];
  const trend = [[], [], []];  // start (unix s), best contact (ms), top speed (m/s)
  for (const s of [...sessions].reverse()) {
    const [detail, reps] = await Promise.all([
      api(`/api/sessions/${s.id}`).then((r) => r.json()),
      api(`/api/sessions/${s.id}/reps`).then((r) => r.json()),
    ]);
    const best = Math.min(...reps.map((r) => r.min_contact_time_s ?? Infinity));
    const mss = Math.max(...reps.map((r) => r.mss_m_s ?? -Infinity));
    if (Number.isFinite(best) || Number.isFinite(mss)) {
      trend[0].push(new Date(s.started_at).getTime() / 1000);
      trend[1].push(Number.isFinite(best) ? best * 1000 : null);
      trend[2].push(Number.isFinite(mss) ? mss : null);
    }
    const tr = document.createElement("tr");
    tr.dataset.session = s.id;
    for (const v of [s.id, localDate(s.started_at), s.status, detail.steps, detail.reps]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    tr.onclick = () => act(() => showSession(s.id));
    rows.push(tr);
  }
  $("sessions").tBodies[0].replaceChildren(...rows.reverse());
  fitPlot("plot-trend", plots.trend);
  plots.trend.setData(trend);
  // A week either side of a single session; else the sessions' span with a day's margin.
  if (trend[0].length) {
    const min = Math.min(...trend[0]), max = Math.max(...trend[0]);
    const pad = Math.max(86400, (max - min) * 0.05, min === max ? 7 * 86400 : 0);
    plots.trend.setScale("x", { min: min - pad, max: max + pad });
  }
}

async function showSession(id) {
  state.selected = id;
  for (const tr of $("sessions").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.session == id);
  const [detail, reps, steps] = await Promise.all([
    api(`/api/sessions/${id}`).then((r) => r.json()),
    api(`/api/sessions/${id}/reps`).then((r) => r.json()),
    api(`/api/sessions/${id}/steps?limit=500`).then((r) => r.json()),
  ]);
  $("detail-title").textContent = `Session ${id}: ${detail.steps} steps, ${detail.reps} reps, ${(detail.raw_bytes / 1e6).toFixed(1)} MB raw`;
  fill($("detail-reps"), reps.map((r) => [r.rep, r.steps, r.aligned_steps ?? "–", r.main_limiter ?? "–",
    fmt(r.min_contact_time_s, 0, 1000), fmt(r.mss_m_s, 2), fmt(r.f0_n, 0), fmt(r.v0_m_s, 2)]));
  const score = (v) => fmt(v === null || v === undefined ? null : Math.max(v, 0), 2);
  fill($("detail-steps"), steps.map((s) => [s.n, s.rep ?? "–", s.foot ?? "–", s.source,
    fmt(s.contact_time_s, 0, 1000), fmt(s.flight_time_s, 0, 1000),
    s.source === "imu" ? "no plate" : fmt(s.peak_vertical_force_bw, 2),
    score(s.push_score), score(s.swing_score), score(s.torso_score), score(s.system_score),
    s.aligned ? "aligned" : (s.limiter ?? "–")]));
  $("session-detail").hidden = false;
}

function fill(table, rows) {
  table.tBodies[0].replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const v of cells) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  }));
}

for (const b of document.querySelectorAll("[data-export]")) {
  b.onclick = () => act(async () => {
    // A link cannot carry the token: fetch with it, then save the file.
    const r = await api(`/api/sessions/${state.selected}/export?format=${b.dataset.export}&table=${b.dataset.table}`);
    const name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || "export";
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
}

// --- tabs, token, start ------------------------------------------------------------------

function show(tab) {
  $("live").hidden = tab !== "live";
  $("history").hidden = tab !== "history";
  $("tab-live").classList.toggle("active", tab === "live");
  $("tab-history").classList.toggle("active", tab === "history");
  if (tab === "history") act(loadHistory);
  else for (const [id, p] of [["plot-force", plots.force], ["plot-gyro", plots.gyro]]) fitPlot(id, p);
}
$("tab-live").onclick = () => show("live");
$("tab-history").onclick = () => show("history");
$("history-refresh").onclick = () => act(loadHistory);
$("history-athlete").onchange = () => act(loadHistory);
$("token-button").onclick = askToken;
$("token-cancel").onclick = () => $("token-dialog").close();
$("token-form").onsubmit = () => {
  const t = $("token-input").value.trim();
  if (t) {
    localStorage.setItem("stridesync-token", t);
    state.token = t;
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
    loadAthletes();
    connect();
  }
};

plots.force = makePlot("plot-force", "N", forceRange);
plots.gyro = makePlot("plot-gyro", "deg/s");
// By date, in the browser's zone; both axes from zero, so that 0.1 m/s looks like 0.1 m/s.
plots.trend = new uPlot({
  width: Math.max($("plot-trend").clientWidth, 300), height: 240,
  legend: { show: false },  // the axes say what each line is, in its colour
  cursor: { show: false },
  scales: {
    x: { time: true },
    y: { range: (_u, _min, max) => [0, Math.max(250, (max ?? 0) * 1.15)] },
    v: { range: (_u, _min, max) => [0, Math.max(12, (max ?? 0) * 1.15)] },
  },
  axes: [
    {},
    { label: "best contact, ms", size: 60, stroke: "#b00020" },
    { side: 1, scale: "v", label: "top speed, m/s", size: 60, grid: { show: false }, stroke: "#0047ab" },
  ],
  series: [{}, { label: "best contact (ms)", stroke: "#b00020", width: 2, points: { size: 8 } },
    { label: "top speed (m/s)", stroke: "#0047ab", width: 2, scale: "v", points: { size: 8 } }],
}, [[], [], []], $("plot-trend"));

// A plot made while its tab was hidden measured 0 px: sized when shown, and on resize.
function fitPlot(id, p) {
  p.setSize({ width: Math.max($(id).clientWidth, 300), height: p.height });
}
window.addEventListener("resize", () => {
  for (const [id, p] of [["plot-force", plots.force], ["plot-gyro", plots.gyro], ["plot-trend", plots.trend]]) {
    fitPlot(id, p);
  }
});

readToken();
applyRole();
if (state.token) { loadAthletes(); connect(); } else askToken();

// For tests and curious developers: the message handler and the state.
window.stridesync = { handle, state };
