"""The AF_XDP rows of the benchmark suite (`scripts/bench.sh --only afxdp`, issue 11): L3
forwarding over veth pairs, three forwarders on the same path in the same run, round by round:

  l3fwd/af_xdp     redline-gen (net_af_xdp) -> veth -> {Linux ip_forward | redline on net_af_packet |
                   redline on net_af_xdp} -> veth -> redline-gen (net_af_xdp)
  generator        redline-gen's own ceiling on the path: net_af_xdp into a veth whose other end
                   only drops (no address, no program: the kernel discards the frames), `--rx none`

The generator sends and receives through AF_XDP in every row, so that what differs between rows
is the forwarder, not the generator (on af_packet the generator itself would top out first).
Targets: redline on AF_XDP >= 5x redline on af_packet and >= 3x Linux on this machine.
redline's cycles per packet are its busy_cycles / rx_packets (TSC) at exit; Linux forwards in the
sender's softirq, so it has no cycle figure of its own here.  Each run gets a fresh pair of
namespaces (removed after it), so no XDP program or socket outlives its run.
"""

from __future__ import annotations

import subprocess

TARGET_VS_AF_PACKET = 5.0
TARGET_VS_LINUX = 3.0


def gen_devices(b) -> list[str]:
    return [f"net_af_xdp0,iface={b.TAG}g0", f"net_af_xdp1,iface={b.TAG}g1"]


def teardown(P, *namespaces) -> None:
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        P.namespaces.remove(ns)


def linux_run(args, P, b, i: int) -> dict:
    g, r = b.veth_topology(P, f"xk{i}")
    b.sh(r, f"ip addr add 10.88.1.1/24 dev {b.TAG}r0 && ip addr add 10.88.2.1/24 dev {b.TAG}r1 && "
            f"sysctl -qw net.ipv4.ip_forward=1")
    mac = b.sh(r, f"cat /sys/class/net/{b.TAG}r0/address").strip()
    dev = gen_devices(b)
    try:
        return b.run_gen(P, g, ["--tx", dev[0], "--rx", dev[1], "--dst-mac", mac, *b.GEN_FLOWS], args.seconds, f"gxk{i}")
    finally:
        teardown(P, g, r)


def redline_run(args, P, b, i: int, driver: str) -> dict:
    """redline (1 worker) forwarding between its two veth ends, opened with `driver`."""
    tag = "xp" if driver == "net_af_packet" else "xx"
    g, r = b.veth_topology(P, f"{tag}{i}")
    name = f"rl{tag}{i}"
    cfg = b.redline_config(P, name, [(f"{driver}0,iface={b.TAG}r0", "10.88.1.1/24"),
                                     (f"{driver}1,iface={b.TAG}r1", "10.88.2.1/24")], 1)
    dev = gen_devices(b)
    c: dict[str, int] = {}
    try:
        p, macs = b.start_redline(P, r, name, cfg, "-l 0,1")
        res = b.run_gen(P, g, ["--tx", dev[0], "--rx", dev[1], "--dst-mac", macs["p0"], *b.GEN_FLOWS], args.seconds,
                        f"g{name}", before_exit=lambda: c.update(b.stop_redline(P, p, name)))
    finally:
        teardown(P, g, r)
    res["cycles"] = c.get("busy_cycles", 0) / max(1, c.get("rx_packets", 0))
    res["tx_dropped"] = c.get("tx_dropped", 0)
    mode = [line for line in (P.tmp / f"{name}.log").read_text(errors="replace").splitlines()
            if "af_xdp" in line and " mode" in line]
    res["mode"] = mode[0].split(": ", 1)[-1] if mode else ""
    return res


def ceiling_run(args, P, b, i: int) -> dict:
    g, r = b.veth_topology(P, f"xc{i}")
    try:
        return b.run_gen(P, g, ["--tx", gen_devices(b)[0], "--rx", "none", "--dst-mac", "02:00:00:00:00:01",
                                *b.GEN_FLOWS], args.seconds, f"gxc{i}")
    finally:
        teardown(P, g, r)


def run(args, P, b) -> None:
    """`b` is the bench module (its helpers: run_gen, redline_config, veth_topology, row, ...)."""
    ceiling = b.median_runs(args.runs, lambda i: ceiling_run(args, P, b, i), key="tx_pps")
    rounds = b.rounds_of(args.runs, lambda i: linux_run(args, P, b, i),
                         lambda i: redline_run(args, P, b, i, "net_af_packet"),
                         lambda i: redline_run(args, P, b, i, "net_af_xdp"))
    linux, afp, xdp = (b.median_of([r[k] for r in rounds]) for k in range(3))
    vs_linux, vs_afp = b.median_ratio(rounds, 2, 0), b.median_ratio(rounds, 2, 1)
    afp_vs_linux = b.median_ratio(rounds, 1, 0)
    b.SATURATION["af_xdp"] = {"baseline": linux["rx_pps"], "redline": xdp["rx_pps"]}

    b.row("generator", "redline-gen send ceiling (net_af_xdp on veth)", ceiling["tx_pps"] / 1e6,
          ceiling["gen_tx_cycles_per_pkt"], None,
          "send only, into a veth whose far end drops; the l3fwd/af_xdp rows receive on the same lcore too")
    b.row("l3fwd/af_xdp", "Linux ip_forward (baseline)", linux["rx_pps"] / 1e6, None, None,
          f"loss {linux['loss_pct']:.2f}%; kernel forwarding in the sender's softirq; generator on AF_XDP")
    b.row("l3fwd/af_xdp", "redline on net_af_packet, 1 worker", afp["rx_pps"] / 1e6, afp["cycles"], afp_vs_linux,
          f"loss {afp['loss_pct']:.2f}%; a system call per burst; generator on AF_XDP")
    met = (f"target >= {TARGET_VS_AF_PACKET:g}x af_packet {'met' if vs_afp >= TARGET_VS_AF_PACKET else 'NOT met'}, "
           f">= {TARGET_VS_LINUX:g}x Linux {'met' if vs_linux >= TARGET_VS_LINUX else 'NOT met'}")
    b.row("l3fwd/af_xdp", "redline on net_af_xdp, 1 worker", xdp["rx_pps"] / 1e6, xdp["cycles"], vs_linux,
          f"{vs_afp:.2f}x redline on af_packet; {met}; loss {xdp['loss_pct']:.2f}%, {xdp['tx_dropped']} TX drops; "
          f"{xdp['mode'] or 'mode not logged'}; generator ceiling {ceiling['tx_pps'] / 1e6:.2f} Mpps",
          ratio_to_af_packet=vs_afp, target_vs_af_packet=TARGET_VS_AF_PACKET, target_vs_linux=TARGET_VS_LINUX,
          generator_ceiling_mpps=ceiling["tx_pps"] / 1e6)
    b.log(f"bench: afxdp: Linux {linux['rx_pps'] / 1e6:.2f}, af_packet {afp['rx_pps'] / 1e6:.2f} "
          f"({afp['cycles']:.0f} cycles/packet), af_xdp {xdp['rx_pps'] / 1e6:.2f} Mpps ({xdp['cycles']:.0f} cycles/packet): "
          f"{vs_linux:.2f}x Linux, {vs_afp:.2f}x af_packet; generator ceiling {ceiling['tx_pps'] / 1e6:.2f} Mpps")
