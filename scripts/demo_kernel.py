#!/usr/bin/python3
"""redline kernel exception path demo: a Linux `nc` listener on redline's own address.

    sudo scripts/run.sh kernel                   (builds, then runs scripts/demo.py kernel -> this)
    sudo /usr/bin/python3 scripts/demo_kernel.py

Starts redline (1 worker: EAL -l 0,1) in namespace rl-kdemo-r with examples/kernel.toml (the router
demo plus a `[ports.kernel]` TAP per port), moves the kernel side of its two ports' taps into
rl-kdemo-a (10.77.1.2) and rl-kdemo-b (10.77.2.2), and shows:

  * the kernel interfaces redline made in its namespace (the ports' MACs and addresses);
  * `nc -l 10.77.1.1 7000` in rl-kdemo-r and host A talking to it both ways through redline
    (tcp:7000 is in port a's pass list), while ping from A to B keeps being routed by redline;
  * a TCP port not in the pass list (7001) unreachable, and ping 10.77.1.1 answered by redline;
  * the kernel reaching out: ping from rl-kdemo-r to host B, routed by redline;
  * the kernel path's counters (kernel_to, kernel_from, kernel_dropped);

then waits, like the router demo, until Ctrl-C (SIGINT) or SIGTERM, or for DEMO_SECONDS seconds if
that is set (0 or unset: until a signal), stops redline by PID, removes the namespaces and prints
the final counters. Nothing is configured in the root namespace.

Environment: REDLINE_BIN, DEMO_SECONDS, DEMO_CONFIG (default examples/kernel.toml; it must keep
the demo's addresses, port names a and b, and tcp:7000 in port a's pass list). Needs nc
(Debian netcat-openbsd); without it a small Python listener stands in.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "scripts"))
import topo  # noqa: E402
from demo import prepare, run_demo, say, show  # noqa: E402

PREFIX = "rl-kdemo"
NAMESPACES = [f"{PREFIX}-r", f"{PREFIX}-a", f"{PREFIX}-b"]
PORT = 7000
CLOSED_PORT = 7001
COUNTERS = ("kernel_to", "kernel_from", "kernel_dropped")

# Stands in for `nc -l ADDR PORT` where netcat is missing: one connection, prints what the
# client sent, answers with its stdin.
PY_LISTENER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(10)
c.sendall(sys.stdin.buffer.read()); c.shutdown(socket.SHUT_WR)
while (d := c.recv(4096)):
    sys.stdout.buffer.write(d); sys.stdout.flush()
"""
PY_CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(sys.stdin.buffer.read()); c.shutdown(socket.SHUT_WR)
while (d := c.recv(4096)):
    sys.stdout.buffer.write(d)
