"""The chat example as a Flask app, run by gunicorn (examples/README.md).

The bridge calls /ws/<ClientId> (start it with --upstream http://127.0.0.1:8000/ws/):
  GET    = a client connects: answer "ok" (+ Ws2api-Groups: room:<room>) or refuse
  POST   = a client sent a message (the body); the answer body goes back to it
  DELETE = the client is gone
The app keeps no state: room and name come with every request (the client's
query string), the bridge holds the groups. Run as many workers as you like.
"""
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from flask import Flask, request, send_from_directory

BRIDGE = os.environ.get("WS2API_INTERNAL_URL", "http://127.0.0.1:7002").rstrip("/")
TOKEN = os.environ.get("WS2API_PUSH_TOKEN", "")
WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web")
ROOM = re.compile(r"[a-z0-9-]{1,32}")

app = Flask(__name__)


def push(target, message):
    """POST a message to the bridge's internal listener; returns the HTTP status."""
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if TOKEN:
        headers["Authorization"] = "Bearer " + TOKEN
    body = json.dumps(message, ensure_ascii=False).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(BRIDGE + target, body, headers), timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:  # 404: not connected
        if error.code != 404:
            app.logger.error("push %s: %s (WS2API_PUSH_TOKEN?)", target, error.code)
        return error.code


def to_room(room, message, exclude):
    group = urllib.parse.quote("room:" + room, safe="")
    return push(f"/groups/{group}?exclude={urllib.parse.quote(exclude, safe='')}", message)


def reply(message):
    return json.dumps(message, ensure_ascii=False), 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/")
def page():
    return send_from_directory(WEB, "chat.html")


@app.get("/chat.js")
def script():
    return send_from_directory(WEB, "chat.js")


@app.route("/ws/<client_id>", methods=["GET", "POST", "DELETE"])
def bridge_event(client_id):
    room = request.args.get("room", "")
    name = request.args.get("name", "")
    me = {"id": client_id, "name": name, "room": room}
    if request.method == "GET":
        if not ROOM.fullmatch(room):
            return "refused: room must be 1-32 of a-z 0-9 -"
        if not 1 <= len(name) <= 32:
            return "refused: name must be 1-32 characters"
        to_room(room, {"type": "join", **me}, client_id)
        return "ok", 200, {"Ws2api-Groups": "room:" + room}
    if request.method == "DELETE":
        to_room(room, {"type": "leave", **me}, client_id)
        return ""
    try:
        m = json.loads(request.get_data(as_text=True))
    except ValueError:
        m = None
    if not isinstance(m, dict) or not isinstance(m.get("text"), str) or not 1 <= len(m["text"]) <= 1000:
        return reply({"type": "error", "text": 'send {"text": "...", "to": "<ClientId>"?}'})
    if isinstance(m.get("to"), str):
        private = {"type": "private", **me, "to": m["to"], "text": m["text"]}
        if push("/" + urllib.parse.quote(m["to"], safe=""), private) != 200:
            return reply({"type": "error", "text": m["to"] + " is not connected"})
        return reply(private)
    said = {"type": "message", **me, "text": m["text"]}
    to_room(room, said, client_id)
    return reply(said)  # the sender's copy
