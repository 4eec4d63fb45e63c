#!/usr/bin/env python3
"""Where each message's time went, read off a packet capture of loopback (issue 26).

Input: the text tshark makes of a capture of the bridge's public port and the API's port
(bench/run.sh compare with CAPTURE=1 makes both):

    tshark -r cap.pcap -T fields -e frame.time_epoch -e tcp.stream -e tcp.srcport -e tcp.dstport \
        -e tcp.len -e tcp.flags -e tcp.payload -E separator=' '

Each client's stream is named by its upgrade request's path (GET /<ClientId>); each POST to the
API by the last segment of its path (/wsoverhttp/<ClientId>, as both bridges send it). The n-th
frame a client sends is matched with the n-th POST for its ClientId, that POST's answer (the next
HTTP answer on its connection) and the n-th frame the bridge sends that client. Per message:

    in   the client's frame arrives -> the POST leaves (the bridge's read, its queue, a connect)
    api  the POST leaves -> the API's answer arrives (on the wire: the API's own time)
    out  the answer arrives -> the reply frame leaves (the bridge's read and write)
    total = in + api + out, the client's latency less its own loop

and whether the POST went on a connection opened for it (its first request). Prints one line of
key=value pairs (wire_*), milliseconds. Frames the bridge sends without a POST (pings, pushes)
would shift the matching; the compare scenarios have none.
"""
import argparse
import collections
import sys


def quantile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fields", help="tshark fields text (see above)")
    ap.add_argument("--bridge-port", type=int, required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--slow-ms", type=float, default=60.0, help="count messages over this (default 60)")
    args = ap.parse_args()

    client_of_stream = {}                      # client stream -> ClientId
    frames = collections.defaultdict(list)     # ClientId -> times of its frames to the bridge
    replies = collections.defaultdict(list)    # ClientId -> times of the bridge's frames to it
    posts = collections.defaultdict(list)      # ClientId -> (sent, answered, first on its connection)
    upstream = collections.defaultdict(lambda: {"pending": [], "requests": 0})
    t0 = None
    with open(args.fields) as f:
        for line in f:
            p = line.split()
            if len(p) < 6:
                continue
            t = float(p[0])
            stream, sport, dport, length = int(p[1]), int(p[2]), int(p[3]), int(p[4])
            if length == 0:
                continue
            try:
                payload = bytes.fromhex(p[6]) if len(p) > 6 else b""
            except ValueError:
                payload = b""
            if t0 is None:
                t0 = t
            t -= t0
            if args.api_port in (sport, dport):
                u = upstream[stream]
                if dport == args.api_port:
                    if payload[:5] == b"POST ":
                        cid = payload.split(b" ")[1].split(b"?")[0].rstrip(b"/").split(b"/")[-1]
                        u["pending"].append((cid, t, u["requests"] == 0))
                        u["requests"] += 1
                    elif payload[:4] in (b"GET ", b"DELE", b"PUT ", b"HEAD"):
                        u["pending"].append((None, t, u["requests"] == 0))
                        u["requests"] += 1
                elif payload[:5] == b"HTTP/" and u["pending"]:
                    cid, sent, first = u["pending"].pop(0)
                    if cid is not None:
                        posts[cid].append((sent, t, first))
            elif dport == args.bridge_port:
                if payload[:5] == b"GET /":
                    client_of_stream[stream] = payload.split(b" ")[1][1:].split(b"?")[0]
                elif stream in client_of_stream:
                    frames[client_of_stream[stream]].append(t)
            elif sport == args.bridge_port and stream in client_of_stream:
                if payload[:5] != b"HTTP/":
                    replies[client_of_stream[stream]].append(t)

    rows = []  # (total, in, api, out, first on its connection)
    for cid, sent_frames in frames.items():
        ps, rs = posts.get(cid, []), replies.get(cid, [])
        for i, framed in enumerate(sent_frames):
            if i >= len(ps) or i >= len(rs):
                break
            sent, answered, first = ps[i]
            replied = rs[i]
            if not framed <= sent <= answered <= replied:
                continue  # out of step (a close frame, a lost match): not counted
            rows.append((replied - framed, sent - framed, answered - sent, replied - answered, first))
    out = {"wire_msgs": len(rows)}
    for name, idx in (("total", 0), ("in", 1), ("api", 2), ("out", 3)):
        v = [r[idx] * 1000 for r in rows]
        out[f"wire_{name}_p50_ms"] = quantile(v, 0.5)
        out[f"wire_{name}_p99_ms"] = quantile(v, 0.99)
        out[f"wire_{name}_max_ms"] = max(v) if v else float("nan")
    fresh = [r[0] * 1000 for r in rows if r[4]]
    kept = [r[0] * 1000 for r in rows if not r[4]]
    out["wire_new_conn_msgs"] = len(fresh)
    out["wire_new_conn_total_p50_ms"] = quantile(fresh, 0.5)
    out["wire_kept_conn_total_p99_ms"] = quantile(kept, 0.99)
    slow = [r for r in rows if r[0] * 1000 > args.slow_ms]
    out["wire_slow"] = len(slow)
    out["wire_slow_ms"] = args.slow_ms
    out["wire_slow_new_conn"] = sum(1 for r in slow if r[4])
    out["wire_slow_in_over_5ms"] = sum(1 for r in slow if r[1] > 0.005)
    out["wire_slow_out_over_5ms"] = sum(1 for r in slow if r[3] > 0.005)
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
