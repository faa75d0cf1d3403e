#!/usr/bin/python3
"""Packet crafting helper, run INSIDE a host namespace by the integration tests:

    ip netns exec NS /usr/bin/python3 tests/integration/pkt.py KIND --iface IF \
        --dst-mac ROUTER_MAC --src-mac HOST_MAC --src-ip HOST_IP --dst-ip IP [--count N] [--listen S]

Builds frames with scapy (Debian's scapy runs under /usr/bin/python3), sends them
as raw L2 frames on an AF_PACKET socket (so malformed bytes go out unchanged, and
floods go as fast as the socket allows), and meanwhile collects every ICMP message
the host receives on a raw ICMP socket.  Prints one JSON object on stdout:

    {"kind": ..., "sent": N, "refused": "error text or null", "icmp": [[src, type, code, n], ...]}

Each malformed frame has exactly one defect; header checksums are correct unless the
defect is the checksum, so the drop reason a router reports is unambiguous
(validation order of RFC 1812 section 5.2.2).
"""

import argparse
import json
import select
import socket
import struct
import time
from collections import Counter

from scapy.all import ARP, ICMP, IP, UDP, Ether, Raw, checksum  # noqa: E402

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800


def ip_fix_checksum(hdr: bytes) -> bytes:
    """Recompute the IPv4 header checksum over the fixed 20-byte header."""
    h = bytearray(hdr)
    h[10:12] = b"\0\0"
    c = checksum(bytes(h[:20]))
    h[10:12] = struct.pack("!H", c)
    return bytes(h)


