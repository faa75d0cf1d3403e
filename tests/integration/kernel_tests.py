"""The kernel exception path (issue 11): traffic for redline's own address that no stage of
redline claims and that a port's `[ports.kernel] pass` list matches goes to a TAP that redline
creates in its own namespace (the port's MAC and address); what the kernel sends there is routed
out of the right port.  Names start with `kernel_`, so `run.py --only kernel` picks them; the
host links are run.py --ports' kind (taps by default, `--ports afxdp` for AF_XDP).

Shared topology (kind="kernel"): the router topology with

    port a  [ports.kernel] interface = "rl-a-k", pass = tcp:22, tcp:7000, udp:6700-6701, proto:89
    port b  [ports.kernel] interface = "rl-b-k", pass = tcp:179

  kernel_interfaces           both TAPs are up in R with the port's MAC and address/prefix
  kernel_tcp_both_ways        1 MiB each way between host A and a server on 10.77.1.1:7000 in R,
                              while A pings B every 50 ms (not one lost); kernel_to/_from rise
  kernel_udp_passed           a UDP echo server on 10.77.1.1:6701 in R answers A; it saw A's address
  kernel_udp_not_passed       UDP to 10.77.1.1:6702 (a listener there in R): redline answers port
                              unreachable, the listener gets nothing, kernel_to stays
  kernel_tcp_not_passed       TCP to 10.77.1.1:7001 (a listener in R): no connection, tcp_no_listener
  kernel_proto_passed         protocol 89 datagrams reach a raw socket in R; protocol 47 ones do not
  kernel_echo_stays           ping 10.77.1.1 is answered by redline itself (kernel_to stays)
  kernel_originated           from R: ping A and B (the kernel's ARP answered by redline, the echo
                              replies passed to the kernel), a UDP probe to a closed port of A sees
                              the ICMP port unreachable (ICMP errors go to the kernel)
  kernel_dropped              frames of another EtherType from the kernel: kernel_dropped
  kernel_bgp_bird             bird2 in R (passive, 10.77.2.1 AS 65001) and bird2 in B (10.77.2.2
                              AS 65002): session Established, each learns the other's route
  kernel_clean_exit           counters add up; exit 0, every mbuf back, both TAPs gone
Fresh:
  kernel_pass_all             port a pass = ["all"], port b pass = ["tcp:*"]
  kernel_bad_config           malformed [ports.kernel] tables: non-zero exit naming `kernel`, no TAP
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Stats, Topology  # noqa: E402
from harness import (  # noqa: E402
    A_IP, B_IP, Fail, PY, RA_IP, RB_IP, Skip, check, close_and_check, icmp_from, ping, pkt, router_mac, test,
)
from nat_tests import start_bg, stop_bg  # noqa: E402  (background processes with bounded waits)
from kernel_peer import digest  # noqa: E402

KPEER = str(Path(__file__).resolve().parent / "kernel_peer.py")
NPEER = str(Path(__file__).resolve().parent / "nat_peer.py")

KERNEL_A = {"interface": "rl-a-k", "pass": ["tcp:22", "tcp:7000", "udp:6700-6701", "proto:89"]}
KERNEL_B = {"interface": "rl-b-k", "pass": ["tcp:179"]}
COUNTERS = ("kernel_to", "kernel_from", "kernel_dropped")


def kernel(name, **opts):
    """@test on the shared kernel-path topology (run.py asks make() for it)."""
    return test(name, kind="kernel", **opts)


def make(workers: int, keep_logs: bool = False, log=None, kernel_a: dict | None = None,
         kernel_b: dict | None = None) -> Topology:
    """An unstarted router topology whose ports have kernel interfaces."""
    sfx = secrets.token_hex(3)
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", kernel_a=kernel_a or KERNEL_A,
                              kernel_b=kernel_b or KERNEL_B)
    return Topology(workers=workers, config_text=text, ns_prefix=f"rl-{sfx}", keep_logs=keep_logs, log=log)


# ---------------------------------------------------------------------------------------
# helpers


def kc(s: Stats, name: str) -> int:
    """A kernel-path counter: the `counter` line, else the sum of the `port P name` lines."""
    if name in s.counters:
        return s[name]
    return sum(p.get(name, 0) for p in s.ports.values())


def has_counter(s: Stats, name: str) -> bool:
    return name in s.counters or any(name in p for p in s.ports.values())


def kdelta(s1: Stats, s0: Stats, name: str) -> int:
    return kc(s1, name) - kc(s0, name)


def kernel_rise(t: Topology, s0: Stats, name: str, want: int, timeout: float = 5.0) -> Stats:
    deadline = time.monotonic() + timeout
    while True:
        s1 = t.stats()
        if kdelta(s1, s0, name) >= want or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    check(has_counter(s1, name), f"no counter {name} in the stats block (neither `counter` nor `port` lines)")
    got = kdelta(s1, s0, name)
    check(got >= want, f"{name} +{got}, want >= {want} ({', '.join(f'{c} +{kdelta(s1, s0, c)}' for c in COUNTERS)})")
    return s1


def last_json(lines) -> dict:
    for line in reversed(lines.all if hasattr(lines, "all") else lines):
        if line.startswith("{"):
            return json.loads(line)
    raise Fail(f"no JSON line from the peer: {(lines.all if hasattr(lines, 'all') else lines)[-5:]}")


SINK_SECONDS = "20"  # an upper bound: finish() ends a sink as soon as the test's traffic is sent


def finish(lines, timeout: float = 15) -> dict:
    """Tells a background kernel_peer sink the test's traffic is sent (closes its stdin), then waits
    (bounded) for its JSON line."""
    try:
        lines.proc.stdin.close()
    except (OSError, AttributeError):
        pass
    line = lines.wait_for(lambda l: l.startswith("{"), timeout)
    stop_bg(lines)
    if line is None:
        raise Fail(f"{lines.proc.args[3:6]} printed no result: {lines.all[-5:]}")
    return json.loads(line)


def peer(t: Topology, where: str, args: list[str], timeout: float = 30, script: str = KPEER) -> dict:
    r = t.run_in(where, [PY, script, *args], timeout=timeout)
    try:
        return json.loads(r.out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise Fail(f"{Path(script).name} {args[0]} in {where} failed:\n{r.brief(1500)}")


def kernel_ifaces(t: Topology) -> list[tuple[topo.Port, str]]:
    return [(p, p.kernel_if) for p in t.ports if p.kernel_if]


# ---------------------------------------------------------------------------------------
# shared topology


@kernel("kernel_interfaces")
def t_interfaces(t: Topology) -> None:
    for p, ifname in kernel_ifaces(t):
        r = t.run_in("r", ["ip", "-j", "addr", "show", "dev", ifname])
        check(r.ok, f"no kernel interface {ifname} in {t.router_ns}:\n{r.brief()}\n"
              + t.run_in("r", ["ip", "-br", "link"]).out)
        info = json.loads(r.out)[0]
        check("UP" in info.get("flags", []), f"{ifname} is not up: flags {info.get('flags')}")
        addrs = [(a.get("local"), a.get("prefixlen")) for a in info.get("addr_info", []) if a.get("family") == "inet"]
        check((p.router_ip, p.iface.network.prefixlen) in addrs,
              f"{ifname} carries {addrs}, want {p.router_ip}/{p.iface.network.prefixlen}")
        mac = router_mac(t, p.name)
        check(info.get("address", "").lower() == mac, f"{ifname} has MAC {info.get('address')}, port {p.name} {mac}")


@kernel("kernel_tcp_both_ways")
def t_tcp_both_ways(t: Topology) -> None:
    n = 1 << 20
    srv = start_bg(t, "r", [PY, KPEER, "bulk-server", f"{RA_IP}:7000", "--bytes", str(n)])
    n0, r = ping(t, "a", B_IP, 1)  # ARP both ways first
    check(n0 == 1, f"no ping A->B before the test:\n{r.brief()}")
    s0 = t.stats()
    pinger = t.popen_in("a", ["ping", "-n", "-c", "80", "-i", "0.05", "-W", "2", B_IP], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    try:
        res = peer(t, "a", ["bulk-client", "--dst", f"{RA_IP}:7000", "--bytes", str(n), "--reply", str(n)], timeout=60)
        got = finish(srv)
    finally:
        stop_bg(srv)
    pinged, _ = pinger.communicate(timeout=30)
    check(got["got"] == n and got["sha256"] == digest(n, 1),
          f"the server in {t.router_ns} got {got['got']} of {n} bytes (intact: {got['sha256'] == digest(n, 1)})")
    check(got["peer"].startswith(A_IP + ":"), f"the server saw the client as {got['peer']}, want {A_IP}:*")
    check(res["ok"], f"host A got {res['got']} of {n} bytes back (intact: {res['ok']})")
    m = re.search(r"(\d+) packets transmitted, (\d+) received", pinged)
    check(m and m.group(1) == m.group(2), "pings A->B lost while the kernel path carried TCP:\n" + pinged[-400:])
    s1 = kernel_rise(t, s0, "kernel_to", n // 1500)
    s1 = kernel_rise(t, s0, "kernel_from", n // 1500)
    check(s1.delta(s0, "ipv4_forwarded") >= 2 * int(m.group(2)), f"ipv4_forwarded +{s1.delta(s0, 'ipv4_forwarded')}")


@kernel("kernel_udp_passed")
def t_udp_passed(t: Topology) -> None:
    echo = start_bg(t, "r", [PY, NPEER, "echo", f"{RA_IP}:6701"])
    try:
        s0 = t.stats()
        res = peer(t, "a", ["query", "--dst", f"{RA_IP}:6701", "--size", "300"], script=NPEER)
    finally:
        stop_bg(echo)
    row = res["replies"][0]
    check(row["intact"], f"no intact echo from the UDP server on {RA_IP}:6701 in {t.router_ns}: {res}")
    check(row["seen"] and row["seen"].startswith(A_IP + ":"), f"the server saw {row['seen']}, want {A_IP}:*")
    check(row["from"] == f"{RA_IP}:6701", f"the reply came from {row['from']}")
    kernel_rise(t, s0, "kernel_to", 1)
    kernel_rise(t, s0, "kernel_from", 1)


@kernel("kernel_udp_not_passed")
def t_udp_not_passed(t: Topology) -> None:
    sink = start_bg(t, "r", [PY, KPEER, "udp-sink", f"{RA_IP}:6702", "--seconds", SINK_SECONDS])
    try:
        s0 = t.stats()
        res = pkt(t, "udp", RA_IP, count=2, listen=1.5, port=6702)
        got = finish(sink)
    finally:
        stop_bg(sink)
    check(icmp_from(res, RA_IP, 3, 3) >= 1, f"no ICMP port unreachable from {RA_IP} for udp:6702 (not passed); "
          f"got ICMP {res['icmp']}")
    check(got["count"] == 0, f"the listener on {RA_IP}:6702 in {t.router_ns} received {got['count']} datagram(s) "
          "that no pass entry matches")
    s1 = t.stats()
    check(kdelta(s1, s0, "kernel_to") == 0, f"kernel_to +{kdelta(s1, s0, 'kernel_to')} for a port not passed")
    check(s1.delta(s0, "udp_no_listener") >= 2, f"udp_no_listener +{s1.delta(s0, 'udp_no_listener')}")


@kernel("kernel_tcp_not_passed")
def t_tcp_not_passed(t: Topology) -> None:
    sink = start_bg(t, "r", [PY, KPEER, "tcp-sink", f"{RA_IP}:7001", "--seconds", SINK_SECONDS])
    try:
        s0 = t.stats()
        res = peer(t, "a", ["tcp-try", "--dst", f"{RA_IP}:7001", "--timeout", "2"])
        got = finish(sink)
    finally:
        stop_bg(sink)
    check(res["result"] != "connected", f"TCP to {RA_IP}:7001 (not passed) connected")
    check(got["accepted"] == 0, f"the listener on {RA_IP}:7001 in {t.router_ns} accepted {got['accepted']}")
    s1 = t.stats()
    check(s1.delta(s0, "tcp_no_listener") >= 1, f"tcp_no_listener +{s1.delta(s0, 'tcp_no_listener')}")
    check(kdelta(s1, s0, "kernel_to") == 0, f"kernel_to +{kdelta(s1, s0, 'kernel_to')} for a port not passed")


@kernel("kernel_proto_passed")
def t_proto_passed(t: Topology) -> None:
    sinks = [start_bg(t, "r", [PY, KPEER, "raw-sink", "--proto", str(proto), "--seconds", SINK_SECONDS]) for proto in (89, 47)]
    try:
        s0 = t.stats()
        for proto in (89, 47):
            peer(t, "a", ["raw-send", "--dst", RA_IP, "--proto", str(proto), "--count", "3"])
        ospf, gre = (finish(s) for s in sinks)
    finally:
        for s in sinks:
            stop_bg(s)
    check(ospf["count"] == 3 and ospf["from"] == [A_IP],
          f"protocol 89 (passed): a raw socket in {t.router_ns} got {ospf['count']}/3 from {ospf['from']}")
    check(gre["count"] == 0, f"protocol 47 (not passed): a raw socket in {t.router_ns} got {gre['count']}")
    kernel_rise(t, s0, "kernel_to", 3)


@kernel("kernel_echo_stays")
def t_echo_stays(t: Topology) -> None:
    s0 = t.stats()
    n, r = ping(t, "a", RA_IP, 3)
    check(n == 3, f"{n}/3 replies from {RA_IP}:\n{r.brief()}")
    s1 = t.wait_counter(s0, "icmp_echo_replied", 3)
    check(s1.delta(s0, "icmp_echo_replied") >= 3, f"icmp_echo_replied +{s1.delta(s0, 'icmp_echo_replied')}: "
          "echo requests to redline's address are redline's, not the kernel's")
    check(kdelta(s1, s0, "kernel_to") == 0, f"kernel_to +{kdelta(s1, s0, 'kernel_to')} for echo requests")


@kernel("kernel_originated")
def t_originated(t: Topology) -> None:
    s0 = t.stats()
    for dst in (A_IP, B_IP):
        r = t.run_in("r", ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", dst], timeout=20)
        m = re.search(r"(\d+) received", r.out)
        check(m and m.group(1) == "3", f"ping from {t.router_ns} (the kernel, through redline) to {dst}:\n{r.brief()}")
    res = peer(t, "r", ["refused", "--dst", f"{A_IP}:9"], script=NPEER)
    check(res["result"] == "refused", f"a UDP probe from {t.router_ns} to {A_IP}:9 (closed): {res['result']}, want "
          "refused (A's ICMP port unreachable passed to the kernel)")
    check(res["local"].startswith(RA_IP + ":"), f"the probe left from {res['local']}, want {RA_IP}:*")
    kernel_rise(t, s0, "kernel_from", 7)
    kernel_rise(t, s0, "kernel_to", 7)


@kernel("kernel_dropped")
def t_dropped(t: Topology) -> None:
    s0 = t.stats()
    res = peer(t, "r", ["frames", "--iface", KERNEL_A["interface"], "--count", "5", "--ethertype", "0x88b5"])
    check(res["sent"] == 5, f"sent {res['sent']}/5 frames")
    kernel_rise(t, s0, "kernel_dropped", 5)


BIRD_CONF = """\
log "{log}" all;
router id {me};
protocol device {{ }}
protocol static announce {{ ipv4; route {announce} blackhole; }}
protocol bgp peer {{
  local {me} as {my_as};
  neighbor {other} as {other_as};
  {passive}
  connect delay time 1; connect retry time 2; error wait time 1, 4;
  hold time 30; keepalive time 10;
  ipv4 {{ import all; export where proto = "announce"; }};
}}
"""
ANNOUNCE_R, ANNOUNCE_B = "10.77.50.0/24", "10.77.60.0/24"


def birdc(sock: Path, *args: str) -> topo.Result:
    return topo.sh(["birdc", "-s", str(sock), *args], timeout=10)


@kernel("kernel_bgp_bird")
def t_bgp_bird(t: Topology) -> None:
    if not (shutil.which("bird") and shutil.which("birdc")):
        raise Skip("bird2 is not installed (Debian package bird2)")
    d = t.tmpdir
    sides = {"r": dict(me=RB_IP, my_as=65001, other=B_IP, other_as=65002, announce=ANNOUNCE_R, passive="passive on;"),
             "b": dict(me=B_IP, my_as=65002, other=RB_IP, other_as=65001, announce=ANNOUNCE_B, passive="")}
    procs = {}
    s0 = t.stats()
    try:
        for side, kw in sides.items():
            conf = d / f"bird-{side}.conf"
            conf.write_text(BIRD_CONF.format(log=d / f"bird-{side}.log", **kw))
            # -f: foreground, so the PID is bird's and close() kills it; private socket and pid file.
            procs[side] = t.popen_in(side, ["bird", "-f", "-c", str(conf), "-s", str(d / f"bird-{side}.ctl"),
                                            "-P", str(d / f"bird-{side}.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        states = {}
        while time.monotonic() < deadline:
            for side in sides:
                check(procs[side].poll() is None, f"bird in {t.ns(side)} exited with {procs[side].returncode}: "
                      + _tail(d / f"bird-{side}.log"))
                states[side] = birdc(d / f"bird-{side}.ctl", "show", "protocols", "peer").out
            if all("Established" in s for s in states.values()):
                break
            time.sleep(0.5)
        check(all("Established" in s for s in states.values()),
              "no BGP session within 30 s:\n" + "\n".join(f"{t.ns(k)}: {v.strip()}" for k, v in states.items())
              + f"\nbird in R: {_tail(d / 'bird-r.log')}")
        for side, want in (("r", ANNOUNCE_B), ("b", ANNOUNCE_R)):
            r = None
            for _ in range(20):
                r = birdc(d / f"bird-{side}.ctl", "show", "route", "for", want.split("/")[0])
                if want in r.out:
                    break
                time.sleep(0.25)
            check(want in r.out, f"bird in {t.ns(side)} did not learn {want}:\n{r.brief()}")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()  # by PID
                p.wait(5)
    kernel_rise(t, s0, "kernel_to", 3)
    kernel_rise(t, s0, "kernel_from", 3)


def _tail(path: Path, n: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@kernel("kernel_clean_exit", final=True)
def t_clean_exit(t: Topology) -> None:
    s = t.stats()
    problems: list[str] = []
    for name in COUNTERS:
        if not has_counter(s, name):
            problems.append(f"no counter {name} in the stats block")
    if kc(s, "kernel_to") == 0 or kc(s, "kernel_from") == 0:
        problems.append(f"kernel_to {kc(s, 'kernel_to')}, kernel_from {kc(s, 'kernel_from')} after the tests")
    problems += [f"per-core sum: {b}" for b in s.core_sum_mismatches()[:5]]
    res = t.stop()
    if res.killed or res.returncode != 0 or res.mbufs_in_use != 0:
        problems.append(f"exit code {res.returncode}, mbufs in use at exit {res.mbufs_in_use}; stderr tail:\n"
                        f"{t.tail(t.err_lines)}")
    for p, ifname in kernel_ifaces(t):
        if t.run_in("r", ["ip", "link", "show", ifname], timeout=5).ok:
            problems.append(f"kernel interface {ifname} still exists after redline exited")
        if p.kind == "veth" and topo.xdp_on(t.router_ns, p.tap):
            problems.append(f"XDP program still attached to {p.tap}")
    close_and_check(t, problems)


# ---------------------------------------------------------------------------------------
# fresh


@test("kernel_pass_all", fresh=True)
def t_pass_all(workers: int, log) -> None:
    """pass = ["all"] on port a: any UDP/TCP port (and what else redline does not handle) reaches
    the kernel, but echo requests stay redline's; pass = ["tcp:*"] on port b: every TCP port, no UDP."""
    t = make(workers, log=log, kernel_a={"interface": "rl-a-k", "pass": ["all"]},
             kernel_b={"interface": "rl-b-k", "pass": ["tcp:*"]})
    with t:
        sinks = [start_bg(t, "r", [PY, KPEER, "udp-sink", f"{RA_IP}:6702", "--seconds", SINK_SECONDS]),
                 start_bg(t, "r", [PY, KPEER, "tcp-sink", f"{RA_IP}:7001", "--seconds", SINK_SECONDS]),
                 start_bg(t, "r", [PY, KPEER, "tcp-sink", f"{RB_IP}:7777", "--seconds", SINK_SECONDS])]
        try:
            s0 = t.stats()
            pkt(t, "udp", RA_IP, count=2, listen=0.2, port=6702)
            tcp_a = peer(t, "a", ["tcp-try", "--dst", f"{RA_IP}:7001", "--timeout", "2"])
            tcp_b = peer(t, "b", ["tcp-try", "--dst", f"{RB_IP}:7777", "--timeout", "2"])
            udp_b = peer(t, "b", ["refused", "--dst", f"{RB_IP}:7778"], script=NPEER)
            udp, acc_a, acc_b = (finish(s) for s in sinks)
        finally:
            for s in sinks:
                stop_bg(s)
        check(udp["count"] == 2, f"all: the UDP listener on {RA_IP}:6702 got {udp['count']}/2")
        check(tcp_a["result"] == "connected" and acc_a["accepted"] == 1, f"all: TCP to {RA_IP}:7001: {tcp_a}, {acc_a}")
        check(tcp_b["result"] == "connected" and acc_b["accepted"] == 1, f"tcp:*: TCP to {RB_IP}:7777: {tcp_b}, {acc_b}")
        check(udp_b["result"] == "refused", f"tcp:* passes no UDP: {RB_IP}:7778 should be port unreachable, got {udp_b}")
        kernel_rise(t, s0, "kernel_to", 4)
        s1 = t.stats()
        n, r = ping(t, "a", RA_IP, 2)
        check(n == 2, f"{n}/2 echo replies with pass all:\n{r.brief()}")
        s2 = t.wait_counter(s1, "icmp_echo_replied", 2)
        check(s2.delta(s1, "icmp_echo_replied") >= 2, "with pass = [\"all\"], echo requests went to the kernel")
        res = t.stop()
        check(res.returncode == 0 and res.mbufs_in_use == 0, f"exit code {res.returncode}, mbufs {res.mbufs_in_use}")


