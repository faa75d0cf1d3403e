#!/usr/bin/python3
# Writes the fuzz targets' seed corpora (tests/fuzz/corpus/TARGET/): a handful of small valid
# inputs each, so the fuzzer starts from packets and files that get past the first checks.
# Packets come from scapy (Debian's /usr/bin/python3 has it), with the scapy expression beside
# each; the tcp_segment seeds are step programs in that target's input format (tcp_segment.cpp).
# Run from anywhere: /usr/bin/python3 tests/fuzz/make_corpus.py  (it replaces the seeds it makes
# and leaves other files in the corpus directories alone).
import os
import shutil
import struct
import sys

from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw, IPOption_RR  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u8(v):
    return struct.pack("!B", v & 0xFF)


def u16(v):
    return struct.pack("!H", v & 0xFFFF)


def u32(v):
    return struct.pack("!I", v & 0xFFFFFFFF)


A, B = "10.0.0.1", "10.0.0.2"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
SYN_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (100, 0)), ("NOP", None), ("WScale", 7)]

# --- wire_ethernet_arp_ipv4_icmp: whole Ethernet frames ---
syn = IP(src=A, dst=B, id=1) / TCP(sport=40000, dport=80, seq=1000, flags="S", options=SYN_OPTS)
echo = IP(src=A, dst=B, id=2) / ICMP(type=8, id=0x1234, seq=1) / b"abcdefgh"
udp = IP(src=A, dst=B, id=3) / UDP(sport=5000, dport=53) / b"query"
frames = {
    # Ether/IP/TCP SYN with MSS, SACK-permitted, timestamps, window scale
    "tcp-syn": Ether(src=MAC_A, dst=MAC_B) / syn,
    # Ether(dst=broadcast)/ARP who-has
    "arp-request": Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC_A, psrc=A, pdst=B),
    "arp-reply": Ether(src=MAC_B, dst=MAC_A) / ARP(op=2, hwsrc=MAC_B, psrc=B, hwdst=MAC_A, pdst=A),
    "icmp-echo": Ether(src=MAC_A, dst=MAC_B) / echo,
    # ICMP time exceeded quoting a UDP probe (traceroute's answer)
    "icmp-time-exceeded-udp": Ether(src=MAC_B, dst=MAC_A)
    / IP(src="10.0.9.254", dst=A, id=4) / ICMP(type=11, code=0)
    / bytes(IP(src=A, dst="10.0.9.9", ttl=1, id=5) / UDP(sport=40000, dport=33434) / b"probe"),
    # ICMP fragmentation needed quoting a TCP segment (path-MTU discovery)
    "icmp-frag-needed-tcp": Ether(src=MAC_B, dst=MAC_A)
    / IP(src="10.0.9.254", dst=A, id=6) / ICMP(type=3, code=4, nexthopmtu=1400)
    / bytes(IP(src=A, dst=B, flags="DF", id=7) / TCP(sport=40000, dport=80, seq=5000, flags="A") / (b"x" * 32))[:28],
    "udp": Ether(src=MAC_A, dst=MAC_B) / udp,
    "udp-no-checksum": Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B) / UDP(sport=1, dport=2, chksum=0) / b"z",
    # an IPv4 header with options (record route) and Ethernet padding after the datagram
    "ipv4-options-padded": Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B, options=[IPOption_RR()]) / ICMP() / Raw(b"\0" * 4),
    "ipv4-first-fragment": Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B, flags="MF", id=9) / UDP(sport=1, dport=2) / (b"f" * 40),
    "ipv4-later-fragment": Ether(src=MAC_A, dst=MAC_B) / IP(src=A, dst=B, frag=6, id=9, proto=17) / (b"f" * 40),
}
for name, pkt in frames.items():
    data = bytes(pkt)
    if name == "ipv4-options-padded":
        data += b"\0" * 6
    put("wire_ethernet_arp_ipv4_icmp", name, data)
    # classify_l4: [settings][frame]: 0 = no NIC verdict, frame as addressed; 0x11 = the NIC
    # found the IP checksum good and the frame is for our MAC.
    put("classify_l4", name, u8(0) + data)
    put("classify_l4", name + "-nic-good", u8(0x11) + data)

# --- tcp_options: [area length][area][segment length][segment][Options fields][payload] ---
def tcp_options_seed(area, segment, which, fields, payload=b""):
    return u8(len(area)) + area + u8(len(segment)) + segment + u8(which) + fields + payload

