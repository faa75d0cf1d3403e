"""Native TCP and UDP (issue 9) against the Linux kernel: redline's built-in services on its own
addresses, Linux clients and servers in the host namespaces. Names start with `tcp_` or `udp_`,
so `run.py --only tcp` / `--only udp` pick them.

Shared topology (kind="tcp"): the router topology plus

    [services] echo = 7, discard = 9, source = 19 (source_bytes = 1 MiB)
    [tcp] time_wait_ms = 2000, [tcp.keepalive] enabled, idle 2 s, interval 1 s, 3 probes

  tcp_handshake_on_wire      an echo exchange captured in A (tcpdump): SYN with MSS/SACK/TS/WS,
                             SYN-ACK echoing them, FIN each way, no RST
  tcp_echo_32mib             32 MiB of random data echoed, sha256 equal (0 % loss)
  tcp_echo_32mib_loss2       the same with 2 % of A's TCP segments dropped each way (nftables
                             numgen in A's namespace; no netem here)
  tcp_echo_32mib_loss10      the same with 10 %
  tcp_ss_options             Linux's `ss -ti` on an open connection shows wscale, sack, ts, mss
  tcp_keepalive_on_wire      an idle connection: redline's keepalive probes (seq = snd.una - 1, no
                             data) seen by tcpdump in A, Linux answers, the connection stays
  tcp_concurrent_1000        1000 connections open at once from A, each echoes 1 KiB
  tcp_source_time_wait       the source service sends 1 MiB of its pattern and closes first:
                             TIME-WAIT shows in `show tcp`, and is gone after time_wait_ms
  tcp_rst_closed_port        connect to a port nobody listens on: refused at once (RST)
  tcp_show_connections       `redlinectl show connections` lists an open connection with its options
  udp_echo                   a 100-byte and a 4000-byte datagram (fragmented both ways) echoed back
  udp_closed_port_refused    a datagram to a closed port draws ICMP port unreachable
  tcp_tables_empty           at the end no connection is left in any worker
Fresh:
  tcp_connect_out            redline connects out at start ([[services.connect]]) to a Linux server
                             in B: 8 connections, 1 MiB of the pattern each, sha256 checked by the
                             server; with 4 workers each worker opened its share, no RST
The exit contract (exit 0, every mbuf back) is checked by the runner after the last test.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Topology  # noqa: E402
from harness import A_IP, B_IP, Fail, PY, RA_IP, RB_IP, check, close_and_check, test  # noqa: E402
from nat_tests import start_bg, stop_bg  # noqa: E402

TPEER = str(Path(__file__).resolve().parent / "tcp_peer.py")
MIB = 1 << 20

SERVICES = """
[services]
echo = 7
discard = 9
source = 19
source_bytes = 1048576

[tcp]
time_wait_ms = 2000

[tcp.keepalive]
enabled = true
idle_s = 2
interval_s = 1
probes = 3
"""


def make(workers: int, keep_logs: bool = False, log=None, extra: str = SERVICES) -> Topology:
    sfx = secrets.token_hex(3)
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}") + extra
    return Topology(workers=workers, config_text=text, ns_prefix=f"rl-{sfx}", keep_logs=keep_logs, log=log)


def peer(t: Topology, host: str, *args, timeout: float = 120) -> dict:
    r = t.run_in(host, ["sh", "-c", 'ulimit -n 8192; exec "$@"', "sh", PY, TPEER, *map(str, args)], timeout=timeout)
    lines = [l for l in r.out.strip().splitlines() if l.startswith("{")]
    if not lines:
        raise Fail(f"tcp_peer {args[0]} printed nothing: {r.brief()}")
    return json.loads(lines[-1])


def set_loss(t: Topology, host: str, percent: int) -> None:
    """Drops `percent` % of the host's TCP segments each way (nftables numgen; no netem here)."""
    t.run_in(host, ["nft", "delete", "table", "inet", "rl_loss"])
    if percent <= 0:
        return
    rules = f"""
table inet rl_loss {{
  chain in {{ type filter hook input priority 0; meta l4proto tcp numgen random mod 100 < {percent} drop; }}
  chain out {{ type filter hook output priority 0; meta l4proto tcp numgen random mod 100 < {percent} drop; }}
}}
"""
    r = t.run_in(host, ["nft", "-f", "-"], input=rules)
    check(r.rc == 0, f"nft loss rules: {r.brief()}")


