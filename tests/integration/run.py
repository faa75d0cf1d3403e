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


# ---------------------------------------------------------------------------------------
# operating redline: Prometheus /metrics and DPDK telemetry

METRICS_ADDR = "127.0.0.1:9469"  # loopback of the router namespace the test creates
TELEMETRY_TOOL = "/usr/bin/dpdk-telemetry.py"  # Debian package dpdk


def _http_get(t: Topology, path: str) -> tuple[int, dict[str, str], str]:
    """GET http://METRICS_ADDR<path> from inside the router namespace: (status, headers, body)."""
    r = t.run_in("r", ["curl", "-sS", "--max-time", "5", "-D", "-", f"http://{METRICS_ADDR}{path}"], timeout=10)
    check(r.rc == 0, f"curl {path} failed:\n{r.brief()}")
    head, _, body = r.out.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _telemetry(t: Topology, commands: list[str]) -> list:
    """Sends each command to redline's telemetry socket with dpdk-telemetry.py; answers in order."""
    sock = Path("/var/run/dpdk", t.file_prefix, "dpdk_telemetry.v2")
    check(sock.is_socket(), f"no telemetry socket at {sock} (EAL: {' '.join(t.eal)})")
    r = t.run_in("r", [PY, TELEMETRY_TOOL, "-f", t.file_prefix], input="".join(c + "\n" for c in commands),
                 timeout=15)
    check(r.rc == 0, f"dpdk-telemetry.py failed:\n{r.brief()}")
    answers = [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]
    check(len(answers) == len(commands), f"{len(answers)} answers to {len(commands)} commands:\n{r.brief()}")
    return [a.get(c.split(",")[0]) for a, c in zip(answers, commands)]


