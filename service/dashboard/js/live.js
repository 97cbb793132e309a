// The live view: the light, the bars, the numbers, the steps, the reps, the sensors;
// a late joiner's backfill.
import { api } from "./api.js";
import { $, ASYM_STEPS, G, REP_ROWS, SCORE_MAX, STEP_ROWS, banner, clock, fmt, state } from "./core.js";

const CARD_DELAY_MS = 1500;  // the writer commits twice a second: the rep is stored by then

export function setLight(kind, text, sub) {
  const el = $("light");
  if (state.lastLight !== kind) state.lightChanges++;
  state.lastLight = kind;
  el.className = `light ${kind}`;
  el.dataset.state = kind;
  $("light-text").textContent = text;
  $("light-sub").textContent = sub || "";
}

// The light names a link only when the step's verdict does (docs/scoring.md): aligned,
// or the limiting link; a step judged on no link says why (a rep's first steps, the
// athlete's baseline still being learnt, slowing down). The sub-line says which links
// the rig judged, and a measure the rig has but did not see (a sensor out).
// The club page's lanes show the same: lightOf is [kind, text, sub] of a step.
const BASELINE_WORDS = { set: "baseline set", provisional: "provisional baseline", learning: "learning" };

function judgedOn(s) {
  const parts = [];
  if (s.judged_links) parts.push(`judged on ${s.judged_links.split(" ").join(", ")}`);
  if (s.missing_measures) parts.push(`missing: ${s.missing_measures.split(" ").join(", ")}`);
  if (s.baseline_state && s.baseline_state !== "learning") parts.push(BASELINE_WORDS[s.baseline_state]);
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

export function lightOf(s) {
  if (s.aligned === true) return ["aligned", "ALIGNED", `step ${s.n}${judgedOn(s)}`];
  if (s.limiter) return [s.limiter, s.limiter.toUpperCase(), `limits · step ${s.n}${judgedOn(s)}`];
  if (s.verdict === "learning") {
    return ["learning", "LEARNING", `step ${s.n} · learning this athlete's running: no link named yet`];
  }
  if (s.verdict === "slowing") return ["running", "SLOWING", `step ${s.n} · slowing down: not judged`];
  return ["running", "RUNNING", `step ${s.n} · no verdict yet${judgedOn(s)}`];
}

export function stepLight(s) {
  setLight(...lightOf(s));
}

export function scoreBar(link, v) {
  const shown = v === null || v === undefined ? null : Math.min(Math.max(v, 0), SCORE_MAX);
  $(`bar-${link}`).style.width = shown === null ? "0" : `${shown / SCORE_MAX * 100}%`;
  $(`val-${link}`).textContent = fmt(shown, 2);
}

// The band each link is judged in (from its floor to the baseline's mark), for the
// baseline the step was judged on; none while learning.
export function bandOf(step, floors) {
  if (!floors || !step.judged_links) return null;
  if (step.baseline_state === "provisional") return floors.provisional;
  return step.baseline_state === "set" && floors.set ? floors.set : null;
}

export function drawBands(step) {
  const band = bandOf(step, state.session && state.session.band_floors);
  for (const link of ["push", "swing", "torso"]) {
    const el = $(`band-${link}`);
    const floor = band === null ? null : typeof band === "number" ? band : band[link];
    el.hidden = floor === null || floor === undefined || !step.judged_links.includes(link);
    if (!el.hidden) {
      el.style.left = `${floor / SCORE_MAX * 100}%`;
      el.style.width = `${(1 - floor) / SCORE_MAX * 100}%`;
    }
  }
}

export function onStep(s) {
  state.steps = s.n;
  state.kept += 1;
  state.resting = false;
  $("live").classList.remove("resting");
  stepLight(s);
  for (const link of ["push", "swing", "torso"]) scoreBar(link, s[`${link}_score`]);
  drawBands(s);
  $("n-contact").textContent = fmt(s.contact_time_s, 0, 1000);
  $("n-flight").textContent = fmt(s.flight_time_s, 0, 1000);
  $("n-freq").textContent = fmt(s.step_frequency_hz, 2);
  // No speed sensor in the rig (or none in view): say so rather than leave a blank.
  const speedless = s.velocity_m_s === null || s.velocity_m_s === undefined;
  $("n-speed").textContent = speedless ? "no speed sensor" : fmt(s.velocity_m_s, 1);
  $("n-speed").classList.toggle("missing", speedless);
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
    fmt(system, 2), s.aligned ? "aligned" : (s.limiter ?? (s.verdict === "learning" ? "learning" : "–"))]) {
    const td = document.createElement("td");
    td.textContent = v;
    row.appendChild(td);
  }
  const body = $("steps").tBodies[0];
  body.prepend(row);
  while (body.rows.length > STEP_ROWS) body.deleteRow(-1);
}