def build(kind, a, i):
    eth = Ether(dst=a.dst_mac, src=a.src_mac)
    ethb = bytes(Ether(dst=a.dst_mac, src=a.src_mac, type=ETH_P_IP))
    probe = IP(src=a.src_ip, dst=a.dst_ip, id=(i + 1) & 0xFFFF) / UDP(sport=40000 + (i % 1000), dport=a.port) / Raw(b"redline-test")

    if kind == "eth_short":
        # 10 bytes: not even a whole Ethernet header (the kernel refuses < 14 on Ethernet).
        return ethb[:10]
    if kind == "ipv4_truncated":
        # Ethernet header + the first 10 bytes of an IPv4 header.
        return ethb + bytes(probe)[:10]
    if kind == "ipv4_bad_version":
        b = bytearray(bytes(probe))
        b[0] = (6 << 4) | 5
        return ethb + ip_fix_checksum(bytes(b[:20])) + bytes(b[20:])
    if kind == "ipv4_bad_ihl":
        b = bytearray(bytes(probe))
        b[0] = (4 << 4) | 4  # IHL 4 = 16 bytes < minimum 20
        return ethb + ip_fix_checksum(bytes(b[:20])) + bytes(b[20:])
    if kind == "ipv4_bad_checksum":
        b = bytearray(bytes(probe))
        good = struct.unpack("!H", b[10:12])[0]
        b[10:12] = struct.pack("!H", good ^ 0x5A5A)
        return ethb + bytes(b)
    if kind == "ipv4_len_too_big":
        b = bytearray(bytes(probe))
        b[2:4] = struct.pack("!H", len(b) + 100)  # claims 100 bytes more than the frame holds
        return ethb + ip_fix_checksum(bytes(b[:20])) + bytes(b[20:])
    if kind == "ipv4_len_too_small":
        b = bytearray(bytes(probe))
        b[2:4] = struct.pack("!H", 12)  # less than the 20-byte header
        return ethb + ip_fix_checksum(bytes(b[:20])) + bytes(b[20:])
    if kind in ("ttl0", "ttl1"):
        p = IP(src=a.src_ip, dst=a.dst_ip, ttl=int(kind[3]), id=(i + 1) & 0xFFFF) / \
            UDP(sport=40000 + i, dport=33434 + i) / Raw(b"redline-ttl")
        return bytes(eth / p)
    if kind == "udp":
        return bytes(eth / probe)
    if kind == "echo":
        p = IP(src=a.src_ip, dst=a.dst_ip) / ICMP(type=8, id=0x7E57, seq=i & 0xFFFF) / Raw(b"x" * 32)
        return bytes(eth / p)
    if kind == "icmp_error":
        # An ICMP destination unreachable (port) *about* some datagram, sent to a destination
        # with no route: a router must not answer an ICMP error with an ICMP error (RFC 1812 4.3.2.7).
        inner = IP(src=a.dst_ip, dst=a.src_ip) / UDP(sport=53, dport=40000)
        p = IP(src=a.src_ip, dst=a.dst_ip) / ICMP(type=3, code=3) / bytes(inner)[:28]
        return bytes(eth / p)
    if kind in ("arp_bad_hardware", "arp_bad_protocol", "arp_truncated"):
        mac = bytes.fromhex(a.src_mac.replace(":", ""))
        sip = socket.inet_aton(a.src_ip)
        tip = socket.inet_aton(a.dst_ip)
        bc = bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=a.src_mac, type=ETH_P_ARP))
        if kind == "arp_bad_hardware":
            # hardware length 8 (Ethernet is 6); addresses sized to match, so not truncated
            body = struct.pack("!HHBBH", 1, ETH_P_IP, 8, 4, 1) + mac + b"\0\0" + sip + b"\0" * 8 + tip
        elif kind == "arp_bad_protocol":
            # protocol length 6 (IPv4 is 4); addresses sized to match
            body = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 6, 1) + mac + sip + b"\0\0" + b"\0" * 6 + tip + b"\0\0"
        else:
            good = bytes(ARP(op=1, hwsrc=a.src_mac, psrc=a.src_ip, pdst=a.dst_ip))
            body = good[:14]  # 8-byte fixed part + 6 bytes of sender MAC, nothing else
        return bc + body
    raise SystemExit(f"unknown kind {kind}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind")
    ap.add_argument("--iface", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--src-ip", required=True)
    ap.add_argument("--dst-ip", required=True)
    ap.add_argument("--port", type=int, default=9)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.0, help="seconds between frames")
    ap.add_argument("--listen", type=float, default=1.0, help="seconds to collect ICMP after sending")
    ap.add_argument("--broadcast", action="store_true", help="L2 broadcast destination")
    a = ap.parse_args()
    if a.broadcast:
        a.dst_mac = "ff:ff:ff:ff:ff:ff"
    a.count = max(0, min(a.count, 100000))  # bounded

    frames = [build(a.kind, a, i) for i in range(a.count)]

    icmp_sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp_sock.setblocking(False)
    try:  # floods bring thousands of replies: beyond rmem_max, so force it (we are root)
        icmp_sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
    except OSError:
        icmp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    seen = Counter()

    def drain(until):
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([icmp_sock], [], [], min(left, 0.05))
            if not r:
                continue
            while True:
                try:
                    pkt = icmp_sock.recv(65535)
                except BlockingIOError:
                    break
                ihl = (pkt[0] & 0x0F) * 4
                if len(pkt) < ihl + 2:
                    continue
                src = socket.inet_ntoa(pkt[12:16])
                t, c = pkt[ihl], pkt[ihl + 1]
                if src == a.src_ip and t == 8:  # our own echo requests looped? ignore
                    continue
                seen[(src, t, c)] += 1

    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((a.iface, 0))
    sent, refused = 0, None
    deadline = time.monotonic() + 60  # bounded in time as well as count
    for f in frames:
        try:
            tx.send(f)
            sent += 1
        except OSError as e:
            if e.errno == 105:  # ENOBUFS: the tap queue is full during a flood; back off a bit
                time.sleep(0.001)
                try:
                    tx.send(f)
                    sent += 1
                except OSError:
                    pass
            else:
                refused = f"{e.strerror} (errno {e.errno}) for a {len(f)}-byte frame"
                break
        if a.gap:
            time.sleep(a.gap)
        if time.monotonic() > deadline:
            break
    drain(time.monotonic() + a.listen)
    print(json.dumps({"kind": a.kind, "sent": sent, "refused": refused,
                      "icmp": [[s, t, c, n] for (s, t, c), n in sorted(seen.items())]}))


if __name__ == "__main__":
    main()
