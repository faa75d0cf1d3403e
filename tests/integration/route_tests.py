"""Routes as an operator changes them (issue 22): an ECMP route spreads flows over its next hops
while each flow keeps its own, `route get` names the route and the path a flow takes, and
`reload` keeps the routes added at run time (the file's win for the same prefix).

On the router topology (shared). Host b gets a second address behind a macvlan of its own MAC,
10.77.2.3, so the two next hops of the ECMP route are told apart by the MAC a frame goes to.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from control_tests import ctl_ok, route_row, routes_now  # noqa: E402
from harness import A_IP, B_IP, PY, check, test  # noqa: E402
from topo import Topology  # noqa: E402

B2_IP = "10.77.2.3"          # the second next hop: a macvlan in host b's namespace
ECMP_PREFIX = "10.99.0.0/16"  # routed by both; nothing answers there, the test watches frames
FLOWS = 64

# Sends 3 UDP datagrams from each of FLOWS source ports (a flow each) to 10.99.1.1:9.
SENDER = f"""
import socket, time
for i in range({FLOWS}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("{A_IP}", 40000 + i))
    for _ in range(3):
        s.sendto(b"ecmp", ("10.99.1.1", 9))
    s.close()
    time.sleep(0.005)
"""


def _macs(t: Topology, ifname: str) -> dict[str, str]:
    r = t.run_in("b", ["ip", "-o", "link", "show"], timeout=5)
    out = {}
    for line in r.out.splitlines():
        m = re.match(r"\d+: ([^:@]+)[@:].*link/ether ([0-9a-f:]{17})", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@test("route_ecmp_get_reload")
def t_ecmp(t: Topology) -> None:
    """`route add 10.99.0.0/16 via B,B2`: 64 UDP flows from host a leave for both next hops (by
    destination MAC, seen on b's link), every packet of a flow to the same one; `show routes`
    has a row per path; `route get` names the route, its paths, and for a flow the path its
    packets took; `reload` of an unchanged file keeps the run-time route (routes_kept)."""
    link = t.port("b").tap
    # Each address answered for by its own interface's MAC only (Linux answers ARP for any of
    # its addresses on any interface by default, and both next hops would resolve to one MAC).
    old = {k: t.run_in("b", ["sysctl", "-n", f"net.ipv4.conf.all.{k}"], timeout=5).out.strip() for k in ("arp_ignore", "arp_announce")}
    t.run_in("b", ["sysctl", "-q", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"], timeout=5)
    t.run_in("b", ["ip", "link", "add", "rl-mv0", "link", link, "type", "macvlan", "mode", "bridge"], timeout=5)
    try:
        t.run_in("b", ["ip", "addr", "add", f"{B2_IP}/24", "dev", "rl-mv0"], timeout=5)
        t.run_in("b", ["ip", "link", "set", "rl-mv0", "up"], timeout=5)
        macs = _macs(t, link)
        mac_of = {macs[link]: B_IP, macs["rl-mv0"]: B2_IP}
        ctl_ok(t, "neighbor", "flush")  # resolved again, each by its own MAC
        ctl_ok(t, "route", "add", ECMP_PREFIX, "via", f"{B_IP},{B2_IP}")
        rows = [r for r in routes_now(t) if r.get("prefix") == ECMP_PREFIX]
        check(sorted(r.get("via") for r in rows) == sorted([B_IP, B2_IP]) and all(r.get("paths") == 2 for r in rows),
              f"show routes: {rows}")
        # ARP for both next hops first, so the capture sees every flow's frames.
        for gw in (B_IP, B2_IP):
            t.run_in("a", ["ping", "-n", "-c", "1", "-W", "2", gw], timeout=5)
        cap = t.popen_in("b", ["tcpdump", "-n", "-e", "-l", "-i", link, "udp and dst host 10.99.1.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            time.sleep(1.0)
            r = t.run_in("a", [PY, "-c", SENDER], timeout=30)
            check(r.rc == 0, f"sender: {r.brief()}")
            time.sleep(1.0)
        finally:
            cap.terminate()  # by PID
            out, _ = cap.communicate(timeout=10)
        seen: dict[int, set[str]] = {}
        for line in out.splitlines():
            m = re.search(r"> ([0-9a-f:]{17}),.*" + re.escape(A_IP) + r"\.(\d+) > 10\.99\.1\.1\.9:", line)
            if m:
                seen.setdefault(int(m.group(2)), set()).add(m.group(1))
        check(len(seen) >= FLOWS * 9 // 10, f"{len(seen)}/{FLOWS} flows seen on b's link:\n{out[-600:]}")
        split = [p for p, m in seen.items() if len(m) > 1]
        check(not split, f"flows whose packets took both paths: {split[:5]}")
        by_hop: dict[str, int] = {}
        for m in seen.values():
            hop = mac_of.get(next(iter(m)), "?")
            by_hop[hop] = by_hop.get(hop, 0) + 1
        check(by_hop.get(B_IP, 0) >= FLOWS // 8 and by_hop.get(B2_IP, 0) >= FLOWS // 8,
              f"flows per next hop {by_hop}: want both used")
        for sport, m in list(seen.items())[:4]:
            res = ctl_ok(t, "route", "get", "10.99.1.1", "from", A_IP, "proto", "udp", "sport", str(sport), "dport", "9",
                         json=True).json["result"]
            check(res.get("route") == ECMP_PREFIX and res.get("paths") == 2 and res.get("via") == mac_of.get(next(iter(m))),
                  f"route get for the flow from port {sport} (its frames went to {mac_of.get(next(iter(m)))}): {res}")
        res = ctl_ok(t, "route", "get", B_IP, json=True).json["result"]
        check(res.get("route") == "10.77.2.0/24" and res.get("port") == "b", f"route get {B_IP}: {res}")
        r = t.ctl("route", "get", "10.77.2")
        check(r.rc == 1 and "not an IPv4 address" in r.err, f"route get 10.77.2: {r.brief()}")
        r = t.ctl("route", "add", "10.98.0.0/16", "via", f"{B_IP},{B_IP}")
        check(r.rc == 1 and "given twice" in r.err, f"a gateway twice: {r.brief()}")

        cfg = ctl_ok(t, "show", "config", json=True).json["result"]
        check({"prefix": ECMP_PREFIX, "via": f"{B_IP},{B2_IP}", "source": "route add"} in cfg["running"]["routes"]
              and cfg["file_changed_since_read"] is False, f"show config's running state: {cfg['running']}")
        res = ctl_ok(t, "reload", json=True).json["result"]
        check(any(k.startswith(ECMP_PREFIX) for k in res.get("routes_kept", [])) and
              ECMP_PREFIX not in res.get("routes_removed", []), f"reload dropped the run-time route: {res}")
        check(len([r for r in routes_now(t) if r.get("prefix") == ECMP_PREFIX]) == 2, "the ECMP route is gone after reload")
    finally:
        t.ctl("route", "del", ECMP_PREFIX)
        t.run_in("b", ["ip", "link", "del", "rl-mv0"], timeout=5)
        t.run_in("b", ["sysctl", "-q", *(f"net.ipv4.conf.all.{k}={v}" for k, v in old.items() if v)], timeout=5)
        ctl_ok(t, "neighbor", "flush")
    check(route_row(routes_now(t), ECMP_PREFIX) is None, "route del left the ECMP route")
