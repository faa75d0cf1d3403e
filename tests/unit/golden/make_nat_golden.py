#!/usr/bin/python3
"""Writes tests/unit/nat_golden.hpp: packets before and after NAT translation, every one
built by scapy with all checksums computed by scapy (no incremental arithmetic here), so the
unit tests compare redline's incremental rewrite against an independent full computation.

    /usr/bin/python3 tests/unit/golden/make_nat_golden.py > tests/unit/nat_golden.hpp
"""
from scapy.all import IP, TCP, UDP, ICMP, Raw, fragment  # noqa: E402

CASES = []


def add(name, expr):
    pkt = eval(expr)
    CASES.append((name, expr, bytes(pkt)))


IN, OUT, EXT, FAR, RTR = "10.88.1.2", "10.88.2.2", "10.88.2.1", "10.88.3.2", "10.88.2.254"
inner_udp = 'IP(src="{s}", dst="{d}", id=7, ttl={ttl})/UDP(sport={sp}, dport={dp})/Raw(b"traceroute-probe!")'
inner_tcp = 'IP(src="{s}", dst="{d}", id=9, flags="DF")/TCP(sport={sp}, dport={dp}, flags="PA", seq=1000, ack=2000)/Raw(b"x"*1400)'
inner_echo = 'IP(src="{s}", dst="{d}", id=11)/ICMP(type=8, id={i}, seq=3)/Raw(b"ping-payload")'