@test("metrics_and_telemetry", fresh=True)
def t_metrics_and_telemetry(workers: int, log) -> None:
    """`[control] metrics` serves the counters as Prometheus text, which the reference parser
    (python3-prometheus-client) reads; the same counters answer in DPDK telemetry under
    /redline/ (dpdk-telemetry.py; the socket exists under --no-shconf); a second redline asking
    for the same address refuses to start and says the address is in use."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed")
    if not Path(TELEMETRY_TOOL).exists():
        raise Skip(f"{TELEMETRY_TOOL} missing (Debian package dpdk)")
    sfx = os.urandom(3).hex()
    text = (topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers)
            + f'\n[control]\nsocket = "/tmp/rl-{sfx}-ctl.sock"\nmetrics = "{METRICS_ADDR}"\n')
    with Topology(workers=workers, config_text=text, log=log) as t:
        s0 = t.stats()
        n, r = ping(t, "a", RA_IP, 3)
        check(n == 3, f"{n}/3 replies:\n{r.brief()}")
        expect_rise(t, s0, "icmp_echo_replied", 3)
        status, headers, body = _http_get(t, "/metrics")
        check(status == 200, f"GET /metrics: {status}")
        check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
              f"Content-Type {headers.get('content-type')!r}")
        try:
            fams = {f.name: f for f in text_string_to_metric_families(body)}
        except ValueError as e:
            raise Fail(f"the reference parser refuses the page: {e}\n{body[:500]}")
        after = t.stats()
        # The page and `redlinectl show counters` read the same counters.
        shown = {c["name"]: c["value"] for c in t.ctl("show", "counters", json=True).json["result"]["counters"]}
        page = {f.name[len("redline_"):]: sum(x.value for x in f.samples) for f in fams.values()
                if f.type == "counter" and f.name[len("redline_"):] in shown}
        check(len(page) == len(shown), f"{len(shown) - len(page)} counters of show counters missing from the page")
        for name in ("rx_packets", "icmp_echo_replied", "arp_replies_sent"):
            check(page[name] <= shown[name] <= after[name],
                  f"{name}: page {page[name]}, show counters {shown[name]}, stats block after {after[name]}")

        def samples(family: str, type_: str) -> list:
            check(family in fams, f"no family {family} on the page")
            check(fams[family].type == type_, f"{family} is a {fams[family].type}, want {type_}")
            return fams[family].samples

        for name in after.counters:
            samples(f"redline_{name}", "counter")
        echo = samples("redline_icmp_echo_replied", "counter")
        check(sorted(s.labels["core"] for s in echo) == [str(w) for w in range(workers)],
              f"redline_icmp_echo_replied_total labels {[s.labels for s in echo]}, want core 0..{workers - 1}")
        echoed = sum(s.value for s in echo)
        check(s0["icmp_echo_replied"] + 3 <= echoed <= after["icmp_echo_replied"],
              f"icmp_echo_replied on the page {echoed}, stats block before {s0['icmp_echo_replied']}"
              f" (+3 pings), after {after['icmp_echo_replied']}")
        check(fams["redline_icmp_echo_replied"].documentation == "echo requests answered",
              f"HELP {fams['redline_icmp_echo_replied'].documentation!r}")
        rx = {s.labels["port"]: s.value for s in samples("redline_port_rx_packets", "counter")}
        check(set(rx) == {"a", "b"} and rx["a"] >= 3, f"redline_port_rx_packets_total {rx}")
        for stat in ("tx_packets", "rx_bytes", "tx_bytes", "rx_missed", "rx_errors", "tx_errors", "rx_nombuf"):
            samples(f"redline_port_{stat}", "counter")
        queues = {(s.labels["port"], s.labels["queue"]) for s in samples("redline_port_queue_rx_packets", "counter")}
        check(queues == {(p, str(q)) for p in "ab" for q in range(workers)}, f"RX queues {sorted(queues)}")
        check(any(s.labels["port"] == "a" for s in samples("redline_port_xstat", "counter")), "no xstats of port a")
        check(all(s.value in (0, 1) for s in samples("redline_port_link_up", "gauge")), "link_up not 0 or 1")
        busy = samples("redline_worker_busy_ratio", "gauge")
        check(len(busy) == workers and all(0 <= s.value <= 1 for s in busy), f"busy ratios {busy}")
        status, _, _ = _http_get(t, "/nope")
        check(status == 404, f"GET /nope: {status}, want 404")
        root, counters, core0, ports, per_worker, no_such_core = _telemetry(
            t, ["/", "/redline/counters", "/redline/counters_by_core,0", "/redline/ports", "/redline/workers",
                f"/redline/counters_by_core,{workers}"])
        mine = {"/redline/counters", "/redline/counters_by_core", "/redline/ports", "/redline/workers"}
        check(mine <= set(root or []), f"/ lists {sorted(c for c in root or [] if 'redline' in c)}")
        check(set(after.counters) <= set(counters or {}),
              f"/redline/counters lacks {sorted(set(after.counters) - set(counters or {}))[:5]}")
        check(counters["icmp_echo_replied"] >= echoed, f"/redline/counters icmp_echo_replied {counters['icmp_echo_replied']}")
        check(set(core0 or {}) == set(counters), "/redline/counters_by_core,0 names differ from /redline/counters")
        check(no_such_core is None, f"/redline/counters_by_core,{workers} answered {no_such_core}, want null")
        check(set(ports or {}) == {"a", "b"} and ports["a"]["rx_packets"] >= 3, f"/redline/ports {ports}")
        check(len((per_worker or {}).get("busy_cycles", [])) == workers
              and len(per_worker.get("rx_packets", [])) == workers, f"/redline/workers {per_worker}")
        fp = f"{t.prefix}-eal2"
        cfg = t.tmpdir / "second.toml"
        cfg.write_text('[[ports]]\nname = "x"\ndevice = "net_null0"\naddress = "10.0.1.1/24"\n'
                       f'[control]\nsocket = ""\nmetrics = "{METRICS_ADDR}"\n')
        try:
            r = t.run_in("r", [str(topo.redline_bin()), *topo.eal_args(1, fp), "--", "--config", str(cfg)], timeout=30)
        finally:
            topo.remove_runtime_dir(fp)
        check(r.rc not in (0, None), f"a second redline on a used metrics address ran (rc {r.rc}):\n{r.brief()}")
        check("Address already in use" in r.err and METRICS_ADDR in r.err,
              f"the second redline does not say the address is in use:\n{r.err[-600:]}")
        check(topo.READY_LINE not in r.out, "the second redline printed ready")
        res = t.stop()
        check(res.returncode == 0 and res.mbufs_in_use == 0 and not res.killed,
              f"exit code {res.returncode}, mbufs in use {res.mbufs_in_use}, killed {res.killed}")


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


# ---------------------------------------------------------------------------------------
# operating redline: the control socket and redlinectl

CTL_COMMANDS = ["help", "show counters", "show ports", "show routes", "show neighbors", "show workers",
                "show config", "route add", "route del", "neighbor flush", "reload"]


def ctl_ok(t: Topology, *args: str, json: bool = False) -> topo.Result:
    """redlinectl ARGS must succeed (rc 0; with json, an {"ok": true} reply)."""
    r = t.ctl(*args, json=json)
    check(r.rc == 0, f"redlinectl {' '.join(args)}: rc {r.rc}\n{r.brief()}")
    if json:
        check(isinstance(r.json, dict) and r.json.get("ok") is True,
              f"redlinectl --json {' '.join(args)}: reply is not {{\"ok\": true, ...}}:\n{r.brief()}")
    return r


def routes_now(t: Topology) -> list[dict]:
    return ctl_ok(t, "show", "routes", json=True).json["result"]


def route_row(routes: list[dict], prefix: str) -> dict | None:
    return next((r for r in routes if r.get("prefix") == prefix), None)


@test("neighbor_flush")
def t_neighbor_flush(t: Topology) -> None:
    """`neighbor flush IP` forgets that neighbor (the ARP owner applies it within a loop
    iteration), `neighbor flush` forgets all; the next packet resolves them again."""
    def neighbors() -> set[str]:
        return {row["ip"] for row in ctl_ok(t, "show", "neighbors", json=True).json["result"]}

    def wait_gone(ips: set[str]) -> set[str]:
        deadline = time.monotonic() + 3
        while (left := neighbors() & ips) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    n, r = ping(t, "a", B_IP, 2)
    check(n >= 1, f"no ping A->B:\n{r.brief()}")
    check({A_IP, B_IP} <= neighbors(), f"neighbors before: {neighbors()}")
    ctl_ok(t, "neighbor", "flush", B_IP)
    check(not wait_gone({B_IP}), f"{B_IP} still listed after neighbor flush")
    check(A_IP in neighbors(), "flushing one neighbor took another with it")
    s0 = t.stats()
    n, r = ping(t, "a", B_IP, 2)
    check(n >= 1, f"no ping A->B after the flush:\n{r.brief()}")
    check(B_IP in neighbors(), f"{B_IP} not learned again")
    check(t.stats().delta(s0, "arp_requests_sent") >= 1, "no ARP request resolved the flushed neighbor")
    ctl_ok(t, "neighbor", "flush")
    check(not wait_gone({A_IP, B_IP}), f"still listed after flushing all: {neighbors()}")
    still_answers(t)


@test("control_show_commands")
def t_control_show(t: Topology) -> None:
    """Every show command answers, in tables and in JSON; the numbers agree with the SIGUSR1
    stats block; routes, neighbors, workers and help say what the topology has."""
    for what in ("counters", "ports", "routes", "neighbors", "workers", "config"):
        r = ctl_ok(t, "show", what)
        check(r.out.strip(), f"redlinectl show {what} printed nothing:\n{r.brief()}")
        ctl_ok(t, "show", what, json=True)

    s0 = t.stats()
    n, r = ping(t, "a", RA_IP, 3)
    check(n == 3, f"{n}/3 replies:\n{r.brief()}")
    expect_rise(t, s0, "icmp_echo_replied", 3)
    listed = ctl_ok(t, "show", "counters", "--nonzero", json=True).json["result"]
    table = ctl_ok(t, "show", "counters", "--nonzero")
    s1 = t.stats()
    values = {c["name"]: c["value"] for c in listed["counters"]}
    check(all(v != 0 for v in values.values()), f"--nonzero lists zeros: {values}")
    got = values.get("icmp_echo_replied")
    check(got is not None and s0["icmp_echo_replied"] + 3 <= got <= s1["icmp_echo_replied"],
          f"show counters: icmp_echo_replied {got}; stats block before {s0['icmp_echo_replied']} (+3 pings), "
          f"after {s1['icmp_echo_replied']}")
    m = re.search(r"^icmp_echo_replied\s+(\d+)\s*$", table.out, re.M)
    check(m and s0["icmp_echo_replied"] + 3 <= int(m.group(1)) <= s1["icmp_echo_replied"],
          f"the table has no matching icmp_echo_replied row:\n{table.out}")
    check(not re.search(r"^\S+\s+0\s*$", table.out, re.M), f"--nonzero table lists zeros:\n{table.out}")
    refused = t.ctl("show", "counters", "--core", str(t.workers))
    check(refused.rc == 1 and "no worker" in refused.err, f"show counters --core {t.workers}:\n{refused.brief()}")

    routes = routes_now(t)
    want = [("10.77.1.0/24", "forward", "a", None), ("10.77.2.0/24", "forward", "b", None),
            ("10.77.1.1/32", "local", "a", None), ("10.77.2.1/32", "local", "b", None),
            ("10.77.1.255/32", "broadcast", "a", None), ("10.77.2.255/32", "broadcast", "b", None),
            ("10.77.3.0/24", "forward", "b", B_IP)]
    for prefix, kind, port, via in want:
        row = route_row(routes, prefix)
        check(row and (row.get("kind"), row.get("port"), row.get("via")) == (kind, port, via),
              f"show routes: {prefix} is {row}, want {kind} on {port}" + (f" via {via}" if via else "")
              + f"\n{routes}")
    table = ctl_ok(t, "show", "routes")
    check(all(p in table.out for p, *_ in want), f"show routes table:\n{table.out}")

    neighbors = ctl_ok(t, "show", "neighbors", json=True).json["result"]
    a = next((x for x in neighbors if x.get("ip") == A_IP), None)
    check(a and a.get("mac") == t.port("a").host_mac and a.get("port") == "a" and a.get("state") == "reachable",
          f"show neighbors: host A is {a}, want {t.port('a').host_mac} on a, reachable\n{neighbors}")
    check(A_IP in ctl_ok(t, "show", "neighbors").out, "host A not in the neighbors table")

    workers = ctl_ok(t, "show", "workers", json=True).json["result"]
    check(sorted(w.get("core") for w in workers) == list(range(t.workers)),
          f"show workers: {len(workers)} rows for {t.workers} workers: {workers}")
    check(all(0 <= w.get("busy_ratio", -1) <= 1 for w in workers), f"busy ratios out of [0, 1]: {workers}")
    rows = [ln for ln in ctl_ok(t, "show", "workers").out.splitlines()[1:] if ln.strip()]
    check(len(rows) == t.workers, f"show workers table has {len(rows)} rows for {t.workers} workers")

    config = ctl_ok(t, "show", "config", json=True).json["result"]
    check(config.get("path") == str(t.config_file) and config.get("text") == t.config_file.read_text(),
          f"show config: path {config.get('path')!r}, want {str(t.config_file)!r}, or the text differs")
    ports = ctl_ok(t, "show", "ports", json=True).json["result"]
    check(sorted(p.get("name") for p in ports) == ["a", "b"], f"show ports: {[p.get('name') for p in ports]}")

    helped = ctl_ok(t, "help")
    commands = [c.get("command") for c in ctl_ok(t, "help", json=True).json["result"]]
    missing = [c for c in CTL_COMMANDS if c not in commands or not re.search(rf"^{c}\b", helped.out, re.M)]
    check(not missing, f"help does not list {missing}:\n{helped.out}")


@test("show_tables_keep_fields_of_every_row")
def t_show_tables_fields(t: Topology) -> None:
    """The human tables of redlinectl show every field a row has, even when the first row lacks
    it: the gateway of a static route (connected routes come first, without one) and the MAC of
    a reachable neighbor next to an unreachable one (which has none)."""
    problems = []
    table = ctl_ok(t, "show", "routes").out
    row = next((ln for ln in table.splitlines() if ln.split()[:1] == ["10.77.3.0/24"]), None)
    if not (row and B_IP in row):
        problems.append(f"show routes: the row of 10.77.3.0/24 does not name its gateway {B_IP}:\n{table}")
    t.run_in("a", ["ping", "-n", "-c", "1", "-w", "5", ABSENT], timeout=10)  # an unreachable neighbor
    n, r = ping(t, "a", RA_IP, 1)
    check(n == 1, f"no ping to {RA_IP}:\n{r.brief()}")
    listed = ctl_ok(t, "show", "neighbors", json=True).json["result"]
    if any(x.get("state") == "unreachable" for x in listed):
        table = ctl_ok(t, "show", "neighbors").out
        row = next((ln for ln in table.splitlines() if ln.split()[:1] == [A_IP]), None)
        if not (row and t.port("a").host_mac in row):
            problems.append(f"show neighbors: the row of {A_IP} does not show its MAC {t.port('a').host_mac}:\n{table}")
    check(not problems, "\n".join(problems))


ROUTE_FLAPS = 5


@test("route_change_under_traffic")
def t_route_change(t: Topology) -> None:
    """A more specific route added and removed under a steady ping loses no packet; a new prefix
    routes once added and is net-unreachable once removed; a route over a local address is
    refused."""
    n, r = ping(t, "a", STATIC_IP, 1)  # ARP resolved both ways before the count starts
    check(n == 1, f"no ping to {STATIC_IP} before the test:\n{r.brief()}")
    host = "10.77.3.1/32"
    s0 = t.stats()
    pinger = t.popen_in("a", ["ping", "-n", "-i", "0.01", "-c", "600", "-W", "2", STATIC_IP],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    flaps = 0
    try:
        time.sleep(0.5)
        for _ in range(ROUTE_FLAPS):
            ctl_ok(t, "route", "add", host, "via", B_IP)
            if flaps == 0:
                row = route_row(routes_now(t), host)
                check(row and row.get("via") == B_IP, f"show routes after route add: {row}")
            time.sleep(0.2)
            ctl_ok(t, "route", "del", host)
            time.sleep(0.2)
            flaps += 1
        still = pinger.poll() is None
        out, _ = pinger.communicate(timeout=30)
    finally:
        t.ctl("route", "del", host)
    check(still, f"the ping ended before the {ROUTE_FLAPS} route changes did:\n{out[-400:]}")
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    check(m, f"no ping summary:\n{out[-400:]}")
    sent, got = int(m.group(1)), int(m.group(2))
    s1 = t.stats()
    if got != sent:
        deltas = {k: s1.delta(s0, k) for k in s1.counters if s1.delta(s0, k)}
        ports = {p: {k: s1.port(p, k) - s0.port(p, k) for k in s1.ports.get(p, {}) if s1.port(p, k) - s0.port(p, k)}
                 for p in s1.ports}
        raise Fail(f"{sent - got}/{sent} pings lost across {flaps} add/del of {host}; counter deltas {deltas}; "
                   f"port deltas {ports}\n{out[-300:]}")
    check(route_row(routes_now(t), host) is None, f"{host} still in show routes after route del")

    # A new prefix: reachable after route add, unreachable (ICMP from redline) after route del.
    prefix, addr = "10.77.9.0/24", "10.77.9.1"
    b = t.port("b").host_ns
    topo.sh(["ip", "-n", b, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
    try:
        ctl_ok(t, "route", "add", prefix, "via", B_IP)
        n, r = ping(t, "a", addr, 2)
        check(n == 2, f"{n}/2 replies from {addr} after route add {prefix}:\n{r.brief()}")
        ctl_ok(t, "route", "del", prefix)
        s0 = t.stats()
        r = t.run_in("a", ["ping", "-n", "-c", "1", "-w", "4", addr], timeout=10)
        check(re.search(rf"From {re.escape(RA_IP)} .*Destination Net Unreachable", r.out),
              f"no 'Destination Net Unreachable' from {RA_IP} after route del {prefix}:\n{r.brief()}")
        expect_rise(t, s0, "ipv4_no_route", 1)
        gone = t.ctl("route", "del", prefix)
        check(gone.rc == 1 and "no static route" in gone.err, f"route del of a removed route:\n{gone.brief()}")
    finally:
        t.ctl("route", "del", prefix)
        topo.sh(["ip", "-n", b, "addr", "del", f"{addr}/32", "dev", "lo"])

    before = routes_now(t)
    r = t.ctl("route", "add", f"{RA_IP}/32", "via", B_IP)
    check(r.rc == 1, f"route add over redline's own address: rc {r.rc}, want 1\n{r.brief()}")
    check(RA_IP in r.err and "local" in r.err, f"the refusal does not name the reason:\n{r.brief()}")
    check(routes_now(t) == before, "show routes changed after a refused route add")
    still_answers(t)


def _numbered_line(text: str, needle: str) -> int:
    """1-based number of the last line of `text` that contains `needle`."""
    return max(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@test("reload_config")
def t_reload(t: Topology) -> None:
    """`reload` applies a [[routes]] change of the file redline runs from; a file that fails
    validation changes nothing and the error names file:line:key; SIGHUP reloads as well."""
    cfg = t.config_file
    original = cfg.read_text()
    before = routes_now(t)
    extra = "10.77.8.0/24"
    added = original.rstrip("\n") + f'\n\n[[routes]]\nprefix = "{extra}"\nvia = "{B_IP}"\n'
    try:
        cfg.write_text(added)
        res = ctl_ok(t, "reload", json=True).json["result"]
        check(any(extra in x for x in res.get("routes_added", [])) and res.get("routes_removed") == []
              and res.get("needs_restart") == [], f"reload: {res}")
        row = route_row(routes_now(t), extra)
        check(row and row.get("via") == B_IP and row.get("port") == "b", f"show routes after reload: {extra} is {row}")
        with_extra = routes_now(t)

        broken = {  # what: (file text, text on the line the error must name, key it must name)
            "gateway not on a connected network": (
                original.rstrip("\n") + f'\n\n[[routes]]\nprefix = "{extra}"\nvia = "10.99.0.1"\n',
                'via = "10.99.0.1"', "routes[1].via"),
            "unknown key": (added.rstrip("\n") + "\nmetric = 5\n", "metric = 5", "routes[1].metric"),
        }
        for what, (text, needle, key) in broken.items():
            cfg.write_text(text)
            line = _numbered_line(text, needle)
            r = t.ctl("reload")
            check(r.rc == 1, f"reload of a broken file ({what}): rc {r.rc}, want 1\n{r.brief()}")
            check(f"{cfg}:{line}:" in r.err and key in r.err,
                  f"reload error ({what}) does not name {cfg}:{line}: and {key}:\n{r.err}")
            check(routes_now(t) == with_extra, f"show routes changed after a refused reload ({what})")

        cfg.write_text(original)
        res = ctl_ok(t, "reload", json=True).json["result"]
        check(res.get("routes_removed") == [extra] and res.get("routes_added") == [], f"reload back: {res}")
        check(routes_now(t) == before, f"show routes after restoring the file:\n{routes_now(t)}\nwant\n{before}")

        # SIGHUP: the same reload, reported in redline's log (stderr).
        for text, want_added, want_removed in ((added, [extra], []), (original, [], [extra])):
            cfg.write_text(text)
            mark = t.output_mark("err")
            os.kill(t.pid, signal.SIGHUP)
            line = t.wait_output(lambda s: "redline info: reload (SIGHUP):" in s, since=mark, stream="err")
            check(line, f"no 'redline info: reload (SIGHUP): ...' log line within 5 s; stderr tail:\n{t.tail(t.err_lines)}")
            res = json.loads(line.split("(SIGHUP):", 1)[1])
            check([x.split()[0] for x in res.get("routes_added", [])] == want_added
                  and res.get("routes_removed") == want_removed, f"SIGHUP reload: {line}")
            check((route_row(routes_now(t), extra) is not None) == bool(want_added),
                  f"show routes after SIGHUP: {extra} is {route_row(routes_now(t), extra)}")
        check(routes_now(t) == before, "show routes differs from the start after the SIGHUP round trip")
    finally:
        if cfg.read_text() != original:
            cfg.write_text(original)
            t.ctl("reload")
    still_answers(t)


CTL_CLIENTS = r"""
import json, socket, sys, threading, time
path = sys.argv[1]
out = {}

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def read_reply(s):
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (ConnectionResetError, socket.timeout) as e:
        out.setdefault("read_errors", []).append(repr(e))
    line = buf.split(b"\n")[0]
    try:
        return json.loads(line)
    except ValueError:
        return {"unparsed": line[:200].decode(errors="replace")}

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

