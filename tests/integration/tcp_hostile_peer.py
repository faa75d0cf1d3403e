#!/usr/bin/python3
"""A hostile TCP peer, run INSIDE host A's namespace by tcp_hostile_tests.py:

    ip netns exec NS /usr/bin/python3 tcp_hostile_peer.py KIND --iface IF --dst-mac MAC \
        --src-mac MAC --src-ip IP --dst-ip IP --port P [options]

It speaks TCP itself over an AF_PACKET socket (so it can send what no socket API would: an MSS
of 0, a SYN flood from one address), and prints one JSON object on stdout. The kernel of the
namespace would answer redline's SYN-ACKs and data with RST (it has no socket for them): the
test drops A's outgoing RSTs to redline with nftables while this runs.

Kinds:
  mss      handshake with --mss N (and --ts: timestamps), send 300 bytes to the echo port,
           acknowledge what comes back, FIN; reports the bytes echoed and the largest segment
  flood    --count SYNs from --src-ip with source ports from --sport, as fast as the socket
           takes them (their SYN-ACKs go unanswered: half-open connections, then cookies)
  options  SYNs with bad option lengths at every position (and every option kind)
"""

import argparse
import json
import random
import select
import socket
import struct
import time

ETH_P_IP = 0x0800


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


class Wire:
    def __init__(self, a):
        self.a = a
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((a.iface, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.eth = mac(a.dst_mac) + mac(a.src_mac) + struct.pack("!H", ETH_P_IP)
        self.src = socket.inet_aton(a.src_ip)
        self.dst = socket.inet_aton(a.dst_ip)

    def segment(self, sport, seq, ack, flags, opts=b"", payload=b"", window=65535) -> bytes:
        while len(opts) % 4:
            opts += b"\x01"
        off = (20 + len(opts)) // 4
        tcp = struct.pack("!HHIIBBHHH", sport, self.a.port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags,
                          window, 0, 0) + opts + payload
        pseudo = self.src + self.dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0, 64, 6, 0, self.src,
                         self.dst)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        return self.eth + ip + tcp

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def receive(self, sport, timeout):
        """TCP segments from redline to `sport` until `timeout` passes: (ip_len, hdr dict, payload)."""
        end = time.monotonic() + timeout
        out = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return out
            f = self.sock.recv(65535)
            ip = f[14:]
            if len(ip) < 40 or ip[9] != 6 or ip[12:16] != self.dst or ip[16:20] != self.src:
                continue
            ihl = (ip[0] & 0xF) * 4
            ip_len = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:ip_len]
            sp, dp, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
            if dp != sport:
                continue
            hl = (off >> 4) * 4
            out.append((ip_len, {"seq": seq, "ack": ack, "flags": flags, "opts": tcp[20:hl]}, tcp[hl:]))
            if out and (flags & 0x01):  # FIN: the exchange is over
                return out


def ts_of(opts: bytes):
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        n = opts[i + 1]
        if k == 8 and n == 10:
            return struct.unpack("!II", opts[i + 2:i + 10])
        i += max(n, 2)
    return None