# TCP SYN with options, out and back
add("kTcpSynOut", f'IP(src="{IN}", dst="{OUT}", id=1)/TCP(sport=40000, dport=80, flags="S", seq=123, options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)])')
add("kTcpSynOutNat", f'IP(src="{EXT}", dst="{OUT}", id=1)/TCP(sport=1024, dport=80, flags="S", seq=123, options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)])')
add("kTcpSynAckIn", f'IP(src="{OUT}", dst="{EXT}", id=2)/TCP(sport=80, dport=1024, flags="SA", seq=9, ack=124)')
add("kTcpSynAckInNat", f'IP(src="{OUT}", dst="{IN}", id=2)/TCP(sport=80, dport=40000, flags="SA", seq=9, ack=124)')
# MSS clamp to 1360 (the option at an even offset, and after a NOP at an odd one)
add("kTcpSynMssClamped", f'IP(src="{IN}", dst="{OUT}", id=1)/TCP(sport=40000, dport=80, flags="S", seq=123, options=[("MSS", 1360), ("SAckOK", b""), ("WScale", 7)])')
add("kTcpSynNopMss", f'IP(src="{IN}", dst="{OUT}", id=1)/TCP(sport=40000, dport=80, flags="S", seq=123, options=[("NOP", None), ("MSS", 1460), ("NOP", None), ("NOP", None), ("NOP", None)])')
add("kTcpSynNopMssClamped", f'IP(src="{IN}", dst="{OUT}", id=1)/TCP(sport=40000, dport=80, flags="S", seq=123, options=[("NOP", None), ("MSS", 1360), ("NOP", None), ("NOP", None), ("NOP", None)])')
# UDP out and back, and UDP without a checksum
add("kUdpOut", f'IP(src="{IN}", dst="{OUT}", id=3)/UDP(sport=40000, dport=5000)/Raw(b"hello through the nat")')
add("kUdpOutNat", f'IP(src="{EXT}", dst="{OUT}", id=3)/UDP(sport=40001, dport=5000)/Raw(b"hello through the nat")')
add("kUdpIn", f'IP(src="{OUT}", dst="{EXT}", id=4)/UDP(sport=5000, dport=40001)/Raw(b"and back")')
add("kUdpInNat", f'IP(src="{OUT}", dst="{IN}", id=4)/UDP(sport=5000, dport=40000)/Raw(b"and back")')
add("kUdpNoChecksumOut", f'IP(src="{IN}", dst="{OUT}", id=5)/UDP(sport=40000, dport=5000, chksum=0)/Raw(b"no checksum")')
add("kUdpNoChecksumOutNat", f'IP(src="{EXT}", dst="{OUT}", id=5)/UDP(sport=40001, dport=5000, chksum=0)/Raw(b"no checksum")')
# ICMP echo: identifier mapped like a port (RFC 5508 REQ-2)
add("kEchoOut", f'IP(src="{IN}", dst="{OUT}", id=6)/ICMP(type=8, id=0x1234, seq=1)/Raw(b"abcdefgh")')
add("kEchoOutNat", f'IP(src="{EXT}", dst="{OUT}", id=6)/ICMP(type=8, id=0x0400, seq=1)/Raw(b"abcdefgh")')
add("kEchoReplyIn", f'IP(src="{OUT}", dst="{EXT}", id=7)/ICMP(type=0, id=0x0400, seq=1)/Raw(b"abcdefgh")')
add("kEchoReplyInNat", f'IP(src="{OUT}", dst="{IN}", id=7)/ICMP(type=0, id=0x1234, seq=1)/Raw(b"abcdefgh")')
# ICMP errors from outside quoting what the NAT sent (RFC 5508 §4.2): time exceeded quoting UDP
# (traceroute), fragmentation needed quoting TCP (path MTU), unreachable quoting an echo.
q = inner_udp.format(s=EXT, d=FAR, ttl=1, sp=1024, dp=33434)
qn = inner_udp.format(s=IN, d=FAR, ttl=1, sp=40000, dp=33434)
add("kTimeExceededUdpIn", f'IP(src="{RTR}", dst="{EXT}", id=8)/ICMP(type=11, code=0)/Raw(bytes({q}))')
add("kTimeExceededUdpInNat", f'IP(src="{RTR}", dst="{IN}", id=8)/ICMP(type=11, code=0)/Raw(bytes({qn}))')
q = inner_tcp.format(s=EXT, d=FAR, sp=1025, dp=443)
qn = inner_tcp.format(s=IN, d=FAR, sp=40002, dp=443)
add("kFragNeededTcpIn", f'IP(src="{RTR}", dst="{EXT}", id=10)/ICMP(type=3, code=4, nexthopmtu=1280)/Raw(bytes({q})[:548])')
add("kFragNeededTcpInNat", f'IP(src="{RTR}", dst="{IN}", id=10)/ICMP(type=3, code=4, nexthopmtu=1280)/Raw(bytes({qn})[:548])')
q = inner_echo.format(s=EXT, d=FAR, i=0x0400)
qn = inner_echo.format(s=IN, d=FAR, i=0x1234)
add("kHostUnreachEchoIn", f'IP(src="{RTR}", dst="{EXT}", id=12)/ICMP(type=3, code=1)/Raw(bytes({q}))')
add("kHostUnreachEchoInNat", f'IP(src="{RTR}", dst="{IN}", id=12)/ICMP(type=3, code=1)/Raw(bytes({qn}))')
# An error made inside, about what the NAT delivered: port unreachable from the inside host,
# quoting the datagram it received (outer source and quoted destination become external).
q = 'IP(src="{o}", dst="{i}", id=13)/UDP(sport=5000, dport=40000)/Raw(b"unwanted")'.format(o=OUT, i=IN)
qn = 'IP(src="{o}", dst="{e}", id=13)/UDP(sport=5000, dport=40001)/Raw(b"unwanted")'.format(o=OUT, e=EXT)
add("kPortUnreachOut", f'IP(src="{IN}", dst="{OUT}", id=14)/ICMP(type=3, code=3)/Raw(bytes({q}))')
add("kPortUnreachOutNat", f'IP(src="{EXT}", dst="{OUT}", id=14)/ICMP(type=3, code=3)/Raw(bytes({qn}))')
# An error made by an inside router (not the host the quoted datagram was for): it leaves from
# the external address all the same (RFC 5508 REQ-4), its quote translated back.
q = 'IP(src="{o}", dst="{i}", id=16, ttl=1)/UDP(sport=5000, dport=40000)/Raw(b"dnat-probe")'.format(o=OUT, i=IN)
qn = 'IP(src="{o}", dst="{e}", id=16, ttl=1)/UDP(sport=5000, dport=40001)/Raw(b"dnat-probe")'.format(o=OUT, e=EXT)
add("kTimeExceededFromInsideRouter", f'IP(src="10.88.1.254", dst="{OUT}", id=17)/ICMP(type=11, code=0)/Raw(bytes({q}))')
add("kTimeExceededFromInsideRouterNat", f'IP(src="{EXT}", dst="{OUT}", id=17)/ICMP(type=11, code=0)/Raw(bytes({qn}))')
# Fragments of one UDP datagram: the first carries the ports (and the checksum over the whole
# datagram), the second only an IP header.
big = 'IP(src="{s}", dst="{d}", id=15)/UDP(sport={sp}, dport=5000)/Raw(bytes(range(256))*6)'
add("kUdpFirstFragmentOut", f'fragment({big.format(s=IN, d=OUT, sp=40000)}, fragsize=800)[0]')
add("kUdpFirstFragmentOutNat", f'fragment({big.format(s=EXT, d=OUT, sp=40001)}, fragsize=800)[0]')
add("kUdpLaterFragmentOut", f'fragment({big.format(s=IN, d=OUT, sp=40000)}, fragsize=800)[1]')
add("kUdpLaterFragmentOutNat", f'fragment({big.format(s=EXT, d=OUT, sp=40001)}, fragsize=800)[1]')

print("// Generated by tests/unit/golden/make_nat_golden.py (scapy, Debian's /usr/bin/python3): NAT")
print("// translations, each packet with the scapy expression that built it. Do not edit by hand.")
print("#pragma once\n\n#include <cstdint>\n#include <vector>\n\nnamespace redline::golden::nat {\n")
for name, expr, data in CASES:
    print(f"// {expr}")
    print(f"inline const std::vector<uint8_t> {name} = {{")
    for i in range(0, len(data), 16):
        print("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 16]) + ",")
    print("};\n")
print("}  // namespace redline::golden::nat")