BAD_KERNEL = [
    ("port out of range", {"interface": "rl-a-k", "pass": ["tcp:70000"]}, None),
    ("unknown protocol", {"interface": "rl-a-k", "pass": ["sctp:22"]}, None),
    ("no port", {"interface": "rl-a-k", "pass": ["tcp"]}, None),
    ("reversed range", {"interface": "rl-a-k", "pass": ["udp:68-67"]}, None),
    ("protocol number out of range", {"interface": "rl-a-k", "pass": ["proto:256"]}, None),
    ("empty interface name", {"interface": "", "pass": ["tcp:22"]}, None),
    ("interface name over 15 characters", {"interface": "rl-a-kernel-side", "pass": ["tcp:22"]}, None),
    ("two ports, one interface", {"interface": "rl-k", "pass": ["tcp:22"]}, {"interface": "rl-k", "pass": ["tcp:179"]}),
]


@test("kernel_bad_config", fresh=True)
def t_bad_config(workers: int, log) -> None:
    import tempfile
    sfx = secrets.token_hex(3)
    ns = f"rl-{sfx}-kcfg"
    d = Path(tempfile.mkdtemp(prefix="redline-kcfg-"))
    problems: list[str] = []
    try:
        topo.sh(["ip", "netns", "add", ns], check=True)
        for what, ka, kb in BAD_KERNEL:
            text = topo.render_config(f"rl-x-{sfx}", f"rl-y-{sfx}", ports="tap", kernel_a=ka, kernel_b=kb)
            text += '\n[control]\nsocket = ""\n'
            cfg = d / "bad.toml"
            cfg.write_text(text)
            fp = f"{ns}-{len(problems)}"
            r = topo.sh(["ip", "netns", "exec", ns, str(topo.redline_bin()), *topo.eal_args(workers, fp),
                         "--", "--config", str(cfg)], timeout=20)
            topo.remove_runtime_dir(fp)
            if r.timed_out or r.rc == 0 or "redline: ready" in r.out:
                problems.append(f"{what}: accepted (rc={r.rc}{', ran until killed' if r.timed_out else ''})")
            elif "kernel" not in r.err:
                problems.append(f"{what}: stderr does not name the [ports.kernel] key:\n    {r.err.strip()[-300:]}")
            left = [x for x in ("rl-a-k", "rl-k", "rl-a-kernel-side", f"rl-x-{sfx}", f"rl-y-{sfx}")
                    if topo.sh(["ip", "-n", ns, "link", "show", x], timeout=5).ok]
            if left:
                problems.append(f"{what}: interfaces left behind: {left}")
                for x in left:
                    topo.sh(["ip", "-n", ns, "link", "del", x], timeout=5)
    finally:
        topo.delete_ns(ns)
        shutil.rmtree(d, ignore_errors=True)
    check(not problems, "\n".join(problems))
