// The token and the REST API.
import { $, state } from "./core.js";

export function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("stridesync-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = localStorage.getItem("stridesync-token");
}

export function askToken() {
  $("token-input").value = "";
  if (!$("token-dialog").open) $("token-dialog").showModal();
}

export async function api(path, options = {}) {
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

export async function loadAthletes() {
  try {
    state.athletes = await (await api("/api/athletes")).json();
  } catch (_) { return; }
  for (const sel of [$("athlete"), $("history-athlete")]) {
    const keep = sel.value;
    sel.replaceChildren(...state.athletes.map((a) => new Option(`${a.name} (${a.body_mass_kg} kg)`, a.id)));
    if (keep) sel.value = keep;
  }
  if (state.session) $("athlete").value = state.session.athlete_id;
}
