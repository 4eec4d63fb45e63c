#!/usr/bin/python3
"""Soak: a bridge under churn, pushes and API restarts for a long time (issue 27).

Run by `bench/run.sh soak` (which starts the bridge); on its own:

  bench/soak.py --bridge-pid PID --public 7101 --internal 7102 --api-port 18180 \
      --token TOKEN --seconds 3600 --clients 500 --results bench/results/<date>.txt

- The API is this script's child process (`--api`, a threaded HTTP/1.1 server
  with keep-alive): GET answers "ok", POST echoes, DELETE answers "ok"; every
  request is appended to a log, which survives its restarts. Every
  --outage-every seconds it is killed (SIGKILL: connections reset, requests in
  flight lost) and started again --outage-s seconds later on the same port.
- --clients WebSocket clients each send one message a second ("<id>:<session>:<n>")
  and check that every message gets exactly one answer, in order: its echo, or
  the bridge's upstream.error_message (counted apart: a request the API took
  down with it). --churn of them per second close and reconnect.
- --pushes per second POST /<ClientId> to random connected clients; every push
  answered 200 must arrive exactly once.
- SIGHUP to the bridge every --hup-every seconds; every --config-every seconds
  a live key changes through the management API (upstream.keepalive_timeout_ms
  4000 <-> 5000).
- Every --sample-s seconds: the bridge's RSS, open descriptors, upstream
  connections (idle/busy), its connection limit, open clients; written to
  <results>.soak.csv and summarised at the end.
- Around each outage (from the kill to --fine-for-s after the restart) the
  upstream gauges and counters every --fine-s seconds into
  <results>.soak-fine.csv: what a 10 s sample misses (a burst of
  connections opened and idle again between two samples).

At the end the load stops, the keep-alive time passes, and the idle baseline
is taken: descriptors and upstream connections must be back to what they were
before the load; RSS growth is measured from the first sample after warm-up
(--warmup-s) to the last under load. Then every accepted session must have
exactly one DELETE at the API (the log), and the counters say how many
DELETEs were retried or given up.
"""
import argparse
import asyncio
import concurrent.futures
import http.client
import http.server
import json
import os
import random
import signal
import socketserver
import subprocess
import sys
import threading
import time

import websockets  # Debian: python3-websockets


def run_api(port, log_path):
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: the handler writes the headers and the body in two sends; with
        # Nagle the body waits for the bridge's delayed ACK, and every answer took
        # 44 ms (soak runs 1-3 measured that API, not an instant one).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def answer(self, body):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def record(self):
            with lock:
                log.write("%s %s\n" % (self.command, self.path.split("?")[0]))

        def do_GET(self):
            self.record()
            self.answer("ok")

        def do_POST(self):
            data = self.body()
            self.record()
            self.answer(data)

        def do_DELETE(self):
            self.body()
            self.record()
            self.answer("ok")

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 512

    Server(("127.0.0.1", port), Handler).serve_forever()


