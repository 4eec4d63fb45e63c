#!/usr/bin/python3
"""wss:// with Python websockets against a bridge with TLS (TlsTest).

Usage: wss_python.py MODE PORT [CAFILE]
  echo CAFILE      trust CAFILE, offer ALPN http/1.1; a text message, then 1 MiB
                   binary and 1 MiB text both ways (the API echoes); TLS 1.2 and 1.3.
  untrusted        the system trust store only: the handshake must fail verification.
Prints one line per check ('<check> ok' or '<check> FAIL <why>'), then 'done'.
Exit status 0 when every check passed.
"""
import asyncio
import ssl
import sys

import websockets

MODE, PORT = sys.argv[1], int(sys.argv[2])
CAFILE = sys.argv[3] if len(sys.argv) > 3 else None
URL = f"wss://localhost:{PORT}/"
failed = 0


def report(check, why=None):
    global failed
    failed += why is not None
    print(f"{check} " + ("ok" if why is None else "FAIL " + why), flush=True)


def context(version=None):
    ctx = ssl.create_default_context(cafile=CAFILE)
    ctx.set_alpn_protocols(["http/1.1"])
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


async def echo(version, name):
    async with websockets.connect(URL + "py-" + name, ssl=context(version), max_size=4 * 1024 * 1024,
                                  open_timeout=30, close_timeout=30) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        want = {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        report(name + " version", None if tls.version() == want else "got " + str(tls.version()))
        report(name + " alpn", None if tls.selected_alpn_protocol() == "http/1.1"
               else "got " + str(tls.selected_alpn_protocol()))
        await ws.send("hello over " + want)
        got = await asyncio.wait_for(ws.recv(), 30)
        report(name + " text", None if got == "hello over " + want else "got " + repr(got[:40]))
        big = bytes((k * 13) % 256 for k in range(1024 * 1024))
        await ws.send(big)
        got = await asyncio.wait_for(ws.recv(), 60)
        report(name + " 1MiB binary", None if got == big else f"got {len(got)} bytes")
        text = ("0123456789abcdef" * 65536)[:1024 * 1024]
        await ws.send(text)
        got = await asyncio.wait_for(ws.recv(), 60)
        report(name + " 1MiB text", None if got == text else f"got {len(got)} chars")


async def main():
    if MODE == "echo":
        for version, name in ((ssl.TLSVersion.TLSv1_3, "tls13"), (ssl.TLSVersion.TLSv1_2, "tls12")):
            try:
                await echo(version, name)
            except Exception as e:
                report(name, repr(e))
    elif MODE == "untrusted":
        try:
            async with websockets.connect(URL + "py-untrusted", ssl=ssl.create_default_context(), open_timeout=30):
                report("untrusted", "connected although the CA is not trusted")
        except ssl.SSLCertVerificationError as e:
            print("refused: " + e.verify_message, flush=True)
            report("untrusted")
        except Exception as e:
            report("untrusted", "unexpected " + repr(e))
    else:
        report("mode", "unknown mode " + MODE)
    print("done", flush=True)
    return 1 if failed else 0


sys.exit(asyncio.run(main()))
