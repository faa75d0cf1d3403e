"""The TCP rows of the benchmark suite (`scripts/bench.sh --only tcp`, issue 9), each next to
the Linux kernel doing the same between two network namespaces in the same run:

  tcp/bulk    one connection, one side writing as fast as it can, the other discarding:
              segments/s per core, Gbit/s, cycles per segment and per byte
  tcp/rr      64-byte request/response over 32 connections: transactions/s per core
  tcp/crr     connect, 64-byte request, 64-byte reply, close (client first), 32 at a time:
              connections/s per core
  micro/BM_TcpRx*  the TcpStage receive fast path: an in-order full-size segment through a real
              worker (classify -> route -> local -> tcp, with the ACK sent for every second), next
              to pipeline_bench's ICMP echo and L3 forward in the same run

redline: perf/tcp_bench (Google Benchmark): two tcp::Host endpoints on ONE core over a lean
in-memory link, so the figure per core pays for both ends of every segment (sender and
receiver). Linux: perf/tcp_peer (epoll client and server, one thread each) in two namespaces
joined by a veth pair; it runs on both vCPUs, so its per-core rate is its work divided by the
CPU time it took: the client's and the server's user+system time (getrusage, /proc/PID/stat)
plus the machine's softirq+irq time over the run (the veth's receive path runs in softirq,
charged to no task under tick accounting). Linux's segments are its namespace's MIB counters
(server InSegs + OutSegs, /proc/PID/net/snmp); with TSO/GSO/GRO on (the veth default) bulk
segments are MSS-sized pieces of 64 KiB super-packets, so a second bulk row has them off.
Ratios are redline per core over Linux per core, the median of per-round ratios; every figure
is the median of --runs rounds, redline and Linux taking turns within a round.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

CONNS = 32  # rr connections and crr connections in flight, both systems
CLIENT_IP, SERVER_IP = "10.77.0.1", "10.77.0.2"
BULK_PORT, ECHO_PORT = 5001, 5007
TARGET_SEGS, TARGET_CONNS = 5e6, 500e3


def engine(args, b) -> dict[str, dict]:
    """One run of tcp_bench: its rows by name, with their counters."""
    min_time = "0.05" if args.smoke else "0.5"
    filt = f"BM_TcpBulk|BM_TcpRr/{CONNS}$|BM_TcpCrr/{CONNS}$|BM_TcpRx"
    r = subprocess.run([str(b.BUILD / "perf" / "tcp_bench"), f"--benchmark_min_time={min_time}",
                        f"--benchmark_filter={filt}", "--benchmark_format=json"],
                       capture_output=True, text=True, timeout=300)
    rows = {x["name"]: x for x in json.loads(r.stdout)["benchmarks"]} if r.stdout.strip().startswith("{") else {}
    # The same worker's local delivery of an ICMP echo (classify -> route -> local -> icmp ->
    # local-out -> output) and its L3 forwarding, measured moments apart: what the TCP stage's
    # cycles per segment stand beside.
    p = subprocess.run([str(b.BUILD / "perf" / "pipeline_bench"), f"--benchmark_min_time={min_time}",
                        "--benchmark_filter=BM_IcmpEcho|BM_L3Forward", "--benchmark_format=json"],
                       capture_output=True, text=True, timeout=300)
    if p.stdout.strip().startswith("{"):
        rows.update({x["name"]: x for x in json.loads(p.stdout)["benchmarks"]})
    for name, x in rows.items():
        if x.get("error_occurred"):
            raise RuntimeError(f"tcp_bench: {name}: {x.get('error_message')}")
    if not rows:
        raise RuntimeError("tcp_bench printed nothing:\n" + r.stderr[-2000:])
    bulk, rr, crr = rows["BM_TcpBulk"], rows[f"BM_TcpRr/{CONNS}"], rows[f"BM_TcpCrr/{CONNS}"]
    b.log(f"bench: tcp: engine: bulk {bulk['segs_per_s'] / 1e6:.2f} M segs/s ({bulk['cycles_per_seg']:.0f} cycles each, "
          f"{bulk['Gbit_per_s']:.1f} Gbit/s), rr {rr['transactions_per_s'] / 1e6:.2f} M/s ({rr['cycles/op']:.0f} cycles), "
          f"crr {crr['connections_per_s'] / 1e3:.0f} K/s ({crr['cycles/op']:.0f} cycles), stage "
          + ", ".join(f"{n[8:]} {x['cycles/op']:.0f}" for n, x in rows.items() if n.startswith("BM_TcpRx")) + " cycles/segment")
    return rows


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def softirq_s() -> float:
    """irq + softirq seconds of all CPUs (/proc/stat's first line)."""
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(f[6]) + int(f[7])) / os.sysconf("SC_CLK_TCK")