class Api:
    def __init__(self, port, log_path):
        self.port, self.log_path, self.proc = port, log_path, None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--api", str(self.port),
                                      "--api-log", self.log_path])
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/_ready")
                c.getresponse().read()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the soak API did not start")

    def kill(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None


class Stats:
    def __init__(self):
        self.sent = self.echoes = self.error_replies = self.wrong = self.missing = 0
        self.sessions = self.refused = self.reconnects = 0
        self.pushes_ok = self.pushes_other = self.pushes_received = self.push_dupes = 0
        self.push_lost = 0


async def client(cid, args, stats, stop, pushes_due, pushes_seen, open_set, error_text):
    session = 0
    rng = random.Random(cid)
    while not stop.is_set():
        session += 1
        try:
            ws = await websockets.connect("ws://127.0.0.1:%d/%s" % (args.public, cid), open_timeout=30,
                                          ping_interval=None, max_queue=None)
        except Exception:
            stats.refused += 1
            await asyncio.sleep(1)
            continue
        stats.sessions += 1
        open_set.add(cid)
        expected = []  # messages sent, not yet answered
        n = 0
        # Each second this client may be one of the churning ones.
        life = rng.expovariate(args.churn / args.clients) if args.churn > 0 else 1e9

        async def reader():
            async for m in ws:
                if m.startswith("push:"):
                    if m in pushes_seen:
                        stats.push_dupes += 1
                    pushes_seen.add(m)
                    stats.pushes_received += 1
                elif expected and m == expected[0]:
                    expected.pop(0)
                    stats.echoes += 1
                elif expected and m.startswith(error_text):
                    expected.pop(0)
                    stats.error_replies += 1
                else:
                    stats.wrong += 1

        rtask = asyncio.ensure_future(reader())
        began = time.monotonic()
        try:
            await asyncio.sleep(rng.random())
            while not stop.is_set() and time.monotonic() - began < life:
                msg = "%s:%d:%d" % (cid, session, n)
                n += 1
                expected.append(msg)
                stats.sent += 1
                await ws.send(msg)
                await asyncio.sleep(1.0)
            # The answers of what was sent come before the close.
            deadline = time.monotonic() + 15
            while expected and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        except Exception:
            pass
        open_set.discard(cid)
        stats.missing += len(expected)
        try:
            await ws.close()
            await asyncio.wait_for(rtask, 5)  # what came before the close is read
        except Exception:
            rtask.cancel()
        stats.reconnects += 1


def pusher(args, stats, stop, open_set, pushes_due):
    conn = None
    n = 0
    period = 1.0 / args.pushes if args.pushes > 0 else None
    nxt = time.monotonic()
    while period and not stop.is_set():
        nxt += period
        try:
            ids = tuple(open_set)
        except RuntimeError:  # changed while copied: next time
            ids = ()
        if ids:
            cid = random.choice(ids)
            body = "push:%d" % n
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", args.internal, timeout=10)
                conn.request("POST", "/" + cid, body=body, headers={"Content-Type": "text/plain"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    stats.pushes_ok += 1
                    pushes_due.add(body)
                else:
                    stats.pushes_other += 1
            except Exception:
                conn = None
                stats.pushes_other += 1
        time.sleep(max(0.0, nxt - time.monotonic()))


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    out = {}
    for line in c.getresponse().read().decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def sample(args):
    # VmRSS counts the pages of the binary and libraries once touched (code paths first
    # taken late: a reload, a config change); RssAnon is the process's own memory.
    with open("/proc/%d/status" % args.bridge_pid) as f:
        status = {line.split(":")[0]: line.split()[1] for line in f if line.startswith(("VmRSS:", "RssAnon:"))}
    rss, anon = int(status["VmRSS"]), int(status["RssAnon"])
    fds = len(os.listdir("/proc/%d/fd" % args.bridge_pid))
    m = metrics(args.internal)
    return {"rss_kb": rss, "anon_kb": anon, "fds": fds, "upstream": m.get("upstream_connections", -1),
            "upstream_idle": m.get("upstream_connections_idle", -1),
            "limit": m.get("upstream_connection_limit", -1), "clients": m.get("connections_open", -1)}


FINE_KEYS = ("upstream_connections", "upstream_connections_idle", "upstream_connection_limit",
             "upstream_connects_total", "upstream_connect_failures_total", "requests_started_total",
             "connections_open", "handshakes_rejected_total", "upstream_delete_retries_total")


def fine_sampler(args, began, windows, stop):
    """Every --fine-s while an outage window is open: the upstream gauges and counters, one csv row."""
    out = open(args.results + ".soak-fine.csv", "a", buffering=1)
    out.write("# soak fine samples %s every %ss\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), args.fine_s))
    out.write("t_s,outage," + ",".join(FINE_KEYS) + "\n")
    while not stop.is_set():
        t = time.monotonic() - began
        current = [n for n, (a, b) in enumerate(windows) if a <= t <= b]
        if current:
            try:
                m = metrics(args.internal)
            except Exception:
                m = {}
            out.write("%.2f,%d,%s\n" % (t, current[0] + 1, ",".join("%d" % m.get(k, -1) for k in FINE_KEYS)))
        time.sleep(args.fine_s)
    out.close()


def set_config(args, value):
    c = http.client.HTTPConnection("127.0.0.1", args.internal, timeout=10)
    c.request("PUT", "/api/v1/config/upstream.keepalive_timeout_ms", body=json.dumps({"value": str(value)}),
              headers={"Authorization": "Bearer " + args.token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.status


async def main_async(args):
    api = Api(args.api_port, args.api_log)
    api.start()
    stats = Stats()
    stop = asyncio.Event()
    stop_flag = threading.Event()
    pushes_due, pushes_seen, open_set = set(), set(), set()
    csv = open(args.results + ".soak.csv", "a", buffering=1)
    csv.write("# soak %s clients=%d churn=%s pushes=%s outage=%ss every %ss\n" % (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), args.clients, args.churn, args.pushes,
        args.outage_s, args.outage_every))
    csv.write("t_s,rss_kb,fds,upstream,upstream_idle,limit,clients,anon_kb\n")
    baseline = sample(args)
    # Warm the management path before the first sample counts: each of the 16
    # management workers keeps ~20 KB (its stack pages, a malloc arena) after its
    # first store write, so the first few dozen config changes step RSS up by
    # ~330 KB in all, then nothing (seen at 2026-12-07 17:56: 20 PUTs +264 KB,
    # the next 40 +0). Unwarmed, the hour's 6 changes show up as "growth".
    value = 4000
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _i: set_config(args, value), range(64)))
    error_text = args.error_prefix
    tasks = [asyncio.ensure_future(client("soak-%d" % i, args, stats, stop, pushes_due, pushes_seen, open_set,
                                          error_text)) for i in range(args.clients)]
    pt = threading.Thread(target=pusher, args=(args, stats, stop_flag, open_set, pushes_due), daemon=True)
    pt.start()
    began = time.monotonic()
    # Outage windows for the fine sampler: [kill, restart + fine_for_s], in seconds since `began`.
    windows = [] if args.fine_s <= 0 else [
        (k * args.outage_every, k * args.outage_every + args.outage_s + 2 + args.fine_for_s)
        for k in range(1, int(args.seconds // args.outage_every) + 1)]
    if windows:
        threading.Thread(target=fine_sampler, args=(args, began, windows, stop_flag), daemon=True).start()
    samples = []
    next_sample = next_outage = next_hup = next_config = 0.0
    next_outage, next_hup, next_config = args.outage_every, args.hup_every, args.config_every
    outages = hups = configs = 0
    config_value = 5000
    while True:
        t = time.monotonic() - began
        if t >= args.seconds:
            break
        if t >= next_sample:
            s = sample(args)
            s["t"] = t
            samples.append(s)
            csv.write("%.0f,%d,%d,%d,%d,%d,%d,%d\n" % (t, s["rss_kb"], s["fds"], s["upstream"], s["upstream_idle"],
                                                     s["limit"], s["clients"], s["anon_kb"]))
            next_sample += args.sample_s
        if t >= next_outage:
            api.kill()
            await asyncio.sleep(args.outage_s)
            await asyncio.get_running_loop().run_in_executor(None, api.start)
            outages += 1
            next_outage += args.outage_every
        if t >= next_hup:
            os.kill(args.bridge_pid, signal.SIGHUP)
            hups += 1
            next_hup += args.hup_every
        if t >= next_config and args.token:
            if set_config(args, config_value) == 200:
                configs += 1
            config_value = 9000 - config_value
            next_config += args.config_every
        await asyncio.sleep(0.2)
    stop.set()
    stop_flag.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    pt.join(15)
    time.sleep(2)  # pushes in flight reach their clients before the count
    # Idle: the keep-alive time passes, the DELETEs are in.
    time.sleep(args.idle_wait_s)
    idle = sample(args)
    api_log = open(args.api_log).read().split("\n")
    gets, deletes = {}, {}
    for line in api_log:
        parts = line.split(" ")
        if len(parts) != 2:
            continue
        if parts[0] == "GET" and parts[1] != "/_ready":
            gets[parts[1]] = gets.get(parts[1], 0) + 1
        elif parts[0] == "DELETE":
            deletes[parts[1]] = deletes.get(parts[1], 0) + 1
    delete_short = sum(max(0, gets[k] - deletes.get(k, 0)) for k in gets)
    delete_extra = sum(max(0, deletes[k] - gets.get(k, 0)) for k in deletes)
    m = metrics(args.internal)
    api.kill()
    warm = [s for s in samples if s["t"] >= args.warmup_s] or samples
    rss_growth = 100.0 * (warm[-1]["rss_kb"] - warm[0]["rss_kb"]) / warm[0]["rss_kb"]
    anon_growth = 100.0 * (warm[-1]["anon_kb"] - warm[0]["anon_kb"]) / warm[0]["anon_kb"]
    push_lost = len(pushes_due - pushes_seen)
    line = ("soak: seconds=%d clients=%d churn_per_s=%s pushes_per_s=%s outages=%d outage_s=%s hups=%d config_changes=%d "
            "sessions=%d refused=%d sent=%d echoes=%d error_replies=%d wrong=%d missing=%d "
            "pushes_ok=%d pushes_not_ok=%d pushes_received=%d push_dupes=%d pushes_lost=%d "
            "api_gets=%d api_deletes=%d deletes_missing=%d deletes_extra=%d "
            "delete_retries=%d deletes_abandoned=%d connect_failures=%d requests_failed=%d "
            "rss_kb_warm=%d rss_kb_end=%d rss_growth_pct=%.2f rss_kb_max=%d anon_kb_warm=%d anon_kb_end=%d "
            "anon_growth_pct=%.2f "
            "fds_before=%d fds_max=%d fds_idle=%d upstream_max=%d upstream_idle_end=%d upstream_end=%d" % (
                args.seconds, args.clients, args.churn, args.pushes, outages, args.outage_s, hups, configs,
                stats.sessions, stats.refused, stats.sent, stats.echoes, stats.error_replies, stats.wrong,
                stats.missing, stats.pushes_ok, stats.pushes_other, stats.pushes_received, stats.push_dupes,
                push_lost, sum(gets.values()), sum(deletes.values()), delete_short, delete_extra,
                m.get("upstream_delete_retries_total", -1), m.get("upstream_deletes_abandoned_total", -1),
                m.get("upstream_connect_failures_total", -1), m.get("requests_failed_total", -1),
                warm[0]["rss_kb"], warm[-1]["rss_kb"], rss_growth, max(s["rss_kb"] for s in samples),
                warm[0]["anon_kb"], warm[-1]["anon_kb"], anon_growth,
                baseline["fds"], max(s["fds"] for s in samples), idle["fds"], max(s["upstream"] for s in samples),
                idle["upstream_idle"], idle["upstream"]))
    print(line)
    with open(args.results, "a") as f:
        f.write(line + "\n")
    ok = (stats.wrong == 0 and stats.missing == 0 and stats.push_dupes == 0 and push_lost == 0 and
          delete_extra == 0 and idle["upstream"] == 0 and idle["fds"] <= baseline["fds"])
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--api", type=int, help=argparse.SUPPRESS)
    p.add_argument("--api-log", default="/tmp/ws2api-soak-api.log")
    p.add_argument("--bridge-pid", type=int)
    p.add_argument("--public", type=int, default=7101)
    p.add_argument("--internal", type=int, default=7102)
    p.add_argument("--api-port", type=int, default=18180)
    p.add_argument("--token", default="")
    p.add_argument("--seconds", type=int, default=3600)
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--churn", type=float, default=10.0, help="clients reconnecting per second")
    p.add_argument("--pushes", type=float, default=200.0, help="pushes per second")
    p.add_argument("--outage-every", type=float, default=60.0)
    p.add_argument("--outage-s", type=float, default=2.0)
    p.add_argument("--hup-every", type=float, default=300.0)
    p.add_argument("--config-every", type=float, default=600.0)
    p.add_argument("--sample-s", type=float, default=10.0)
    p.add_argument("--fine-s", type=float, default=0.1, help="sample period around outages (0: none)")
    p.add_argument("--fine-for-s", type=float, default=8.0, help="fine samples go on this long after a restart")
    p.add_argument("--warmup-s", type=float, default=300.0)
    p.add_argument("--idle-wait-s", type=float, default=8.0)
    p.add_argument("--error-prefix", default='{"error":"upstream unavailable"')
    p.add_argument("--results", default="/tmp/ws2api-soak.txt")
    args = p.parse_args()
    if args.api is not None:
        run_api(args.api, args.api_log)
        return 0
    if not args.bridge_pid:
        p.error("--bridge-pid is needed")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
