"""Changing and reading a running redline without a restart (issue 22, "Runtime"): the log level,
counters as deltas since a mark (the exported ones never reset), bit rates beside packet rates.

On the router topology (shared).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from control_tests import ctl_ok  # noqa: E402
from harness import B_IP, RA_IP, check, ping, test  # noqa: E402
from topo import Topology  # noqa: E402


def _counter(res: dict, name: str) -> int:
    return next((c["value"] for c in res["counters"] if c["name"] == name), 0)


@test("runtime_log_level_deltas_bit_rates")
def t_runtime(t: Topology) -> None:
    """`log level` says the level, sets each of the four and refuses another name (exit 1,
    naming what is accepted); `counters mark` then 5 pings: `show counters --delta` counts 5 echo
    replies while the plain counters keep counting from start; `show ports` has bit rates of 8x
    the byte rates' order within the last second of traffic."""
    was = ctl_ok(t, "log", "level", json=True).json["result"]["level"]
    try:
        for level in ("debug", "warning", "error", "info"):
            res = ctl_ok(t, "log", "level", level, json=True).json["result"]
            check(res.get("level") == level, f"log level {level}: {res}")
        r = t.ctl("log", "level", "loud")
        check(r.rc == 1 and "error, warning, info or debug" in r.err, f"log level loud: {r.brief()}")
    finally:
        ctl_ok(t, "log", "level", was)

    before = ctl_ok(t, "show", "counters", json=True).json["result"]
    ctl_ok(t, "counters", "mark")
    n, r = ping(t, "a", RA_IP, 5, ["-s", "1000"])
    check(n == 5, f"{n}/5 replies:\n{r.brief()}")
    delta = ctl_ok(t, "show", "counters", "--delta", "--nonzero", json=True).json["result"]
    total = ctl_ok(t, "show", "counters", json=True).json["result"]
    got = _counter(delta, "icmp_echo_replied")
    check(5 <= got <= 6, f"icmp_echo_replied since the mark: {got}, want 5 (delta {delta.get('since_s')} s)")
    check(_counter(total, "icmp_echo_replied") >= _counter(before, "icmp_echo_replied") + 5,
          "the plain counters were reset by the mark")
    check(delta.get("since_s", -1) >= 0, f"since_s: {delta.get('since_s')}")
    pinger = t.popen_in("a", ["ping", "-n", "-q", "-i", "0.05", "-c", "40", "-s", "1000", RA_IP],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)  # the rates cover the last second: a full second of this traffic
        a = {p["name"]: p for p in ctl_ok(t, "show", "ports", json=True).json["result"]}["a"]
    finally:
        pinger.wait(timeout=10)
    check("rx_bps" in a and "tx_bps" in a, f"show ports: no bit rates: {sorted(a)}")
    # 20 pings a second of 1042-byte frames: ~170 kbit/s each way; every frame is >= 60 bytes.
    check(a["rx_pps"] > 5 and a["rx_bps"] >= a["rx_pps"] * 8 * 60 and a["tx_bps"] >= a["tx_pps"] * 8 * 60,
          f"rates of port a under 20 pings/s: rx {a['rx_pps']} pps {a['rx_bps']} bps, tx {a['tx_pps']} pps {a['tx_bps']} bps")
    r = ctl_ok(t, "show", "ports")
    check("rx_bps" in r.out, f"the table has no rx_bps column:\n{r.brief()}")


@test("packet_trace")
def t_trace(t: Topology) -> None:
    """`trace add 20 --port a`, then an echo request forwarded to host b and one with TTL 1:
    `show trace` has the first through classify, route and output (its next hop there) and done
    (on the worker it was handed to, if it was: the trace follows it there),
    the second through route and dropped as ipv4_ttl_expired, each step with the headers as they
    entered it (the TTL one less at output); the table form prints them; `trace clear` empties
    it; a bad count is refused."""
    ctl_ok(t, "trace", "clear")
    ctl_ok(t, "trace", "add", "20", "--port", "a")
    n, r = ping(t, "a", B_IP, 1)
    check(n == 1, f"no reply from {B_IP}:\n{r.brief()}")
    ping(t, "a", B_IP, 1, ["-t", "1"])
    res = ctl_ok(t, "show", "trace", json=True).json["result"]
    packets = [p for p in res["packets"] if "steps" in p]
    # With several workers a packet may be handed to the one owning its flow: its trace then goes
    # on there, as a second record that starts with a "(handoff)" step. The last part ends it.
    echo = [p for p in packets if any(f"> {B_IP} icmp type 8" in s["headers"] for s in p["steps"])]
    forwarded = [p for p in echo if p["verdict"] == "done"]
    expired = [p for p in echo if p["verdict"].startswith("drop")]
    check(forwarded and expired, f"traced: {[(p['verdict'], [s['stage'] for s in p['steps']]) for p in packets]}")
    f = forwarded[0]
    stages = [s["stage"] for s in f["steps"]]
    check("classify" in stages[:2] and "route" in stages and stages[-1] == "output" and f["verdict"] == "done",
          f"the forwarded echo: {stages}, {f['verdict']}")
    out = f["steps"][-1]["headers"]
    check("ttl 63" in out and f"next hop {B_IP}" in out, f"headers at output: {out}")
    e = expired[0]
    check("route" in [s["stage"] for s in e["steps"]] and e["verdict"] == "drop: ipv4_ttl_expired",
          f"the TTL-1 echo: {[s['stage'] for s in e['steps']]}, {e['verdict']}")
    r = ctl_ok(t, "show", "trace")
    check("drop: ipv4_ttl_expired" in r.out and "output" in r.out, f"show trace (table):\n{r.brief(1500)}")
    ctl_ok(t, "trace", "clear")
    res = ctl_ok(t, "show", "trace", json=True).json["result"]
    check(not res["packets"] and res["remaining"] == 0, f"after trace clear: {res}")
    r = t.ctl("trace", "add", "0")
    check(r.rc == 1 and "1-1000" in r.err, f"trace add 0: {r.brief()}")
