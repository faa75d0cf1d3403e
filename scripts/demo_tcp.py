#!/usr/bin/python3
"""redline TCP/UDP demo: redline's own TCP and UDP, its built-in services, Linux as the peer.

    sudo scripts/run.sh tcp                      (builds, then runs scripts/demo.py tcp -> this)
    sudo /usr/bin/python3 scripts/demo_tcp.py

Starts redline (1 worker: EAL -l 0,1) in namespace rl-tcpdemo-r with examples/tcp.toml, moves
the kernel side of its taps into rl-tcpdemo-a (10.77.1.2) and rl-tcpdemo-b (10.77.2.2), and shows:

  * host A sending 32 MiB of random data to redline's TCP echo service (10.77.1.1:7) and
    comparing the sha256 of what it sent with the sha256 of what came back;
  * the same through 2 % loss in A's namespace (nftables; redline retransmits);
  * `redlinectl show connections` with a connection open (state, options, cwnd, RTT);
  * the source service (port 19): 1 MiB of redline's pattern, checked by A;
  * UDP echo of a 4000-byte datagram (fragmented both ways);
  * `redlinectl show tcp` and the TCP counters;

then waits until Ctrl-C (SIGINT) or SIGTERM, or for DEMO_SECONDS seconds if that is set, stops
redline by PID, removes the namespaces and prints the final counters. Nothing is configured in
the root namespace.

Environment: REDLINE_BIN, DEMO_SECONDS, DEMO_CONFIG (default examples/tcp.toml).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "scripts"))
import topo  # noqa: E402
import tcp_tests  # noqa: E402  (its helpers: loss in a namespace, the Linux peer)
from demo import prepare, run_demo, say, show  # noqa: E402
from harness import PY, RA_IP  # noqa: E402
from nat_tests import start_bg, stop_bg  # noqa: E402

PREFIX = "rl-tcpdemo"
NAMESPACES = [f"{PREFIX}-{n}" for n in ("r", "a", "b")]
TPEER = str(REPO / "tests" / "integration" / "tcp_peer.py")


def peer(t: topo.Topology, *args, timeout: float = 240) -> dict:
    r = t.run_in("a", [PY, TPEER, *map(str, args)], timeout=timeout)
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    if not lines:
        raise topo.TopologyError(f"tcp_peer {args[0]} printed nothing: {r.brief()}")
    return json.loads(lines[-1])


def echo(t: topo.Topology, loss: int) -> bool:
    size = 32 << 20
    where = f" through {loss} % loss each way in A's namespace" if loss else ""
    say(f"\n== 32 MiB of random data from A to redline's TCP echo ({RA_IP}:7){where} ==")
    tcp_tests.set_loss(t, "a", loss)
    try:
        s0 = t.stats()
        res = peer(t, "echo", RA_IP, 7, size)
        s1 = t.stats()
    finally:
        tcp_tests.set_loss(t, "a", 0)
    say(f"  sent     {res['sent']} bytes  sha256 {res['sent_sha256']}")
    say(f"  received {res['got']} bytes  sha256 {res['sha256']}")
    say(f"  {'MATCH' if res['match'] else 'MISMATCH'} in {res['seconds']} s; redline retransmitted "
        f"{s1.delta(s0, 'tcp_retransmits')} segments")
    return bool(res["match"])


def main() -> int:
    prepared = prepare("demo_tcp.py", "sudo scripts/run.sh tcp", "tcp.toml", NAMESPACES)
    if prepared is None:
        return 1
    binary, config, seconds = prepared
    t = topo.Topology(workers=1, config_path=config, ns_prefix=PREFIX, keep_logs=True, log=lambda m: say(f"  {m}"))
    a = t.port("a")
    say("== redline TCP/UDP demo ==")
    say(f"config:     {config}")
    say(f"namespaces: router {t.router_ns}, hosts {a.host_ns} ({a.host_ip}) and {t.port('b').host_ns}")
    say(f"redline:    {binary}, EAL {' '.join(t.eal)}")

    def body() -> bool:
        ok = echo(t, 0) and echo(t, 2)

        held = start_bg(t, "a", [PY, TPEER, "idle", RA_IP, "9", "3"], ready='"ready"')
        say("\n== a connection to the discard service, as redline lists it (redlinectl show connections) ==")
        r = t.ctl("show", "connections")
        say("\n".join("  " + l for l in (r.out + r.err).rstrip().splitlines()))
        say("\n== and as Linux sees it (ss -ti in A) ==")
        show(t, "a", ["ss", "-tin", "dst", RA_IP])
        stop_bg(held)

        say("\n== the source service (port 19): 1 MiB of redline's pattern, then redline closes ==")
        res = peer(t, "sink", RA_IP, 19)
        say(f"  {res['bytes']} bytes, pattern {'correct' if res['match'] else 'WRONG'}")
        ok = ok and res["match"]

        say("\n== UDP echo of a 4000-byte datagram (fragmented both ways, reassembled by redline) ==")
        res = peer(t, "udp", RA_IP, 7, 4000)
        say(f"  {res.get('size')} bytes back from {res.get('src')}: {'MATCH' if res.get('match') else 'MISMATCH'}")
        say("\n== a connection to a port nobody listens on: refused at once (RST) ==")
        res = peer(t, "refused", RA_IP, 81)
        say(f"  refused: {res['refused']}")

        say("\n== redlinectl show tcp ==")
        r = t.ctl("show", "tcp")
        say("\n".join("  " + l for l in (r.out + r.err).rstrip().splitlines()))
        say("\n== TCP and UDP counters (redlinectl show counters --nonzero) ==")
        r = t.ctl("show", "counters", "--nonzero")
        say("\n".join("  " + l for l in r.out.splitlines() if l.startswith(("tcp_", "udp_"))))

        say("\n== look around (in another terminal) ==")
        say(f"  ip netns exec {a.host_ns} nc {RA_IP} 7            # type lines: they come back")
        say(f"  ip netns exec {a.host_ns} nc -u {RA_IP} 7         # the same over UDP")
        say(f"  ip netns exec {a.host_ns} nc {RA_IP} 19 | wc -c   # the source service")
        if t.control_socket:
            say(f"  {topo.redlinectl_bin()} --socket {t.control_socket} show connections")
        say(f"  kill -USR1 {t.pid}                              # counters and connections, printed here")
        if not ok:
            say("\ndemo: a transfer did not come back intact (see above)")
        return ok

    return run_demo(t, seconds, NAMESPACES, body, failures=(tcp_tests.Fail,))


if __name__ == "__main__":
    sys.exit(main())
