#!/usr/bin/python3
"""Where the time went during a benchmark run, from the bridge's latency histograms.

    bench/stages.py BEFORE AFTER

BEFORE and AFTER are two scrapes of the bridge's counters (GET / or /metrics on
its internal listener, text format). For every *_duration_seconds histogram the
observations between the two scrapes give one group of key=value pairs on one
line:

    stage_<name>_n=...  stage_<name>_p50_ms=...  stage_<name>_p99_ms=...  stage_<name>_max_le_ms=...

<name> is the family without its _duration_seconds suffix (handshake,
upstream_queue, upstream_strand, upstream_request, message, accept_handoff,
loop_turn). Quantiles are interpolated inside their bucket, as Prometheus'
histogram_quantile() does; max_le_ms is the upper bound of the highest bucket
that got an observation (inf when it was over the last bound).
"""
import math
import re
import sys

BUCKET = re.compile(r'^([a-z_]+)_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$')


def buckets(path):
    """{family: [(bound, cumulative count), ...]} in bound order."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = BUCKET.match(line.strip())
            if m:
                bound = math.inf if m.group(2) == "+Inf" else float(m.group(2))
                out.setdefault(m.group(1), []).append((bound, int(m.group(3))))
    for rows in out.values():
        rows.sort()
    return out


def quantile(rows, q):
    """rows: [(bound, cumulative count in the window)] in bound order: the q-quantile in ms (0 when empty)."""
    total = rows[-1][1] if rows else 0
    if total == 0:
        return 0.0
    rank = q * total
    lower, below = 0.0, 0
    for bound, cumulative in rows:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower * 1000  # over the last bound: its lower edge, as Prometheus does
            inside = cumulative - below
            fraction = (rank - below) / inside if inside else 1.0
            return (lower + (bound - lower) * fraction) * 1000
        lower, below = bound, cumulative
    return lower * 1000


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
    pairs = []
    for name in sorted(after):
        old = dict(before.get(name, []))
        rows = [(bound, count - old.get(bound, 0)) for bound, count in after[name]]
        n = rows[-1][1] if rows else 0
        top = 0.0
        previous = 0
        for bound, cumulative in rows:
            if cumulative > previous:
                top = bound
            previous = cumulative
        top_ms = "inf" if math.isinf(top) else "%g" % (top * 1000)
        pairs.append("stage_%s_n=%d stage_%s_p50_ms=%.2f stage_%s_p99_ms=%.2f stage_%s_max_le_ms=%s"
                     % (name, n, name, quantile(rows, 0.5), name, quantile(rows, 0.99), name, top_ms))
    print(" ".join(pairs))


if __name__ == "__main__":
    main()