idle = connect()                                # connects, never writes
half = connect()
half.sendall(b'{"command": "show coun')         # half a line, then nothing
time.sleep(0.2)

replies = [None] * 10
go = threading.Barrier(10)
def client(i):
    try:
        s = connect()
        go.wait(5)
        s.sendall(b'{"command":"show counters"}\n')
        replies[i] = read_reply(s)
        s.close()
    except Exception as e:
        replies[i] = {"exception": repr(e)}
t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
for th in threads:
    th.start()
for th in threads:
    th.join(15)
out["clients_s"] = time.monotonic() - t0
out["clients_ok"] = [isinstance(r, dict) and r.get("ok") is True for r in replies]
out["clients_bad"] = [r for r in replies if not (isinstance(r, dict) and r.get("ok") is True)][:3]

big = connect()
try:
    big.sendall(b"x" * (1 << 20) + b"\n")
    out["big_send"] = "all sent"
except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
    out["big_send"] = repr(e)
out["big_reply"] = read_reply(big)
out["big_closed"] = closed(big)

bad = connect()
bad.sendall(b"this is not json\n")
out["bad_reply"] = read_reply(bad)

half.sendall(b'ters"}\n')                       # the rest of the stalled line
out["half_reply"] = read_reply(half)
for s in (idle, half, big, bad):
    s.close()
