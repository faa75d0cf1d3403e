#!/usr/bin/python3
"""redline NAT demo: two inside networks behind redline, translated onto an outside network.

    sudo scripts/run.sh nat                      (builds, then runs scripts/demo.py nat -> this)
    sudo /usr/bin/python3 scripts/demo_nat.py

Starts redline (1 worker: EAL -l 0,1) in namespace rl-natdemo-r with examples/nat.toml, moves
the kernel side of its taps into rl-natdemo-lan (in1 10.88.1.2), rl-natdemo-lan2 (in2 10.88.4.2)
and rl-natdemo-wan (out 10.88.2.2 and .3, a Linux router with no route to the inside networks),
adds rl-natdemo-far (10.88.3.2) behind out over an MTU-1280 link, and shows:

  * in1 fetching a page from an nginx in out through the NAT: curl's status line and the
    client address nginx logged (10.88.2.1, redline's outside address, not 10.88.1.2);
  * a ping and a traceroute through the NAT (the ICMP errors of hops 2 and 3 come back
    translated);
  * what the outside sees (tcpdump in out): only the NAT's addresses;
  * `redlinectl show nat`, `show nat sessions` and the NAT counters;

then waits, like the router demo, until Ctrl-C (SIGINT) or SIGTERM, or for DEMO_SECONDS
seconds if that is set (0 or unset: until a signal), stops redline by PID, removes the
namespaces and prints the final counters. Nothing is configured in the root namespace.

Environment: REDLINE_BIN, DEMO_SECONDS, DEMO_CONFIG (default examples/nat.toml; it must keep
the demo's addresses and port names lan, lan2, wan). Needs nginx (Debian nginx-light; without
it python3 -m http.server stands in) and tcpdump for the outside view (skipped without it).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "scripts"))
import nat_tests  # noqa: E402  (its helpers: web server, tcpdump capture, curl)
import nat_topo  # noqa: E402
import topo  # noqa: E402
from demo import prepare, run_demo, say, show  # noqa: E402
from nat_topo import FAR, IN1, IN2, NAT_IP, OUT1  # noqa: E402

PREFIX = "rl-natdemo"
NAMESPACES = [f"{PREFIX}-{n}" for n in ("r", "lan", "lan2", "wan", "far")]


def main() -> int:
    prepared = prepare("demo_nat.py", "sudo scripts/run.sh nat", "nat.toml", NAMESPACES)
    if prepared is None:
        return 1
    binary, config, seconds = prepared

    t = nat_topo.RedlineNat(workers=1, config_path=config, ns_prefix=PREFIX, keep_logs=True,
                            log=lambda m: say(f"  {m}"))
    say("== redline NAT demo ==")
    say(f"config:     {config}")
    say(f"namespaces: router {t.router_ns}; inside {t.ns('in1')} ({IN1}), {t.ns('in2')} ({IN2}); "
        f"outside {t.ns('out')} ({OUT1}), {t.ns('far')} ({FAR}, behind out)")
    say(f"redline:    {binary}, EAL {' '.join(t.eal)}")
    say(f"logs:       {t.tmpdir}")

    def body() -> None:
        access_log = nat_tests.http_server(t, "out", OUT1, 80)
        say(f"nginx listens on {OUT1}:80 in {t.ns('out')} (access log {access_log})")
        nat_tests.http_server(t, "in1", IN1, 80)
        say(f"and on {IN1}:80 in {t.ns('in1')}, forwarded from {NAT_IP}:8080")

        cap = None
        if shutil.which("tcpdump"):
            cap = nat_tests.Capture(t, "out", verbose=False, direction="inout")
        else:
            say("(tcpdump not installed: the outside view is skipped)")

        say(f"\n== in1 ({IN1}) fetches a page from nginx in out ({OUT1}), through the NAT ==")
        cmd = ["curl", "-sS", "-i", "--max-time", "10", f"http://{OUT1}/"]
        say(f"$ ip netns exec {t.ns('in1')} {shlex.join(cmd)}")
        r = t.run_in("in1", cmd, timeout=15)
        lines = (r.out + r.err).replace("\r", "").splitlines()
        say("\n".join("  " + l for l in lines))
        status = lines[0] if lines else "(no answer)"
        client = nat_tests.last_client(access_log)
        say(f"\n  curl's status line:           {status}")
        say(f"  client address nginx logged:  {client}   (in1 is {IN1}; redline's outside address is {NAT_IP})")

        say("\n== ping out from in1, through the NAT ==")
        show(t, "in1", ["ping", "-c", "3", "-i", "0.3", OUT1])
        say(f"\n== traceroute from in1 to far ({FAR}, behind the Linux router out) ==")
        say("   hop 1 is redline; the errors of hops 2 and 3 reach in1 translated")
        show(t, "in1", ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", FAR], timeout=40)

        if cap is not None:
            text = cap.stop()
            pkts = [l for l in text.splitlines() if re.match(r"^\d\d:\d\d:\d\d", l)]
            sources: dict[str, int] = {}
            for p in pkts:
                m = re.search(r" IP (\d+\.\d+\.\d+\.\d+)", p)
                if m:
                    sources[m.group(1)] = sources.get(m.group(1), 0) + 1
            say(f"\n== what the outside sees: tcpdump -n on out's link to redline ({len(pkts)} packets) ==")
            for p in pkts[:12]:
                say("  " + p)
            if len(pkts) > 12:
                say(f"  ... ({len(pkts) - 12} more)")
            say("  packets by source address: " + ", ".join(f"{a} {n}" for a, n in sorted(sources.items())))
            inside = [a for a in sources if a.startswith(("10.88.1.", "10.88.4."))]
            say(f"  inside addresses seen at out: {', '.join(inside) if inside else 'none'}")

        if t.control_socket:
            say("\n== redlinectl show nat ==")
            r = t.ctl("show", "nat")
            say("\n".join("  " + l for l in (r.out + r.err).rstrip().splitlines()))
            say("\n== redlinectl show nat sessions limit 10 ==")
            r = t.ctl("show", "nat", "sessions", "limit", "10")
            say("\n".join("  " + l for l in (r.out + r.err).rstrip().splitlines()))
            say("\n== NAT counters (redlinectl show counters --nonzero) ==")
            r = t.ctl("show", "counters", "--nonzero")
            rows = [l for l in r.out.splitlines() if l.startswith("nat_")]
            say("\n".join("  " + l for l in rows) if rows else "  (none)\n" + r.err)

        say("\n== look around (in another terminal) ==")
        say(f"  ip netns exec {t.ns('in1')} curl -i http://{OUT1}/")
        say(f"  ip netns exec {t.ns('in2')} ping {OUT1}")
        say(f"  ip netns exec {t.ns('in1')} ping -M do -s 1400 {FAR}   # frag needed (mtu 1280), translated")
        say(f"  ip netns exec {t.ns('out')} curl -i http://{NAT_IP}:8080/  # the port forward to in1:80")
        say(f"  ip netns exec {t.ns('out')} tcpdump -n -i {t.iface('out')}")
        if t.control_socket:
            say(f"  {topo.redlinectl_bin()} --socket {t.control_socket} show nat sessions inside {IN1}")
            say(f"  {topo.redlinectl_bin()} --socket {t.control_socket} nat flush inside {IN1} proto udp")
        say(f"  kill -USR1 {t.pid}                              # counters, printed here")
        say(f"  redline's output: {t.stdout_log}")

    return run_demo(t, seconds, NAMESPACES, body, failures=(nat_tests.Fail, nat_tests.Skip))


if __name__ == "__main__":
    sys.exit(main())