syn_tcp = bytes(TCP(sport=40000, dport=80, seq=1000, flags="S", options=SYN_OPTS))
ack_ts = bytes(TCP(sport=80, dport=40000, seq=1, ack=1001, flags="A", options=[("NOP", None), ("NOP", None), ("Timestamp", (7, 100))]))
sack = bytes(TCP(sport=80, dport=40000, seq=1, ack=1001, flags="A",
                 options=[("NOP", None), ("NOP", None), ("SAck", (2000, 3000, 4000, 5000))]))
put("tcp_options", "syn-options", tcp_options_seed(syn_tcp[20:], syn_tcp, 0x0F, u16(1460) + u8(7) + u32(100) + u32(0)))
put("tcp_options", "ack-timestamps", tcp_options_seed(ack_ts[20:], ack_ts, 0x08, u32(7) + u32(100), b"data"))
put("tcp_options", "sack-blocks", tcp_options_seed(sack[20:], sack, 0x38, u32(1) + u32(2) + u32(2000) + u32(3000) + u32(4000) + u32(5000) + u32(6000) + u32(7000)))
# malformed: a length of 1, a length past the end, an unknown kind, EOL
put("tcp_options", "malformed", tcp_options_seed(bytes([2, 1, 99, 3, 1, 8, 30, 0]), syn_tcp[:20], 0x40, u16(0)))

# --- nat_translate: [flags][new tuple: src ip, dst ip, src port, dst port][mss][IPv4 datagram] ---
def nat_seed(flags, pkt, new_src="10.88.2.1", new_dst="10.88.3.2", sport=61000, dport=80, mss=1200):
    ip = lambda a: struct.pack("!4B", *map(int, a.split(".")))  # noqa: E731
    return u8(flags) + ip(new_src) + ip(new_dst) + u16(sport) + u16(dport) + u16(mss) + bytes(pkt)

inside, outside = "10.88.1.2", "10.88.3.2"
put("nat_translate", "tcp-syn-mss", nat_seed(0x00, IP(src=inside, dst=outside) / TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460)])))
put("nat_translate", "tcp-syn-mss-odd", nat_seed(0x06, IP(src=inside, dst=outside) / TCP(sport=40000, dport=80, flags="S", options=[("NOP", None), ("MSS", 1460)])))
put("nat_translate", "udp", nat_seed(0x00, IP(src=inside, dst=outside) / UDP(sport=5000, dport=53) / b"query"))
put("nat_translate", "udp-no-checksum", nat_seed(0x00, IP(src=inside, dst=outside) / UDP(sport=5000, dport=53, chksum=0) / b"q"))
put("nat_translate", "echo-request", nat_seed(0x00, IP(src=inside, dst=outside) / ICMP(type=8, id=0x1234, seq=1) / b"ping"))
put("nat_translate", "echo-reply-zero", nat_seed(0x06, IP(src=outside, dst="10.88.2.1") / ICMP(type=0, id=0, seq=0), sport=0, dport=0))
put("nat_translate", "later-fragment", nat_seed(0x10, IP(src=inside, dst=outside, frag=3, proto=17) / (b"f" * 24)))
# ICMP errors from outside about datagrams the NAT sent: UDP (traceroute), TCP (PMTUD), echo
put("nat_translate", "time-exceeded-udp", nat_seed(0x00, IP(src="10.88.2.254", dst="10.88.2.1") / ICMP(type=11, code=0)
    / bytes(IP(src="10.88.2.1", dst=outside, ttl=1) / UDP(sport=61000, dport=33434) / b"traceroute-probe!"),
    new_src=inside, new_dst=outside, sport=40000, dport=33434))
put("nat_translate", "frag-needed-tcp", nat_seed(0x08, IP(src="10.88.2.254", dst="10.88.2.1") / ICMP(type=3, code=4, nexthopmtu=1280)
    / bytes(IP(src="10.88.2.1", dst=outside, flags="DF") / TCP(sport=61000, dport=443, flags="PA") / (b"x" * 40)),
    new_src=inside, new_dst=outside, sport=40000, dport=443))
