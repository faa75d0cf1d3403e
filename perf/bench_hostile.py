"""Hostile input (issue 21): SYNs answered per core, with SYN cookies against the same worker
answering SYNs to a listener with room, in one run, alternating; and the fuzz targets' rates.

SYN rows: perf/tcp_bench's BM_TcpSynListen and BM_TcpSynCookie: a real Worker with a TcpStage on
ring ports, bursts of 32 SYNs (each a new 4-tuple) through classify -> route -> local -> tcp and
the SYN-ACKs out through local-out -> output to the TX ring, TSC cycles per SYN. Targets: cookies
>= 0.8x the plain path, >= 3 M SYN/s per core in a fast phase (<= 700 cycles per SYN).
Flood rows: perf/tcp_bench's BM_TcpRxInOrder/offload:1 (a live connection receiving 32
full-size segments per round, idle) and BM_TcpRxUnderFlood (the same with 32 blind RSTs of random
sequence numbers, or 32 ACKs of random data, for its 4-tuple after each burst): the connection's
throughput per core under a one-to-one flood relative to idle, and the flood's own cycles per
segment, hence the flood rate one core absorbs whole.
Fuzz rows: `scripts/fuzz.sh TARGET SECONDS` for each target, executions per second and in all.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from statistics import median as med

ROOT = Path(__file__).resolve().parent.parent


def syn_round(args, b) -> dict[str, dict]:
    min_time = "0.1" if args.smoke else "1"
    r = subprocess.run([str(b.BUILD / "perf" / "tcp_bench"), f"--benchmark_min_time={min_time}",
                        "--benchmark_filter=BM_TcpSyn|BM_TcpRxInOrder/offload:1|BM_TcpRxUnderFlood",
                        "--benchmark_format=json"],
                       capture_output=True, text=True, timeout=300)
    if not r.stdout.strip().startswith("{"):
        raise RuntimeError("tcp_bench printed nothing:\n" + r.stderr[-2000:])
    rows = {x["name"]: x for x in json.loads(r.stdout)["benchmarks"]}
    for name, x in rows.items():
        if x.get("error_occurred"):
            raise RuntimeError(f"tcp_bench: {name}: {x.get('error_message')}")
    return rows


def fuzz_rows(args, b) -> None:
    script = ROOT / "scripts" / "fuzz.sh"
    if not script.exists():
        return
    seconds = 5 if args.smoke else 20
    targets = subprocess.run([str(script), "--list"], capture_output=True, text=True, timeout=1800).stdout.split()
    for t in targets:
        r = subprocess.run([str(script), t, str(seconds)], capture_output=True, text=True, timeout=1800)
        m = re.search(r"fuzz \S+: (\d+) execs, (\d+)/s", r.stdout)
        if not m:
            b.log(f"bench: hostile: fuzz {t}: no result line (exit {r.returncode}): {r.stdout[-300:]}{r.stderr[-300:]}")
            continue
        b.row(f"fuzz/{t}", "libFuzzer, 1 process", None, None, None,
              f"{int(m.group(2))} execs/s, {int(m.group(1))} in {seconds} s (ASan+UBSan)", execs=int(m.group(1)),
              execs_per_s=int(m.group(2)))


def run(args, P, b) -> None:
    rounds = [syn_round(args, b) for _ in range(args.runs)]
    hz = b.tsc_hz()

    def cyc(name: str) -> float:
        return med([r[name]["cycles/op"] for r in rounds])

    plain, cookie = cyc("BM_TcpSynListen"), cyc("BM_TcpSynCookie")
    ratio = med([r["BM_TcpSynListen"]["cycles/op"] / r["BM_TcpSynCookie"]["cycles/op"] for r in rounds])
    b.row("tcp-syn/in-process", "redline, listener with room", hz / plain / 1e6, plain, 1.0,
          "each SYN: a half-open connection (table insert, ISN, timer) and its SYN-ACK; the baseline")
    b.row("tcp-syn/in-process", "redline, SYN cookies", hz / cookie / 1e6, cookie, ratio,
          "backlog full: each SYN-ACK carries a cookie, nothing kept; target >= 0.8x, >= 3 M/s (<= 700 cycles)")
    b.log(f"bench: hostile: SYNs per core: listener with room {hz / plain / 1e6:.2f} M/s ({plain:.0f} cycles), "
          f"cookies {hz / cookie / 1e6:.2f} M/s ({cookie:.0f} cycles), ratio {ratio:.2f}")
    idle = cyc("BM_TcpRxInOrder/offload:1")
    b.row("tcp-flood/in-process", "redline, live connection idle", hz / idle / 1e6, idle, 1.0,
          "M data segments/s per core of 1448 bytes through classify -> route -> local -> tcp, ACKs out; the baseline")
    for kind, what in ((1, "RSTs, random sequence numbers"), (2, "ACKs of random data")):
        both = cyc(f"BM_TcpRxUnderFlood/kind:{kind}/data:1")
        flood = cyc(f"BM_TcpRxUnderFlood/kind:{kind}/data:0")  # per attacker segment, alone
        keep = idle / both
        # Throughput kept >= 0.8 of idle while the flood's cycles are <= 0.25 of the data's.
        b.row("tcp-flood/in-process", f"redline, live connection + 1:1 flood of {what}", hz / both / 1e6, both, keep,
              f"the flood costs {flood:.0f} cycles a segment: one core absorbs {hz / flood / 1e6:.1f} M/s of it alone; "
              f"the connection keeps >= 0.8 of idle up to {0.25 * idle / flood:.2f} attacker segments per data segment")
        b.log(f"bench: hostile: flood of {what}: {flood:.0f} cycles each, connection keeps {keep:.2f} of idle at 1:1")
    fuzz_rows(args, b)