print(json.dumps(out))
"""


@test("control_many_clients")
def t_control_many_clients(t: Topology) -> None:
    """A silent client and one stalled half way through a line do not hold up 10 concurrent
    clients; a 1 MiB line is answered with an error and its connection closed; invalid JSON
    gets {"ok": false}; the stalled line, once finished, is answered; redline keeps routing."""
    r = t.run_in("r", [PY, "-c", CTL_CLIENTS, str(t.control_socket)], timeout=60)
    check(r.rc == 0, f"client script failed:\n{r.brief(1500)}")
    out = json.loads(r.out.strip().splitlines()[-1])
    check(all(out["clients_ok"]), f"{out['clients_ok'].count(True)}/10 clients got ok: {out['clients_bad']}")
    check(out["clients_s"] < 5, f"10 clients took {out['clients_s']:.1f} s")
    big = out["big_reply"]
    check(big.get("ok") is False and "request longer than" in big.get("error", ""),
          f"1 MiB line: reply {big} (send: {out['big_send']})")
    check(out["big_closed"], "the connection of the 1 MiB line stayed open")
    check(out["bad_reply"].get("ok") is False and out["bad_reply"].get("error"), f"invalid JSON: {out['bad_reply']}")
    check(out["half_reply"].get("ok") is True, f"the stalled half line, once finished: {out['half_reply']}")
    still_answers(t)


@test("control_socket_root_only")
def t_control_root_only(t: Topology) -> None:
    """The socket is root's, mode 0600: redlinectl as nobody cannot connect (exit 2, "Permission
    denied"), root's can.  The test directory is opened to others (0711) meanwhile, so it is the
    socket's own mode that refuses, not the directory's."""
    import stat
    st = os.stat(t.control_socket)
    check(stat.S_ISSOCK(st.st_mode), f"{t.control_socket} is not a socket")
    check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0,
          f"socket mode {stat.S_IMODE(st.st_mode):o} owner {st.st_uid}, want 600 root")
    mode = stat.S_IMODE(os.stat(t.tmpdir).st_mode)
    os.chmod(t.tmpdir, 0o711)
    try:
        r = t.ctl("show", "workers", user="nobody")
    finally:
        os.chmod(t.tmpdir, mode)
    check(r.rc == 2 and "Permission denied" in r.err, f"redlinectl as nobody: rc {r.rc}, want 2:\n{r.brief()}")
    ctl_ok(t, "show", "workers")


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
