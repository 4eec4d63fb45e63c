#!/usr/bin/python3
"""Reference echo server: Debian's python3-websockets 10.4, permessage-deflate
on (the library default).  Usage: echo_websockets.py [host] [port]"""
import asyncio, sys
import websockets

async def echo(ws, path=None):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass

async def main(host, port):
    async with websockets.serve(echo, host, port, max_size=2**25,
                                max_queue=None, compression="deflate"):
        print("websockets %s echo server on ws://%s:%d" % (websockets.__version__, host, port), flush=True)
        await asyncio.Future()

host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 9002
asyncio.run(main(host, port))
