"""The NAT rows of the benchmark suite (`scripts/bench.sh --only nat`), each next to a baseline
measured in the same run, and the memif and ring rows also next to the router on the same path in
the same run (a NAT packet is a routed packet plus a session; issue 23's targets: NAT/router
>= 0.85 over memif, >= 0.5 in-process with 1 M sessions):

  nat/memif        redline-gen -> memif -> {testpmd io | redline NAT} -> memif -> redline-gen:
                   established sessions (1024 flows, made in the warm-up), translated inside to
                   outside; target >= 0.8 of testpmd io, >= 0.85 of the router on the same path
  nat/ring 1M      in-process over ring pairs, one million live sessions (the flows round-robin,
                   so every packet's session is a cache miss), next to the io forwarder on the
                   same path; target >= 10 Mpps per core, >= 0.5 of the router in-process
  nat/ring new     in-process, every packet from a source never seen (redline-gen --unique-flows):
                   a mapping, an outside port and a session per packet, sessions expiring after
                   1 s meanwhile; target >= 1 M new sessions per second per core
  nat/af_packet    redline-gen -> veth -> {Linux nftables masquerade | redline NAT on af_packet}
                   -> veth -> redline-gen
The router's figure is the median its own step (`memif`, `ring`) measured earlier in this run;
when that step did not run (`--only nat`), the router runs here, last in every round of the NAT
row's runs, and gets a row of its own. The in-process router runs on 4 KiB pages as in its own
step, the NAT's ring rows on hugepages when the kernel has them (their notes say which).
Memory per session comes from redline's own account of its tables (`nat: worker 0: tables for N
sessions take X MiB (B bytes per session)`), cycles per packet from its busy-cycle counters.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

POOL = [f"10.88.2.{100 + i}" for i in range(64)]


def nat_section(max_sessions: int, *, pool: bool, udp_timeout: int | None = None) -> str:
    to = "[" + ", ".join(f'"{a}"' for a in POOL) + "]" if pool else '"masquerade"'
    text = f'[nat]\ninside = ["p0"]\noutside = ["p1"]\nmax_sessions = {max_sessions}\n'
    if udp_timeout:
        text += f"[nat.timeouts]\nudp = {udp_timeout}\nrfc_minimums = false\n"
    return text + f'[[nat.snat]]\nsource = "10.88.1.0/24"\nto = {to}\n'


def memory_per_session(log_text: str) -> int | None:
    m = re.search(r"nat: worker 0: tables for \d+ sessions take [\d.]+ MiB \((\d+) bytes per session\)", log_text)
    return int(m.group(1)) if m else None


def run(args, P, b) -> None:
    """`b` is the bench module (its helpers: run_gen, redline_config, row, ...)."""
    memif(args, P, b)
    with Hugepages(1200) as huge:  # 2.3 GiB: the largest run asks EAL for 2 GiB
        HUGE["ok"] = huge.ok
        if not huge.ok:
            b.log("bench: nat: no hugepages to be had; the ring rows run on 4 KiB pages")
        ring_million(args, P, b)
        ring_new(args, P, b)
    HUGE["ok"] = False
    af_packet(args, P, b)


# The router's row on each path the NAT is measured against it, and the NAT's targets (issue 23).
ROUTER_ROW = {"memif": "l3fwd/memif", "ring": "l3fwd/ring in-process"}
TARGET_VS_ROUTER = {"memif": 0.85, "ring": 0.5}


def rounds_with_router(args, P, b, path: str, row_path: str, tag: str, *fns):
    """`fns` run alternating round by round (bench.rounds_of), and the router on `path` ("memif"
    or "ring") as measured in this run: the median its own step left in bench.SATURATION or, when
    that step did not run, a run of it last in every round here, so that it meets the same phases
    as the NAT (its row then goes under `row_path`). Returns the rounds and `to_router(k)`: the
    ratio of system k's rate to the router's and the note saying so."""
    mine = path not in b.SATURATION
    if mine:
        b.log(f"bench: nat: the {path} step did not run; the router on {path} runs here, alternating")
        router = ((lambda i: b.redline_memif(args, P, f"{tag}rt{i}", 1)) if path == "memif" else
                  (lambda i: b.inprocess_run(args, P, f"{tag}rt{i}", b.INPROCESS_REDLINE)))
        fns += (router,)
    rounds = b.rounds_of(args.runs, *fns)
    if mine:
        rt = b.median_of([r[-1] for r in rounds])
        b.row(row_path, f"redline router, no NAT, 1 worker ({ROUTER_ROW[path]})", rt["rx_pps"] / 1e6, rt["cycles"],
              None, f"loss {rt['loss_pct']:.2f}%; the {path} step did not run: measured here, alternating")
    mpps = (rt["rx_pps"] if mine else b.SATURATION[path]["redline"]) / 1e6

    def to_router(k: int, target: float | None = None) -> tuple[float, str]:
        ratio = (b.median_ratio(rounds, k, len(fns) - 1) if mine else
                 b.median_of([r[k] for r in rounds])["rx_pps"] / 1e6 / mpps)
        return ratio, (f"{ratio:.2f}× the router ({ROUTER_ROW[path]} {mpps:.1f} Mpps, same run"
                       f"{', alternating' if mine else ''}" + (f"; target ≥ {target}" if target else "") + ")")
    return rounds, to_router


def redline_nat_memif(args, P, b, name: str) -> dict:
    s0, s1 = b.memif_devices(P.tmp, name, "server")
    cfg = b.redline_config(P, name, [(s0, "10.88.1.1/24"), (s1, "10.88.2.1/24")], 1)
    cfg.write_text(cfg.read_text() + nat_section(65536, pool=False))
    p, macs = b.start_redline(P, None, name, cfg, "-l 0,1")
    c0, c1 = b.memif_devices(P.tmp, name, "client")
    counters: dict[str, int] = {}
    r = b.run_gen(P, None, ["--tx", c0, "--rx", c1, "--dst-mac", macs["p0"], *b.GEN_FLOWS], args.seconds, f"g{name}",
                  before_exit=lambda: counters.update(b.stop_redline(P, p, name)))
    r["cycles"] = counters.get("busy_cycles", 0) / max(1, counters.get("rx_packets", 0))
    r["translated"] = counters.get("nat_translated_out", 0)
    r["bytes_per_session"] = memory_per_session((P.tmp / f"{name}.log").read_text(errors="replace"))
    return r


def memif(args, P, b) -> None:
    path = "nat/memif established"
    rounds, to_router = rounds_with_router(args, P, b, "memif", path, "n", lambda i: b.testpmd_memif(args, P, f"ntp{i}"),
                                           lambda i: redline_nat_memif(args, P, b, f"nrl{i}"))
    tp, rl = (b.median_of([r[k] for r in rounds]) for k in (0, 1))
    vs_router, note = to_router(1, TARGET_VS_ROUTER["memif"])
    b.row(path, "testpmd io (baseline)", tp["rx_pps"] / 1e6, None, None, f"loss {tp['loss_pct']:.2f}%")
    b.row(path, "redline NAT, 1 worker", rl["rx_pps"] / 1e6, rl["cycles"], b.median_ratio(rounds, 1, 0),
          f"{note}; 1024 sessions; {rl['bytes_per_session']} bytes per session; loss {rl['loss_pct']:.2f}%",
          ratio_to_router=vs_router)


def inprocess_config(P, name: str, nat: str) -> Path:
    path = P.tmp / f"{name}.toml"
    path.write_text('[[ports]]\nname = "p0"\ndevice = "net_ring_rl0"\naddress = "10.88.1.1/24"\n'
                    '[[ports]]\nname = "p1"\ndevice = "net_ring_rl1"\naddress = "10.88.2.1/24"\n' + nat)
    return path


class Hugepages:
    """Reserves `count` 2 MiB hugepages for the ring rows and gives back what it added: a
    million sessions' tables on 4 KiB pages cost a TLB miss per lookup on top of the cache miss,
    which no appliance would run with. `ok` is false if the kernel could not give them."""

    PATH = Path("/proc/sys/vm/nr_hugepages")

    def __init__(self, count: int) -> None:
        self.count = count
        self.before = int(self.PATH.read_text())
        self.ok = False

    def __enter__(self) -> "Hugepages":
        if self.before < self.count:
            self.PATH.write_text(str(self.count))
        self.ok = int(self.PATH.read_text()) >= self.count
        return self

    def __exit__(self, *exc) -> None:
        self.PATH.write_text(str(self.before))


def eal_args(P, name: str, memory: int, huge: bool) -> list[str]:
    if not huge:
        return P.eal(name, "-l 0,1", memory)
    # --in-memory: no files left in /var/run/dpdk, hugepages returned when the process ends.
    return ["--in-memory", "-m", str(memory), "--no-pci", "--no-telemetry", "--log-level=pmd.*:error", "-l", "0,1"]


HUGE = {"ok": False}


def inprocess(args, P, b, name: str, device: str, extra: list[str], warmup: float, memory: int) -> dict:
    cmd = [str(b.GEN), *eal_args(P, name, memory, HUGE["ok"]), "--", "--inprocess", device, *b.GEN_FLOWS, *extra,
           "--seconds", str(args.seconds), "--warmup", str(warmup)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + warmup + 120, stdin=subprocess.DEVNULL)
    b.shutil.rmtree(b.RUNTIME / f"{b.TAG}-{name}", ignore_errors=True)
    res = b.parse_result(r.stdout + r.stderr)
    m = re.search(r"dut_cycles_per_pkt=([\d.]+)", r.stdout)
    res["cycles"] = float(m.group(1)) if m and device not in ("io", "macswap") else None
    res["bytes_per_session"] = memory_per_session(r.stdout + r.stderr)
    return res


def ring_million(args, P, b) -> None:
    flows = ["--flows", "1000000", "--flows-per-ip", "4000"]
    cfg = inprocess_config(P, "nat1m", nat_section(1_100_000, pool=True))
    # The warm-up makes the million sessions (about a second at the rate sessions are made).
    path = "nat/ring 1M sessions"
    rounds, to_router = rounds_with_router(
        args, P, b, "ring", path, "n1", lambda i: inprocess(args, P, b, f"n1io{i}", "io", flows, 1, 1024),
        lambda i: inprocess(args, P, b, f"n1rl{i}", str(cfg), flows, 3, 1536))
    io, rl = (b.median_of([r[k] for r in rounds]) for k in (0, 1))
    vs_router, note = to_router(1, TARGET_VS_ROUTER["ring"])
    b.row(path, "io forwarder (testpmd io's loop, ceiling)", io["rx_pps"] / 1e6, None, None,
          f"loss {io['loss_pct']:.2f}%; 1 M flows round-robin")
    b.row(path, "redline NAT, 1 worker", rl["rx_pps"] / 1e6, rl["cycles"], b.median_ratio(rounds, 1, 0),
          f"{note}; 1 M live sessions, each packet a different one; {rl['bytes_per_session']} bytes per session; "
          f"{'hugepages' if HUGE['ok'] else '4 KiB pages'}; loss {rl['loss_pct']:.2f}%", ratio_to_router=vs_router)


def ring_new(args, P, b) -> None:
    # Sessions idle out after 1 s, so the table holds a little over one second's worth: room for
    # 3 M (at 1.5 M/s a 2 M table filled and refused 13%). At that rate the pool address the most
    # inside hosts pair with runs out of ports now and then: those refusals are the row's loss.
    cfg = inprocess_config(P, "natnew", nat_section(3_000_000, pool=True, udp_timeout=1))
    path = "nat/ring new sessions"
    rounds, to_router = rounds_with_router(
        args, P, b, "ring", path, "nn", lambda i: inprocess(args, P, b, f"nnrl{i}", str(cfg), ["--unique-flows", "on"], 1, 2048))
    rl = b.median_of([r[0] for r in rounds])
    vs_router, note = to_router(0)
    b.row(path, "redline NAT, 1 worker", rl["rx_pps"] / 1e6, rl["cycles"], None,
          f"{note}; every packet a new mapping, port and session (M sessions/s = Mpps received); sessions expire after "
          f"1 s meanwhile; {rl['bytes_per_session']} bytes per session; {'hugepages' if HUGE['ok'] else '4 KiB pages'}; "
          f"loss {rl['loss_pct']:.2f}% (sessions refused for want of a port or table room, counted)",
          ratio_to_router=vs_router)


def af_packet(args, P, b) -> None:
    gen_dev = [f"net_af_packet0,iface={b.TAG}g0", f"net_af_packet1,iface={b.TAG}g1"]

    def teardown(*namespaces) -> None:
        for ns in namespaces:
            subprocess.run(["ip", "netns", "del", ns])
            P.namespaces.remove(ns)

    def kernel_run(i: int) -> dict:
        g, r = b.veth_topology(P, f"nk{i}")
        b.sh(r, f"ip addr add 10.88.1.1/24 dev {b.TAG}r0 && ip addr add 10.88.2.1/24 dev {b.TAG}r1 && "
                f"sysctl -qw net.ipv4.ip_forward=1")
        b.sh(r, f"nft add table ip nat && nft add chain ip nat post '{{ type nat hook postrouting priority 100 ; }}' && "
                f"nft add rule ip nat post oifname {b.TAG}r1 masquerade")
        mac = b.sh(r, f"cat /sys/class/net/{b.TAG}r0/address").strip()
        res = b.run_gen(P, g, ["--tx", gen_dev[0], "--rx", gen_dev[1], "--dst-mac", mac, *b.GEN_FLOWS], args.seconds, f"gnk{i}")
        teardown(g, r)
        return res

    def redline_run(i: int) -> dict:
        g, r = b.veth_topology(P, f"nd{i}")
        name = f"nrlv{i}"
        cfg = b.redline_config(P, name, [(f"net_af_packet0,iface={b.TAG}r0", "10.88.1.1/24"),
                                         (f"net_af_packet1,iface={b.TAG}r1", "10.88.2.1/24")], 1)
        cfg.write_text(cfg.read_text() + nat_section(65536, pool=False))
        p, macs = b.start_redline(P, r, name, cfg, "-l 0,1")
        c: dict[str, int] = {}
        res = b.run_gen(P, g, ["--tx", gen_dev[0], "--rx", gen_dev[1], "--dst-mac", macs["p0"], *b.GEN_FLOWS],
                        args.seconds, f"gnd{i}", before_exit=lambda: c.update(b.stop_redline(P, p, name)))
        res["cycles"] = c.get("busy_cycles", 0) / max(1, c.get("rx_packets", 0))
        teardown(g, r)
        return res

    k, d, ratio = b.paired_runs(args.runs, kernel_run, redline_run)
    b.row("nat/af_packet", "Linux nftables masquerade (baseline)", k["rx_pps"] / 1e6, None, None,
          f"loss {k['loss_pct']:.2f}%; conntrack + masquerade in the sender's softirq")
    b.row("nat/af_packet", "redline NAT, 1 worker", d["rx_pps"] / 1e6, d["cycles"], ratio,
          f"loss {d['loss_pct']:.2f}%; af_packet system calls bound both")
