// History: the athlete's sessions, their progress by date (with its noise and verdict),
// a session's reps and steps, a rep's card, exports and the report.
import { api, loadAthletes } from "./api.js";
import { $, act, fmt, localDate, state } from "./core.js";
import { fitPlot, plots } from "./traces.js";

export async function loadHistory() {
  if (!$("history-athlete").value) await loadAthletes();  // opened before the list came
  const athlete = $("history-athlete").value;
  if (!athlete) return;
  const sessions = await (await api(`/api/sessions?athlete_id=${athlete}&limit=50`)).json();
  const rows = [];
  for (const s of sessions) {
    const detail = await (await api(`/api/sessions/${s.id}`)).json();
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
  $("sessions").tBodies[0].replaceChildren(...rows);
  await loadProgress();
}

// The chosen measure's best and typical rep of each session, by date, from zero; its
// typical error, smallest worthwhile change and the verdict on the change.
export async function loadProgress() {
  const athlete = $("history-athlete").value;
  const measure = $("progress-measure").value;
  const kind = $("progress-kind").value.trim();
  const like = kind ? `&kind=${encodeURIComponent(kind)}` : "";  // like with like: one kind of rep
  const p = await (await api(`/api/athletes/${athlete}/progress?measure=${measure}${like}${period()}`)).json();
  const scale = p.unit === "s" ? 1000 : 1;  // times in ms on screen
  const unit = p.unit === "s" ? "ms" : p.unit;
  const x = p.sessions.map((s) => new Date(s.started_at).getTime() / 1000);
  fitPlot("plot-trend", plots.trend);
  plots.trend.axes[1].label = `${p.doc}, ${unit}`;
  plots.trend.setData([x, p.sessions.map((s) => s.best * scale), p.sessions.map((s) => s.typical * scale)]);
  if (x.length) {
    const min = Math.min(...x), max = Math.max(...x);
    const pad = Math.max(86400, (max - min) * 0.05, min === max ? 7 * 86400 : 0);
    plots.trend.setScale("x", { min: min - pad, max: max + pad });
  }
  $("progress-verdict").textContent = verdictText(p, scale, unit);
  $("progress-verdict").className = p.change && p.change.flagged ? (p.change.better ? "better" : "worse") : "";
}

function verdictText(p, scale, unit) {
  const n = (v) => fmt(v, 3 - Math.min(2, Math.floor(Math.log10(Math.abs(v * scale) || 1))), scale);
  const noise = `typical error ${p.typical_error === null ? "–" : n(p.typical_error)} ${unit},` +
    ` smallest worthwhile change ${p.swc === null ? "–" : n(p.swc)} ${unit}` +
    (p.swc_from === "squad" ? " (0.2 × the squad's SD)" : "");
  if (!p.change) return `Too few sessions to judge a change (four are needed); ${noise}.`;
  const c = p.change;
  const what = c.flagged ? (c.better ? "BETTER" : "WORSE") : "no clear change";
  return `${what}: ${c.change >= 0 ? "+" : ""}${n(c.change)} ${unit} from the first two sessions to` +
    ` the last two (90 % interval ${n(c.lower)} to ${n(c.upper)}); ${noise}.`;
}

export async function showSession(id) {
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
  [...$("detail-reps").tBodies[0].rows].forEach((tr, i) => {
    tr.onclick = () => act(() => showCard(id, reps[i].rep));
  });
  const score = (v) => fmt(v === null || v === undefined ? null : Math.max(v, 0), 2);
  fill($("detail-steps"), steps.map((s) => [s.n, s.rep ?? "–", s.foot ?? "–", s.source,
    fmt(s.contact_time_s, 0, 1000), fmt(s.flight_time_s, 0, 1000),
    s.source === "imu" ? "no plate" : fmt(s.peak_vertical_force_bw, 2),
    score(s.push_score), score(s.swing_score), score(s.torso_score), score(s.system_score),
    s.aligned ? "aligned" : (s.limiter ?? "–")]));
  // A button that cannot work says why, instead of failing when pressed.
  const plates = (detail.streams || []).some((st) => st.info.kind.startsWith("force"));
  const c3d = document.querySelector('[data-export="c3d"]');
  c3d.disabled = !plates;
  c3d.title = plates ? "The force plates as a C3D file (ground reaction, N)"
    : "This session has no force plate: a C3D holds plates only";
  $("rep-card").hidden = true;
  $("session-detail").hidden = false;
}

// A rep's card: splits, the velocity curve and its model, the profile, phases, feet.
export async function showCard(sessionId, rep) {
  const c = await (await api(`/api/sessions/${sessionId}/reps/${rep}/card`)).json();
  const p = c.profile;
  $("card-title").textContent = `Rep ${c.rep} of session ${sessionId}: ${c.steps} steps`;
  $("card-profile").textContent = `MSS ${fmt(p.mss_m_s, 2)} m/s · τ ${fmt(p.tau_s, 2)} s · ` +
    `F0 ${fmt(p.f0_n, 0)} N (${fmt(p.f0_n_kg, 2)} N/kg) · V0 ${fmt(p.v0_m_s, 2)} m/s · ` +
    `Pmax ${fmt(p.pmax_w, 0)} W (${fmt(p.pmax_w_kg, 1)} W/kg) · RFmax ${fmt(p.rf_max, 2)} · DRF ${fmt(p.drf, 3)}`;
  $("card-splits-from").textContent = c.splits_from ? `from the ${c.splits_from}` : "no speed data";
  fill($("card-splits"), c.splits.map((s) => [`${s.from_m}–${s.to_m} m`, fmt(s.time_s, 2), fmt(s.at_s, 2)]));
  const phase = (name, x) => [name, x ? x.steps : 0, fmt(x && x.contact_time_s, 0, 1000), fmt(x && x.flight_time_s, 0, 1000)];
  fill($("card-phases"), [phase("acceleration", c.phases.acceleration), phase("max velocity", c.phases.max_velocity),
    phase("left foot", c.feet.left), phase("right foot", c.feet.right)]);
  const v = c.verdict;
  $("card-verdict").textContent = `Verdict: ${v.aligned} aligned, ${v.push} push, ${v.swing} swing, ` +
    `${v.torso} torso, ${v.none} without one.`;
  $("rep-card").hidden = false;
  fitPlot("plot-card", plots.card);
  const curve = c.velocity;
  plots.card.setData(curve ? [curve.t_s, curve.measured_m_s, curve.model_m_s] : [[], [], []]);
}

export function fill(table, rows) {
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

// The period chosen (days, UTC), for the progress and the report; open ends by default.
function period() {
  const since = $("period-since").value, until = $("period-until").value;
  return (since ? `&since=${since}` : "") + (until ? `&until=${until}` : "");
}

// A link cannot carry the token: fetch with it, then save the file.
async function download(path) {
  const r = await api(path);
  const name = (r.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/)?.[1] || "export";
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function initHistory() {
  // By date, in the browser's zone; the axis from zero, so that 0.1 m/s looks like 0.1 m/s.
  plots.trend = new uPlot({
    width: Math.max($("plot-trend").clientWidth, 300), height: 240,
    legend: { show: false },  // the caption says which line is which
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, (max || 1) * 1.15] } },
    axes: [{}, { label: "", size: 70 }],
    series: [{}, { label: "best", stroke: "#0047ab", width: 2, points: { size: 8 } },
      { label: "typical", stroke: "#777", width: 2, dash: [6, 4], points: { size: 6 } }],
  }, [[], [], []], $("plot-trend"));
  plots.card = new uPlot({
    width: Math.max($("plot-card").clientWidth, 300), height: 200,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(10, (max || 0) * 1.1)] } },
    axes: [{ label: "s from the start" }, { label: "speed, m/s", size: 50 }],
    series: [{}, { label: "measured", stroke: "#000", width: 2 },
      { label: "model", stroke: "#b00020", width: 2, dash: [6, 4] }],
  }, [[], [], []], $("plot-card"));
  $("progress-measure").onchange = () => act(loadProgress);
  $("progress-kind").onchange = () => act(loadProgress);
  $("period-since").onchange = () => act(loadProgress);
  $("period-until").onchange = () => act(loadProgress);
  for (const b of document.querySelectorAll("[data-export]")) {
    b.onclick = () => act(() => download(
      `/api/sessions/${state.selected}/export?format=${b.dataset.export}&table=${b.dataset.table}`));
  }
  for (const b of document.querySelectorAll("[data-report]")) {
    b.onclick = () => act(async () => {
      const athlete = $("history-athlete").value;
      if (b.dataset.report === "pdf") return download(`/api/athletes/${athlete}/report?format=pdf${period()}`);
      const page = await (await api(`/api/athletes/${athlete}/report?format=html${period()}`)).text();
      const url = URL.createObjectURL(new Blob([page], { type: "text/html" }));
      window.open(url, "_blank");
    });
  }
}
