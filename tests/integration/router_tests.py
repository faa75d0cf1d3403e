"""The router's tests: forwarding, ICMP, ARP, fragments, bad input, the exit contract. Each
registers itself with @test in the order it runs; stats_consistent and clean_exit run last
(run.py imports this module after control_tests so they stay last)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Topology  # noqa: E402
from harness import (  # noqa: E402  (the shared helpers and the @test registry)
    ABSENT, A_IP, B_IP, PY, RA_IP, RB_IP, STATIC_IP, Skip, UNROUTED, check, expect_rise, icmp_from, ping, pkt, router_mac, still_answers, test, traceroute_hops,
)


@test("check_and_version", fresh=True)
def t_check_and_version(workers: int, log) -> None:
    """`redline --check FILE` (no "--", no EAL) accepts the shipped examples and refuses a bad
    config with exit 2 and FILE:LINE: key; an unreadable file says why; `--version` names it."""
    import tempfile
    root = Path(__file__).resolve().parents[2]
    for example in ("demo.toml", "nat.toml", "tcp.toml", "kernel.toml", "nic.toml", "afxdp.toml"):
        r = topo.sh([str(topo.redline_bin()), "--check", str(root / "examples" / example)], timeout=30)
        check(r.rc == 0 and "ok" in r.out, f"--check examples/{example}: {r.brief()}")
    d = tempfile.mkdtemp(prefix="redline-check-")
    try:
        bad = Path(d, "bad.toml")
        bad.write_text(topo.render_config("rl-x-0", "rl-y-0") + '\n[[routes]]\nprefix = "10.99.3.7/16"\nvia = "10.77.2.2"\n')
        r = topo.sh([str(topo.redline_bin()), "--check", str(bad)], timeout=30)
        check(r.rc == 2 and re.search(r"bad\.toml:\d+: key 'routes\[\d+\]\.prefix'", r.err), f"--check bad.toml: {r.brief()}")
        r = topo.sh([str(topo.redline_bin()), "--check", str(Path(d, "missing.toml"))], timeout=30)
        check(r.rc == 2 and "No such file or directory" in r.err, f"--check missing.toml: {r.brief()}")
        r = topo.sh([str(topo.redline_bin()), "--version"], timeout=30)
        check(r.rc == 0 and r.out.startswith("redline "), f"--version: {r.brief()}")
        r = topo.sh([str(topo.redline_bin()), "--no-such-flag"], timeout=30)
        check(r.rc == 2 and r.err.startswith("redline: "), f"an unknown flag: {r.brief()}")
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


@test("startup_bad_config", fresh=True)
def t_startup_bad_config(workers: int, log) -> None:
    """A broken config must make redline exit non-zero with a message on stderr."""
    sfx = os.urandom(3).hex()
    ns = f"rl-{sfx}-cfg"
    import tempfile
    d = tempfile.mkdtemp(prefix="redline-badcfg-")
    cases = {
        "toml syntax error": "[[ports]\nname = \n",
        "bad address": topo.render_config(f"rl-x-{sfx}", f"rl-y-{sfx}").replace(
            '"10.77.1.1/24"', '"10.77.1.300/24"'),
    }
    try:
        topo.sh(["ip", "netns", "add", ns], check=True)
        for what, text in cases.items():
            cfg = Path(d, "bad.toml")
            cfg.write_text(text)
            r = topo.sh(["ip", "netns", "exec", ns, str(topo.redline_bin()), *topo.eal_args(workers, ns),
                         "--", "--config", str(cfg)], timeout=30)
            check(not r.timed_out, f"{what}: redline still running after 30 s (killed)")
            check(r.rc != 0, f"{what}: exit code 0\n{r.brief()}")
            check(r.err.strip(), f"{what}: nothing on stderr (rc={r.rc}); stdout:\n{r.out[-500:]}")
            check("redline: ready" not in r.out, f"{what}: printed ready")
        cfg = Path(d, "missing.toml")
        r = topo.sh(["ip", "netns", "exec", ns, str(topo.redline_bin()), *topo.eal_args(workers, ns),
                     "--", "--config", str(cfg)], timeout=30)
        check(r.rc not in (0, None) and r.err.strip(), f"missing config file: {r.brief()}")
    finally:
        topo.delete_ns(ns)
        topo.remove_runtime_dir(ns)
        import shutil
        shutil.rmtree(d, ignore_errors=True)


UDP_RECEIVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(8)
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    try:
        data = s.recv(65535)
    except socket.timeout:
        break
    print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
"""

