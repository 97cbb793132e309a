// Stridesync coach dashboard: live view and history (service/dashboard/js/ for the parts).
import { api, askToken, loadAthletes, readToken } from "./js/api.js";
import { $, act, banner, state } from "./js/core.js";
import { initAthletes } from "./js/athletes.js";
import { initHistory, loadHistory } from "./js/history.js";
import {
  applyRole, backfill, onConfirmed, onMark, onRep, onRetracted, onStep, renderSession, renderStatus, resetLive,
} from "./js/live.js";
import { liveSocket, tokenDialog } from "./js/socket.js";
import { fitPlot, initTraces, onTrace, plots } from "./js/traces.js";

// --- websocket ------------------------------------------------------------------------

const connect = liveSocket(handle);

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
      // Started or stopped: nothing of the last session's live numbers stays on screen.
      loadAthletes(); renderSession(msg.event === "started" ? msg : null); resetLive(); break;
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
tokenDialog(connect, loadAthletes);

initTraces();
initHistory();
initAthletes();
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