def echo_32mib(t: Topology, loss: int) -> None:
    set_loss(t, "a", loss)
    try:
        s0 = t.stats()
        res = peer(t, "a", "echo", RA_IP, 7, 32 * MIB, timeout=240)
    finally:
        set_loss(t, "a", 0)
    check(res["match"], f"32 MiB echo with {loss}% loss: sent {res['sent']}, got {res['got']} back, "
                        f"sha256 differs; errors {res['error']}")
    s1 = t.stats()
    if loss:
        check(s1.delta(s0, "tcp_retransmits") > 0, "no retransmission by redline under loss")
    # The echo sends back the mbufs the data arrived in (zero-copy send): nearly every data
    # segment in place; copies only where a segment spans mbufs (the peer's segments do not
    # line up with ours) or a frame of its mbuf was still on its way out.
    in_place, copied = s1.delta(s0, "tcp_tx_zero_copy"), s1.delta(s0, "tcp_tx_copied")
    check(in_place > 0 and in_place >= copied, f"zero-copy send: {in_place} segments in place, {copied} copied")
    t.log(f"32 MiB echo, {loss}% loss: {res['seconds']} s, redline retransmitted {s1.delta(s0, 'tcp_retransmits')}, "
          f"sent {in_place} segments in place and {copied} copied")


def capture(t: Topology, host: str, filt: str, count: int) -> subprocess.Popen:
    tap = t.port(host).tap
    p = t.popen_in(host, ["timeout", "30", "tcpdump", "-l", "-nn", "-S", "-v", "-i", tap, "-c", str(count), filt],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1.0)  # tcpdump's socket is open
    return p


def finish_capture(p, settle: float = 1.0) -> str:
    """Stops tcpdump once what it should see has had `settle` seconds to arrive (SIGINT: it
    prints what it captured), rather than waiting for its packet count."""
    time.sleep(settle)
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        outp, _ = p.communicate(timeout=35)
    except Exception:
        p.kill()
        outp, _ = p.communicate(timeout=5)
    return outp or ""


@test("tcp_handshake_on_wire", kind="tcp")
def t_handshake(t: Topology) -> None:
    p = capture(t, "a", f"tcp and host {RA_IP} and port 7", 10)
    res = peer(t, "a", "echo", RA_IP, 7, 1000)
    check(res["match"], f"echo of 1000 bytes failed: {res}")
    text = finish_capture(p)
    lines = [l for l in text.splitlines() if " > " in l or "Flags" in l]
    flags = re.findall(r"Flags \[([^\]]*)\]", text)
    check(flags[:3] == ["S", "S.", "."], f"handshake flags {flags[:3]}, want S, S., . :\n{text}")
    syn_ack = next((l for l in text.splitlines() if "Flags [S.]" in l), "")
    for opt in ("mss 1460", "sackOK", "TS val", "wscale"):
        check(opt in syn_ack, f"SYN-ACK lacks {opt!r}: {syn_ack}")
    check(sum("F" in f for f in flags) >= 2, f"want a FIN each way, flags {flags}")
    check(not any("R" in f for f in flags), f"a RST on the wire: {flags}")
    check(len(lines) >= 8, f"capture too short:\n{text}")


@test("tcp_echo_32mib", kind="tcp")
def t_echo(t: Topology) -> None:
    echo_32mib(t, 0)


@test("tcp_echo_32mib_loss2", kind="tcp")
def t_echo2(t: Topology) -> None:
    echo_32mib(t, 2)


@test("tcp_echo_32mib_loss10", kind="tcp")
def t_echo10(t: Topology) -> None:
    echo_32mib(t, 10)


LOOPBACK_SS = r"""
import socket, subprocess, time
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); a, _ = l.accept(); time.sleep(0.1)
print(subprocess.run(["ss", "-tin", "dst", "127.0.0.1:%d" % l.getsockname()[1]], capture_output=True, text=True).stdout)
"""


