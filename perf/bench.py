#!/usr/bin/python3
"""The standard benchmark suite: every path redline runs, next to its baseline, in one run.

    scripts/bench.sh [--smoke] [--seconds N] [--only NAME[,NAME...]] [--json FILE]

--only runs the steps named (see --only below for their names) in the suite's order, e.g.
`--only memif,ring,nat`: the router's memif and in-process rows, the NAT rows, and each NAT row's
ratio to the router on its path, all from one run.

Paths (each a row of the table):
  micro/*          Google Benchmark stage costs (ns/op, TSC cycles/op)
  l3fwd/memif      redline-gen -> memif -> {testpmd io | redline} -> memif -> redline-gen
  l3fwd/ring       redline-gen and {testpmd io's loop | testpmd macswap's loop | redline} in one
                   process over rte_ring pairs; redline's ratio is to macswap, io is the ceiling
  latency          l3fwd/memif and l3fwd/ring paced at half the saturation rate this run measured:
                   p50/p99/p99.9 latency of redline next to its baseline at the same offered load
  l3fwd/af_packet  redline-gen -> veth -> {Linux ip_forward | redline on net_af_packet} -> veth -> redline-gen
  icmp/memif       redline-gen echo requests to redline's address over memif
  scaling          l3fwd/memif with 1, 2 and 4 workers (efficiency per worker)
  nat/*            the NAT next to its baselines (perf/bench_nat.py: memif, ring with 1 M sessions and
                   with a new session per packet, nftables masquerade over veth); the memif and ring
                   rows also give their ratio to the router on the same path in this run (the memif
                   and ring steps' figures, or the router run alongside the NAT when those did not run)
  l3fwd/af_xdp     redline-gen (AF_XDP) -> veth -> {Linux ip_forward | redline on net_af_packet | redline
                   on net_af_xdp} -> veth -> redline-gen, and the generator's own AF_XDP ceiling
                   (perf/bench_afxdp.py; targets >= 5x af_packet, >= 3x Linux)
  tcp/*            redline's TCP engine (two endpoints on one core) and TcpStage receive path next to
                   Linux TCP between namespaces over veth (perf/bench_tcp.py: bulk, 64-byte rr, crr)
  tcp-syn, fuzz/*  hostile input (perf/bench_hostile.py): SYNs answered per core with SYN cookies next
                   to a listener with room (tcp_bench, in-process, alternating), and every fuzz
                   target's executions per second (scripts/fuzz.sh)
  control          l3fwd/memif with a client polling `show counters` and /metrics 100 times a second,
                   next to the same run unpolled, in a namespace of its own
Rates are medians of --runs runs. Everything runs between processes on this machine or between
network namespaces this script creates; it removes them, the sockets and the EAL runtime
directories it made, and kills what it started by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_afxdp  # noqa: E402
import bench_nat  # noqa: E402
import bench_tcp  # noqa: E402
import bench_hostile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
REDLINE = Path(os.environ.get("REDLINE_BIN", BUILD / "dpdk_app" / "redline"))  # REDLINE_BIN: compare another build
GEN = Path(os.environ.get("GEN_BIN", BUILD / "perf" / "redline-gen"))  # GEN_BIN: another generator build
TSC_HZ = None
RUNTIME = Path("/var/run/dpdk")
TAG = f"rlb{os.getpid() % 100000}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tsc_hz() -> float:
    global TSC_HZ
    if TSC_HZ is None:
        out = subprocess.run([str(BUILD / "perf" / "stage_bench"), "--benchmark_filter=NONE",
                              "--benchmark_format=json"], capture_output=True, text=True).stdout
        mhz = json.loads(out)["context"]["mhz_per_cpu"] if out.strip().startswith("{") else 2100
        TSC_HZ = float(mhz) * 1e6
    return TSC_HZ


class Procs:
    """Processes, namespaces and EAL prefixes this run made; all undone by close()."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.namespaces: list[str] = []
        self.prefixes: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="redline-bench-"))

    def eal(self, name: str, lcores: str, memory: int = 512) -> list[str]:
        prefix = f"{TAG}-{name}"
        self.prefixes.append(prefix)
        # memif needs multi-process (no --no-shconf / --in-memory), so each process gets its own
        # file prefix and its runtime directory is removed afterwards.
        return ["--no-huge", "-m", str(memory), "--no-pci", "--no-telemetry", "--file-prefix", prefix,
                "--log-level=pmd.*:error", *lcores.split()]

    def start(self, cmd: list[str], logname: str) -> subprocess.Popen:
        out = open(self.tmp / logname, "w")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15) -> None:
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def wait_for(self, logname: str, pattern: str, timeout: float = 20) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = (self.tmp / logname).read_text(errors="replace")
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        raise RuntimeError(f"{logname}: no '{pattern}' within {timeout}s:\n" + (self.tmp / logname).read_text()[-2000:])

    def netns(self, name: str) -> str:
        ns = f"{TAG}-{name}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.namespaces.append(ns)
        sh(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        sh(ns, "ip link set lo up")
        return ns

    def close(self) -> None:
        for p in self.procs:
            self.stop(p, signal.SIGTERM, 5)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for prefix in self.prefixes:
            shutil.rmtree(RUNTIME / prefix, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def sh(ns: str | None, cmd: str) -> str:
    full = (["ip", "netns", "exec", ns] if ns else []) + ["sh", "-c", cmd]
    r = subprocess.run(full, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return r.stdout


def parse_result(text: str) -> dict[str, float]:
    m = re.search(r"^result (.*)$", text, re.M)
    if not m:
        raise RuntimeError("redline-gen printed no result:\n" + text[-2000:])
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def parse_counters(text: str) -> dict[str, int]:
    blocks = text.split("stats begin")
    last = blocks[-1] if len(blocks) > 1 else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^counter (\w+) (\d+)$", last, re.M)}


def run_gen(P: Procs, ns: str | None, args: list[str], seconds: float, name: str,
            before_exit=None) -> dict[str, float]:
    """Runs redline-gen to its result. `before_exit` (stopping the device under test) runs after
    the result and before the generator closes its ports: a memif server may crash if its client
    leaves first."""
    cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [str(GEN), *P.eal(name, "-l 0"), "--",
                                                                 *args, "--seconds", str(seconds), "--warmup", "1",
                                                                 "--hold", "60"]
    p = P.start(cmd, f"{name}.log")
    text = P.wait_for(f"{name}.log", r"(^|\n)result ", timeout=seconds + 60)
    if before_exit:
        before_exit()
    P.stop(p)
    shutil.rmtree(RUNTIME / f"{TAG}-{name}", ignore_errors=True)
    return parse_result(text)


def redline_config(P: Procs, name: str, ports: list[tuple[str, str]], workers: int, idle_sleep_us: int = 0,
                   control: dict[str, str] | None = None) -> Path:
    text = f"workers = {workers}\n[pipeline]\nidle_sleep_us = {idle_sleep_us}\n"
    if control:
        text += "[control]\n" + "".join(f'{k} = "{v}"\n' for k, v in control.items())
    for i, (device, address) in enumerate(ports):
        text += f'[[ports]]\nname = "p{i}"\ndevice = "{device}"\naddress = "{address}"\n'
    path = P.tmp / f"{name}.toml"
    path.write_text(text)
    return path


def start_redline(P: Procs, ns: str | None, name: str, config: Path, lcores: str) -> tuple[subprocess.Popen, dict[str, str]]:
    cmd = ([] if ns is None else ["ip", "netns", "exec", ns]) + [str(REDLINE), *P.eal(name, lcores), "--", "--config", str(config)]
    p = P.start(cmd, f"{name}.log")
    text = P.wait_for(f"{name}.log", r"redline: ready")
    macs = dict(re.findall(r"^port (\w+): .* mac ([0-9a-f:]{17}) ", text, re.M))
    return p, macs


def stop_redline(P: Procs, p: subprocess.Popen, name: str) -> dict[str, int]:
    P.stop(p)
    text = (P.tmp / f"{name}.log").read_text(errors="replace")
    if "mbufs in use at exit: 0" not in text:
        log(f"warning: {name}: " + (re.findall(r"mbufs in use at exit: \d+", text) or ["no exit line"])[-1] +
            f" (exit code {p.returncode}); its log ends:\n" + text[-1500:])
    return parse_counters(text)


# ---------------------------------------------------------------------------------------------
# paths

ROWS: list[dict] = []


def row(path: str, system: str, mpps: float | None, cycles: float | None, ratio: float | None,
        note: str = "", **extra) -> None:
    ROWS.append({"path": path, "system": system, "mpps": mpps, "cycles_per_pkt": cycles, "ratio": ratio,
                 "note": note, **extra})


def rounds_of(runs: int, *fns) -> list[list[dict]]:
    """Every system once per round, in turn, so all meet the same phases of a noisy VM."""
    return [[fn(i) for fn in fns] for i in range(runs)]


def median_of(results: list[dict], key: str = "rx_pps") -> dict:
    return sorted(results, key=lambda r: r[key])[len(results) // 2]


def median_ratio(rounds: list[list[dict]], num: int, den: int, key: str = "rx_pps") -> float:
    """Median over rounds of system `num`'s figure over system `den`'s, measured moments apart."""
    ratios = sorted(r[num][key] / r[den][key] for r in rounds if r[den][key] > 0)
    return ratios[len(ratios) // 2] if ratios else 0.0


def paired_runs(runs: int, base_fn, dut_fn) -> tuple[dict, dict, float]:
    """Baseline and device alternately, run by run, so both meet the same phases of a noisy VM;
    returns their medians and the median of the per-pair ratios."""
    rounds = rounds_of(runs, base_fn, dut_fn)
    return median_of([r[0] for r in rounds]), median_of([r[1] for r in rounds]), median_ratio(rounds, 1, 0)


# Saturation rates (rx_pps medians) the throughput steps measured, by path and system: the
# latency step paces at half of them; the nat step compares the NAT with the router's.
SATURATION: dict[str, dict[str, float]] = {}


def median_runs(runs: int, fn, key: str = "rx_pps"):
    results = [fn(i) for i in range(runs)]
    results.sort(key=lambda r: r[key])
    return results[len(results) // 2]


def bench_micro(args) -> None:
    min_time = "0.05" if args.smoke else "0.2"
    # pipeline_bench: the whole stage graph on one lcore (L3 forward, ICMP echo), the stable
    # figure beside the in-process ring row; its HarnessOnly row is the part to subtract.
    for binary, filt in (("stage_bench", "."), ("table_bench", "." if not args.smoke else "Lpm|Neighbor|/1024"),
                         ("pipeline_bench", "."), ("nat_bench", "." if not args.smoke else "Harness|/1024")):
        out = subprocess.run([str(BUILD / "perf" / binary), f"--benchmark_min_time={min_time}",
                              f"--benchmark_filter={filt}", "--benchmark_format=json"],
                             capture_output=True, text=True, timeout=900).stdout
        for b in json.loads(out)["benchmarks"]:
            ROWS.append({"path": "micro/" + b["name"], "system": "redline", "ns_per_op": b["real_time"],
                         "cycles_per_op": b.get("cycles/op")})


def memif_devices(sock_dir: Path, tag: str, role: str) -> tuple[str, str]:
    return (f"net_memif0,role={role},socket={sock_dir}/{tag}0.sock",
            f"net_memif1,role={role},socket={sock_dir}/{tag}1.sock")


GEN_FLOWS = ["--src-ip", "10.88.1.2", "--dst-ip", "10.88.2.2", "--rx-ip", "10.88.2.2", "--flows", "1024"]


def bench_memif(args, P: Procs) -> None:
    # The generator's own ceiling: sending into net_null (no device under test, nothing back).
    ceiling = median_runs(args.runs, lambda i: run_gen(
        P, None, ["--tx", "net_null0", "--rx", "none", "--dst-mac", "02:00:00:00:00:01", *GEN_FLOWS], args.seconds,
        f"gnull{i}"),
        key="tx_pps")
    row("generator", "redline-gen send ceiling (net_null)", ceiling["tx_pps"] / 1e6, ceiling["gen_tx_cycles_per_pkt"],
        None, "send only, into net_null; receiving on the same lcore costs more: see the testpmd row")

    # Baseline: testpmd io forwarding on the same memif path.
    tp, rl, ratio = paired_runs(args.runs, lambda i: testpmd_memif(args, P, f"tp{i}"),
                                lambda i: redline_memif(args, P, f"rl{i}", workers=1))
    SATURATION["memif"] = {"baseline": tp["rx_pps"], "redline": rl["rx_pps"]}
    row("l3fwd/memif", "testpmd io (baseline)", tp["rx_pps"] / 1e6, None, None,
        f"loss {tp['loss_pct']:.2f}%, p50 {tp['lat_p50_ns']/1000:.0f} us")
    row("l3fwd/memif", "redline, 1 worker", rl["rx_pps"] / 1e6, rl["cycles"], ratio,
        f"loss {rl['loss_pct']:.2f}%, p50 {rl['lat_p50_ns']/1000:.0f} us")


def testpmd_memif(args, P: Procs, name: str, pps: int = 0) -> dict:
    """`dpdk-testpmd --forward-mode=io` between the generator's two memif ports."""
    s0, s1 = memif_devices(P.tmp, name, "server")
    p = P.start(["dpdk-testpmd", *P.eal(name, "-l 0,1"), "--vdev", s0, "--vdev", s1, "--",
                 "--forward-mode=io", "--nb-cores=1", "--auto-start", "--stats-period=3600",
                 "--total-num-mbufs=16384"], f"{name}.log")
    P.wait_for(f"{name}.log", r"Start automatic packet forwarding|io packet forwarding")
    time.sleep(1)
    c0, c1 = memif_devices(P.tmp, name, "client")
    rate = ["--pps", str(pps)] if pps else []
    return run_gen(P, None, ["--tx", c0, "--rx", c1, "--dst-mac", "02:00:00:00:00:01", *rate, *GEN_FLOWS],
                   args.seconds, f"g{name}", before_exit=lambda: P.stop(p))


def redline_memif(args, P: Procs, name: str, workers: int, pps: int = 0, idle_sleep_us: int = 0,
                  steer: bool = False) -> dict:
    s0, s1 = memif_devices(P.tmp, name, "server")
    cfg = redline_config(P, name, [(s0, "10.88.1.1/24"), (s1, "10.88.2.1/24")], workers, idle_sleep_us)
    lcores = "-l 0,1" if workers == 1 else "--lcores 0@0," + ",".join(f"{w + 1}@{w % 2}" for w in range(workers))
    p, macs = start_redline(P, None, name, cfg, lcores)
    c0, c1 = memif_devices(P.tmp, name, "client")
    rate = (["--pps", str(pps)] if pps else []) + (["--rss-steer", "on"] if steer else [])
    counters: dict[str, int] = {}
    r = run_gen(P, None, ["--tx", c0, "--rx", c1, "--dst-mac", macs["p0"], "--queues", str(workers), *rate, *GEN_FLOWS],
                args.seconds, f"g{name}", before_exit=lambda: counters.update(stop_redline(P, p, name)))
    c = counters
    r["cycles"] = c.get("busy_cycles", 0) / max(1, c.get("rx_packets", 0))
    r["handoff"] = c.get("handoff_out", 0) / max(1, c.get("rx_packets", 0))
    return r


def bench_scaling(args, P: Procs) -> None:
    """Cycles per packet with 1, 2 and 4 workers at one offered load.

    Saturation throughput cannot scale on 2 vCPUs that also run the generator, so each worker
    count gets the same paced load and sleeps when idle; busy_cycles/rx_packets then measures what
    a packet costs (hand-off between cores included), which is what decides scaling on real cores.
    """
    # Worker counts take turns within each round, so every efficiency compares measurements made
    # moments apart; the figure is the median over rounds.
    for steer in (False, True):
        rounds = [{w: redline_memif(args, P, f"sc{int(steer)}{w}w{i}", w, args.scaling_pps, 10, steer)
                   for w in args.workers} for i in range(args.runs)]
        first = args.workers[0]
        for workers in args.workers:
            runs = sorted((r[workers] for r in rounds), key=lambda r: r["cycles"])
            mid = runs[len(runs) // 2]
            eff = sorted(r[first]["cycles"] / r[workers]["cycles"] for r in rounds if r[workers]["cycles"])
            how = "queues by RSS (as a NIC)" if steer else "queues round-robin (no RSS: hand-off)"
            row("scaling/memif", f"redline, {workers} worker(s), {how}", None, mid["cycles"], None,
                f"{args.scaling_pps/1e6:g} Mpps offered, {mid['rx_pps']/1e6:.2f} received, loss {mid['loss_pct']:.2f}%; "
                f"efficiency {eff[len(eff) // 2]:.2f}; {100 * mid['handoff']:.0f}% handed off")


INPROCESS_REDLINE = str(ROOT / "perf" / "inprocess.toml")


def inprocess_run(args, P: Procs, name: str, device: str, pps: int = 0) -> dict:
    """redline-gen --inprocess DEVICE: "io", "macswap" (testpmd's loops) or a redline config."""
    rate = ["--pps", str(pps)] if pps else []
    cmd = [str(GEN), *P.eal(name, "-l 0,1", 1024), "--", "--inprocess", device, *rate, *GEN_FLOWS,
           "--seconds", str(args.seconds), "--warmup", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 60, stdin=subprocess.DEVNULL)
    shutil.rmtree(RUNTIME / f"{TAG}-{name}", ignore_errors=True)
    res = parse_result(r.stdout + r.stderr)
    m = re.search(r"dut_cycles_per_pkt=([\d.]+)", r.stdout)
    res["cycles"] = float(m.group(1)) if m and device not in ("io", "macswap") else None
    return res


def bench_inprocess(args, P: Procs) -> None:
    """Generator and device in one process over rte_ring pairs: no PMD copies, no system calls.

    Two baselines: testpmd's io loop moves pointers only and is the path's ceiling; its macswap
    loop reads and writes every Ethernet header, so it meets the same cold mbufs and frames from
    the generator's core that any forwarder reading headers meets. redline's ratio is to macswap;
    the ratio to io stays beside it."""
    rounds = rounds_of(args.runs, lambda i: inprocess_run(args, P, f"ip{i}io", "io"),
                       lambda i: inprocess_run(args, P, f"ip{i}ms", "macswap"),
                       lambda i: inprocess_run(args, P, f"ip{i}rl", INPROCESS_REDLINE))
    io, ms, rl = (median_of([r[k] for r in rounds]) for k in range(3))
    SATURATION["ring"] = {"baseline": ms["rx_pps"], "redline": rl["rx_pps"]}
    row("l3fwd/ring in-process", "io forwarder (testpmd io's loop, ceiling)", io["rx_pps"] / 1e6, None, None,
        f"loss {io['loss_pct']:.2f}%; touches no packet data")
    row("l3fwd/ring in-process", "macswap forwarder (testpmd macswap's loop, baseline)", ms["rx_pps"] / 1e6, None,
        None, f"loss {ms['loss_pct']:.2f}%; {median_ratio(rounds, 1, 0):.2f} of io")
    row("l3fwd/ring in-process", "redline, 1 worker", rl["rx_pps"] / 1e6, rl["cycles"], median_ratio(rounds, 2, 1),
        f"{median_ratio(rounds, 2, 0):.2f} of io; loss {rl['loss_pct']:.2f}%, p50 {rl['lat_p50_ns']/1000:.0f} us; "
        "mbufs cross cores cold", ratio_to_io=median_ratio(rounds, 2, 0))


def bench_latency(args, P: Procs) -> None:
    """Latency at half the saturation rate, redline next to its baseline at the same offered load.

    At saturation the generator's latency is queueing in the rings in front of the slowest stage;
    at half load it is what a packet costs on its way through. Both systems get the same rate,
    half the lower of the two saturation rates this run measured (the memif and ring steps'
    medians; measured here, one run each, when those steps did not run), so each is at most half
    loaded. Medians over --runs alternating rounds, each quantile on its own."""
    def saturation(path: str, base_fn, dut_fn) -> dict[str, float]:
        if path not in SATURATION:
            log(f"bench: latency: measuring {path}'s saturation rate first (one run each)")
            b, d = base_fn(), dut_fn()
            SATURATION[path] = {"baseline": b["rx_pps"], "redline": d["rx_pps"]}
        return SATURATION[path]

    paths = [
        ("memif", "l3fwd/memif @ half rate", "testpmd io (baseline)",
         lambda name, pps: testpmd_memif(args, P, name, pps),
         lambda name, pps: redline_memif(args, P, name, 1, pps)),
        ("ring", "l3fwd/ring in-process @ half rate", "macswap forwarder (baseline)",
         lambda name, pps: inprocess_run(args, P, name, "macswap", pps),
         lambda name, pps: inprocess_run(args, P, name, INPROCESS_REDLINE, pps)),
    ]
    for key, path, base_name, base_fn, dut_fn in paths:
        sat = saturation(key, lambda: base_fn(f"ls{key}b", 0), lambda: dut_fn(f"ls{key}r", 0))
        pps = int(min(sat.values()) / 2)
        rounds = rounds_of(args.runs, lambda i: base_fn(f"lt{key}b{i}", pps), lambda i: dut_fn(f"lt{key}r{i}", pps))
        for k, system in ((0, base_name), (1, "redline, 1 worker")):
            runs = [r[k] for r in rounds]
            med = {q: median_of(runs, q)[q] for q in ("rx_pps", "lat_p50_ns", "lat_p99_ns", "lat_p999_ns", "loss_pct")}
            cycles = median_of(runs, "cycles")["cycles"] if runs[0].get("cycles") is not None else None
            note = (f"half of {min(sat.values()) / 1e6:.2f} Mpps, the lower saturation rate "
                    f"(baseline {sat['baseline'] / 1e6:.2f}, redline {sat['redline'] / 1e6:.2f})" if k == 0 else
                    f"p50 {median_ratio(rounds, 1, 0, 'lat_p50_ns'):.2f}x, p99 {median_ratio(rounds, 1, 0, 'lat_p99_ns'):.2f}x "
                    f"the baseline's" + (f"; {cycles:.0f} cycles/packet at this load" if cycles else ""))
            row(path, system, med["rx_pps"] / 1e6, cycles, None, note, kind="latency", offered_mpps=pps / 1e6,
                p50_us=med["lat_p50_ns"] / 1000, p99_us=med["lat_p99_ns"] / 1000, p999_us=med["lat_p999_ns"] / 1000,
                loss_pct=med["loss_pct"])


def bench_icmp(args, P: Procs) -> None:
    def run(i: int) -> dict:
        name = f"icmp{i}"
        s0, s1 = memif_devices(P.tmp, name, "server")
        cfg = redline_config(P, name, [(s0, "10.88.1.1/24"), (s1, "10.88.2.1/24")], 1)
        p, macs = start_redline(P, None, name, cfg, "-l 0,1")
        c0, _ = memif_devices(P.tmp, name, "client")
        c: dict[str, int] = {}
        r = run_gen(P, None, ["--tx", c0, "--dst-mac", macs["p0"], "--proto", "icmp", "--src-ip", "10.88.1.2",
                              "--dst-ip", "10.88.1.1", "--flows", "1024"], args.seconds, f"g{name}",
                    before_exit=lambda: c.update(stop_redline(P, p, name)))
        r["cycles"] = c.get("busy_cycles", 0) / max(1, c.get("rx_packets", 0))
        return r
    r = median_runs(args.runs, run)
    row("icmp-echo/memif", "redline, 1 worker", r["rx_pps"] / 1e6, r["cycles"], None,
        f"loss {r['loss_pct']:.2f}%, p50 {r['lat_p50_ns']/1000:.0f} us; no kernel baseline on memif")


def veth_topology(P: Procs, run: str) -> tuple[str, str]:
    g = P.netns(f"g{run}")
    r = P.netns(f"r{run}")
    for i in (0, 1):
        subprocess.run(["ip", "link", "add", f"{TAG}g{i}", "netns", g, "type", "veth", "peer", "name", f"{TAG}r{i}", "netns", r], check=True)
        sh(g, f"ip link set {TAG}g{i} up")
        sh(r, f"ip link set {TAG}r{i} up")
    return g, r


def bench_veth(args, P: Procs) -> None:
    gen_dev = [f"net_af_packet0,iface={TAG}g0", f"net_af_packet1,iface={TAG}g1"]

    def kernel_run(i: int) -> dict:
        g, r = veth_topology(P, f"k{i}")
        sh(r, f"ip addr add 10.88.1.1/24 dev {TAG}r0 && ip addr add 10.88.2.1/24 dev {TAG}r1 && sysctl -qw net.ipv4.ip_forward=1")
        mac = sh(r, f"cat /sys/class/net/{TAG}r0/address").strip()
        res = run_gen(P, g, ["--tx", gen_dev[0], "--rx", gen_dev[1], "--dst-mac", mac, *GEN_FLOWS], args.seconds, f"gk{i}")
        for ns in (g, r):
            subprocess.run(["ip", "netns", "del", ns])
            P.namespaces.remove(ns)
        return res

    def redline_run(i: int) -> dict:
        g, r = veth_topology(P, f"d{i}")
        name = f"rlv{i}"
        cfg = redline_config(P, name, [(f"net_af_packet0,iface={TAG}r0", "10.88.1.1/24"),
                                       (f"net_af_packet1,iface={TAG}r1", "10.88.2.1/24")], 1)
        p, macs = start_redline(P, r, name, cfg, "-l 0,1")
        c: dict[str, int] = {}
        res = run_gen(P, g, ["--tx", gen_dev[0], "--rx", gen_dev[1], "--dst-mac", macs["p0"], *GEN_FLOWS], args.seconds,
                      f"gd{i}", before_exit=lambda: c.update(stop_redline(P, p, name)))
        res["cycles"] = c.get("busy_cycles", 0) / max(1, c.get("rx_packets", 0))
        for ns in (g, r):
            subprocess.run(["ip", "netns", "del", ns])
            P.namespaces.remove(ns)
        return res
    k, d, ratio = paired_runs(args.runs, kernel_run, redline_run)
    row("l3fwd/af_packet", "Linux ip_forward (baseline)", k["rx_pps"] / 1e6, None, None,
        f"loss {k['loss_pct']:.2f}%; kernel forwarding runs in the sender's softirq")
    row("l3fwd/af_packet", "redline, 1 worker", d["rx_pps"] / 1e6, d["cycles"], ratio,
        f"loss {d['loss_pct']:.2f}%; af_packet system calls bound both")


# The control-plane poller (`control` step): one client of redline's control socket and of its
# /metrics, as a monitoring agent would be, at a fixed rate. It runs with /usr/bin/python3 inside
# the step's namespace (the metrics address is that namespace's loopback), pinned to the CPUs
# given (the control lcore's: a client has no business on a worker's core, and on these 2-vCPU
# VMs the worker's CPU is the one being measured). Each poll opens a new connection to each
# server, the dearer way for the control side (accept and close per request, as redlinectl and
# a scraper without keep-alive do). It stops by itself after SECONDS, or at SIGTERM/SIGINT, and
# prints one JSON line of counts.
POLLER = r'''
import http.client, json, os, signal, socket, sys, time
sock_path, host, port = sys.argv[1], sys.argv[2].rsplit(":", 1)[0], int(sys.argv[2].rsplit(":", 1)[1])
rate, seconds, cpus = float(sys.argv[3]), float(sys.argv[4]), {int(c) for c in sys.argv[5].split(",")}
os.sched_setaffinity(0, cpus)
stop = False
def on_signal(signum, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

def show_counters():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect(sock_path)
        s.sendall(b'{"command": "show counters"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed before the reply's end")
            buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise RuntimeError("reply: " + buf.decode()[:200])
    return next(c["value"] for c in reply["result"]["counters"] if c["name"] == "rx_packets")

def metrics():
    conn = http.client.HTTPConnection(host, port, timeout=1)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    if r.status != 200 or b"redline_rx_packets_total" not in body:
        raise RuntimeError(f"/metrics: HTTP {r.status}, {len(body)} bytes")

counts = {"show_counters": 0, "metrics": 0, "errors": 0, "late": 0}
first_error, rx_packets = "", 0
start = time.monotonic()
next_poll = start
while not stop and time.monotonic() - start < seconds:
    for what, fn in (("show_counters", show_counters), ("metrics", metrics)):
        try:
            v = fn()
            counts[what] += 1
            if what == "show_counters":
                rx_packets = v
        except Exception as e:
            counts["errors"] += 1
            first_error = first_error or f"{what}: {e!r}"
    next_poll += 1 / rate
    now = time.monotonic()
    if next_poll > now:
        time.sleep(next_poll - now)
    else:
        counts["late"] += 1
        next_poll = now  # behind: carry on at the rate from here, no burst to catch up
t = os.times()
print(json.dumps({**counts, "seconds": time.monotonic() - start, "cpu_seconds": t.user + t.system,
                  "last_rx_packets": rx_packets, "first_error": first_error}), flush=True)
'''

CONTROL_POLL_RATE = 100  # polls a second, each a `show counters` and a GET /metrics


def control_cpu_seconds(pid: int) -> float:
    """CPU seconds of a redline process's threads other than its workers (EAL names those
    rte-worker-N): the control thread, civetweb's, EAL's interrupt and multi-process threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().startswith("rte-worker"):
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
        except (OSError, IndexError, ValueError):
            pass  # the thread ended
    return total / os.sysconf("SC_CLK_TCK")


def bench_control(args, P: Procs) -> None:
    """L3 forwarding over memif with and without a client polling the control plane.

    redline runs with its control socket and /metrics on in both runs of a pair (the same config);
    in one, a client asks `show counters` on the socket and GETs /metrics, each CONTROL_POLL_RATE
    times a second, for the whole generator run. Everything runs in a namespace of its own: the
    metrics server listens on that namespace's loopback only, and the memif sockets are abstract
    (DPDK's default), so they are per namespace too and the generator runs there as well. The
    ratio is polled over not polled, the median of per-pair ratios."""
    ns = P.netns("ctl")
    poller = P.tmp / "poller.py"
    poller.write_text(POLLER)
    sock, metrics = P.tmp / "ctl.sock", "127.0.0.1:9469"

    def run(i: int, polled: bool) -> dict:
        name = f"ctl{i}{'p' if polled else 'n'}"
        s0, s1 = memif_devices(P.tmp, name, "server")
        cfg = redline_config(P, name, [(s0, "10.88.1.1/24"), (s1, "10.88.2.1/24")], 1,
                             control={"socket": str(sock), "metrics": metrics})
        p, macs = start_redline(P, ns, name, cfg, "-l 0,1")
        c0, c1 = memif_devices(P.tmp, name, "client")
        poll: dict = {}
        q = None
        cpu0, t0 = control_cpu_seconds(p.pid), time.monotonic()
        if polled:
            # Bounded by time on its own (the generator's run, its start and a margin); stopped
            # by PID once the generator has its result, before redline stops.
            q = P.start(["ip", "netns", "exec", ns, "/usr/bin/python3", str(poller), str(sock), metrics,
                         str(CONTROL_POLL_RATE), str(args.seconds + 30), "0"], f"{name}-poller.log")

        def before_exit() -> None:
            counters["control_cpu"] = (control_cpu_seconds(p.pid) - cpu0) / (time.monotonic() - t0)
            if q is not None:
                P.stop(q, signal.SIGTERM, 5)
                text = (P.tmp / f"{name}-poller.log").read_text(errors="replace")
                lines = [line for line in text.splitlines() if line.startswith("{")]
                if not lines:
                    raise RuntimeError(f"{name}: the poller printed no counts:\n{text[-2000:]}")
                poll.update(json.loads(lines[-1]))
            counters.update(stop_redline(P, p, name))

        counters: dict[str, int] = {}
        r = run_gen(P, ns, ["--tx", c0, "--rx", c1, "--dst-mac", macs["p0"], *GEN_FLOWS], args.seconds, f"g{name}",
                    before_exit=before_exit)
        r["cycles"] = counters.get("busy_cycles", 0) / max(1, counters.get("rx_packets", 0))
        r["control_cpu"] = counters["control_cpu"]
        r["tx_dropped"] = counters.get("tx_dropped", 0)
        if polled:
            secs = max(poll["seconds"], 1e-9)
            r["ctl_per_s"], r["metrics_per_s"] = poll["show_counters"] / secs, poll["metrics"] / secs
            r["poll_errors"], r["poll_late"] = poll["errors"], poll["late"]
            r["poll_cpu"] = poll["cpu_seconds"] / secs
            if poll["errors"] or not poll["last_rx_packets"]:
                log(f"warning: {name}: poller: {poll['errors']} errors ({poll['first_error']}), "
                    f"last rx_packets {poll['last_rx_packets']}")
        polls = (f"; {r['ctl_per_s']:.0f} + {r['metrics_per_s']:.0f} polls/s, {r['poll_errors']} errors, "
                 f"{r['poll_late']} late, poller {100 * r['poll_cpu']:.0f}% of a CPU") if polled else ""
        log(f"bench: control: {name}: {r['rx_pps'] / 1e6:.2f} Mpps, {r['cycles']:.0f} cycles/packet, loss "
            f"{r['loss_pct']:.2f}%, {r['tx_dropped']} dropped at redline's TX, redline's control threads "
            f"{100 * r['control_cpu']:.1f}% of a CPU{polls}")
        return r

    rounds = rounds_of(args.runs, lambda i: run(i, False), lambda i: run(i, True))
    base, polled = median_of([r[0] for r in rounds]), median_of([r[1] for r in rounds])
    ratio = median_ratio(rounds, 1, 0)
    cycles_ratio = median_ratio(rounds, 1, 0, "cycles")
    runs = [r[1] for r in rounds]
    ctl, met = median_of(runs, "ctl_per_s")["ctl_per_s"], median_of(runs, "metrics_per_s")["metrics_per_s"]
    errors = sum(r["poll_errors"] for r in runs)
    ctl_cpu = median_of(runs, "control_cpu")["control_cpu"]
    # Frames redline's TX found no room for: the generator's RX ring full, i.e. the generator
    # (which shares CPU 0 with the client and redline's control threads) fell behind.
    drops = [median_of([r[k] for r in rounds], "tx_dropped")["tx_dropped"] for k in (1, 0)]
    row("l3fwd/memif + control polling", f"redline, 1 worker, show counters + /metrics at {CONTROL_POLL_RATE}/s",
        polled["rx_pps"] / 1e6, polled["cycles"], ratio,
        f"polled {ctl:.0f} show counters/s and {met:.0f} /metrics/s ({errors} errors; redline's control "
        f"threads {100 * ctl_cpu:.1f}% of a CPU); without polling "
        f"{base['rx_pps'] / 1e6:.2f} Mpps, {base['cycles']:.0f} cycles/packet (polled {cycles_ratio:.2f}x that); "
        f"loss {polled['loss_pct']:.2f}%; {drops[0]} TX drops a run (generator's RX full), {drops[1]} unpolled",
        ratio_cycles=cycles_ratio, unpolled_mpps=base["rx_pps"] / 1e6, tx_dropped=drops[0], unpolled_tx_dropped=drops[1],
        show_counters_per_s=ctl, metrics_per_s=met, poll_errors=errors, control_cpu=ctl_cpu)


def print_table(out=sys.stdout) -> None:
    f = lambda v, fmt: (fmt % v) if v is not None else "—"
    paths = [r for r in ROWS if not r["path"].startswith("micro/") and r.get("kind") != "latency"]
    if paths:
        print("| path | system | Mpps per core | cycles/packet | ratio to baseline | notes |", file=out)
        print("|---|---|---:|---:|---:|---|", file=out)
    for r in paths:
        print(f"| {r['path']} | {r['system']} | {f(r['mpps'], '%.2f')} | {f(r['cycles_per_pkt'], '%.0f')} | "
              f"{f(r['ratio'], '%.2f')} | {r['note']} |", file=out)
    latency = [r for r in ROWS if r.get("kind") == "latency"]
    if latency:
        print("\n" if paths else "", end="", file=out)
        print("| latency at half the saturation rate | system | offered Mpps | received Mpps | loss | p50 us | p99 us "
              "| p99.9 us | notes |", file=out)
        print("|---|---|---:|---:|---:|---:|---:|---:|---|", file=out)
        for r in latency:
            print(f"| {r['path']} | {r['system']} | {r['offered_mpps']:.2f} | {f(r['mpps'], '%.2f')} | "
                  f"{r['loss_pct']:.2f}% | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['p999_us']:.1f} | {r['note']} |",
                  file=out)
    micro = [r for r in ROWS if r["path"].startswith("micro/")]
    if micro:
        print("\n" if paths or latency else "", end="", file=out)
        print("| stage (Google Benchmark) | ns/op | TSC cycles/op |", file=out)
        print("|---|---:|---:|", file=out)
        for r in micro:
            cyc = r.get("cycles_per_op")
            print(f"| {r['path'][6:]} | {r['ns_per_op']:.1f} | {cyc:.1f} |" if cyc else f"| {r['path'][6:]} | {r['ns_per_op']:.1f} | — |", file=out)


def write_results(header: str) -> None:
    """Puts this run's tables into perf/RESULTS.md between `<!-- bench:begin -->` and
    `<!-- bench:end -->`, so the prose around them stays and the figures stay current."""
    import io
    path = ROOT / "perf" / "RESULTS.md"
    text = path.read_text()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin not in text or end not in text:
        log(f"bench: {path} has no {begin}/{end} markers; not written")
        return
    table = io.StringIO()
    print(f"Run of {header}.\n", file=table)
    print_table(table)
    text = text[:text.index(begin) + len(begin)] + "\n" + table.getvalue() + text[text.index(end):]
    path.write_text(text)
    log(f"bench: wrote {path}")


# The steps in the order they run (--only picks some).
STEPS = ("micro", "memif", "ring", "latency", "scaling", "icmp", "veth", "afxdp", "control", "nat", "tcp", "hostile")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="a short run that checks the generator and the table work")
    ap.add_argument("--seconds", type=float, default=None, help="measured seconds per run (default 4; smoke 1)")
    ap.add_argument("--runs", type=int, default=None, help="runs per figure, median reported (default 3; smoke 1)")
    ap.add_argument("--only", default="", metavar="NAME[,NAME...]", help="steps to run, comma-separated, in the suite's order: " + ",".join(STEPS))
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    ap.add_argument("--write-results", action="store_true",
                    help="replace the tables in perf/RESULTS.md (between its table markers) with this run's")
    ap.add_argument("--workers", default="1,2,4", help="worker counts for the scaling step")
    ap.add_argument("--scaling-pps", type=int, default=1_000_000, help="offered load of the scaling step")
    args = ap.parse_args()
    args.seconds = args.seconds or (1 if args.smoke else 4)
    args.runs = args.runs or (1 if args.smoke else 3)
    args.workers = [int(w) for w in args.workers.split(",")]
    only = set(filter(None, args.only.split(","))) or set(STEPS)
    if only - set(STEPS):
        ap.error(f"--only: no step {','.join(sorted(only - set(STEPS)))}; the steps are {','.join(STEPS)}")
    if args.smoke:
        only -= {"scaling"}
    if os.geteuid() != 0:
        print("bench: run as root (namespaces, veths)", file=sys.stderr)
        return 1
    P = Procs()
    started = time.time()
    try:
        steps = [
            ("micro", "microbenchmarks", lambda: bench_micro(args)),
            ("memif", "L3 forwarding over memif (testpmd io, redline)", lambda: bench_memif(args, P)),
            ("ring", "L3 forwarding in-process over ring pairs (io, macswap, redline)", lambda: bench_inprocess(args, P)),
            ("latency", "latency at half the saturation rate (memif, in-process)", lambda: bench_latency(args, P)),
            ("scaling", f"scaling over memif ({args.workers} workers)", lambda: bench_scaling(args, P)),
            ("icmp", "ICMP echo over memif", lambda: bench_icmp(args, P)),
            ("veth", "L3 forwarding over veth/af_packet (Linux, redline)", lambda: bench_veth(args, P)),
            ("afxdp", "L3 forwarding over veth: AF_XDP next to af_packet and Linux (generator on AF_XDP)",
             lambda: bench_afxdp.run(args, P, sys.modules[__name__])),
            ("control", "L3 forwarding over memif while a client polls the control plane", lambda: bench_control(args, P)),
            ("nat", "NAT: memif, in-process with 1 M sessions and new sessions, nftables over veth", lambda: bench_nat.run(args, P, sys.modules[__name__])),
            ("tcp", "TCP: redline's engine and receive stage next to Linux TCP between namespaces (bulk, rr, crr)",
             lambda: bench_tcp.run(args, P, sys.modules[__name__])),
            ("hostile", "hostile input: SYNs per core with cookies and with room; fuzz targets' rates",
             lambda: bench_hostile.run(args, P, sys.modules[__name__])),
        ]
        assert [name for name, _, _ in steps] == list(STEPS)
        for name, what, run in steps:
            if name in only:
                log(f"bench: {what}")
                run()
    finally:
        P.close()
    print(f"# redline bench — {time.strftime('%Y-%m-%d %H:%M')} — {os.uname().nodename}, "
          f"{args.runs} run(s) x {args.seconds:g} s, medians; {time.time() - started:.0f} s in all")
    print_table()
    if args.json:
        Path(args.json).write_text(json.dumps(ROWS, indent=1))
    if args.write_results:
        write_results(f"{time.strftime('%Y-%m-%d %H:%M')}, {args.runs} run(s) x {args.seconds:g} s, medians")
    return 0


if __name__ == "__main__":
    sys.exit(main())
