// Stridesync coach dashboard: live view and history (service/dashboard/js/ for the parts).
import { api, askToken, loadAthletes, readToken } from "./js/api.js";
import { $, act, banner, state } from "./js/core.js";
import { initHistory, loadHistory } from "./js/history.js";
import {
  applyRole, backfill, onConfirmed, onMark, onRep, onRetracted, onStep, renderSession, renderStatus, resetLive,
} from "./js/live.js";
import { fitPlot, initTraces, onTrace, plots } from "./js/traces.js";

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
      backfill(msg.snapshot, handle);
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

// --- controls ---------------------------------------------------------------------------

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

initTraces();
initHistory();
window.addEventListener("resize", () => {
  for (const [id, p] of [["plot-force", plots.force], ["plot-gyro", plots.gyro], ["plot-trend", plots.trend],
    ["plot-card", plots.card]]) {
    fitPlot(id, p);
  }
});

readToken();
applyRole();
if (state.token) { loadAthletes(); connect(); } else askToken();

// For tests and curious developers: the message handler and the state.
window.stridesync = { handle, state };