"""


def kernel_counters(t: topo.Topology) -> str:
    s = t.stats()
    vals = []
    for name in COUNTERS:
        if name in s.counters:
            vals.append(f"{name} {s[name]}")
        else:
            per_port = {p: st[name] for p, st in s.ports.items() if name in st}
            vals.append(f"{name} " + (" ".join(f"{p}={v}" for p, v in per_port.items()) if per_port else "(absent)"))
    return ", ".join(vals)


def main() -> int:
    prepared = prepare("demo_kernel.py", "sudo scripts/run.sh kernel", "kernel.toml", NAMESPACES)
    if prepared is None:
        return 1
    binary, config, seconds = prepared

    t = topo.Topology(workers=1, config_path=config, ns_prefix=PREFIX, keep_logs=True, log=lambda m: say(f"  {m}"))
    a, b = t.port("a"), t.port("b")
    say("== redline kernel exception path demo ==")
    say(f"config:     {config}")
    say(f"namespaces: router {t.router_ns} (redline and the Linux daemons beside it), hosts {a.host_ns} "
        f"({a.host_ip}) and {b.host_ns} ({b.host_ip})")
    say(f"redline:    {binary}, EAL {' '.join(t.eal)}")
    say(f"logs:       {t.tmpdir}")
    for p in (a, b):
        say(f"port {p.name}:     {p.router_ip}, kernel interface {p.kernel_if or '(none)'}, "
            f"pass {', '.join(p.kernel_pass) or '-'}")

    def body() -> None:

        say(f"\n== the kernel interfaces redline made in {t.router_ns} ==")
        show(t, "r", ["ip", "-br", "addr", "show"])
        show(t, "r", ["ip", "-br", "link", "show"])

        nc = shutil.which("nc")
        greeting = f"hello from the kernel of {t.router_ns}, behind redline\n"
        if nc:
            lcmd = [nc, "-N", "-l", a.router_ip, str(PORT)]
        else:
            lcmd = [sys.executable, "-c", PY_LISTENER, a.router_ip, str(PORT)]
        say(f"\n== a listener on redline's own address, in {t.router_ns} ==")
        shown = f"nc -N -l {a.router_ip} {PORT}" if nc else f"python3 -c <listener> {a.router_ip} {PORT}"
        say(f"$ echo {greeting.strip()!r} | ip netns exec {t.router_ns} {shown} &")
        listener = t.popen_in("r", lcmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        listener.stdin.write(greeting.encode())
        listener.stdin.close()
        listener.stdin = None  # written and closed: communicate() below only reads
        time.sleep(0.5)

        before = kernel_counters(t)
        say(f"\n== host A connects to {a.router_ip}:{PORT} (tcp:{PORT} is passed to the kernel), "
            "while A pings B through redline ==")
        pinger = t.popen_in("a", ["ping", "-n", "-c", "20", "-i", "0.1", str(b.host_ip.ip)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
        hello = f"hello from host A ({a.host_ip.ip})\n"
        ccmd = [nc, "-N", "-w", "5", a.router_ip, str(PORT)] if nc else [sys.executable, "-c", PY_CLIENT, a.router_ip, str(PORT)]
        say(f"$ echo {hello.strip()!r} | ip netns exec {a.host_ns} nc -N -w 5 {a.router_ip} {PORT}")
        r = t.run_in("a", ccmd, input=hello, timeout=15)
        say("  host A received:   " + (r.out.strip() or f"(nothing; rc={r.rc} {r.err.strip()})"))
        try:
            heard, _ = listener.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            listener.kill()
            heard, _ = listener.communicate(timeout=5)
        say("  the listener heard: " + (heard.decode(errors="replace").strip() or "(nothing)"))
        pinged, _ = pinger.communicate(timeout=20)
        m = re.search(r"\d+ packets transmitted, \d+ received[^\n]*", pinged)
        say(f"  meanwhile ping A -> B: {m.group(0) if m else pinged.strip()[-200:]}")
        say(f"  kernel path counters before: {before}")
        say(f"                       after:  {kernel_counters(t)}")

        say(f"\n== a port that is not passed (tcp:{CLOSED_PORT}) stays closed; ping {a.router_ip} is redline's ==")
        if nc:
            show(t, "a", [nc, "-z", "-v", "-w", "2", a.router_ip, str(CLOSED_PORT)], timeout=10)
        show(t, "a", ["ping", "-c", "2", "-i", "0.3", a.router_ip])

        say(f"\n== the kernel reaches out: ping host B from {t.router_ns}, routed by redline ==")
        show(t, "r", ["ping", "-c", "3", "-i", "0.3", str(b.host_ip.ip)])
        say(f"  kernel path counters: {kernel_counters(t)}")

        say("\n== look around (in another terminal) ==")
        say(f"  ip netns exec {t.router_ns} nc -l {a.router_ip} {PORT}          # a listener behind redline")
        say(f"  ip netns exec {a.host_ns} nc {a.router_ip} {PORT}                # type lines both ways")
        say(f"  ip netns exec {t.router_ns} ss -tn                              # the kernel's connections")
        say(f"  ip netns exec {t.router_ns} ping {b.host_ip.ip}")
        say(f"  ip netns exec {a.host_ns} ping {b.host_ip.ip}                   # still routed by redline")
        if t.control_socket:
            say(f"  {topo.redlinectl_bin()} --socket {t.control_socket} show counters --nonzero")
        say(f"  kill -USR1 {t.pid}                              # counters, printed here")
        say(f"  redline's output: {t.stdout_log}")

    return run_demo(t, seconds, NAMESPACES, body)


if __name__ == "__main__":
    sys.exit(main())
