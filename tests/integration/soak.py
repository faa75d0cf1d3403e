#!/usr/bin/python3
"""The soak (scripts/soak.sh; not in CI): redline with 4 workers between Linux hosts for
SOAK_SECONDS (default 600) of mixed traffic with its impairment stage on port a (1 % loss,
1 % reordering, 1 % duplication, 2 +- 1 ms delay), in rounds:

  router     pings A -> B and to the static host behind B (forwarded by redline)
  tcp        a 1 MiB echo and 100 concurrent 1 KiB echoes through redline's own TCP
  udp        UDP echoes (one fragmented)
  hostile    a burst of 2000 spoofed SYNs (cookies) and three lying-MSS handshakes

First, on a redline of its own: 32 MiB echoed through the heavy impairment of the tests (10 %
loss, 10 % reordering, 5 % duplication, 20 +- 10 ms delay), sha256 compared.

Before and after the rounds (once TIME-WAIT has drained): mbufs in use, TCP connections, and redline's
resident memory; the run fails if the first two differ, and prints the table for
perf/RESULTS.md. The NAT is soaked by its own topology's tests (nat_tests.py); this run
covers the router, TCP, UDP and the hostile paths together.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
import tcp_tests  # noqa: E402
import tcp_hostile_tests as hostile  # noqa: E402
from harness import A_IP, B_IP, RA_IP, STATIC_IP, ping  # noqa: E402

IMPAIR = """
[ports.impair]
loss_percent = 1
reorder_percent = 1
duplicate_percent = 1
delay_ms = 2
jitter_ms = 1
seed = 5
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def snapshot(t) -> dict:
    s = t.stats()
    tcp = json.loads(t.ctl("--json", "show", "tcp").out)["result"]
    return {"mbufs_in_use": s.pool.get("mbufs_in_use", -1), "connections": tcp.get("connections", -1),
            "time_wait": tcp.get("time_wait", -1), "rss_kib": rss_kib(t.pid)}


def main() -> int:
    seconds = float(os.environ.get("SOAK_SECONDS", "600"))
    try:
        hostile.impaired_echo(4, print, 32 << 20)
    except Exception as e:  # noqa: BLE001  (reported with the rest)
        print(f"FAIL the 32 MiB impaired echo: {e}")
        return 1
    sfx = secrets.token_hex(3)
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}") + tcp_tests.SERVICES
    marker = '[[ports]]\nname = "b"'
    text = text.replace(marker, IMPAIR + "\n" + marker, 1)
    t = topo.Topology(workers=4, config_text=text, ns_prefix=f"rl-{sfx}", log=print)
    problems: list[str] = []
    rounds = 0
    try:
        t.__enter__()
        tcp_tests.peer(t, "a", "echo", RA_IP, 7, 64 * 1024)  # warm: ARP, caches
        time.sleep(3)  # its TIME-WAIT (2 s in this config) gone
        before = snapshot(t)
        hostile.drop_rsts(t)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rounds += 1
            n, _ = ping(t, "a", B_IP, count=5)
            m, _ = ping(t, "a", STATIC_IP, count=5)
            if n + m < 6:
                problems.append(f"round {rounds}: pings answered {n}/5 and {m}/5")
            res = tcp_tests.peer(t, "a", "echo", RA_IP, 7, 1 << 20, timeout=120)
            if not res["match"]:
                problems.append(f"round {rounds}: 1 MiB echo failed: {res}")
            res = tcp_tests.peer(t, "a", "many", RA_IP, 7, 100, 1024, timeout=120)
            if res.get("ok", 0) != 100:
                problems.append(f"round {rounds}: concurrent echoes: {res}")
            res = tcp_tests.peer(t, "a", "udp", RA_IP, 7, 4000)
            hostile.hostile(t, "flood", "--sport", hostile.FLOOD_PORTS[0], "--count", 2000)
            for i, (mss, ts) in enumerate([(0, False), (4, True), (1, False)]):
                hostile.hostile(t, "mss", "--mss", mss, "--sport", hostile.MSS_PORTS[0] + i, *(["--ts"] if ts else []))
            if rounds % 5 == 0:
                print(f"soak: round {rounds}, {deadline - time.monotonic():.0f} s left: {snapshot(t)}", flush=True)
        # The attacker's ports answer again (A's kernel sends RST for what it does not know), so
        # connections the raw peers left behind (a lying-MSS probe whose last ACK the impairment
        # lost: redline retransmits its FIN in LAST-ACK) end now instead of after their retries.
        # Half-open connections of the floods live through their SYN-ACK retries (~63 s), the
        # echoes' TIME-WAIT 2 s: wait for them before comparing.
        t.run_in("a", ["nft", "delete", "table", "ip", "rl_hostile"])
        settle_until = time.monotonic() + 150
        after = snapshot(t)
        while time.monotonic() < settle_until and (after["connections"] != before["connections"] or
                                                   after["mbufs_in_use"] > before["mbufs_in_use"] + 64):
            time.sleep(5)
            after = snapshot(t)
        if after["connections"] != before["connections"]:
            print(t.ctl("show", "connections").out)
        print("| | start | end |\n|---|---:|---:|")
        for k in before:
            print(f"| {k} | {before[k]} | {after[k]} |")
        print(f"soak: {rounds} rounds in {seconds:.0f} s, 4 workers, impairment on port a")
        if after["connections"] != before["connections"]:
            problems.append(f"connections {before['connections']} at start, {after['connections']} at end")
        if after["mbufs_in_use"] > before["mbufs_in_use"] + 64:
            problems.append(f"mbufs in use {before['mbufs_in_use']} at start, {after['mbufs_in_use']} at end")
        stop = t.stop()
        if stop.returncode != 0 or stop.mbufs_in_use != 0:
            problems.append(f"exit {stop.returncode}, mbufs in use at exit {stop.mbufs_in_use}")
    finally:
        t.failed = bool(problems)
        t.close()
    for p in problems:
        print(f"FAIL {p}")
    print("soak: " + ("passed" if not problems else f"{len(problems)} problem(s)"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
