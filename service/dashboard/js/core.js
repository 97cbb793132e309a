// Shared by the dashboard's modules: constants, the page's state, formatting.
// No build step, no network beyond the Pi: uPlot is vendored (vendor/uplot, MIT).
// Memory stays flat however long the session: every buffer here is bounded.

export const TRACE_WINDOW_S = 6;      // seconds of trace on screen
export const STEP_ROWS = 12;          // rows of the live step table
export const ASYM_STEPS = 20;         // steps for the left/right asymmetry
export const REP_ROWS = 8;
export const SCORE_MAX = 1.5;         // every link's bar on one scale; 1.0 (the baseline) is marked
export const G = 9.81;                // m/s², for the force plot's scale in body weights

export const $ = (id) => document.getElementById(id);
export const state = {
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

// A moment in the browser's own time zone: 2026-12-02 23:20 (with seconds: 23:20:05).
export function clock(date, seconds = true) {
  const p = (n) => String(n).padStart(2, "0");
  return `${p(date.getHours())}:${p(date.getMinutes())}` + (seconds ? `:${p(date.getSeconds())}` : "");
}

export function localDate(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(d, false)}`;
}

export function fmt(v, digits = 0, scale = 1) {
  if (v === null || v === undefined) return "–";
  const text = (v * scale).toFixed(digits);
  return Number(text) === 0 ? text.replace("-", "") : text;  // never "-0.00"
}

export function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

export async function act(fn) {
  try { await fn(); } catch (e) { banner(e.message); }
}
