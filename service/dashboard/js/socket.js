// The live websocket, for the dashboard and the club page alike: a one-time ticket
// for the token, reconnection with back-off, the connection badge and the banner;
// and the token dialog that starts it again with a new token.
import { api, askToken } from "./api.js";
import { $, banner, state } from "./core.js";

// connect(): opens /ws/live and hands each message to `handle`; `before` runs first
// on each attempt (a page's REST reads), `where` names the server in the banner.
export function liveSocket(handle, { before = async () => {}, where = "the Pi" } = {}) {
  async function connect() {
    if (!state.token) { askToken(); return; }
    let ticket;
    try {
      await before();
      ticket = (await (await api("/api/ws-ticket", { method: "POST" })).json()).ticket;
    } catch (e) {
      return retry(`Cannot reach ${where}: ${e.message}`);
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
      if (state.ws === ws) retry(`Connection to ${where} lost: reconnecting…`);
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

  return connect;
}

// The token dialog: a saved token replaces the socket (and runs `also` first).
export function tokenDialog(connect, also = () => {}) {
  $("token-button").onclick = askToken;
  $("token-cancel").onclick = () => $("token-dialog").close();
  $("token-form").onsubmit = () => {
    const t = $("token-input").value.trim();
    if (t) {
      localStorage.setItem("stridesync-token", t);
      state.token = t;
      if (state.ws) { const ws = state.ws; state.ws = null; ws.close(); }
      also();
      connect();
    }
  };
}
