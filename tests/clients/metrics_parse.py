#!/usr/bin/python3
"""Parses a /metrics page with Prometheus's Python client library (Debian's
python3-prometheus-client): its strict OpenMetrics 1.0 parser, or its text
0.0.4 parser. Usage: metrics_parse.py openmetrics|text FILE

Prints one line per family: "<name> <type> <unit> <samples>", then "families N".
Exits 1 (with the parser's complaint) on anything the format forbids, or on a
family without HELP or TYPE."""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parse = parse_openmetrics if fmt == "openmetrics" else parse_text
    families = 0
    try:
        for family in parse(text):
            families += 1
            if not family.documentation:
                raise ValueError("no HELP for " + family.name)
            if family.type in ("unknown", "untyped"):
                raise ValueError("no TYPE for " + family.name)
            print(family.name, family.type, family.unit or "-", len(family.samples))
    except ValueError as e:
        print("invalid %s: %s" % (fmt, e))
        return 1
    print("families", families)
    return 0


if __name__ == "__main__":
    sys.exit(main())