def tcp_mib(pid: int) -> dict[str, int]:
    lines = [ln.split() for ln in Path(f"/proc/{pid}/net/snmp").read_text().splitlines() if ln.startswith("Tcp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


class Topology:
    """Client and server namespaces joined by one veth pair (10.77.0.1 <-> 10.77.0.2)."""

    def __init__(self, P, b, name: str, gso: bool) -> None:
        self.P, self.b = P, b
        self.c, self.s = P.netns(f"{name}c"), P.netns(f"{name}s")
        ci, si = f"{b.TAG}tc", f"{b.TAG}ts"
        subprocess.run(["ip", "link", "add", ci, "netns", self.c, "type", "veth", "peer", "name", si, "netns", self.s],
                       check=True)
        b.sh(self.c, f"ip addr add {CLIENT_IP}/24 dev {ci} && ip link set {ci} up")
        b.sh(self.s, f"ip addr add {SERVER_IP}/24 dev {si} && ip link set {si} up")
        # crr opens a connection per transaction from one address: the client's ports come back
        # from TIME-WAIT by timestamps (RFC 6191-like reuse, as redline's engine recycles them).
        b.sh(self.c, "sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range='1024 65000'")
        b.sh(self.s, "sysctl -qw net.core.somaxconn=4096 net.ipv4.tcp_max_syn_backlog=4096")
        if not gso:
            b.sh(self.c, f"ethtool -K {ci} tso off gso off gro off >/dev/null")
            b.sh(self.s, f"ethtool -K {si} tso off gso off gro off >/dev/null")

    def close(self) -> None:
        for ns in (self.c, self.s):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            self.P.namespaces.remove(ns)

    def run(self, args, mode: str, name: str) -> dict:
        """The server, then the client for args.seconds; the figures of the client's run."""
        P, b = self.P, self.b
        peer = str(b.BUILD / "perf" / "tcp_peer")
        port = BULK_PORT if mode == "bulk" else ECHO_PORT
        srv = P.start(["ip", "netns", "exec", self.s, peer, "server", "discard" if mode == "bulk" else "echo", str(port)],
                      f"{name}-server.log")
        try:
            P.wait_for(f"{name}-server.log", r"listening", 10)
            cpu0, irq0, mib0 = proc_cpu_s(srv.pid), softirq_s(), tcp_mib(srv.pid)
            cli = subprocess.run(["ip", "netns", "exec", self.c, peer, "client", mode, SERVER_IP, str(port),
                                  str(args.seconds), str(CONNS)], capture_output=True, text=True,
                                 timeout=args.seconds + 30, stdin=subprocess.DEVNULL)
            cpu1, irq1, mib1 = proc_cpu_s(srv.pid), softirq_s(), tcp_mib(srv.pid)
        finally:
            P.stop(srv, signal.SIGTERM, 5)
        m = re.search(r"^result (.*)$", cli.stdout, re.M)
        if not m:
            raise RuntimeError(f"tcp_peer client {mode}: no result:\n{cli.stdout[-1000:]}{cli.stderr[-1000:]}")
        r = {k: float(v) if k != "mode" else v for k, v in (kv.split("=") for kv in m.group(1).split())}
        r["server_cpu_s"] = cpu1 - cpu0
        r["softirq_s"] = irq1 - irq0
        r["cpu_total_s"] = r["cpu_s"] + r["server_cpu_s"] + r["softirq_s"]
        r["segments"] = (mib1["InSegs"] - mib0["InSegs"]) + (mib1["OutSegs"] - mib0["OutSegs"])
        r["retrans"] = mib1["RetransSegs"] - mib0["RetransSegs"]
        cyc = r["cpu_total_s"] * b.tsc_hz()
        r["ops_per_core"] = r["ops"] / r["cpu_total_s"] if r["cpu_total_s"] else 0.0
        r["segs_per_core"] = r["segments"] / r["cpu_total_s"] if r["cpu_total_s"] else 0.0
        r["cycles_per_op"] = cyc / max(1.0, r["ops"])
        r["cycles_per_seg"] = cyc / max(1, r["segments"])
        r["segs_per_op"] = r["segments"] / max(1.0, r["ops"])
        if mode == "bulk":
            r["gbps"] = r["bytes"] * 8 / r["seconds"] / 1e9
            r["gbps_per_core"] = r["bytes"] * 8 / r["cpu_total_s"] / 1e9
            r["cycles_per_byte"] = cyc / max(1.0, r["bytes"])
            r["ops_per_core"] = r["segs_per_core"]  # bulk's op is a segment
            r["cycles_per_op"] = r["cycles_per_seg"]
        rate = f"{r['gbps']:.2f} Gbit/s" if mode == "bulk" else f"{r['ops'] / r['seconds']:.0f} ops/s"
        b.log(f"bench: tcp: {name}: {mode}: {rate} wall, {r['ops_per_core']:.0f} per core, "
              f"CPU client {r['cpu_s']:.2f} s, server {r['server_cpu_s']:.2f} s, softirq {r['softirq_s']:.2f} s "
              f"over {r['seconds']:.2f} s; {r['segs_per_op']:.2f} segs/op; {r['retrans']} retransmitted")
        return r


def linux(args, P, b, i: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    topo = Topology(P, b, f"tcp{i}", gso=True)
    try:
        for mode in ("bulk", "rr", "crr"):
            out[mode] = topo.run(args, mode, f"tcp{i}{mode}")
    finally:
        topo.close()
    topo = Topology(P, b, f"tcq{i}", gso=False)
    try:
        out["bulk_nogso"] = topo.run(args, "bulk", f"tcq{i}bulk")
    finally:
        topo.close()
    return out


def med(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if v else 0.0


def run(args, P, b) -> None:
    """`b` is the bench module (its helpers: row, log, sh, Procs, ...)."""
    rounds = []
    for i in range(args.runs):
        e = engine(args, b)
        lx = linux(args, P, b, i)
        rounds.append((e, lx))

    def em(name: str, key: str) -> float:
        return med([e[name][key] for e, _ in rounds])

    def lm(mode: str, key: str) -> float:
        return med([lx[mode][key] for _, lx in rounds])

    def ratio(name: str, ekey: str, mode: str, lkey: str) -> float:
        return med([e[name][ekey] / lx[mode][lkey] for e, lx in rounds if lx[mode][lkey]])

    def linux_note(mode: str) -> str:
        return (f"CPU per s of run: client {lm(mode, 'cpu_s') / lm(mode, 'seconds'):.2f}, server "
                f"{lm(mode, 'server_cpu_s') / lm(mode, 'seconds'):.2f}, softirq {lm(mode, 'softirq_s') / lm(mode, 'seconds'):.2f}")

    bulk, rr, crr = "BM_TcpBulk", f"BM_TcpRr/{CONNS}", f"BM_TcpCrr/{CONNS}"
    # --- bulk ---
    # With TSO/GSO/GRO on, Linux's MIB counts super-packets of up to 64 KiB as segments, so the
    # bulk ratio is on bytes (Gbit/s per core); the ratio in segments is to Linux with them off.
    for mode, label, what in (("bulk", "Linux, veth, TSO/GSO/GRO on (baseline)", "segments as the MIB counts them: "
                               "GSO/GRO super-packets"),
                              ("bulk_nogso", "Linux, veth, TSO/GSO/GRO off", "every segment MSS-sized")):
        b.row("tcp/bulk 1 connection (M segments/s per core)", label, lm(mode, "segs_per_core") / 1e6,
              lm(mode, "cycles_per_seg"), None,
              f"{lm(mode, 'gbps'):.2f} Gbit/s wall, {lm(mode, 'gbps_per_core'):.2f} Gbit/s per core, "
              f"{lm(mode, 'cycles_per_byte'):.2f} cycles/byte; {what}; {linux_note(mode)}",
              gbps=lm(mode, "gbps"), gbps_per_core=lm(mode, "gbps_per_core"), cycles_per_byte=lm(mode, "cycles_per_byte"))
    byte_ratio = med([e[bulk]["Gbit_per_s"] / lx["bulk"]["gbps_per_core"] for e, lx in rounds if lx["bulk"]["gbps_per_core"]])
    byte_ratio_nogso = med([e[bulk]["Gbit_per_s"] / lx["bulk_nogso"]["gbps_per_core"] for e, lx in rounds
                            if lx["bulk_nogso"]["gbps_per_core"]])
    seg_ratio_nogso = ratio(bulk, "segs_per_s", "bulk_nogso", "segs_per_core")
    segs = em(bulk, "segs_per_s")
    b.row("tcp/bulk 1 connection (M segments/s per core)", "redline engine, both ends on 1 core", segs / 1e6,
          em(bulk, "cycles_per_seg"), byte_ratio,
          f"{em(bulk, 'Gbit_per_s'):.2f} Gbit/s on the one core, {em(bulk, 'cycles_per_byte'):.2f} cycles/byte, "
          f"{em(bulk, 'data_segs_per_s') / 1e6:.2f} M data segments/s ({em(bulk, 'cycles/op'):.0f} cycles each, its ACKs "
          f"included); ratio: Gbit/s per core to Linux with GSO; to Linux without: {byte_ratio_nogso:.2f}x in Gbit/s, "
          f"{seg_ratio_nogso:.2f}x in segments; target >= 5 M segments/s per core: "
          f"{'met' if segs >= TARGET_SEGS else 'not met'}",
          gbps=em(bulk, "Gbit_per_s"), cycles_per_byte=em(bulk, "cycles_per_byte"), ratio_nogso_segments=seg_ratio_nogso,
          ratio_nogso_gbps=byte_ratio_nogso)
    # Zero-copy send next to copying every payload (tcp.zero_copy_send = false), same run.
    if "BM_TcpBulkCopy" in rounds[0][0]:
        copied = "BM_TcpBulkCopy"
        b.row("tcp/bulk 1 connection (M segments/s per core)", "redline engine, payload copied (zero_copy_send = false)",
              em(copied, "segs_per_s") / 1e6, em(copied, "cycles_per_seg"), None,
              f"{em(copied, 'Gbit_per_s'):.2f} Gbit/s on the one core; zero-copy send is "
              f"{med([e[bulk]['segs_per_s'] / e[copied]['segs_per_s'] for e, _ in rounds]):.2f}x this",
              gbps=em(copied, "Gbit_per_s"))
    # --- rr ---
    b.row(f"tcp/rr 64 B, {CONNS} connections (M transactions/s per core)", "Linux, veth (baseline)",
          lm("rr", "ops_per_core") / 1e6, lm("rr", "cycles_per_op"), None,
          f"{lm('rr', 'ops') / lm('rr', 'seconds') / 1e6:.3f} M/s wall; {lm('rr', 'segs_per_op'):.2f} segments and "
          f"{lm('rr', 'cycles_per_seg'):.0f} cycles per segment; {linux_note('rr')}")
    rr_segs = em(rr, "segs_per_s")
    b.row(f"tcp/rr 64 B, {CONNS} connections (M transactions/s per core)", "redline engine, both ends on 1 core",
          em(rr, "transactions_per_s") / 1e6, em(rr, "cycles/op"), ratio(rr, "transactions_per_s", "rr", "ops_per_core"),
          f"{em(rr, 'segs_per_op'):.2f} segments per transaction, {rr_segs / 1e6:.2f} M segments/s, "
          f"{em(rr, 'cycles_per_seg'):.0f} cycles per segment; target >= 5 M segments/s per core: "
          f"{'met' if rr_segs >= TARGET_SEGS else 'not met'}")
    # --- crr ---
    b.row(f"tcp/crr 64 B, {CONNS} at a time (M connections/s per core)", "Linux, veth (baseline)",
          lm("crr", "ops_per_core") / 1e6, lm("crr", "cycles_per_op"), None,
          f"{lm('crr', 'ops') / lm('crr', 'seconds') / 1e3:.1f} K/s wall; {lm('crr', 'segs_per_op'):.2f} segments per "
          f"connection; client TIME-WAIT reused (tcp_tw_reuse=1); {linux_note('crr')}")
    conns = em(crr, "connections_per_s")
    b.row(f"tcp/crr 64 B, {CONNS} at a time (M connections/s per core)", "redline engine, both ends on 1 core",
          conns / 1e6, em(crr, "cycles/op"), ratio(crr, "connections_per_s", "crr", "ops_per_core"),
          f"{em(crr, 'segs_per_op'):.2f} segments per connection, {em(crr, 'cycles_per_seg'):.0f} cycles per segment; "
          f"{em(crr, 'time_wait'):.0f} in TIME-WAIT (the oldest recycled per new connection); "
          f"target >= 500 K/s per core: {'met' if conns >= TARGET_CONNS else 'not met'}")
    # --- the stage microbenchmark ---
    for name in sorted(rounds[0][0]):
        if name.startswith("BM_TcpRx") or name in ("BM_IcmpEcho", "BM_L3Forward"):
            b.ROWS.append({"path": "micro/" + name, "system": "redline", "ns_per_op": em(name, "real_time") / 32,
                           "cycles_per_op": em(name, "cycles/op")})
