"""One owner per local port (issue 21, defect 3): redline's own TCP on a NAT's outside address.

  nat_own_connect   the NAT on its default ports (1024-60999) while redline connects out from
                    the outside address ([[services.connect]]: TCP's ephemeral ports, 61000-65535,
                    drawn from the workers' port registry): every connection completes and carries
                    its bytes from a port above the NAT's, none of the replies is taken for the NAT
                    (nat_no_mapping stays 0), no claim is refused, and an inside host is translated
                    meanwhile. Before the registry the NAT's 1024-65535 covered TCP's 32768-60999
                    and took every reply.
"""
from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nat_topo  # noqa: E402
from harness import PY, check, test  # noqa: E402
from nat_topo import NAT_IP, OUT1, NatOptions, RedlineNat  # noqa: E402
from nat_tests import ECHO, PEER, peer_json, start_bg, stop_bg  # noqa: E402

TPEER = str(Path(__file__).resolve().parent / "tcp_peer.py")
CONNECTIONS = 4
BYTES = 256 * 1024


@test("nat_own_connect", fresh=True)
def t_nat_own_connect(workers: int, log) -> None:
    sfx = secrets.token_hex(3)
    # The clients start 4 s after redline: the host namespaces are set up once its taps exist.
    text = nat_topo.render_nat_config(sfx, NatOptions()) + f"""
[services]
[[services.connect]]
to = "{OUT1}:5001"
connections = {CONNECTIONS}
send_bytes = {BYTES}
start_after_ms = 4000
"""
    with RedlineNat(workers, config_text=text, ns_prefix=f"rl-{sfx}", log=log) as t:
        srv = start_bg(t, "out", [PY, TPEER, "server", "5001", str(CONNECTIONS), str(BYTES)], ready='"ready"')
        echo = start_bg(t, "out", [PY, PEER, "echo", *ECHO])
        try:
            inside = peer_json(t, "in1", ["query", "--dst", ECHO[0]])
            row = inside["replies"][0]
            check(row["intact"] and row["seen"].startswith(NAT_IP + ":"), f"inside host not translated: {inside}")
            line = srv.wait_for(lambda l: l.startswith('{"connections"'), 60)
            check(line is not None, f"the server in out never saw {CONNECTIONS} connections end: {srv.all[-5:]}")
            conns = json.loads(line)["connections"]
            check(len(conns) == CONNECTIONS, f"server saw {len(conns)} connections, want {CONNECTIONS}")
            for c in conns:
                ip, port = c["peer"].rsplit(":", 1)
                check(c["match"] and c["bytes"] == BYTES, f"connection with wrong data: {c}")
                check(ip == NAT_IP and 61000 <= int(port) <= 65535,
                      f"connection from {c['peer']}: want {NAT_IP} and a port of tcp.ephemeral_ports (61000-65535)")
            s = t.stats()
            check(s["tcp_connected"] == CONNECTIONS, f"tcp_connected {s['tcp_connected']}, want {CONNECTIONS}")
            check(s["nat_no_mapping"] == 0, f"nat_no_mapping {s['nat_no_mapping']}: the NAT took replies of redline's own")
            check(s["port_claim_refused"] == 0, f"port_claim_refused {s['port_claim_refused']}")
        finally:
            stop_bg(srv)
            stop_bg(echo)