UDP_SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: DF clear
for i in range(int(sys.argv[2])):
    s.sendto(bytes((i + k) % 251 for k in range(4000)), (sys.argv[1], 9999))
"""


@test("transit_fragmentation", fresh=True)
def t_transit_fragmentation(workers: int, log) -> None:
    """4000-byte UDP datagrams without DF, which host A sends as 1500-byte fragments, forwarded
    onto a 1000-MTU link: redline fragments each again (RFC 1812 5.2.6; net_tap tops out at a
    1500 MTU, so the larger link is the sender's own) and host B reassembles them intact."""
    import hashlib
    sfx = os.urandom(3).hex()
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers, mtu_b=1000)
    count = 5
    with Topology(workers=workers, config_text=text, log=log) as t:
        receiver = t.popen_in("b", [PY, "-c", UDP_RECEIVER, B_IP, str(count)], stdout=subprocess.PIPE, text=True)
        check(receiver.stdout.readline().strip() == "ready", "receiver did not start")
        n, r = ping(t, "a", B_IP, 1)  # ARP both ways first
        check(n == 1, f"no ping A->B before the test:\n{r.brief()}")
        s0 = t.stats()
        sent = t.run_in("a", [PY, "-c", UDP_SENDER, B_IP, str(count)], timeout=20)
        check(sent.rc == 0, f"sender failed:\n{sent.brief()}")
        out, _ = receiver.communicate(timeout=20)
        got = [line.split() for line in out.splitlines() if line.strip()]
        want = [hashlib.sha256(bytes((i + k) % 251 for k in range(4000))).hexdigest() for i in range(count)]
        check(len(got) == count, f"B received {len(got)}/{count} datagrams: {out!r}")
        check(all(g[0] == "4000" for g in got), f"sizes: {[g[0] for g in got]}")
        check(sorted(g[1] for g in got) == sorted(want), "datagram contents differ after fragmentation")
        s1 = t.stats()
        # 3 fragments of up to 1500 bytes from A, each cut in two for the 1000-byte link.
        check(s1.delta(s0, "ipv4_fragmented") >= 3 * count, f"ipv4_fragmented +{s1.delta(s0, 'ipv4_fragmented')}")
        check(s1.delta(s0, "ipv4_fragments_created") >= 5 * count, "fewer than 5 fragments per datagram")
        res = t.stop()
        check(res.returncode == 0 and res.mbufs_in_use == 0,
              f"exit code {res.returncode}, mbufs in use {res.mbufs_in_use}")



def _ping_router(t: Topology, host: str, router_ip: str) -> None:
    s0 = t.stats()
    n, r = ping(t, host, router_ip, 3)
    check(n == 3, f"{n}/3 replies:\n{r.brief()}")
    expect_rise(t, s0, "icmp_echo_replied", 3)


test("ping_router_from_a")(lambda t: _ping_router(t, "a", RA_IP))
test("ping_router_from_b")(lambda t: _ping_router(t, "b", RB_IP))


@test("ping_other_side_address")
def t_ping_other_side(t: Topology) -> None:
    """redline's port-b address is reachable from A (a local address, answered, not forwarded)."""
    n, r = ping(t, "a", RB_IP, 2)
    check(n == 2, f"{n}/2 replies from {RB_IP}:\n{r.brief()}")


@test("arping_router")
def t_arping(t: Topology) -> None:
    s0 = t.stats()
    pa = t.port("a")
    r = t.run_in("a", ["arping", "-c", "3", "-I", pa.tap, RA_IP], timeout=15)
    m = re.search(r"Received (\d+) response", r.out)
    got = int(m.group(1)) if m else 0
    check(got == 3, f"{got}/3 ARP replies:\n{r.brief()}")
    macs = {x.lower() for x in re.findall(r"reply from \S+ \[([0-9A-Fa-f:]{17})\]", r.out)}
    check(macs == {router_mac(t, "a")}, f"replies from MACs {macs}, want {router_mac(t, 'a')}")
    expect_rise(t, s0, "arp_replies_sent", 3)


