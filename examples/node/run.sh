#!/bin/sh
# Runs the Node example on 127.0.0.1:$PORT (default 8000) for a bridge started with
#   ws2api --upstream http://127.0.0.1:8000/ws/
# Environment: PORT, HOST, WS2API_INTERNAL_URL (default http://127.0.0.1:7002), WS2API_PUSH_TOKEN.
exec node "$(dirname "$0")/server.js"
