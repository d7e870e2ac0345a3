#!/usr/bin/python3
"""A user-space delay proxy for the chaos harness: this kernel has no netem, so latency comes from here.

Runs as root inside one host's network namespace. The harness redirects every TCP connection the host opens to
another host (nft nat, output hook) to this proxy's port; the proxy reads the original destination
(SO_ORIGINAL_DST), connects to it with a socket mark the redirect rule skips, and relays both directions,
holding each chunk for the current delay before passing it on (order kept). The delay in milliseconds is read
from a control file every 100 ms, so a fault can add latency to connections that are already open:

    delayproxy.py --port 7999 --control /path/to/delay-k1      (the file holds e.g. "250", or "0")

A chunk is delayed by the value in force when it was read; connection setup is not delayed (only data).
"""
import argparse
import asyncio
import socket
import struct
import sys
import time

SO_ORIGINAL_DST = 80
MARK = 0x4B1

DELAY = {"ms": 0.0}


async def watch_control(path):
    while True:
        try:
            with open(path) as f:
                DELAY["ms"] = max(0.0, float(f.read().strip() or 0))
        except (OSError, ValueError):
            DELAY["ms"] = 0.0
        await asyncio.sleep(0.1)


async def pump(reader, writer):
    """Copies reader to writer, each chunk held for the delay in force when it arrived."""
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(65536)
                await queue.put((time.monotonic() + DELAY["ms"] / 1000.0, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((time.monotonic(), b""))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    rt = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        rt.cancel()


async def handle(creader, cwriter):
    sock = cwriter.get_extra_info("socket")
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, packed = struct.unpack_from("!2xH4s", raw)
        host = socket.inet_ntoa(packed)
        out = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        out.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        out.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(out, (host, port)), 10)
        breader, bwriter = await asyncio.open_connection(sock=out)
    except (OSError, asyncio.TimeoutError):
        cwriter.close()
        return
    try:
        await asyncio.gather(pump(creader, bwriter), pump(breader, cwriter))
    finally:
        for w in (bwriter, cwriter):
            try:
                w.close()
            except OSError:
                pass


async def main_async(a):
    server = await asyncio.start_server(handle, "127.0.0.1", a.port, reuse_address=True)
    asyncio.ensure_future(watch_control(a.control))
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control", required=True)
    a = ap.parse_args()
    try:
        asyncio.run(main_async(a))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
