#!/usr/bin/python3
"""Traffic endpoints for the NAT tests, run INSIDE a host namespace (stdlib only):

    ip netns exec NS python3 tests/integration/nat_peer.py COMMAND ...

Servers (print `ready` on stdout once bound, run until killed by PID):
  echo BIND...                  UDP reflector on each BIND (IP:PORT): answers every datagram with
                                b"SRC_IP:SRC_PORT|" + the datagram, so the sender learns the
                                address and port the outside saw (its NAT mapping).
  tcpserver BIND                TCP: sends "SRC_IP:SRC_PORT\\n" to each client, then closes first
                                (the server side keeps TIME-WAIT, the client may reuse its port).

Clients (print one JSON object on stdout, exit 0):
  query --dst IP:PORT...        one UDP socket sends to each destination in turn (retried) and
                                reports, per destination, the mapping the reflector saw.
  flows --dst IP:PORT --count N N UDP sockets, one datagram each (paced in batches, unanswered
                                ones resent for a few rounds): answered, seen addresses, ports.
  refused --dst IP:PORT         a connected UDP socket: does an ICMP port unreachable come back?
  tcpclient --dst IP:PORT --bind-port P --count K
                                K sequential connections from the same local port.
Interactive:
  peer [--bind IP:PORT]         one UDP socket; stdin lines "send IP PORT TEXT"; every datagram
                                received is printed as {"from": "IP:PORT", "data": TEXT}.

Every wait is bounded; nothing here runs longer than its --timeout values allow.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import select
import socket
import sys
import threading
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
SO_RCVBUFFORCE = 33


def addr(s: str) -> tuple[str, int]:
    host, _, port = s.rpartition(":")
    return host, int(port)


def fmt(a) -> str:
    return f"{a[0]}:{a[1]}"


def out(obj) -> None:
    print(json.dumps(obj), flush=True)


def big_buffers(s: socket.socket) -> None:
    for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            return
        except OSError:
            pass


def payload(tag: str, size: int) -> bytes:
    head = tag.encode() + b"#"
    if size <= len(head):
        return head
    body = bytes((i * 7 + len(tag)) % 251 for i in range(size - len(head)))
    return head + body


def parse_reply(data: bytes) -> tuple[str | None, bytes]:
    seen, sep, rest = data.partition(b"|")
    return (seen.decode(errors="replace"), rest) if sep else (None, data)


# ---------------------------------------------------------------------------------------
# servers


def cmd_echo(a) -> int:
    socks = []
    for b in a.bind:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        big_buffers(s)
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)  # big replies fragment
        s.bind(addr(b))
        s.setblocking(False)
        socks.append(s)
    print("ready", flush=True)
    ep = select.epoll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        ep.register(fd, select.EPOLLIN)
    while True:
        for fd, _ in ep.poll(1.0):
            s = by_fd[fd]
            for _ in range(256):
                try:
                    data, src = s.recvfrom(65535)
                except BlockingIOError:
                    break
                try:
                    s.sendto(fmt(src).encode() + b"|" + data, src)
                except OSError:
                    pass


def cmd_tcpserver(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a.bind))
    s.listen(128)
    print("ready", flush=True)
    while True:
        c, src = s.accept()
        try:
            c.settimeout(2)
            c.sendall((fmt(src) + "\n").encode())
        except OSError:
            pass
        finally:
            c.close()  # server closes first: TIME-WAIT stays here, on the outside


# ---------------------------------------------------------------------------------------
# clients


def udp_socket(bind: str | None, size: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    big_buffers(s)
    if size > 1400:
        s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)  # DF clear: fragments
    if bind:
        s.bind(addr(bind))
    return s


def cmd_query(a) -> int:
    s = udp_socket(a.bind, a.size)
    if not a.bind:
        s.bind(("0.0.0.0", 0))
    res = []
    for i, d in enumerate(a.dst):
        dst = addr(d)
        msg = payload(f"q{i}-{os.getpid()}", a.size)
        row = {"dst": d, "seen": None, "from": None, "intact": False, "len": None}
        for _ in range(a.tries):
            s.sendto(msg, dst)
            deadline = time.monotonic() + a.timeout
            while (left := deadline - time.monotonic()) > 0:
                r, _, _ = select.select([s], [], [], left)
                if not r:
                    break
                data, src = s.recvfrom(65535)
                seen, body = parse_reply(data)
                if body == msg:
                    row.update(seen=seen, intact=True, len=len(body))
                    row["from"] = fmt(src)
                    break
                if body.startswith(msg.split(b"#")[0] + b"#"):  # ours, but damaged
                    row.update(seen=seen, intact=False, len=len(body))
                    row["from"] = fmt(src)
            if row["intact"]:
                break
        res.append(row)
    out({"local": fmt(s.getsockname()), "replies": res})
    return 0


def cmd_flows(a) -> int:
    want = a.count + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    dst = addr(a.dst)
    socks = []
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.bind_ip, 0))
        s.setblocking(False)
        socks.append(s)
    ep = select.epoll()
    by_fd = {}
    for i, s in enumerate(socks):
        by_fd[s.fileno()] = i
        ep.register(s.fileno(), select.EPOLLIN)
    seen: dict[int, str] = {}
    errors = 0
    sends = 0

    def drain(wait: float) -> None:
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            ev = ep.poll(min(left, 0.05))
            if not ev and len(seen) == a.count:
                return
            for fd, _ in ev:
                i = by_fd[fd]
                try:
                    data, _src = socks[i].recvfrom(2048)
                except (BlockingIOError, ConnectionRefusedError):
                    continue
                m, body = parse_reply(data)
                if m is not None and body == f"f{i}".encode():
                    seen[i] = m

    t0 = time.monotonic()
    for rnd in range(a.rounds):
        todo = [i for i in range(a.count) if i not in seen]
        if not todo:
            break
        for k in range(0, len(todo), a.batch):
            for i in todo[k:k + a.batch]:
                try:
                    socks[i].sendto(f"f{i}".encode(), dst)
                    sends += 1
                except OSError:
                    errors += 1
            drain(a.gap)
        drain(a.timeout)
    addrs: dict[str, int] = {}
    ports = set()
    for m in seen.values():
        ip, _, p = m.rpartition(":")
        addrs[ip] = addrs.get(ip, 0) + 1
        ports.add(int(p))
    out({"count": a.count, "answered": len(seen), "sends": sends, "send_errors": errors,
         "seen_addrs": addrs, "distinct_ports": len(ports),
         "port_min": min(ports) if ports else None, "port_max": max(ports) if ports else None,
         "ports": sorted(ports) if a.list_ports else None,
         "seconds": round(time.monotonic() - t0, 2)})
    return 0


def cmd_refused(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if a.bind:
        s.bind(addr(a.bind))
    s.connect(addr(a.dst))
    s.settimeout(a.timeout)
    result = "timeout"
    for _ in range(a.tries):
        try:
            s.send(b"anyone?")
            s.recv(2048)
            result = "reply"
            break
        except ConnectionRefusedError:
            result = "refused"
            break
        except socket.timeout:
            continue
    out({"result": result, "local": fmt(s.getsockname())})
    return 0


def cmd_tcpclient(a) -> int:
    ok, seen, errors = 0, [], []
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(a.timeout)
        try:
            s.bind((a.bind_ip, a.bind_port))
            s.connect(addr(a.dst))
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
            if data.endswith(b"\n"):
                ok += 1
                seen.append(data.decode().strip())
            else:
                errors.append(f"#{i}: short reply {data!r}")
        except OSError as e:
            errors.append(f"#{i}: {type(e).__name__}: {e}")
        finally:
            s.close()
        time.sleep(a.gap)
    out({"ok": ok, "count": a.count, "seen": seen, "errors": errors})
    return 0


def cmd_peer(a) -> int:
    s = udp_socket(a.bind or "0.0.0.0:0")
    print(json.dumps({"ready": fmt(s.getsockname())}), flush=True)
    lock = threading.Lock()

    def rx():
        while True:
            try:
                data, src = s.recvfrom(65535)
            except OSError as e:
                with lock:
                    print(json.dumps({"error": str(e)}), flush=True)
                continue
            with lock:
                print(json.dumps({"from": fmt(src), "data": data.decode(errors="replace")}), flush=True)

    threading.Thread(target=rx, daemon=True).start()
    for line in sys.stdin:
        f = line.split(maxsplit=3)
        if len(f) >= 3 and f[0] == "send":
            try:
                s.sendto((f[3].rstrip("\n") if len(f) > 3 else "").encode(), (f[1], int(f[2])))
            except OSError as e:
                with lock:
                    print(json.dumps({"error": f"send: {e}"}), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("echo")
    p.add_argument("bind", nargs="+")
    p = sub.add_parser("tcpserver")
    p.add_argument("bind")
    p = sub.add_parser("query")
    p.add_argument("--dst", action="append", required=True)
    p.add_argument("--bind")
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("flows")
    p.add_argument("--dst", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--bind-ip", default="0.0.0.0")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--gap", type=float, default=0.02, help="seconds waited for replies after each batch")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--timeout", type=float, default=1.0, help="seconds waited at the end of each round")
    p.add_argument("--list-ports", action="store_true")
    p = sub.add_parser("refused")
    p.add_argument("--dst", required=True)
    p.add_argument("--bind")
    p.add_argument("--tries", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1.0)
    p = sub.add_parser("tcpclient")
    p.add_argument("--dst", required=True)
    p.add_argument("--bind-ip", default="0.0.0.0")
    p.add_argument("--bind-port", type=int, required=True)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--gap", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=3.0)
    p = sub.add_parser("peer")
    p.add_argument("--bind")
    a = ap.parse_args()
    return {"echo": cmd_echo, "tcpserver": cmd_tcpserver, "query": cmd_query, "flows": cmd_flows,
            "refused": cmd_refused, "tcpclient": cmd_tcpclient, "peer": cmd_peer}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
