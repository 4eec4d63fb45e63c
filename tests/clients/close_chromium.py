#!/usr/bin/python3
"""Opens a WebSocket from a page in real Chromium (Debian's package, headless)
and reports what its onclose event saw (RefusalTest: upstream.refusal=close).

Usage: close_chromium.py URL
Starts chromium with a DevTools port of its own choosing, opens a page served
by this script on a loopback port, runs `new WebSocket(URL)` in it through the
DevTools protocol (Python websockets) and prints the page's view as one JSON
line: {"opened": bool, "code": N, "reason": "...", "wasClean": bool}."""
import asyncio
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

import websockets

PAGE = b"<!doctype html><title>ws2api refusal test</title><p>test page</p>"


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


SCRIPT = """new Promise(resolve => {
  let opened = false;
  const ws = new WebSocket(%s);
  ws.onopen = () => { opened = true; };
  ws.onclose = e => resolve(JSON.stringify({opened, code: e.code, reason: e.reason, wasClean: e.wasClean}));
})"""


async def devtools(ws_url, url, page_url):
    async with websockets.connect(ws_url, max_size=None) as cdp:
        ids = iter(range(1, 1000))

        async def call(method, **params):
            i = next(ids)
            await cdp.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                m = json.loads(await cdp.recv())
                if m.get("id") == i:
                    if "error" in m:
                        raise RuntimeError(method + ": " + json.dumps(m["error"]))
                    return m["result"]

        await call("Page.enable")
        await call("Page.navigate", url=page_url)
        for _ in range(100):  # the page is loaded when its document answers
            r = await call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
            if r["result"].get("value") == "complete" and (await call(
                    "Runtime.evaluate", expression="location.href", returnByValue=True))["result"]["value"] == page_url:
                break
            await asyncio.sleep(0.1)
        r = await call("Runtime.evaluate", expression=SCRIPT % json.dumps(url), awaitPromise=True, returnByValue=True)
        return r["result"]["value"]


def main(url):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page_url = "http://127.0.0.1:%d/" % server.server_address[1]
    profile = tempfile.mkdtemp(prefix="ws2api-chromium-")
    browser = subprocess.Popen(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--user-data-dir=" + profile, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in browser.stderr:
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            print("chromium did not start its DevTools endpoint", file=sys.stderr)
            return 1
        threading.Thread(target=lambda: [None for _ in browser.stderr], daemon=True).start()
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=30) as f:
            targets = [t for t in json.load(f) if t.get("type") == "page"]
        print(asyncio.run(asyncio.wait_for(devtools(targets[0]["webSocketDebuggerUrl"], url, page_url), 60)),
              flush=True)
        return 0
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