@test("ping_a_to_b_forwarded")
def t_forward(t: Topology) -> None:
    s0 = t.stats()
    n, r = ping(t, "a", B_IP, 3)
    check(n == 3, f"{n}/3 replies:\n{r.brief()}")
    expect_rise(t, s0, "ipv4_forwarded", 6)
    # TTL was decremented exactly once: Linux replies with TTL 64, A sees 63
    m = re.search(r"ttl=(\d+)", r.out)
    check(m and m.group(1) == "63", f"reply TTL {m.group(1) if m else '?'}, want 63 (one hop)")


@test("ping_b_to_a_forwarded")
def t_forward_back(t: Topology) -> None:
    n, r = ping(t, "b", A_IP, 3)
    check(n == 3, f"{n}/3 replies:\n{r.brief()}")


@test("ping_static_route")
def t_static(t: Topology) -> None:
    n, r = ping(t, "a", STATIC_IP, 3)
    check(n == 3, f"{n}/3 replies from {STATIC_IP} (via static route to {B_IP}):\n{r.brief()}")


@test("ping_full_mtu_forwarded")
def t_mtu(t: Topology) -> None:
    n, r = ping(t, "a", B_IP, 2, ["-s", "1472", "-M", "do"])
    check(n == 2, f"{n}/2 replies to 1500-byte packets:\n{r.brief()}")


@test("fragments_forwarded")
def t_frag_forward(t: Topology) -> None:
    """Fragments not addressed to redline are forwarded like any datagram; B reassembles."""
    n, r = ping(t, "a", B_IP, 2, ["-s", "3000"])
    check(n == 2, f"{n}/2 replies to a 3000-byte (fragmented) ping:\n{r.brief()}")


@test("ping_4000_reassembled")
def t_frag_local(t: Topology) -> None:
    """A 4000-byte ping to redline arrives in 3 fragments, is reassembled, and the 4028-byte
    reply leaves fragmented to the 1500-byte MTU; the Linux host reassembles it."""
    s0 = t.stats()
    n, r = ping(t, "a", RA_IP, 3, ["-s", "4000"])
    check(n == 3, f"{n}/3 replies to a 4000-byte ping to redline:\n{r.brief()}")
    check("4008 bytes from" in r.out, f"reply is not the whole 4000-byte echo:\n{r.out}")
    s1 = t.stats()
    for counter, want in (("ipv4_fragment_local", 9), ("ipv4_reassembled", 3), ("icmp_echo_replied", 3),
                          ("ipv4_fragmented", 3), ("ipv4_fragments_created", 9)):
        d = s1.delta(s0, counter)
        check(d >= want, f"{counter} +{d}, want >= {want}")
    check(s1.delta(s0, "ipv4_reassembly_failed") == 0, "reassembly refused fragments")
    still_answers(t)


def _check_traceroute(t: Topology, icmp_mode: bool) -> None:
    cmd = ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "5"] + (["-I"] if icmp_mode else []) + [B_IP]
    r = t.run_in("a", cmd, timeout=40)
    check(r.rc == 0, f"traceroute failed:\n{r.brief()}")
    hops = traceroute_hops(r.out)
    check(hops.get(1) == RA_IP, f"hop 1 is {hops.get(1)}, want {RA_IP}:\n{r.out}")
    check(hops.get(2) == B_IP, f"hop 2 is {hops.get(2)}, want {B_IP}:\n{r.out}")
    check(max(hops) == 2, f"trace went past the destination:\n{r.out}")


@test("traceroute_udp")
def t_traceroute_udp(t: Topology) -> None:
    _check_traceroute(t, False)


@test("traceroute_icmp")
def t_traceroute_icmp(t: Topology) -> None:
    _check_traceroute(t, True)


@test("ping_ttl1_time_exceeded")
def t_ping_ttl(t: Topology) -> None:
    s0 = t.stats()
    r = t.run_in("a", ["ping", "-n", "-c", "1", "-t", "1", "-W", "2", B_IP], timeout=10)
    check(re.search(rf"From {re.escape(RA_IP)} .*Time to live exceeded", r.out),
          f"no 'Time to live exceeded' from {RA_IP}:\n{r.brief()}")
    expect_rise(t, s0, "ipv4_ttl_expired", 1)