@test("tcp_ss_options", kind="tcp")
def t_ss(t: Topology) -> None:
    held = start_bg(t, "a", [PY, TPEER, "idle", RA_IP, "9", "4"], ready='"ready"')
    try:
        r = t.run_in("a", ["ss", "-tin", "dst", RA_IP])
        m = re.search(r"wscale:(\d+),(\d+)", r.out)
        check(m and int(m.group(1)) > 0, f"ss -ti shows no window scaling from redline:\n{r.out}")
        m = re.search(r"\bmss:(\d+)", r.out)
        check(m and int(m.group(1)) == 1448, f"ss -ti: mss, want 1448 (1460 less 12 of timestamps):\n{r.out}")
        # ss prints "ts" and "sack" when the kernel reports them; whether this kernel does is
        # seen on a Linux-to-Linux loopback connection in the same namespace, the baseline.
        base = t.run_in("a", [PY, "-c", LOOPBACK_SS]).out
        for opt in ("ts", "sack"):
            if re.search(rf"\b{opt}\b", base):
                check(re.search(rf"\b{opt}\b", r.out), f"ss -ti lacks {opt!r} (Linux to Linux shows it):\n{r.out}")
    finally:
        stop_bg(held)


@test("tcp_keepalive_on_wire", kind="tcp")
def t_keepalive(t: Topology) -> None:
    held = start_bg(t, "a", [PY, TPEER, "idle", RA_IP, "9", "6"], ready='"ready"')
    try:
        port = json.loads(held.all[-1])["ready"]
        s0 = t.stats()
        p = capture(t, "a", f"tcp and src host {RA_IP} and dst port {port}", 2)
        text = finish_capture(p, settle=4.0)  # idle 2 s, then a probe a second
        s1 = t.stats()
        check(s1.delta(s0, "tcp_keepalive_probes") >= 1, f"tcp_keepalive_probes +{s1.delta(s0, 'tcp_keepalive_probes')}")
        probes = [l for l in text.splitlines() if "Flags [.]" in l and "length 0" in l]
        check(probes, f"no keepalive probe from redline on the wire:\n{text}")
        check(s1.delta(s0, "tcp_timed_out") == 0, "the answered keepalive connection timed out")
    finally:
        stop_bg(held)


@test("tcp_concurrent_1000", kind="tcp")
def t_many(t: Topology) -> None:
    s0 = t.stats()
    res = peer(t, "a", "many", RA_IP, 7, 1000, 1024, timeout=180)
    check(res["peak_open"] == 1000, f"only {res['peak_open']} of 1000 connections were open at once")
    check(res["ok"] == 1000, f"{res['failed']} of 1000 connections failed")
    s1 = t.stats()
    check(s1.delta(s0, "tcp_accepted") >= 1000, f"tcp_accepted +{s1.delta(s0, 'tcp_accepted')}")


@test("tcp_source_time_wait", kind="tcp")
def t_time_wait(t: Topology) -> None:
    res = peer(t, "a", "sink", RA_IP, 19)
    check(res["bytes"] == MIB and res["match"], f"source service: {res}")
    r = t.ctl("--json", "show", "tcp")
    tw = json.loads(r.out)["result"]["time_wait"]
    check(tw >= 1, f"redline closed first, so a TIME-WAIT is expected; show tcp: {r.out}")
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        tw = json.loads(t.ctl("--json", "show", "tcp").out)["result"]["time_wait"]
        if tw == 0:
            break
        time.sleep(0.5)
    check(tw == 0, f"TIME-WAIT still there after time_wait_ms = 2000: {tw}")


@test("tcp_rst_closed_port", kind="tcp")
def t_rst(t: Topology) -> None:
    s0 = t.stats()
    res = peer(t, "a", "refused", RA_IP, 81)
    check(res["refused"], f"connect to a closed port: {res}")
    s1 = t.stats()
    check(s1.delta(s0, "tcp_rst_sent") >= 1, "tcp_rst_sent did not rise")


@test("tcp_show_connections", kind="tcp")
def t_show(t: Topology) -> None:
    held = start_bg(t, "a", [PY, TPEER, "idle", RA_IP, "9", "4"], ready='"ready"')
    try:
        port = json.loads(held.all[-1])["ready"]
        r = t.ctl("show", "connections")
        line = next((l for l in r.out.splitlines() if f"{A_IP}:{port}" in l), "")
        check("ESTABLISHED" in line, f"connection from {A_IP}:{port} not listed as ESTABLISHED:\n{r.out}")
        for word in ("sack", "ts", "mss:", "wscale:", "rtt_us:"):
            check(word in line, f"listing lacks {word!r}: {line}")
    finally:
        stop_bg(held)


@test("udp_echo", kind="tcp")
def t_udp_echo(t: Topology) -> None:
    for size in (100, 4000):
        res = peer(t, "a", "udp", RA_IP, 7, size)
        check(res["match"] and res["size"] == size, f"UDP echo of {size} bytes: {res}")
        check(res["src"] == f"{RA_IP}:7", f"answer from {res['src']}, want {RA_IP}:7")


