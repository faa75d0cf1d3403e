"""What every integration test module shares: the host addresses, Fail/Skip/check, the
helpers that ping, craft packets and wait for counters, and the test registry (`@test`)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Stats, Topology  # noqa: E402

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


def close_and_check(t, problems: list[str]) -> None:
    """Closes the topology (keeping the logs if anything went wrong), checks that no namespace
    outlived it, and fails with every problem found."""
    t.failed = t.failed or bool(problems)
    ns = list(t.namespaces)
    t.close()
    left = [n for n in ns if topo.ns_exists(n)]
    if left:
        problems.append(f"namespaces left behind: {left}")
    check(not problems, "; ".join(problems))


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

