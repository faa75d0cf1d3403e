#!/usr/bin/python3
"""Linux's side of the TCP/UDP integration tests (tcp_tests.py) and the TCP demo: each mode
prints one JSON line with what it saw (a server prints a "ready" line first).

    tcp_peer.py echo HOST PORT BYTES              random bytes to an echo service, compared on return
    tcp_peer.py many HOST PORT N SIZE             N connections at once, SIZE bytes echoed on each
    tcp_peer.py server PORT N EXPECT              accepts N connections; each must carry EXPECT bytes of
                                                  redline's pattern (byte i = i mod 251)
    tcp_peer.py sink HOST PORT                    reads a source service to EOF: bytes, pattern check
    tcp_peer.py idle HOST PORT SECONDS            an idle connection held open (keepalive, ss)
    tcp_peer.py hoard HOST PORT N SECONDS         N connections that never read (receive buffers of
                                                  4 KiB), held SECONDS or until stdin closes
    tcp_peer.py refused HOST PORT                 connect: expects "connection refused" (an RST)
    tcp_peer.py udp HOST PORT SIZE                one datagram to an echo service, its answer compared
    tcp_peer.py udp_closed HOST PORT              a datagram to a closed port: expects port unreachable
Every wait is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time


def out(**kw) -> None:
    print(json.dumps(kw), flush=True)


def pattern(n: int, start: int = 0) -> bytes:
    block = bytes(range(251))
    s = start % 251
    need = n + s
    return (block * (need // 251 + 1))[s:s + n]


def echo(host: str, port: int, n: int) -> None:
    data = os.urandom(n)
    t0 = time.monotonic()
    s = socket.create_connection((host, port), timeout=30)
    connect_s = time.monotonic() - t0
    s.settimeout(120)
    got = bytearray()
    err: list[str] = []

    def reader() -> None:
        try:
            while True:
                b = s.recv(1 << 16)
                if not b:
                    return
                got.extend(b)
        except OSError as e:
            err.append(str(e))

    th = threading.Thread(target=reader)
    th.start()
    try:
        # In pieces: sendall's timeout bounds the whole call, and a long transfer through heavy
        # loss may take far longer than 120 s; each piece must make progress within it.
        view = memoryview(data)
        for at in range(0, n, 1 << 16):
            s.sendall(view[at:at + (1 << 16)])
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        err.append(str(e))
    th.join(180)
    s.close()
    sent_sha = hashlib.sha256(data).hexdigest()
    got_sha = hashlib.sha256(bytes(got)).hexdigest()
    out(sent=n, got=len(got), match=sent_sha == got_sha, sent_sha256=sent_sha, sha256=got_sha,
        seconds=round(time.monotonic() - t0, 2), connect_s=round(connect_s, 3), error=err)


async def one(host: str, port: int, size: int, opened: list, hold: asyncio.Event) -> bool:
    data = os.urandom(size)
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        opened.append(1)
        await asyncio.wait_for(hold.wait(), 60)  # every connection open at once before any talks
        w.write(data)
        await w.drain()
        got = await asyncio.wait_for(r.readexactly(size), 60)
        w.close()
        await w.wait_closed()
        return got == data
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        return False


async def many_main(host: str, port: int, n: int, size: int) -> None:
    opened: list = []
    hold = asyncio.Event()
    tasks = [asyncio.create_task(one(host, port, size, opened, hold)) for _ in range(n)]
    deadline = time.monotonic() + 60
    while len(opened) < n and time.monotonic() < deadline and not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    peak = len(opened)
    hold.set()
    res = await asyncio.gather(*tasks)
    out(ok=sum(res), failed=n - sum(res), peak_open=peak)


def server(port: int, n: int, expect: int) -> None:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1024)
    ls.settimeout(60)
    out(ready=port)
    results = []
    lock = threading.Lock()

    def serve(c: socket.socket, peer) -> None:
        c.settimeout(60)
        h = hashlib.sha256()
        total = 0
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                h.update(b)
                total += len(b)
        except OSError:
            pass
        c.close()
        with lock:
            results.append({"peer": f"{peer[0]}:{peer[1]}", "bytes": total,
                            "match": h.hexdigest() == hashlib.sha256(pattern(expect)).hexdigest()})

    threads = []
    try:
        for _ in range(n):
            c, peer = ls.accept()
            th = threading.Thread(target=serve, args=(c, peer))
            th.start()
            threads.append(th)
    except OSError:
        pass
    for th in threads:
        th.join(120)
    out(connections=results)


def sink(host: str, port: int) -> None:
    s = socket.create_connection((host, port), timeout=30)
    s.settimeout(60)
    got = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        got.extend(b)
    s.close()
    out(bytes=len(got), match=bytes(got) == pattern(len(got)))


def idle(host: str, port: int, seconds: float) -> None:
    s = socket.create_connection((host, port), timeout=30)
    out(ready=s.getsockname()[1])
    time.sleep(seconds)
    s.close()
    out(done=True)


def hoard(host: str, port: int, n: int, seconds: float) -> None:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the sender's data piles up on its side
        s.settimeout(10)
        try:
            s.connect((host, port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    out(ready=len(socks))
    r, _, _ = select.select([sys.stdin], [], [], seconds)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST: drop what is queued
        s.close()
    out(done=len(socks))


def refused(host: str, port: int) -> None:
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.close()
        out(refused=False, error="connected")
    except ConnectionRefusedError:
        out(refused=True)
    except OSError as e:
        out(refused=False, error=str(e))


def udp(host: str, port: int, size: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    data = os.urandom(size)
    for _ in range(3):  # a datagram may be lost before ARP settles: a bounded retry
        s.sendto(data, (host, port))
        try:
            got, src = s.recvfrom(65535)
            out(match=got == data, size=len(got), src=f"{src[0]}:{src[1]}")
            return
        except socket.timeout:
            pass
    out(match=False, size=0, error="no answer")


def udp_closed(host: str, port: int) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.connect((host, port))
    for _ in range(3):
        s.send(b"anyone?")
        try:
            s.recv(100)
            out(unreachable=False, error="answered")
            return
        except ConnectionRefusedError:
            out(unreachable=True)
            return
        except socket.timeout:
            pass
    out(unreachable=False, error="no ICMP")


def main() -> None:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "echo":
        echo(args[0], int(args[1]), int(args[2]))
    elif mode == "many":
        asyncio.run(many_main(args[0], int(args[1]), int(args[2]), int(args[3])))
    elif mode == "server":
        server(int(args[0]), int(args[1]), int(args[2]))
    elif mode == "sink":
        sink(args[0], int(args[1]))
    elif mode == "idle":
        idle(args[0], int(args[1]), float(args[2]))
    elif mode == "hoard":
        hoard(args[0], int(args[1]), int(args[2]), float(args[3]))
    elif mode == "refused":
        refused(args[0], int(args[1]))
    elif mode == "udp":
        udp(args[0], int(args[1]), int(args[2]))
    elif mode == "udp_closed":
        udp_closed(args[0], int(args[1]))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