@test("udp_closed_port_refused", kind="tcp")
def t_udp_closed(t: Topology) -> None:
    res = peer(t, "a", "udp_closed", RA_IP, 4444)
    check(res["unreachable"], f"UDP to a closed port: {res}")


@test("tcp_tables_empty", kind="tcp")
def t_empty(t: Topology) -> None:
    deadline = time.monotonic() + 10
    shown = {}
    while time.monotonic() < deadline:
        shown = json.loads(t.ctl("--json", "show", "tcp").out)["result"]
        if shown["connections"] == 0:
            break
        time.sleep(0.5)
    check(shown.get("connections") == 0, f"connections left: {shown}")


@test("tcp_connect_out", fresh=True)
def t_connect_out(workers: int, log) -> None:
    n = 8
    sfx = secrets.token_hex(3)
    # The clients wait 4 s after start: the host namespaces are set up once redline made its
    # taps, and the server in B must listen before the first SYN.
    extra = f"""
[[services.connect]]
to = "{B_IP}:5001"
connections = {n}
send_bytes = {MIB}
start_after_ms = 4000

[[services.connect]]
to = "{B_IP}:5002"
connections = 1
send_bytes = 1000
start_after_ms = 4000
"""
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}") + extra
    t = Topology(workers=workers, config_text=text, ns_prefix=f"rl-{sfx}", log=log)
    problems: list[str] = []
    srv = None
    try:
        t.__enter__()
        # Port 5002 answers with ICMP port unreachable (not a RST): that connect must fail as
        # "unreachable" (RFC 1122 §4.2.3.9), not time out.
        r = t.run_in("b", ["nft", "-f", "-"], input="table ip rl_rej {\n chain in {\n  type filter hook input priority 0;\n"
                     "  tcp dport 5002 reject with icmp type port-unreachable\n }\n}\n")
        if r.rc != 0:
            problems.append(f"nft reject rule: {r.brief()}")
        srv = start_bg(t, "b", [PY, TPEER, "server", "5001", str(n), str(MIB)], ready='"ready"')
        line = srv.wait_for(lambda l: l.startswith('{"connections"'), 90)
        if line is None:
            raise StopIteration
        res = json.loads(line)
        conns = res["connections"]
        if len(conns) != n:
            problems.append(f"server saw {len(conns)} connections, want {n}")
        bad = [c for c in conns if not (c["match"] and c["bytes"] == MIB)]
        if bad:
            problems.append(f"connections with wrong data: {bad}")
        s = t.stats()
        per_core = {c: v.get("tcp_connected", 0) for c, v in s.cores.items()}
        if s["tcp_connected"] != n:
            problems.append(f"tcp_connected {s['tcp_connected']}, want {n}")
        want = sorted(len(range(w, n, workers)) for w in range(workers))
        if sorted(per_core.get(w, 0) for w in range(workers)) != want:
            problems.append(f"connections per worker {per_core}: each worker should have opened its share {want}")
        if s["tcp_rst_sent"] or s["tcp_reset"]:
            problems.append(f"resets: sent {s['tcp_rst_sent']}, connections reset {s['tcp_reset']}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = json.loads(t.ctl("--json", "show", "tcp").out)["result"]["clients"]
            if shown.get("done", 0) + shown.get("failed", 0) >= n + 1:
                break
            time.sleep(0.2)
        if shown.get("done") != n or shown.get("failed") != 1:
            problems.append(f"show tcp clients: {shown}, want {n} done and 1 failed (the unreachable port)")
        if not t.wait_output(lambda l: f"{B_IP}:5002 ended: unreachable" in l, stream="err", timeout=5):
            problems.append(f"no log line saying the connect to {B_IP}:5002 ended as unreachable")
        if s["tcp_icmp_errors"] < 1:
            problems.append("tcp_icmp_errors did not rise")
        res_stop = t.stop()
        if res_stop.returncode != 0 or res_stop.mbufs_in_use != 0:
            problems.append(f"exit {res_stop.returncode}, mbufs in use {res_stop.mbufs_in_use}")
    except StopIteration:
        problems.append(f"server printed no result: {srv.all[-5:] if srv else None}")
    finally:
        if srv is not None:
            stop_bg(srv)
        close_and_check(t, problems)