@test("net_unreachable")
def t_net_unreach(t: Topology) -> None:
    s0 = t.stats()
    r = t.run_in("a", ["ping", "-n", "-c", "1", "-w", "4", UNROUTED], timeout=10)
    check(re.search(rf"From {re.escape(RA_IP)} .*Destination Net Unreachable", r.out),
          f"no 'Destination Net Unreachable' from {RA_IP}:\n{r.brief()}")
    s1 = expect_rise(t, s0, "ipv4_no_route", 1)
    check(s1.delta(s0, "icmp_errors_sent") >= 1, "icmp_errors_sent did not rise")


@test("host_unreachable")
def t_host_unreach(t: Topology) -> None:
    s0 = t.stats()
    r = t.run_in("a", ["ping", "-n", "-c", "1", "-w", "9", ABSENT], timeout=15)
    check(re.search(rf"From {re.escape(RA_IP)} .*Destination Host Unreachable", r.out),
          f"no 'Destination Host Unreachable' from {RA_IP} within 9 s:\n{r.brief()}")
    s1 = t.wait_counter(s0, "arp_resolve_failed", 1, timeout=3)
    check(s1.delta(s0, "arp_resolve_failed") >= 1, "arp_resolve_failed did not rise")


@test("udp_port_unreachable")
def t_port_unreach(t: Topology) -> None:
    s0 = t.stats()
    res = pkt(t, "udp", RA_IP, count=1, listen=2)
    check(icmp_from(res, RA_IP, 3, 3) >= 1,
          f"no ICMP port unreachable (3/3) from {RA_IP}; got ICMP {res['icmp']}")
    s1 = t.stats()
    check(s1.delta(s0, "icmp_errors_sent") >= 1, "icmp_errors_sent did not rise")


def _bad_input(t: Topology, kind: str, counter: str, count: int = 5, dst: str = B_IP,
               expect_icmp: tuple | None = None) -> None:
    s0 = t.stats()
    res = pkt(t, kind, dst, count=count, gap=0.01, listen=1.0 if expect_icmp else 0.3)
    if res["refused"]:
        raise Skip(f"the kernel will not send this frame: {res['refused']}")
    check(res["sent"] == count, f"sent {res['sent']}/{count}")
    s1 = t.wait_counter(s0, counter, count)
    d = s1.delta(s0, counter)
    check(d >= count, f"{counter} +{d}, want >= {count}; non-zero deltas: "
          + str({k: s1.delta(s0, k) for k in s1.counters if s1.delta(s0, k)}))
    if expect_icmp is None:
        f = s1.delta(s0, "ipv4_forwarded")
        check(f == 0, f"ipv4_forwarded +{f}: a malformed packet was forwarded")
    else:
        src, ty, code = expect_icmp
        check(icmp_from(res, src, ty, code) >= 1,
              f"no ICMP {ty}/{code} from {src}; got {res['icmp']}")
    still_answers(t)


# A frame shorter than an Ethernet header cannot be sent through a kernel interface (the kernel
# refuses it), so eth_too_short is covered by tests/dpdk/pipeline_test.cpp on ring ports instead.


# (test name, pkt.py frame kind, counter that must rise, extra arguments of _bad_input)
BAD_INPUTS = [
    ("bad_arp_truncated", "arp_truncated", "arp_truncated", {"dst": RA_IP}),
    ("bad_arp_hardware_length", "arp_bad_hardware", "arp_bad_hardware", {"dst": RA_IP}),
    ("bad_arp_protocol_length", "arp_bad_protocol", "arp_bad_protocol", {"dst": RA_IP}),
    ("bad_ipv4_truncated", "ipv4_truncated", "ipv4_truncated", {}),
    ("bad_ipv4_version", "ipv4_bad_version", "ipv4_bad_version", {}),
    ("bad_ipv4_ihl", "ipv4_bad_ihl", "ipv4_bad_ihl", {}),
    ("bad_ipv4_checksum", "ipv4_bad_checksum", "ipv4_bad_checksum", {}),
    ("bad_ipv4_total_length_too_big", "ipv4_len_too_big", "ipv4_bad_total_length", {}),
    ("bad_ipv4_total_length_too_small", "ipv4_len_too_small", "ipv4_bad_total_length", {}),
    ("ttl0_forward_expired", "ttl0", "ipv4_ttl_expired", {"expect_icmp": (RA_IP, 11, 0)}),
    ("ttl1_forward_expired", "ttl1", "ipv4_ttl_expired", {"expect_icmp": (RA_IP, 11, 0)}),
]
for _name, _kind, _counter, _extra in BAD_INPUTS:
    test(_name)(lambda t, k=_kind, c=_counter, x=_extra: _bad_input(t, k, c, **x))


