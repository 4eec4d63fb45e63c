#!/usr/bin/python3
"""Connects with Python websockets and reports how the connection ended
(RefusalTest: upstream.refusal=close).

Usage: close_python.py URL
Prints 'open' when the upgrade completed, then 'closed CODE REASON' once the
server's close frame arrived and the closing handshake finished (or
'refused STATUS' when the upgrade was answered with an HTTP error)."""
import asyncio
import sys

import websockets


async def main(url):
    try:
        async with websockets.connect(url, open_timeout=30, close_timeout=30) as ws:
            print("open", flush=True)
            try:
                async for _ in ws:
                    pass
            except websockets.ConnectionClosed:
                pass
            await ws.wait_closed()
            print("closed", ws.close_code, ws.close_reason, flush=True)
    except websockets.InvalidStatusCode as e:
        print("refused", e.status_code, flush=True)


asyncio.run(main(sys.argv[1]))