def mss_kind(a) -> dict:
    w = Wire(a)
    sport = a.sport
    iss = random.randrange(1 << 32)
    opts = struct.pack("!BBH", 2, 4, a.mss)
    tsval = 1000
    if a.ts:
        opts += b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, 0)
    w.send(w.segment(sport, iss, 0, 0x02, opts))
    got = w.receive(sport, 2.0)
    synack = next((h for _, h, _ in got if h["flags"] & 0x12 == 0x12), None)
    if synack is None:
        return {"error": "no SYN-ACK"}
    rcv_nxt = synack["seq"] + 1
    ts = ts_of(synack["opts"])
    echo = ts[0] if ts else 0

    def tsopt():
        nonlocal tsval
        tsval += 1
        return b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, echo) if a.ts else b""

    snd = iss + 1
    data = bytes(random.randrange(256) for _ in range(300))
    w.send(w.segment(sport, snd, rcv_nxt, 0x10, tsopt()))
    w.send(w.segment(sport, snd, rcv_nxt, 0x18, tsopt(), data))
    snd += len(data)
    echoed = {}
    segs = 0
    largest_payload = largest_ip = 0
    deadline = time.monotonic() + 10
    while sum(len(v) for v in echoed.values()) < 300 and time.monotonic() < deadline:
        for ip_len, h, payload in w.receive(sport, 0.3):
            if payload:
                segs += 1
                largest_payload = max(largest_payload, len(payload))
                largest_ip = max(largest_ip, ip_len)
                echoed[h["seq"]] = payload
                if h["seq"] == rcv_nxt:
                    while rcv_nxt in echoed:
                        rcv_nxt = (rcv_nxt + len(echoed[rcv_nxt])) & 0xFFFFFFFF
            t = ts_of(h["opts"])
            if t:
                echo = t[0]
        w.send(w.segment(sport, snd, rcv_nxt, 0x10, tsopt()))
    stream = b"".join(echoed[k] for k in sorted(echoed, key=lambda s: (s - synack["seq"]) & 0xFFFFFFFF))
    # Orderly close: FIN, then redline's FIN (the echo closes once it has sent everything back).
    w.send(w.segment(sport, snd, rcv_nxt, 0x11, tsopt()))
    fin_seen = False
    for _ in range(10):
        for _, h, _ in w.receive(sport, 0.3):
            if h["flags"] & 0x01:
                fin_seen = True
                rcv_nxt = (h["seq"] + 1) & 0xFFFFFFFF
        if fin_seen:
            break
    w.send(w.segment(sport, snd + 1, rcv_nxt, 0x10, tsopt()))
    return {"echoed": len(stream), "match": stream == data, "segments": segs, "largest_payload": largest_payload,
            "largest_ip": largest_ip, "fin": fin_seen}


def flood_kind(a) -> dict:
    w = Wire(a)
    opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x01\x04\x02" + b"\x01\x01" + struct.pack("!BBII", 8, 10, 1, 0)
    frames = [w.segment(a.sport + i, random.randrange(1 << 32), 0, 0x02, opts) for i in range(a.count)]
    t0 = time.monotonic()
    sent = 0
    for f in frames:
        try:
            w.send(f)
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
    return {"sent": sent, "seconds": round(time.monotonic() - t0, 3)}


def options_kind(a) -> dict:
    """SYNs whose 40 option bytes carry a lying length at every position: for each position and
    each kind (MSS, window scale, SACK-permitted, SACK, timestamps, an unknown 99), lengths 0, 1,
    2, the kind's own +-1, 40 and 255, NOPs before it and garbage after. Sent from ports
    --sport on; what comes back is counted (a SYN-ACK, or nothing, are both fine: no crash)."""
    w = Wire(a)
    frames = []
    for pos in range(0, 39):
        for kind, own in ((2, 4), (3, 3), (4, 2), (5, 10), (8, 10), (99, 6)):
            for ln in sorted({0, 1, 2, own - 1, own + 1, 40, 255}):
                opts = bytearray(b"\x01" * pos) + bytes([kind, ln & 0xFF])
                opts += bytes(random.randrange(256) for _ in range(40 - len(opts)))
                frames.append(bytes(opts[:40]))
    sent = 0
    for i, opts in enumerate(frames):
        w.send(w.segment(a.sport + (i % 4000), random.randrange(1 << 32), 0, 0x02, opts))
        sent += 1
    return {"sent": sent}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["mss", "flood", "options"])
    p.add_argument("--iface", required=True)
    p.add_argument("--dst-mac", required=True)
    p.add_argument("--src-mac", required=True)
    p.add_argument("--src-ip", required=True)
    p.add_argument("--dst-ip", required=True)
    p.add_argument("--port", type=int, default=7)
    p.add_argument("--sport", type=int, default=31000)
    p.add_argument("--mss", type=int, default=1460)
    p.add_argument("--ts", action="store_true")
    p.add_argument("--count", type=int, default=1)
    a = p.parse_args()
    kinds = {"mss": mss_kind, "flood": flood_kind, "options": options_kind}
    print(json.dumps(kinds[a.kind](a)), flush=True)


if __name__ == "__main__":
    main()