put("nat_translate", "unreachable-echo", nat_seed(0x09, IP(src="10.88.2.254", dst="10.88.2.1") / ICMP(type=3, code=1)
    / bytes(IP(src="10.88.2.1", dst=outside) / ICMP(type=8, id=61000, seq=3) / b"abcd"),
    new_src=inside, new_dst=outside, sport=0x1234, dport=0x1234))
put("nat_translate", "port-unreachable-outbound", nat_seed(0x0f, IP(src=inside, dst=outside) / ICMP(type=3, code=3)
    / bytes(IP(src=outside, dst=inside) / UDP(sport=53, dport=5000) / b"answer"),
    new_src=outside, new_dst="10.88.2.1", sport=53, dport=61000))

# --- config_loader: the example configs, and a few small files ---
os.makedirs(os.path.join(HERE, "corpus", "config_loader"), exist_ok=True)
for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
    if name.endswith(".toml"):
        shutil.copyfile(os.path.join(ROOT, "examples", name), os.path.join(HERE, "corpus", "config_loader", name))
PORT = '[[ports]]\nname = "a"\ndevice = "net_ring0"\naddress = "10.0.0.1/24"\n'
put("config_loader", "minimal.toml", PORT.encode())
put("config_loader", "routes.toml", (PORT + '[[routes]]\nprefix = "10.9.0.0/16"\nvia = "10.0.0.2"\n[arp]\nretries = 5\n').encode())
put("config_loader", "bad-key.toml", (PORT + "mtuu = 1500\n").encode())
put("config_loader", "tcp-small.toml", (PORT + '[tcp]\ncongestion = "cubic"\nephemeral_ports = "40000-50000"\n[tcp.keepalive]\nenabled = true\nidle_s = 60\n').encode())
put("config_loader", "address-lines.txt", b"10.1.2.3\n10.0.0.0/8\n02:00:00:00:00:01\n")

# --- control_protocol: request lines as redlinectl sends them ---
requests = {
    "help": b'{"command": "help"}\n',
    "show-counters": b'{"command": "show counters", "args": {"core": 1, "nonzero": true}}\n',
    "route-add": b'{"command": "route add", "args": {"prefix": "10.9.0.0/16", "via": "10.77.2.2"}}\n',
    "route-del": b'{"command": "route del", "args": {"prefix": "10.77.3.0/24"}}\r\n',
    "neighbor-flush": b'{"command": "neighbor flush", "args": {"ip": "10.77.1.2"}}\n{"command": "neighbor flush"}\n',
    "bad": b'{"command": 7}\n[1, 2]\n{"cmd": "help"}\nnot json\n\n{"command": "reload"}\n',
    "partial-last-line": b'{"command": "help"}\n{"command": "show ports"',
}
for name, data in requests.items():
    put("control_protocol", name, data)

# --- tcp_segment: [state][settings s1][settings s2][peer SYN option bits][peer MSS / 8] steps... ---
SEG = 0            # + peer index (0, 1: passive peers to port 80; 2: the peer the host connects to)
TICK, WAIT, SEND, READ, SHUTDOWN, CLOSE, ABORT, OPTIONS, CONNECT, ICMP_ERR, FAULTS, RELISTEN = range(96, 108)
FIN, SYN_F, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def seg(peer, flags, payload=0, window=None):
    """An in-sequence segment from `peer` (exact seq and ack) with `payload` bytes."""
    mode = 0
    out = b""
    if window is not None:
        mode |= 4
    if payload:
        mode |= (1 << 3) if payload < 256 else (2 << 3)
    out = u8(SEG + peer) + u8(flags) + u8(mode)
    if window is not None:
        out += u16(window)
    out += u8(0)  # options: none
    if payload:
        out += u8(payload) if payload < 256 else u16(payload)
    return out


def send(n):
    return u8(SEND) + u8(0) + u16(n - 1) + u8(1)


def tick(n):
    return u8(TICK) + u8(n - 1)


def wait(seconds):
    return u8(WAIT) + u8(1) + u8(seconds - 1)


def dupack_sack(peer, blocks):
    """The peer's last ACK again, with timestamps and SACK blocks (offset from that ACK, length)."""
    out = u8(SEG + peer) + u8(ACK) + u8(2) + u8(0) + u8(1 | 4 | (len(blocks) << 4))
    for off, length in blocks:
        out += u16(off) + u16(length - 1)
    return out


