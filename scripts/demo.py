#!/usr/bin/python3
"""redline demo: a DPDK router between two Linux hosts, each in its own network namespace.

    sudo /usr/bin/python3 scripts/demo.py          (scripts/run.sh builds, then runs this)
    sudo /usr/bin/python3 scripts/demo.py nat      the NAT demo instead (scripts/demo_nat.py)
    sudo /usr/bin/python3 scripts/demo.py kernel   the kernel exception path demo (scripts/demo_kernel.py)
    sudo /usr/bin/python3 scripts/demo.py tcp      redline's TCP/UDP and services (scripts/demo_tcp.py)

Starts redline (1 worker: EAL -l 0,1) in namespace rl-demo-r with examples/demo.toml,
moves the kernel side of its two taps into rl-demo-a (10.77.1.2) and rl-demo-b
(10.77.2.2, plus 10.77.3.1 behind a static route), shows ping and traceroute through
it, then waits so you can look around:

  * until Ctrl-C (SIGINT) or SIGTERM, or
  * if DEMO_SECONDS is set (or stdin is not a terminal): DEMO_SECONDS seconds,
    0 or unset meaning until a signal.

Then it stops redline by PID, removes the namespaces and prints the final counters.
Nothing is configured in the root namespace.

Environment: REDLINE_BIN (default build/dpdk_app/redline), DEMO_SECONDS, DEMO_CONFIG
(default examples/demo.toml; its ports must be net_tap vdevs with iface=).
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import topo  # noqa: E402

PREFIX = "rl-demo"
NAMESPACES = [f"{PREFIX}-r", f"{PREFIX}-a", f"{PREFIX}-b"]


def say(msg: str = "") -> None:
    print(msg, flush=True)


def show(t: topo.Topology, ns: str, cmd: list[str], timeout: float = 30) -> None:
    say(f"\n$ ip netns exec {t.ns(ns)} {shlex.join(cmd)}")
    r = t.run_in(ns, cmd, timeout=timeout)
    out = (r.out + r.err).rstrip()
    say("\n".join("  " + l for l in out.splitlines()))
    if r.timed_out:
        say(f"  (stopped after {timeout:.0f} s)")


def print_final(res: topo.StopResult) -> None:
    say("\n== final counters (non-zero) ==")
    if res.stats is None:
        say("  (redline printed no stats block at exit)")
    else:
        for k, v in sorted(res.stats.counters.items()):
            if v:
                say(f"  {k:<28} {v}")
        for p, st in sorted(res.stats.ports.items()):
            keys = ("rx_packets", "tx_packets", "rx_missed", "rx_errors", "tx_errors", "rx_nombuf")
            say(f"  port {p}: " + "  ".join(f"{k}={st.get(k, 0)}" for k in keys))
    say(f"  exit code: {res.returncode}   mbufs in use at exit: {res.mbufs_in_use}")


def prepare(script: str, try_cmd: str, default_config: str, namespaces: list[str]):
    """What every demo does first: checks root and the binary, reads DEMO_CONFIG and DEMO_SECONDS,
    removes namespaces an earlier run left. Returns (binary, config, seconds), or None after
    saying why not."""
    if os.geteuid() != 0:
        say(f"{script}: needs root (it creates network namespaces); try: {try_cmd}")
        return None
    binary = topo.redline_bin()
    if not binary.exists():
        say(f"{script}: {binary} not found: build first (scripts/build.sh) or set REDLINE_BIN")
        return None
    config = Path(os.environ.get("DEMO_CONFIG", REPO / "examples" / default_config))
    seconds = float(os.environ.get("DEMO_SECONDS", "0") or 0)
    stale = [n for n in namespaces if topo.ns_exists(n)]
    if stale:
        say(f"removing namespaces left by an earlier demo: {' '.join(stale)}")
        for n in stale:
            pids = topo.kill_ns_processes(n)
            if pids:
                say(f"  killed leftover processes in {n}: {' '.join(map(str, pids))}")
            topo.delete_ns(n)
    return binary, config, seconds


def clean_up(t, namespaces: list[str]) -> None:
    """Every demo's end, even on Ctrl-C: stop and remove everything, say what is left."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)  # finish cleaning up even if Ctrl-C is pressed again
    t.close()
    left = [n for n in namespaces if topo.ns_exists(n)]
    say(f"cleaned up: namespaces {'left: ' + ' '.join(left) if left else 'removed'}; logs kept in {t.tmpdir}")


