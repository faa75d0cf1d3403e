#!/usr/bin/python3
"""Endpoints for the kernel exception path tests, run INSIDE a namespace (stdlib only):

    ip netns exec NS python3 tests/integration/kernel_peer.py COMMAND ...

  bulk-server BIND --bytes N     TCP: accepts one connection, reads to EOF, then sends N bytes of a
                                 known pattern and closes; prints `ready` once listening, then one
                                 JSON line {"peer", "got", "sha256"}.
  bulk-client --dst IP:PORT --bytes N --reply M
                                 connects, sends N bytes of the pattern, shuts down its sending
                                 side, reads the reply to EOF; JSON {"sent", "got", "sha256", "ok"}.
  udp-sink BIND --seconds S      UDP: prints `ready`, then, when its stdin closes (plus a short
                                 linger for what is in flight) or after S seconds at most, one JSON
                                 line with the datagrams it received {"count", "from"}.
  tcp-sink BIND --seconds S      TCP: prints `ready`, then (as udp-sink) JSON {"accepted"}.
  tcp-try --dst IP:PORT --timeout T
                                 one connect(): JSON {"result": "connected" | "refused" | "timeout"}.
  raw-send --dst IP --proto P --count N
                                 N IPv4 datagrams of protocol P (e.g. 89, OSPF) to IP (a raw socket).
  raw-sink --proto P --seconds S prints `ready`, then (as udp-sink) JSON {"count", "from"} of the
                                 protocol-P datagrams this namespace received.
  frames --iface IF --count N --ethertype 0x88b5
                                 N Ethernet frames of that type, broadcast, out of IF (AF_PACKET):
                                 what the kernel might send that is neither IPv4 nor ARP.

Every wait is bounded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import select
import socket
import sys
import time


def addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


def out(obj) -> None:
    print(json.dumps(obj), flush=True)


def pattern(n: int, seed: int) -> bytes:
    block = bytes((seed + i * 7) % 251 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


def digest(n: int, seed: int) -> str:
    return hashlib.sha256(pattern(n, seed)).hexdigest()


# A sink runs until the test closes its stdin (it has sent what it meant to send), then lingers
# this long for frames still crossing redline; --seconds bounds it if the test never says. A fixed
# run time instead raced the test on a loaded machine: the sink was gone before the test's traffic.
LINGER_SECONDS = 0.3


def readable_until_told(sock: socket.socket, seconds: float):
    """Yields each time sock is readable, until stdin closes (then LINGER_SECONDS more) or seconds pass."""
    deadline = time.monotonic() + seconds
    watch = [sock, sys.stdin]
    while (left := deadline - time.monotonic()) > 0:
        r, _, _ = select.select(watch, [], [], left)
        if sys.stdin in r and not sys.stdin.buffer.read1(4096):
            watch = [sock]
            deadline = min(deadline, time.monotonic() + LINGER_SECONDS)
        if sock in r:
            yield


def cmd_bulk_server(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a.bind))
    s.listen(4)
    s.settimeout(a.timeout)
    print("ready", flush=True)
    c, peer = s.accept()
    c.settimeout(a.timeout)
    h, got = hashlib.sha256(), 0
    while True:
        data = c.recv(65536)
        if not data:
            break
        h.update(data)
        got += len(data)
    c.sendall(pattern(a.bytes, 2))
    c.close()
    out({"peer": f"{peer[0]}:{peer[1]}", "got": got, "sha256": h.hexdigest()})
    return 0


def cmd_bulk_client(a) -> int:
    s = socket.create_connection(addr(a.dst), timeout=a.timeout)
    s.settimeout(a.timeout)
    s.sendall(pattern(a.bytes, 1))
    s.shutdown(socket.SHUT_WR)
    h, got = hashlib.sha256(), 0
    while True:
        data = s.recv(65536)
        if not data:
            break
        h.update(data)
        got += len(data)
    s.close()
    out({"sent": a.bytes, "got": got, "sha256": h.hexdigest(),
         "ok": got == a.reply and h.hexdigest() == digest(a.reply, 2)})
    return 0


def cmd_udp_sink(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr(a.bind))
    print("ready", flush=True)
    got, froms = 0, set()
    for _ in readable_until_told(s, a.seconds):
        _, src = s.recvfrom(65535)
        got += 1
        froms.add(f"{src[0]}:{src[1]}")
    out({"count": got, "from": sorted(froms)})
    return 0


def cmd_tcp_sink(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a.bind))
    s.listen(16)
    print("ready", flush=True)
    accepted = 0
    for _ in readable_until_told(s, a.seconds):
        c, _ = s.accept()
        accepted += 1
        c.close()
    out({"accepted": accepted})
    return 0


def cmd_tcp_try(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    try:
        s.connect(addr(a.dst))
        result = "connected"
    except ConnectionRefusedError:
        result = "refused"
    except (socket.timeout, TimeoutError):
        result = "timeout"
    except OSError as e:
        result = f"error: {e}"
    finally:
        s.close()
    out({"result": result})
    return 0


def cmd_frames(a) -> int:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    src = s.getsockname()[4]
    etype = int(a.ethertype, 0)
    frame = b"\xff" * 6 + src + etype.to_bytes(2, "big") + bytes(46)
    sent = 0
    for _ in range(a.count):
        sent += s.send(frame) > 0
        time.sleep(0.005)
    out({"sent": sent})
    return 0


def cmd_raw_send(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, a.proto)
    sent = 0
    for i in range(a.count):
        sent += s.sendto(b"redline kernel path %d" % i, (a.dst, 0)) > 0
        time.sleep(0.01)
    out({"sent": sent})
    return 0


def cmd_raw_sink(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, a.proto)
    print("ready", flush=True)
    got, froms = 0, set()
    for _ in readable_until_told(s, a.seconds):
        _, src = s.recvfrom(65535)
        got += 1
        froms.add(src[0])
    out({"count": got, "from": sorted(froms)})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("bulk-server")
    p.add_argument("bind")
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("bulk-client")
    p.add_argument("--dst", required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--reply", type=int, required=True)
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("udp-sink")
    p.add_argument("bind")
    p.add_argument("--seconds", type=float, default=2)
    p = sub.add_parser("tcp-sink")
    p.add_argument("bind")
    p.add_argument("--seconds", type=float, default=2)
    p = sub.add_parser("tcp-try")
    p.add_argument("--dst", required=True)
    p.add_argument("--timeout", type=float, default=2)
    p = sub.add_parser("raw-send")
    p.add_argument("--dst", required=True)
    p.add_argument("--proto", type=int, required=True)
    p.add_argument("--count", type=int, default=3)
    p = sub.add_parser("raw-sink")
    p.add_argument("--proto", type=int, required=True)
    p.add_argument("--seconds", type=float, default=2)
    p = sub.add_parser("frames")
    p.add_argument("--iface", required=True)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--ethertype", default="0x88b5")
    a = ap.parse_args()
    return {"bulk-server": cmd_bulk_server, "bulk-client": cmd_bulk_client, "udp-sink": cmd_udp_sink,
            "tcp-sink": cmd_tcp_sink, "tcp-try": cmd_tcp_try, "raw-send": cmd_raw_send, "raw-sink": cmd_raw_sink,
            "frames": cmd_frames}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
