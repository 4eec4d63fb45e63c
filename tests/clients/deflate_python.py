#!/usr/bin/python3
"""permessage-deflate with Python websockets against a bridge (CompressionTest).

Usage: deflate_python.py PORT MODE [CAFILE]
With CAFILE it connects with wss:// to localhost, trusting CAFILE (TlsTest).
For every combination of the four RFC 7692 offer parameters it connects as
/py-<n>, prints the Sec-WebSocket-Extensions answer, sends a JSON text
message, a binary message, a fragmented text message and a ping in between,
and checks the echoes. One line per combination:
  combo <n> offer=<offer> answer=<answer> ok
or '... FAIL <why>'; then 'done <count>'. Exit status 0 when all were ok.
"""
import asyncio
import itertools
import json
import ssl
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

PORT, MODE = int(sys.argv[1]), sys.argv[2]
CAFILE = sys.argv[3] if len(sys.argv) > 3 else None
BASE = f"wss://localhost:{PORT}" if CAFILE else f"ws://127.0.0.1:{PORT}"
SSL = ssl.create_default_context(cafile=CAFILE) if CAFILE else None


def message(i, size):
    text = json.dumps({"type": "ticker", "seq": i, "symbol": "BTC-EUR", "bids": [[i, 1.5]] * 3, "note": "x"})
    while len(text) < size:
        text += " " + json.dumps({"price": 43000 + i, "qty": 0.25, "side": "buy"})
    return text[:size]


async def one(n, sntc, cntc, smwb, cmwb):
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=sntc, client_no_context_takeover=cntc,
        server_max_window_bits=smwb, client_max_window_bits=cmwb)
    offer = "; ".join(str(p) for p in factory.get_request_params())
    async with websockets.connect(f"{BASE}/py-{n}", extensions=[factory], compression=None, ssl=SSL,
                                  max_size=4 * 1024 * 1024, open_timeout=20, close_timeout=20) as ws:
        answer = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        if (answer != "") != (MODE != "off"):
            return offer, answer, "extension " + ("missing" if answer == "" else "unexpected")
        for i in range(3):  # several messages: context takeover is exercised
            text = message(n * 10 + i, 1500)
            await ws.send(text)
            if await ws.recv() != text:
                return offer, answer, "text echo differs"
        data = bytes((k * 7) % 251 for k in range(5000))
        await ws.send(data)
        if await ws.recv() != data:
            return offer, answer, "binary echo differs"
        parts = [message(n, 700), message(n + 1, 900), message(n + 2, 300)]
        await ws.send(iter(parts))  # one message, three frames
        pong = await ws.ping(b"between")
        await asyncio.wait_for(pong, 20)
        if await ws.recv() != "".join(parts):
            return offer, answer, "fragmented echo differs"
    return offer, answer, None


async def main():
    combos = list(itertools.product([False, True], [False, True], [None, 9, 12], [None, True, 10]))
    failed = 0
    for n, (sntc, cntc, smwb, cmwb) in enumerate(combos):
        try:
            offer, answer, why = await one(n, sntc, cntc, smwb, cmwb)
        except Exception as e:  # a failed handshake or a closed connection
            offer, answer, why = "?", "?", repr(e)
        failed += why is not None
        print(f"combo {n} offer={offer} answer={answer} " + ("ok" if why is None else "FAIL " + why), flush=True)
    print(f"done {len(combos)}")
    return 1 if failed else 0


sys.exit(asyncio.run(main()))
