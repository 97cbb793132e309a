// The club page: every lane live side by side (docs/club.md). The centre's websocket
// carries each lane's steps, reps and sessions with a "lane" field, and a "lane"
// message with the lane's whole state whenever it changes; GET /api/club/lanes
// gives the same states to a page that opens late.
import { api, readToken } from "./api.js";
import { $, banner, fmt, localDate, state } from "./core.js";
import { alignedOf, lightOf } from "./live.js";
import { liveSocket, tokenDialog } from "./socket.js";

const lanes = new Map();  // lane name -> its card's elements

function card(name) {
  if (lanes.has(name)) return lanes.get(name);
  const node = $("lane-card").content.firstElementChild.cloneNode(true);
  node.dataset.lane = name;
  node.querySelector(".lane-name").textContent = name;
  const cards = [...$("lanes").children, node].sort((a, b) => a.dataset.lane.localeCompare(b.dataset.lane));
  $("lanes").replaceChildren(...cards);
  $("no-lanes").hidden = true;
  const q = (sel) => node.querySelector(sel);
  const c = { node, q };
  lanes.set(name, c);
  return c;
}

function light(c, kind, text, sub) {
  const el = c.q(".light");
  el.className = `light ${kind}`;
  el.dataset.state = kind;
  c.q(".light-text").textContent = text;
  c.q(".light-sub").textContent = sub || "";
}

// A lane's whole state (GET /api/club/lanes, or a "lane" message).
function renderLane(s) {
  const c = card(s.lane);
  const link = c.q(".link");
  const up = s.link !== false && s.online !== false;
  link.textContent = s.link === false ? "link down" : (s.online === false ? "offline" : "online");
  link.className = `badge link ${up ? "on" : "off"}`;
  const who = s.session && s.session.athlete ? s.session.athlete.name : null;
  c.q(".who").textContent = who ? `${who} · recording` : "no session";
  c.q(".n-steps").textContent = s.session ? s.steps : "–";
  if (!s.session) light(c, "idle", "NO SESSION", "");
  else if (s.step) renderStep(c, s.step);
  else light(c, "running", "RECORDING", "no step yet");
  c.q(".rep").textContent = s.rep ? repLine(s.rep) : "";
  // Uploads the centre refused (a Pi set up from another lane's SD card): said here.
  const refused = c.q(".refused");
  refused.hidden = !s.refused_uploads;
  refused.textContent = s.refused_uploads
    ? `${s.refused_uploads} upload(s) refused: ${s.refused_reason}` : "";
}

function renderStep(c, s) {
  light(c, ...lightOf(s));
  c.q(".n-contact").textContent = fmt(s.contact_time_s, 0, 1000);
  c.q(".n-flight").textContent = fmt(s.flight_time_s, 0, 1000);
  c.q(".n-speed").textContent = s.velocity_m_s == null ? "–" : fmt(s.velocity_m_s, 1);
}

function repLine(r) {
  const limiter = r.main_limiter ? `, mostly ${r.main_limiter}` : "";
  return `Rep ${r.rep}: ${alignedOf(r)}${limiter}`;
}

async function loadLanes() {
  for (const s of await (await api("/api/club/lanes")).json()) renderLane(s);
}

async function loadSessions() {
  const [sessions, athletes] = await Promise.all([
    (await api("/api/sessions?limit=20")).json(),
    (await api("/api/athletes?limit=1000")).json(),
  ]);
  const names = new Map(athletes.map((a) => [a.id, a.name]));
  const rows = sessions.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.lane = s.node ?? "";
    for (const v of [s.node ?? "(this node)", names.get(s.athlete_id) ?? s.athlete_id,
      localDate(s.started_at), s.status]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  });
  $("sessions").tBodies[0].replaceChildren(...rows);
}

function handle(msg) {
  state.messages++;
  // The role is the centre's own hello's (a lane's messages carry "lane": never theirs).
  if (msg.type === "hello" && !msg.lane) { $("role").textContent = msg.role; return; }
  if (!msg.lane) return;  // the centre's own status: no sensors here
  if (msg.type === "lane") renderLane(msg);
  else if (msg.type === "step") renderStep(card(msg.lane), msg);
  else if (msg.type === "rep") { card(msg.lane).q(".rep").textContent = repLine(msg); loadSessions().catch(() => {}); }
}

const connect = liveSocket(handle, {
  before: async () => { await loadLanes(); loadSessions().catch((e) => banner(e.message)); },
  where: "the centre",
});
tokenDialog(connect);
readToken();
connect();
window.stridesyncClub = { lanes, state };  // for the browser tests
