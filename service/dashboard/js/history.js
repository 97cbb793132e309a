// History: the athlete's sessions, the trend by date, a session's reps and steps, exports.
import { loadAthletes, api } from "./api.js";
import { $, act, fmt, localDate, state } from "./core.js";
import { fitPlot, plots } from "./traces.js";

export async function loadHistory() {
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
  const score = (v) => fmt(v === null || v === undefined ? null : Math.max(v, 0), 2);
  fill($("detail-steps"), steps.map((s) => [s.n, s.rep ?? "–", s.foot ?? "–", s.source,
    fmt(s.contact_time_s, 0, 1000), fmt(s.flight_time_s, 0, 1000),
    s.source === "imu" ? "no plate" : fmt(s.peak_vertical_force_bw, 2),
    score(s.push_score), score(s.swing_score), score(s.torso_score), score(s.system_score),
    s.aligned ? "aligned" : (s.limiter ?? "–")]));
  $("session-detail").hidden = false;
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

export function initHistory() {
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
}
