// The chat example as a plain node:http server (examples/README.md).
// The bridge calls /ws/<ClientId> (start it with --upstream http://127.0.0.1:8000/ws/):
//   GET    = a client connects: answer "ok" (+ Ws2api-Groups: room:<room>) or refuse
//   POST   = a client sent a message (the body); the answer body goes back to it
//   DELETE = the client is gone
// The API keeps no state: room and name come with every request (the client's
// query string), the bridge holds the groups. Run as many of these as you like.
"use strict";
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");

const PORT = Number(process.env.PORT || 8000);
const HOST = process.env.HOST || "127.0.0.1";
const BRIDGE = (process.env.WS2API_INTERNAL_URL || "http://127.0.0.1:7002").replace(/\/+$/, "");
const TOKEN = process.env.WS2API_PUSH_TOKEN || "";
const WEB = path.join(__dirname, "..", "web");
const ROOM = /^[a-z0-9-]{1,32}$/;

// POST to the bridge's internal listener; resolves to the HTTP status.
async function push(target, message) {
  const headers = { "Content-Type": "text/plain; charset=utf-8" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const res = await fetch(BRIDGE + target, { method: "POST", headers, body: JSON.stringify(message) });
  await res.arrayBuffer(); // read the answer so the keep-alive connection is reused
  if (res.status !== 200 && res.status !== 404) console.error(`push ${target}: ${res.status} (WS2API_PUSH_TOKEN?)`);
  return res.status;
}
const toRoom = (room, message, exclude) =>
  push(`/groups/${encodeURIComponent("room:" + room)}?exclude=${encodeURIComponent(exclude)}`, message);

async function api(req, id, query, body) {
  const room = query.get("room") || "";
  const name = query.get("name") || "";
  const me = { id, name, room };
  switch (req.method) {
    case "GET":
      if (!ROOM.test(room)) return { body: "refused: room must be 1-32 of a-z 0-9 -" };
      if (name.length < 1 || name.length > 32) return { body: "refused: name must be 1-32 characters" };
      await toRoom(room, { type: "join", ...me }, id);
      return { body: "ok", headers: { "Ws2api-Groups": `room:${room}` } };
    case "POST": {
      let m;
      try { m = JSON.parse(body); } catch (_) { m = null; }
      if (!m || typeof m.text !== "string" || m.text.length < 1 || m.text.length > 1000)
        return { body: JSON.stringify({ type: "error", text: 'send {"text": "...", "to": "<ClientId>"?}' }) };
      if (typeof m.to === "string") {
        const status = await push(`/${encodeURIComponent(m.to)}`, { type: "private", ...me, to: m.to, text: m.text });
        if (status !== 200) return { body: JSON.stringify({ type: "error", text: `${m.to} is not connected` }) };
        return { body: JSON.stringify({ type: "private", ...me, to: m.to, text: m.text }) };
      }
      const said = { type: "message", ...me, text: m.text };
      await toRoom(room, said, id);
      return { body: JSON.stringify(said) }; // the sender's copy
    }
    case "DELETE":
      await toRoom(room, { type: "leave", ...me }, id);
      return { body: "" };
  }
  return { status: 405, body: "" };
}

function file(res, name, type) {
  fs.readFile(path.join(WEB, name), (err, data) => {
    res.writeHead(err ? 404 : 200, { "Content-Type": type });
    res.end(err ? "" : data);
  });
}

http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/") return file(res, "chat.html", "text/html; charset=utf-8");
  if (req.method === "GET" && url.pathname === "/chat.js") return file(res, "chat.js", "text/javascript");
  const match = /^\/ws\/([^/]+)$/.exec(url.pathname);
  if (!match) { res.writeHead(404); return res.end(); }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    api(req, decodeURIComponent(match[1]), url.searchParams, Buffer.concat(chunks).toString("utf8"))
      .then((a) => {
        res.writeHead(a.status || 200, { "Content-Type": "text/plain; charset=utf-8", ...a.headers });
        res.end(a.body);
      })
      .catch((err) => { // the bridge unreachable: the client gets the bridge's error message
        console.error(`${req.method} ${url.pathname}: ${err.message}`);
        res.writeHead(502);
        res.end();
      });
  });
}).listen(PORT, HOST, () => console.log(`chat example (node) on http://${HOST}:${PORT}/, bridge ${BRIDGE}`));