// Left against right from the last steps of each foot: at least 3 of each, or none (a
// shank out leaves one foot's steps alone: no asymmetry from them).
export function renderAsymmetry() {
  const mean = (foot) => {
    const c = state.recent.filter((x) => x.foot === foot && x.contact_time_s).map((x) => x.contact_time_s);
    return c.length >= 3 ? c.reduce((a, b) => a + b) / c.length : null;
  };
  const l = mean("left"), r = mean("right");
  $("n-asym").textContent = l && r ? fmt((l - r) / ((l + r) / 2) * 100, 1) : "–";
}

export function stepRows(numbers) {
  const want = new Set(numbers.map(String));
  return [...$("steps").tBodies[0].rows].filter((row) => want.has(row.dataset.n));
}

export function onConfirmed(numbers) {
  for (const row of stepRows(numbers)) row.classList.remove("provisional");
}

export function onRetracted(numbers) {
  // Not part of a sprint (jogging, or slowing down after it): gone from the session.
  for (const row of stepRows(numbers)) row.remove();
  const gone = new Set(numbers);
  state.recent = state.recent.filter((x) => !gone.has(x.n));
  renderAsymmetry();
  state.kept = Math.max(0, state.kept - numbers.length);
  $("n-steps").textContent = state.kept;
}

// Of the rep's judged steps: a rep the athlete's baseline was learnt from judged none.
export function alignedOf(r) {
  const judged = r.judged_steps ?? r.steps;
  if (judged) return `${r.aligned_steps ?? 0} of ${judged} judged aligned`;
  return r.baseline_state === "learning" ? "learning: none judged" : "none judged";
}

export function repSummary(r) {
  return `Rep ${r.rep}: ${r.steps} steps, ${alignedOf(r)}` +
    (r.main_limiter ? `, mostly ${r.main_limiter}` : "") +
    (r.mss_m_s ? `, top speed ${r.mss_m_s.toFixed(2)} m/s` : "");
}

export function listItem(text, kind) {
  const li = document.createElement("li");
  li.textContent = text;
  li.className = kind;
  $("reps").prepend(li);
  while ($("reps").children.length > REP_ROWS) $("reps").lastChild.remove();
}

export // The rep's card (splits, profile) once the rep is stored: fetched for the newest rep
// only, a moment after it ends (a late joiner's replay fetches one, not every rep's).
let cardTimer = null;
function scheduleCard(r) {
  clearTimeout(cardTimer);
  cardTimer = setTimeout(() => showLiveCard(r.session_id, r.rep).catch(() => {}), CARD_DELAY_MS);
}

async function showLiveCard(sessionId, rep) {
  const c = await (await api(`/api/sessions/${sessionId}/reps/${rep}/card`)).json();
  const p = c.profile;
  $("live-card-title").textContent = `Rep ${c.rep}: ${c.steps} steps`;
  $("live-card-profile").textContent = `MSS ${fmt(p.mss_m_s, 2)} m/s · F0 ${fmt(p.f0_n_kg, 2)} N/kg` +
    ` · Pmax ${fmt(p.pmax_w_kg, 1)} W/kg · RFmax ${fmt(p.rf_max, 2)}`;
  $("live-card-splits").textContent = c.splits.length
    ? `Splits (${c.splits_from}): ` + c.splits.map((s) => `${s.from_m}–${s.to_m} m ${fmt(s.time_s, 2)} s`).join(" · ")
    : "No splits: no speed data in this rig.";
  $("live-card").hidden = false;
}

