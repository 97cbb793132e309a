// Athletes and their baselines from the tablet (docs/dashboard.md): add or edit an
// athlete; see which baseline is in force; preview what learning from sessions of good
// running would set, and learn it; forget it (undo: sessions then learn from their own
// first rep). Changes are admin-only, as the API is.
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

// The references a baseline sets, as a coach reads them (at the preview's speed).
const REFERENCES = [
  ["ratio_of_force", "Push: ratio of force", (v) => `${(100 * v).toFixed(1)} %`],
  ["swing_lag", "Swing: the other leg's swing peak after IC, in contact times", (v) => v.toFixed(2)],
  ["trunk_pitch_rate_rms_deg_s", "Torso: trunk pitch rate", (v) => `${v.toFixed(1)} °/s`],
];

function ticked() {
  return [...$("baseline-sessions").querySelectorAll("input:checked")].map((x) => Number(x.value));
}

async function preview() {
  const a = selected();
  const ids = ticked();
  if (!a || !ids.length) throw new Error("tick the sessions of good running to preview");
  const p = await (await api(`/api/athletes/${a.id}/baseline/preview`,
    { method: "POST", body: { session_ids: ids } })).json();
  const table = $("baseline-preview");
  table.caption.textContent = `From ${p.steps} rep steps, each reference at ${p.at_m_s} m/s`;
  table.tBodies[0].replaceChildren(...REFERENCES.map(([key, label, show]) => {
    const tr = document.createElement("tr");
    const now = p.now && p.now[key] !== null ? show(p.now[key]) : "learnt each session";
    const next = p.learnt[key] === null ? "–" : show(p.learnt[key]);
    for (const text of [label, now, next]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }));
  table.hidden = false;
}

async function renderBaseline() {
  const a = selected();
  $("baseline-preview").hidden = true;
  $("edit-name").value = a ? a.name : "";
  $("edit-mass").value = a ? a.body_mass_kg : "";
  $("edit-height").value = a ? a.height_m : "";
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
    $("athlete-form").reset();  // the next athlete starts blank, not with this one's mass
    await renderBaseline();
  });
  $("athlete-save").onclick = () => act(async () => {
    const a = selected();
    if (!a) return;
    const body = {
      name: $("edit-name").value.trim(),
      body_mass_kg: Number($("edit-mass").value),
      height_m: Number($("edit-height").value),
    };
    await api(`/api/athletes/${a.id}`, { method: "PATCH", body });
    await loadAthletes();
    await renderBaseline();
  });
  $("baseline-preview-button").onclick = () => act(preview);
  $("baseline-sessions").addEventListener("change", () => { $("baseline-preview").hidden = true; });
  $("baseline-learn").onclick = () => act(async () => {
    const a = selected();
    const ids = ticked();
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
