// The live traces: the last few seconds of each plate's force and each shank's gyro.
import { $, TRACE_WINDOW_S, state } from "./core.js";

export const plots = {};

export function makePlot(id, unit, yRange) {
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
export function forceRange(_u, _min, max) {
  return [0, Math.max(max * 1.1, 2 * state.bodyWeightN)];
}
export const PLATE_IDLE_N = 50;  // below this on every plate for the window: nobody on them

export function onTrace(msg) {
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

export function addSeries(kind, label) {
  const colors = ["#000", "#b00020", "#0047ab", "#00703c", "#6a1b9a"];
  const p = plots[kind];
  p.addSeries({ label, stroke: colors[(p.series.length - 1) % colors.length], width: 2, spanGaps: false }, p.series.length);
}

export function drawTraces() {
  state.dirty = false;
  for (const kind of ["force", "gyro"]) {
    const series = [...state.trace.values()].filter((b) => b.kind === kind);
    if (!series.length) continue;
    let newest = -Infinity;
    for (const b of series) if (b.n) newest = Math.max(newest, b.t[(b.head - 1 + b.t.length) % b.t.length]);
    const from = newest - TRACE_WINDOW_S;
    const data = aligned(series.map((b) => ordered(b, from)), newest);
    plots[kind].setData(data);
    if (kind === "force") {
      const peak = Math.max(0, ...data.slice(1).flat().filter((v) => v !== null));
      $("force-note").hidden = peak >= PLATE_IDLE_N;
    }
  }
}

// uPlot's data for series of ({t, y}): one shared x axis of every series' bin centres,
// seconds before `newest`, so that a sensor out (its series stops) leaves a gap in its
// own line, never the others undrawn (the first series' times were the axis).
export function aligned(parts, newest) {
  const keys = new Set();
  for (const o of parts) for (const t of o.t) keys.add(Math.round(t * 1000));
  const xs = [...keys].sort((a, b) => a - b);
  const data = [xs.map((ms) => ms / 1000 - newest)];
  for (const o of parts) {
    const byT = new Map();
    for (let i = 0; i < o.t.length; i++) byT.set(Math.round(o.t[i] * 1000), o.y[i]);
    data.push(xs.map((ms) => byT.get(ms) ?? null));
  }
  return data;
}

export function ordered(b, from) {
  const t = [], y = [];
  const cap = b.t.length;
  for (let k = 0; k < b.n; k++) {
    const i = (b.head - b.n + k + cap) % cap;
    if (b.t[i] >= from) { t.push(b.t[i]); y.push(b.y[i]); }
  }
  return { t, y };
}

// A plot made while its tab was hidden measured 0 px: sized when shown, and on resize.
export function fitPlot(id, p) {
  p.setSize({ width: Math.max($(id).clientWidth, 300), height: p.height });
}

export function initTraces() {
  plots.force = makePlot("plot-force", "N", forceRange);
  plots.gyro = makePlot("plot-gyro", "deg/s");
}
