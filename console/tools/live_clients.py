#!/usr/bin/python3
"""Live WebSocket clients for the console screenshots: N clients per bridge,
each sending a small message every few seconds; a few of them come and go, so
the charts show connects and disconnects. Runs until killed (or --seconds)."""
import argparse
import asyncio
import random

import websockets


async def client(url, cid, churn, stop):
    while not stop.is_set():
        try:
            async with websockets.connect(f"{url}/{cid}", ping_interval=None) as ws:
                life = random.uniform(5, 25) if churn else 1e9
                loop = asyncio.get_running_loop()
                end = loop.time() + life
                while not stop.is_set() and loop.time() < end:
                    await ws.send(f'{{"client":"{cid}","t":{loop.time():.1f}}}')
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=5)
                    except asyncio.TimeoutError:
                        pass
                    await asyncio.sleep(random.uniform(0.5, 3.0))
        except Exception:
            await asyncio.sleep(1)
        if churn:
            await asyncio.sleep(random.uniform(1, 4))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bridge", action="append", required=True, help="NAME=ws://host:port (repeatable)")
    p.add_argument("--clients", type=int, default=200, help="clients per bridge")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long (0: run until killed)")
    a = p.parse_args()
    stop = asyncio.Event()
    tasks = []
    for spec in a.bridge:
        name, url = spec.split("=", 1)
        for i in range(a.clients):
            cid = f"{name}-client-{i:04d}"
            tasks.append(asyncio.create_task(client(url, cid, churn=(i % 10 == 0), stop=stop)))
            if i % 50 == 49:
                await asyncio.sleep(0.2)
    if a.seconds > 0:
        await asyncio.sleep(a.seconds)
        stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