def run_until_stopped(t: topo.Topology, seconds: float, stop: threading.Event, on_signal) -> int:
    """Echoes redline's output until Ctrl-C/SIGTERM (`on_signal` sets `stop`) or `seconds` (0:
    no limit) pass or redline exits; then stops it and prints its final counters. Returns the
    demo's exit code: 0 if redline stopped cleanly with every mbuf back."""
    t.echo = lambda line: say(f"redline| {line}")
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    if seconds > 0:
        say(f"\nrunning for {seconds:g} s (DEMO_SECONDS); Ctrl-C stops earlier")
    else:
        say("\nrunning; press Ctrl-C to stop")
    deadline = time.monotonic() + seconds if seconds > 0 else None
    while not stop.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            break
        if not t.alive():
            say(f"\nredline exited on its own with {t.proc.returncode}; stderr:\n{t.tail(t.err_lines)}")
            break
        stop.wait(0.5)
    t.echo = None

    say("\n== stopping ==")
    res = t.stop()
    print_final(res)
    return 0 if res.returncode == 0 and res.mbufs_in_use == 0 and not res.killed else 1


def run_demo(t, seconds: float, namespaces: list[str], body, failures: tuple = ()) -> int:
    """Every demo's frame: starts `t`, runs `body()` (it shows things; returns False if what it
    showed went wrong), then runs until stopped (run_until_stopped) and cleans up, even on
    Ctrl-C. `failures`: exception types that end the demo with a message rather than a trace."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    rc = 1
    try:
        say("\n== starting ==")
        t.start()
        say(f"redline is up: pid {t.pid}")
        ok = body()
        rc = run_until_stopped(t, seconds, stop, on_signal)
        if ok is False:
            rc = 1
    except (topo.TopologyError, *failures) as e:
        say(f"\ndemo failed: {e}")
        rc = 1
    except KeyboardInterrupt:
        say("\ninterrupted")
        rc = 1
    finally:
        clean_up(t, namespaces)
    return rc


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "router"
    if mode == "nat":
        import demo_nat
        return demo_nat.main()
    if mode == "kernel":
        import demo_kernel
        return demo_kernel.main()
    if mode == "tcp":
        import demo_tcp
        return demo_tcp.main()
    if mode != "router":
        say(f"demo.py: unknown demo {mode!r}; usage: scripts/run.sh [router|nat|kernel|tcp]")
        return 2
    prepared = prepare("demo.py", "sudo /usr/bin/python3 scripts/demo.py", "demo.toml", NAMESPACES)
    if prepared is None:
        return 1
    binary, config, seconds = prepared

    t = topo.Topology(workers=1, config_path=config, ns_prefix=PREFIX, keep_logs=True,
                      log=lambda m: say(f"  {m}"))
    a, b = t.port("a"), t.port("b")
    say("== redline demo ==")
    say(f"config:     {config}")
    say(f"namespaces: router {t.router_ns}, hosts {a.host_ns} ({a.host_ip}) and {b.host_ns} ({b.host_ip})")
    say(f"redline:    {binary}, EAL {' '.join(t.eal)}")
    say(f"logs:       {t.tmpdir}")

    def body() -> None:
        say("\n== ping redline from host A ==")
        show(t, "a", ["ping", "-c", "3", "-i", "0.3", a.router_ip])
        say("\n== ping host B from host A, through redline ==")
        show(t, "a", ["ping", "-c", "3", "-i", "0.3", str(b.host_ip.ip)])
        if b.lo_addrs:
            dst = b.lo_addrs[0].split("/")[0]
            say(f"\n== ping {dst} (behind B, via the static route) ==")
            show(t, "a", ["ping", "-c", "3", "-i", "0.3", dst])
        say("\n== traceroute from A to B: hop 1 is redline ==")
        show(t, "a", ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", str(b.host_ip.ip)])

        if t.control_socket:
            say("\n== operate it while it runs: redlinectl over the control socket ==")
            for args in (["show", "routes"], ["show", "neighbors"], ["show", "workers"]):
                say(f"\n$ redlinectl {' '.join(args)}")
                r = t.ctl(*args)
                say("\n".join("  " + l for l in (r.out + r.err).rstrip().splitlines()))

        say("\n== look around (in another terminal) ==")
        say(f"  ip netns exec {a.host_ns} ping {b.host_ip.ip}")
        say(f"  ip netns exec {a.host_ns} traceroute -n {b.host_ip.ip}")
        say(f"  ip netns exec {a.host_ns} arping -c 3 -I {a.tap} {a.router_ip}")
        say(f"  ip netns exec {a.host_ns} ping 10.77.99.1      # no route: Destination Net Unreachable")
        say(f"  ip netns exec {a.host_ns} ping 10.77.2.99      # no such host: Destination Host Unreachable after ~3 s")
        if t.control_socket:
            say(f"  {topo.redlinectl_bin()} --socket {t.control_socket} show counters --nonzero")
        say(f"  kill -USR1 {t.pid}                              # counters, printed here")
        say(f"  redline's output: {t.stdout_log}")

    return run_demo(t, seconds, NAMESPACES, body)


if __name__ == "__main__":
    sys.exit(main())