export function onRep(r) {
  listItem(repSummary(r), "rep");
  scheduleCard(r);
  // Resting: the rep's summary, and the last step's numbers greyed, until the next step.
  state.resting = true;
  $("live").classList.add("resting");
  const limited = r.main_limiter ? `mostly ${r.main_limiter}` : "no link limited";
  setLight("resting", "RESTING", `rep ${r.rep}: ${alignedOf(r)} · ${limited}`);
}

export function onMark(m) {
  listItem(`Mark at ${fmt(m.time_s, 1)} s: ${m.label}`, "mark");
}

export function resetLive() {
  state.recent = [];
  state.kept = 0;
  state.resting = false;
  $("live").classList.remove("resting");
  $("steps").tBodies[0].replaceChildren();
  $("reps").replaceChildren();
  $("live-card").hidden = true;
  $("last-cue").textContent = "–";
  for (const link of ["push", "swing", "torso"]) { scoreBar(link, null); $(`band-${link}`).hidden = true; }
  for (const id of ["n-contact", "n-flight", "n-freq", "n-asym", "n-speed", "n-force"]) $(id).textContent = "–";
  $("n-force").classList.remove("missing");
  $("n-speed").classList.remove("missing");
  $("n-steps").textContent = "0";
  $("n-rep").textContent = "rep –";
  setLight("idle", state.session ? "READY" : "NO SESSION", state.session ? "waiting for the first sprint" : "");
}

// A page that joins mid-session (or reconnects) replays the session's last messages
// from the hello, through the same handler: it shows what an early page shows.
export function backfill(snapshot, handle) {
  resetLive();
  if (!snapshot) return;
  for (const m of snapshot.messages) handle(m);
  state.kept = snapshot.steps;
  $("n-steps").textContent = state.kept;
}

export function renderSession(s) {
  state.session = s;
  const athlete = s && state.athletes.find((a) => a.id === s.athlete_id);
  state.bodyWeightN = (athlete ? athlete.body_mass_kg : 75) * G;
  if (s) $("athlete").value = s.athlete_id;  // the picker shows who is recording
  const info = s ? `Session ${s.session_id} recording` : "No session recording";
  $("session-info").textContent = info;
  if (!s) {
    state.resting = false;
    $("live").classList.remove("resting");
    setLight("idle", "NO SESSION", "");
  } else if (state.lastLight === "idle" || state.lastLight === null) setLight("idle", "READY", "waiting for the first sprint");
  applyRole();
}

export function renderStatus(msg) {
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
    const behind = msg.engine.lag_s >= 0.1 ? `${fmt(msg.engine.lag_s, 1)} s behind the sensors; ` : "";
    warnings.push(`overloaded: ${behind}live plot paused to keep up`);
  }
  if (msg.storage && !msg.storage.ok) warnings.push(`storage failing: ${msg.storage.error}`);
  else if (msg.storage && msg.storage.behind) {
    warnings.push(`storage ${fmt(msg.storage.backlog_s, 1)} s behind (catching up)`);
  }
  const refused = msg.club && msg.club.sessions_refused ? msg.club.sessions_refused : [];
  if (refused.length) {
    warnings.push(`${refused.length} session(s) refused by the club's centre: ${refused[0].reason}`);
  }
  if (state.ws && state.ws.readyState === WebSocket.OPEN) banner(warnings.join(" · "));
}

export function applyRole() {
  const viewer = state.role !== "admin";
  for (const el of document.querySelectorAll(".write")) el.disabled = viewer;
  if (!viewer) {
    $("start").disabled = !!state.session;
    $("stop").disabled = !state.session;
    $("mark").disabled = !state.session;
  }
}