programs = {
    # state 0 LISTEN: a handshake and an echo of 100 bytes
    "listen-handshake": (0, seg(0, SYN_F) + seg(0, ACK) + u8(OPTIONS) + u8(0) + u8(0x08) + u8(0) + u8(0) + u8(0)
                         + seg(0, ACK | PSH, 100) + tick(50) + seg(0, ACK)),
    "syn-sent": (1, wait(1) + wait(3) + seg(2, SYN_F | ACK)),
    "syn-received": (2, seg(0, SYN_F) + tick(5) + seg(0, ACK)),
    "established-passive": (3, seg(0, ACK | PSH, 1000) + send(5000) + tick(10) + seg(0, ACK) + wait(1) + seg(0, ACK)),
    "established-active": (4, send(3000) + tick(1) + seg(2, ACK, window=0) + wait(2) + seg(2, ACK) + seg(2, FIN | ACK)),
    "fin-wait-1": (5, seg(0, ACK | PSH, 10) + seg(0, FIN | ACK) + wait(60)),
    "fin-wait-2": (6, seg(0, ACK | PSH, 10) + u8(READ) + u8(0) + u8(1) + u16(10) + seg(0, FIN | ACK)),
    "close-wait": (7, send(2000) + tick(1) + seg(0, ACK) + u8(CLOSE) + u8(0) + seg(0, ACK)),
    "last-ack": (8, tick(1) + seg(0, ACK) + wait(5)),
    "closing": (9, seg(0, ACK) + wait(1)),
    "time-wait": (10, seg(0, SYN_F) + wait(255) + seg(0, SYN_F)),
    # an ICMP fragmentation-needed (RFC 1191) lowering the MSS mid-transfer
    "pmtu": (3, send(20000) + tick(1) + u8(ICMP_ERR) + u8(0) + u8(1) + u8(4) + u8(0) + u8(0) + u16(1280) + tick(1) + seg(0, ACK)),
    # a lost segment: duplicate ACKs with SACK blocks start RFC 6675 recovery
    "sack-recovery": (3, send(20000) + tick(1) + dupack_sack(0, [(1432, 1432)]) + dupack_sack(0, [(1432, 2864)])
                      + dupack_sack(0, [(1432, 4296)]) + tick(1) + seg(0, ACK) + wait(1)),
    # buffers run out, then come back
    "no-buffers": (3, u8(FAULTS) + u8(3) + send(4000) + tick(5) + u8(FAULTS) + u8(0) + wait(1) + seg(0, ACK)),
}
for name, (state, steps) in programs.items():
    settings = u8(0x00) + u8(0x07 | (1 << 3) | (1 << 5)) + u8(0x0F | (7 << 4)) + u8(182)
    put("tcp_segment", name, u8(state) + settings + steps)
    # the same without SACK, timestamps or window scaling, small buffers, CUBIC
    put("tcp_segment", name + "-plain", u8(state) + u8(0x27) + u8(0xC7) + u8(0x01) + u8(67) + steps)

# --- reassembly: fragments [datagram][offset/8 u16][more][length/8 - 1, or u16 length if last][wait] ---
def frag(dgram, offset8, more, length, wait=0):
    size = u8(length // 8 - 1) if more else u16(length - 1)
    return u8(dgram) + u16(offset8) + u8(1 if more else 0) + size + u8(wait)

reassembly_seeds = {
    "in-order": frag(0, 0, True, 1440) + frag(0, 180, True, 1440) + frag(0, 360, False, 100),
    "reversed": frag(1, 360, False, 100) + frag(1, 180, True, 1440) + frag(1, 0, True, 1440),
    "overlap-duplicate": frag(2, 0, True, 800) + frag(2, 50, True, 800) + frag(2, 0, True, 800) + frag(2, 150, False, 8),
    "interleaved": frag(0, 0, True, 64) + frag(1, 0, True, 64) + frag(0, 8, False, 9) + frag(1, 8, False, 9),
    "table-full": b"".join(frag(d, 0, True, 8) for d in range(4)) + frag(0, 1, False, 1) + frag(3, 1, False, 1),
    "expired": frag(0, 0, True, 64) + frag(0, 8, False, 20, 255) + frag(0, 8, False, 20),
}
for name, data in reassembly_seeds.items():
    put("reassembly", name, data)

print("seeds written under", os.path.join(HERE, "corpus"), file=sys.stderr)
