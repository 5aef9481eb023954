#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy on 127.0.0.1 in front of the test API server, for the k8s suite's cases that
need to hold or cut the daemon's traffic at a chosen moment. It forwards bytes and never
terminates TLS: the daemon's handshake, client certificate and requests reach the real server
unchanged. Controlled by files in its DIR, looked at every 20 ms:

  DIR/port          written once it listens (its port)
  DIR/alpn          one line per connection: the ALPN protocols of the client's ClientHello
  DIR/hold-after    holds: N in it means that once the server has sent N bytes on one
                    connection, nothing more from any client is forwarded (it is kept) until
                    DIR/release exists; DIR/held is written when the hold starts
  DIR/block         while it exists every connection is cut and new ones are closed at once

  tcp-proxy.py DIR UPSTREAM-PORT
"""
import asyncio
import os
import struct
import sys

DIR, UPSTREAM = sys.argv[1], int(sys.argv[2])
state = {"held": False, "conns": set()}


def path(name):
    return os.path.join(DIR, name)


def alpn_of(hello):
    """The ALPN protocol names of a TLS ClientHello record, or None."""
    try:
        if hello[0] != 22 or hello[5] != 1:
            return None
        p = 9 + 2 + 32  # record and handshake headers, version, random
        p += 1 + hello[p]  # session id
        p += 2 + struct.unpack(">H", hello[p:p + 2])[0]  # cipher suites
        p += 1 + hello[p]  # compression methods
        end = p + 2 + struct.unpack(">H", hello[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            kind, size = struct.unpack(">HH", hello[p:p + 4])
            if kind == 16:
                q, names = p + 6, []
                while q < p + 4 + size:
                    names.append(hello[q + 1:q + 1 + hello[q]].decode())
                    q += 1 + hello[q]
                return names
            p += 4 + size
    except (IndexError, struct.error, UnicodeDecodeError):
        pass
    return None


def hold_threshold():
    try:
        with open(path("hold-after")) as f:
            return int(f.read().strip() or "0")
    except (OSError, ValueError):
        return None


async def client_to_server(reader, writer):
    first = True
    while True:
        data = await reader.read(65536)
        if not data:
            break
        if first:
            first = False
            with open(path("alpn"), "a") as f:
                f.write(" ".join(alpn_of(data) or ["-"]) + "\n")
        while state["held"] and not os.path.exists(path("release")):
            await asyncio.sleep(0.02)
        writer.write(data)
        await writer.drain()
    writer.close()


async def server_to_client(reader, writer):
    sent = 0
    while True:
        data = await reader.read(65536)
        if not data:
            break
        sent += len(data)
        limit = hold_threshold()
        if limit is not None and sent >= limit and not state["held"]:
            state["held"] = True
            open(path("held"), "w").close()
        writer.write(data)
        await writer.drain()
    writer.close()


async def handle(creader, cwriter):
    if os.path.exists(path("block")):
        cwriter.close()
        return
    try:
        sreader, swriter = await asyncio.open_connection("127.0.0.1", UPSTREAM)
    except OSError:
        cwriter.close()
        return
    pair = (cwriter, swriter)
    state["conns"].add(pair)
    try:
        await asyncio.gather(client_to_server(creader, swriter),
                             server_to_client(sreader, cwriter))
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        state["conns"].discard(pair)
        for w in pair:
            w.close()


async def cutter():
    while True:
        if os.path.exists(path("block")):
            for pair in list(state["conns"]):
                for w in pair:
                    w.transport.abort()
        await asyncio.sleep(0.02)


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(path("port.new"), "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(path("port.new"), path("port"))
    asyncio.ensure_future(cutter())
    async with server:
        await server.serve_forever()


asyncio.run(main())
