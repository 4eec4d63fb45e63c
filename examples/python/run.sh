#!/bin/sh
# Runs the Flask example under gunicorn on 127.0.0.1:$PORT (default 8000) for a bridge started with
#   ws2api --upstream http://127.0.0.1:8000/ws/
# Environment: PORT, HOST, WORKERS (gunicorn workers, default 4), WS2API_INTERNAL_URL
# (default http://127.0.0.1:7002), WS2API_PUSH_TOKEN.
exec gunicorn --bind "${HOST:-127.0.0.1}:${PORT:-8000}" --workers "${WORKERS:-4}" \
    --chdir "$(cd "$(dirname "$0")" && pwd)" app:app
