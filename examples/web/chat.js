// The browser side of the chat example: one WebSocket to the bridge. The
// ClientId is random per tab; room and name travel in the query string, which
// the bridge hands to the API with every request of this connection.
"use strict";
const $ = (id) => document.getElementById(id);
const bridge = new URLSearchParams(location.search).get("bridge") || `ws://${location.hostname || "127.0.0.1"}:7001`;
const clientId = "u" + Math.random().toString(36).slice(2, 10);
let ws = null;

function line(cls, ...parts) {
  const p = document.createElement("p");
  p.className = cls;
  for (const part of parts) p.append(part);
  $("log").append(p);
  $("log").scrollTop = $("log").scrollHeight;
}

function who(id, name) { // a clickable name: fills in the private "to" field
  const b = document.createElement("span");
  b.className = "who";
  b.title = id;
  b.textContent = name;
  b.onclick = () => { $("to").value = id; $("text").focus(); };
  return b;
}

function show(m) {
  switch (m.type) {
    case "join": return line("notice", who(m.id, m.name), ` joined ${m.room}`);
    case "leave": return line("notice", who(m.id, m.name), ` left ${m.room}`);
    case "message": return line("", who(m.id, m.name), `: ${m.text}`);
    case "private": return m.to === clientId
      ? line("private", who(m.id, m.name), ` (privately): ${m.text}`)
      : line("private", `you to ${m.to}: ${m.text}`);
    case "error": return line("error", m.text);
    default: return line("error", "unknown message: " + JSON.stringify(m));
  }
}

$("join").onsubmit = (e) => {
  e.preventDefault();
  if (ws) ws.close(1000, "left");
  const q = new URLSearchParams({ room: $("room").value, name: $("name").value });
  ws = new WebSocket(`${bridge}/${clientId}?${q}`);
  $("status").textContent = "connecting...";
  ws.onopen = () => { $("status").textContent = `in ${$("room").value} as ${clientId}`; };
  ws.onmessage = (ev) => { try { show(JSON.parse(ev.data)); } catch (_) { line("error", ev.data); } };
  ws.onclose = (ev) => {
    // With upstream.refusal=close (examples/README.md) a refused connect closes
    // with 4403 and the API's answer as reason ("refused: room must be ...");
    // 4502: the API failed or was unreachable. Without it a browser sees only 1006.
    if (ev.code === 4403 || (ev.code > 4400 && ev.code < 4500)) $("status").textContent = ev.reason || "refused";
    else if (ev.code === 4502) $("status").textContent = "the chat server is not answering: " + ev.reason;
    else $("status").textContent = ev.code === 1006 ? "refused or unreachable" : `closed (${ev.code})`;
  };
};

$("say").onsubmit = (e) => {
  e.preventDefault();
  if (!ws || ws.readyState !== WebSocket.OPEN || !$("text").value) return;
  const m = { text: $("text").value };
  if ($("to").value) m.to = $("to").value;
  ws.send(JSON.stringify(m));
  $("text").value = "";
};