@test("no_icmp_error_about_icmp_error")
def t_err_about_err(t: Topology) -> None:
    s0 = t.stats()
    res = pkt(t, "icmp_error", UNROUTED, count=5, gap=0.01, listen=1.0)
    s1 = expect_rise(t, s0, "ipv4_no_route", 5)
    check(s1.delta(s0, "icmp_errors_sent") == 0,
          f"icmp_errors_sent +{s1.delta(s0, 'icmp_errors_sent')}: answered an ICMP error with an error")
    check(icmp_from(res, RA_IP, 3) == 0, f"got ICMP unreachable from {RA_IP}: {res['icmp']}")


@test("no_icmp_error_about_broadcast")
def t_err_about_bcast(t: Topology) -> None:
    """UDP to port 9 at the subnet broadcast and the limited broadcast: no port unreachable."""
    s0 = t.stats()
    res1 = pkt(t, "udp", "10.77.1.255", count=3, gap=0.01, listen=0.5, broadcast=True)
    res2 = pkt(t, "udp", "255.255.255.255", count=3, gap=0.01, listen=1.0, broadcast=True)
    s1 = t.stats()
    got = res1["icmp"] + res2["icmp"]
    check(not any(s == RA_IP and ty == 3 for s, ty, c, n in got), f"ICMP unreachable for a broadcast: {got}")
    check(s1.delta(s0, "icmp_errors_sent") == 0,
          f"icmp_errors_sent +{s1.delta(s0, 'icmp_errors_sent')} for broadcasts")
    still_answers(t)


@test("echo_flood")
def t_echo_flood(t: Topology) -> None:
    s0 = t.stats()
    res = pkt(t, "echo", RA_IP, count=2000, listen=1.0)
    s1 = t.wait_counter(s0, "icmp_echo_replied", res["sent"], timeout=3)
    d = s1.delta(s0, "icmp_echo_replied")
    check(d > 0, f"icmp_echo_replied +{d} after {res['sent']} echo requests")
    got = icmp_from(res, RA_IP, 0)
    check(got > 0, f"no echo replies received (sent {res['sent']}, redline counted {d})")
    t.log(f"echo flood: sent {res['sent']}, replied {d}, received {got}, "
          f"rx_missed +{s1.port('a', 'rx_missed') - s0.port('a', 'rx_missed')}")
    still_answers(t)


@test("udp_flood_unrouted_rate_limited")
def t_udp_flood(t: Topology) -> None:
    s0 = t.stats()
    res = pkt(t, "udp", UNROUTED, count=2000, listen=1.0)
    s1 = t.wait_counter(s0, "icmp_rate_limited", 1, timeout=3)
    nr, rl, es = (s1.delta(s0, k) for k in ("ipv4_no_route", "icmp_rate_limited", "icmp_errors_sent"))
    check(nr > 0, f"ipv4_no_route +{nr} after {res['sent']} datagrams")
    check(rl > 0, f"icmp_rate_limited +{rl} (ipv4_no_route +{nr}, icmp_errors_sent +{es})")
    got = icmp_from(res, RA_IP, 3, 0)
    t.log(f"udp flood: sent {res['sent']}, no_route {nr}, errors sent {es}, rate-limited {rl}, received {got}")
    # error_burst 50 + error_rate 100/s per core, over a few seconds: far fewer than 2000
    check(es < 1000, f"icmp_errors_sent +{es}: rate limit not effective")
    time.sleep(1.0)  # let the token bucket refill for whatever runs next
    still_answers(t)
