// Athletes and their baselines from the tablet (docs/dashboard.md): add an athlete;
// see which baseline is in force; learn one from sessions of good running; forget it
// (undo: sessions then learn from their own first rep). Admin-only, as the API is.
import { api, loadAthletes } from "./api.js";
import { $, act, state } from "./core.js";

// The athlete the dialog is about: the picker's when it opens (the picker itself goes
// back to the recording athlete whenever the list is reloaded).
let current = null;

function selected() {
  return state.athletes.find((a) => String(a.id) === String(current));
}

export function baselineWords(a) {
  const b = a && a.baseline;
  if (!b) return "none: each session learns from its first rep (a provisional baseline)";
  if (b.learnt_at) {
    const when = new Date(b.learnt_at).toLocaleDateString();
    const from = (b.from_sessions || []).map((n) => `#${n}`).join(", ");
    return `set on ${when} from session${(b.from_sessions || []).length === 1 ? "" : "s"} ${from}`;
  }
  return "set";
}

async function renderBaseline() {
  const a = selected();
  $("baseline-who").textContent = a ? a.name : "–";
  $("baseline-state").textContent = a ? `Baseline: ${baselineWords(a)}.` : "";
  $("baseline-forget").disabled = !(a && a.baseline) || state.role !== "admin";
  const box = $("baseline-sessions");
  box.replaceChildren();
  if (!a) return;
  const sessions = await (await api(`/api/sessions?athlete_id=${a.id}&status=stopped&limit=50`)).json();
  if (!sessions.length) box.textContent = "No finished session of this athlete yet.";
  for (const s of sessions) {
    const label = document.createElement("label");
    const tick = document.createElement("input");
    tick.type = "checkbox";
    tick.value = s.id;
    label.append(tick, ` #${s.id} · ${new Date(s.started_at).toLocaleString()}`);
    box.appendChild(label);
  }
}

export function initAthletes() {
  $("athlete-button").onclick = () => act(async () => {
    current = $("athlete").value;
    await renderBaseline();
    $("athlete-dialog").showModal();
  });
  $("athlete-close").onclick = () => $("athlete-dialog").close();
  $("athlete-add").onclick = () => act(async () => {
    const body = {
      name: $("new-name").value.trim(),
      body_mass_kg: Number($("new-mass").value),
      height_m: Number($("new-height").value),
    };
    const a = await (await api("/api/athletes", { method: "POST", body })).json();
    await loadAthletes();
    current = a.id;
    if (!state.session) $("athlete").value = a.id;
    $("new-name").value = "";
    await renderBaseline();
  });
  $("baseline-learn").onclick = () => act(async () => {
    const a = selected();
    const ids = [...$("baseline-sessions").querySelectorAll("input:checked")].map((x) => Number(x.value));
    if (!a || !ids.length) throw new Error("tick the sessions of good running to learn from");
    await api(`/api/athletes/${a.id}/baseline`, { method: "POST", body: { session_ids: ids } });
    await loadAthletes();
    await renderBaseline();
  });
  $("baseline-forget").onclick = () => act(async () => {
    const a = selected();
    if (a) await api(`/api/athletes/${a.id}/baseline`, { method: "DELETE" });
    await loadAthletes();
    await renderBaseline();
  });
  $("athlete").addEventListener("change", () => {
    current = $("athlete").value;
    if ($("athlete-dialog").open) act(renderBaseline);
  });
}
