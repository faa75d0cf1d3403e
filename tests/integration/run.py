#!/usr/bin/python3
"""Integration tests: the real `redline` binary routing between Linux hosts in namespaces.

    sudo /usr/bin/python3 tests/integration/run.py                 # 1 and 4 workers
    sudo /usr/bin/python3 tests/integration/run.py --workers 4 --only flood
    REDLINE_BIN=/path/to/redline ... run.py                        # another binary

Per test one line `PASS <name>/w<N>`, `FAIL <name>/w<N>: <reason>` or
`SKIP <name>/w<N>: <reason>`; last line `integration: N passed, N failed`.
Exit code 0 only if nothing failed.

One topology (see topo.py) is shared by the tests of a worker count; tests only
read counter *deltas*, so they do not depend on each other's traffic.  If redline
dies during a test, that test fails and a fresh topology is started for the rest.
The last test of each worker count stops redline and checks the exit contract.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Stats, Topology, TopologyError  # noqa: E402

PKT = str(Path(__file__).resolve().parent / "pkt.py")
PY = "/usr/bin/python3"  # Debian's python, the one with scapy

A_IP, B_IP = "10.77.1.2", "10.77.2.2"
RA_IP, RB_IP = "10.77.1.1", "10.77.2.1"
STATIC_IP = "10.77.3.1"
UNROUTED = "10.77.99.1"
ABSENT = "10.77.2.99"


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------------------------------
# helpers


def ping(t: Topology, ns: str, dst: str, count: int = 3, extra: list[str] | None = None,
         timeout: float = 15) -> tuple[int, topo.Result]:
    r = t.run_in(ns, ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2", *(extra or []), dst],
                 timeout=timeout)
    m = re.search(r"(\d+) received", r.out)
    return (int(m.group(1)) if m else 0), r


def expect_rise(t: Topology, s0: Stats, counter: str, want: int) -> Stats:
    """Waits (bounded) for `counter` to rise by `want` since `s0`; fails if it does not."""
    s1 = t.wait_counter(s0, counter, want)
    got = s1.delta(s0, counter)
    check(got >= want, f"{counter} +{got}, want >= {want}")
    return s1


def still_answers(t: Topology) -> None:
    n, r = ping(t, "a", RA_IP, count=2)
    check(n >= 1, f"redline no longer answers ping afterwards:\n{r.brief()}")


def router_mac(t: Topology, port: str) -> str:
    p = t.port(port)
    if p.router_mac:
        return p.router_mac.lower()
    ping(t, port, p.router_ip, count=1)
    r = t.run_in(port, ["ip", "neigh", "show", p.router_ip])
    m = re.search(r"lladdr ([0-9a-f:]{17})", r.out)
    check(m, f"cannot learn redline's MAC on port {port}: {r.brief()}")
    return m.group(1)


def pkt(t: Topology, kind: str, dst: str, count: int = 1, listen: float = 1.0, gap: float = 0.0,
        port: int = 9, broadcast: bool = False, timeout: float = 60) -> dict:
    pa = t.port("a")
    cmd = [PY, PKT, kind, "--iface", pa.tap, "--dst-mac", router_mac(t, "a"),
           "--src-mac", pa.host_mac, "--src-ip", str(pa.host_ip.ip), "--dst-ip", dst,
           "--count", str(count), "--listen", str(listen), "--gap", str(gap), "--port", str(port)]
    if broadcast:
        cmd.append("--broadcast")
    r = t.run_in("a", cmd, timeout=timeout)
    try:
        res = json.loads(r.out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise Fail(f"pkt.py failed: {r.brief()}")
    return res


def icmp_from(res: dict, src: str, typ: int, code: int | None = None) -> int:
    return sum(n for s, ty, c, n in res["icmp"] if s == src and ty == typ and (code is None or c == code))


def traceroute_hops(out: str) -> dict[int, str]:
    hops = {}
    for line in out.splitlines()[1:]:
        m = re.match(r"\s*(\d+)\s+(\S+)", line)
        if m:
            hops[int(m.group(1))] = m.group(2)
    return hops


# ---------------------------------------------------------------------------------------
# tests (registered in order; `fresh=True` means the test needs no shared topology)

TESTS: list[tuple[str, object, dict]] = []


def test(name, **opts):
    def deco(fn):
        TESTS.append((name, fn, opts))
        return fn
    return deco


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
    import tempfile
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


@test("stats_consistent")
def t_stats(t: Topology) -> None:
    s = t.stats()
    bad = s.core_sum_mismatches()
    check(not bad, "per-core values do not add up: " + "; ".join(bad[:5]))
    check(s.cores, "no `core` lines in the stats block")
    for p in ("a", "b"):
        check(s.port(p, "rx_packets") > 0 and s.port(p, "tx_packets") > 0,
              f"port {p}: rx_packets={s.port(p, 'rx_packets')} tx_packets={s.port(p, 'tx_packets')}")
    check(not s.unparsed, f"unparsed lines in stats block: {s.unparsed[:3]}")
    # cores with nothing to report may print no `core` lines at all
    check(len(s.cores) <= t.workers, f"stats for cores {sorted(s.cores)}, but only {t.workers} workers")


@test("clean_exit", final=True)
def t_clean_exit(t: Topology) -> None:
    res = t.stop()
    problems = []
    if res.killed:
        problems.append("redline ignored SIGTERM (had to SIGKILL)")
    if res.returncode != 0:
        problems.append(f"exit code {res.returncode}; stderr tail:\n{t.tail(t.err_lines)}")
    if res.stats is None:
        problems.append(f"no stats block at exit; stdout tail:\n{t.tail(t.out_lines)}")
    if res.mbufs_in_use != 0:
        problems.append(f"mbufs in use at exit: {res.mbufs_in_use}")
    t.failed = t.failed or bool(problems)  # keep the logs if anything is wrong
    ns = list(t.namespaces)
    t.close()
    left = [n for n in ns if topo.ns_exists(n)]
    if left:
        problems.append(f"namespaces left behind: {left}")
    check(not problems, "; ".join(problems))


# ---------------------------------------------------------------------------------------
# runner


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.passed = self.failed = self.skipped = 0
        self.failed_logs: list[str] = []

    def log(self, msg: str) -> None:
        if self.args.verbose:
            print(f"  .. {msg}", flush=True)

    def report(self, name: str, status: str, reason: str = "") -> None:
        if status == "PASS":
            self.passed += 1
            print(f"PASS {name}", flush=True)
        elif status == "SKIP":
            self.skipped += 1
            print(f"SKIP {name}: {reason}", flush=True)
        else:
            self.failed += 1
            reason = reason.strip().replace("\n", "\n    ")
            print(f"FAIL {name}: {reason}", flush=True)

    def new_topology(self, workers: int) -> Topology:
        t = Topology(workers=workers, keep_logs=self.args.keep_logs, log=self.log)
        t.__enter__()
        self.log(f"topology {t.prefix}: redline pid {t.pid}, logs {t.tmpdir}")
        return t

    def run_workers(self, workers: int) -> None:
        selected = [(n, fn, o) for n, fn, o in TESTS if self.args.only is None or self.args.only in n]
        shared = [x for x in selected if not x[2].get("fresh")]
        fresh = [x for x in selected if x[2].get("fresh")]
        for name, fn, _ in fresh:
            self.run_one(f"{name}/w{workers}", lambda fn=fn: fn(workers, self.log))
        if not shared:
            return
        t: Topology | None = None
        restarts = 0
        prev = "start"
        try:
            for name, fn, opts in shared:
                full = f"{name}/w{workers}"
                if t is None or not t.alive():
                    if t is not None:
                        self.report(f"redline_alive/w{workers}", "FAIL",
                                    self._with_death(f"redline died after {prev}", t))
                        t.failed = True
                        self.failed_logs.append(str(t.tmpdir))
                        t.close()
                        t = None
                        restarts += 1
                        if restarts > 2:
                            self.report(full, "FAIL", "redline keeps dying; giving up on this worker count")
                            continue
                    try:
                        t = self.new_topology(workers)
                    except (TopologyError, OSError) as e:
                        self.report(full, "FAIL", f"topology did not start: {e}")
                        t = None
                        restarts += 1
                        if restarts > 2:
                            for n2, _, _ in shared[shared.index((name, fn, opts)) + 1:]:
                                self.report(f"{n2}/w{workers}", "FAIL", "topology does not start")
                            return
                        continue
                ok = self.run_one(full, lambda fn=fn, t=t: fn(t), topo_=t)
                prev = full
                if not ok:
                    t.failed = True
                if opts.get("final"):
                    if t.failed:
                        self.failed_logs.append(str(t.tmpdir))
                    t = None
        finally:
            if t is not None:
                # --only without the final test: still check the exit contract quietly
                res = t.stop()
                if res.returncode != 0 or res.mbufs_in_use != 0:
                    self.report(f"exit/w{workers}", "FAIL",
                                f"exit code {res.returncode}, mbufs in use at exit: {res.mbufs_in_use}")
                    t.failed = True
                if t.failed:
                    self.failed_logs.append(str(t.tmpdir))
                t.close()

    def run_one(self, name: str, call, topo_: Topology | None = None) -> bool:
        t0 = time.monotonic()
        try:
            call()
        except Skip as e:
            self.report(name, "SKIP", str(e))
            return True
        except Fail as e:
            self.report(name, "FAIL", self._with_death(str(e), topo_))
            return False
        except TopologyError as e:
            self.report(name, "FAIL", self._with_death(f"harness: {e}", topo_))
            return False
        except Exception as e:  # a bug in the test or harness: show where
            tb = traceback.format_exc(limit=3)
            self.report(name, "FAIL", f"{type(e).__name__}: {e}\n{tb}")
            return False
        if topo_ is not None and topo_.proc is not None and topo_.stop_result is None and not topo_.alive():
            self.report(name, "FAIL", self._with_death("redline exited during the test", topo_))
            return False
        self.log(f"{name} took {time.monotonic() - t0:.1f}s")
        self.report(name, "PASS")
        return True

    @staticmethod
    def _with_death(msg: str, t: Topology | None) -> str:
        if t is not None and t.proc is not None and t.stop_result is None and not t.alive():
            msg += (f"\n[redline pid {t.pid} exited with {t.proc.returncode}; stderr tail:\n"
                    f"{t.tail(t.err_lines)}\nstdout tail:\n{t.tail(t.out_lines)}]")
        return msg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, action="append", choices=sorted(topo.EAL_BY_WORKERS),
                    help="worker count (repeatable); default: 1 and 4")
    ap.add_argument("--only", help="run only tests whose name contains this")
    ap.add_argument("--keep-logs", action="store_true", help="keep redline's logs even on success")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.list:
        for n, fn, _ in TESTS:
            print(n)
        return 0
    if os.geteuid() != 0:
        print("integration tests need root (network namespaces)", file=sys.stderr)
        print("integration: 0 passed, 1 failed")
        return 1
    binary = topo.redline_bin()
    if not binary.exists():
        print(f"FAIL setup: redline binary not found at {binary} (build first or set REDLINE_BIN)")
        print("integration: 0 passed, 1 failed")
        return 1

    # SIGTERM/SIGHUP: unwind through the finally blocks so namespaces are removed.
    def _term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)

    r = Runner(args)
    try:
        for w in args.workers or [1, 4]:
            r.run_workers(w)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", flush=True)
        r.failed += 1
    finally:
        topo._cleanup_all()
    if r.failed_logs:
        print("redline logs of failed runs: " + " ".join(sorted(set(r.failed_logs))))
    if r.skipped:
        print(f"({r.skipped} skipped)")
    print(f"integration: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
