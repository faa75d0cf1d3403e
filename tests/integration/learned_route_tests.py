"""Routes learned from BIRD on redline's kernel exception path (issue 22, "Routes"): BIRD in a
peer namespace announces a prefix over BGP to BIRD beside redline, which installs it in the
kernel side's table; redline mirrors it ([ip] learn_routes) and forwards along it within seconds,
and takes it out when the peer withdraws it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from harness import A_IP, B_IP, RB_IP, Skip, check, ping, test  # noqa: E402
from kernel_tests import BIRD_CONF, KERNEL_A, KERNEL_B, _tail, birdc  # noqa: E402
from topo import Topology  # noqa: E402

LEARNED = "10.77.60.0/24"  # announced by BIRD in host b, where 10.77.60.1 answers pings
OWN = "10.77.50.0/24"      # BIRD beside redline's own static (a blackhole): in the kernel, not taken
# BIRD beside redline also installs what it learns in the kernel's main table (proto bird).
KERNEL_EXPORT = "protocol kernel { ipv4 { import none; export all; }; }\n"


def _route(t: Topology, prefix: str) -> list[dict]:
    r = t.ctl("show", "routes", json=True)
    return [x for x in (r.json or {}).get("result", []) if x.get("prefix") == prefix]


def _wait_route(t: Topology, prefix: str, present: bool, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if bool(_route(t, prefix)) == present:
            return time.monotonic() - start
        time.sleep(0.2)
    return None


@test("learned_routes_from_bird", fresh=True)
def t_learned(workers: int, log) -> None:
    """BGP: BIRD in b (AS 65002) announces 10.77.60.0/24 to BIRD in redline's namespace (AS
    65001, on port b's kernel path), which exports it to the kernel; redline lists it as learned
    via 10.77.2.2 and host a's pings to 10.77.60.1 are answered through it; BIRD's own blackhole
    route is not taken; disabling the announcement in b removes the route (ping: net unreachable)."""
    if not (shutil.which("bird") and shutil.which("birdc")):
        raise Skip("bird2 is not installed (Debian package bird2)")
    sfx = secrets.token_hex(3)
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers, kernel_a=KERNEL_A, kernel_b=KERNEL_B)
    text += "\n[ip]\nlearn_routes = true\n"
    with Topology(workers=workers, config_text=text, ns_prefix=f"rl-{sfx}", log=log) as t:
        d = t.tmpdir
        t.run_in("b", ["ip", "addr", "add", "10.77.60.1/32", "dev", "lo"], timeout=5)
        sides = {"r": dict(me=RB_IP, my_as=65001, other=B_IP, other_as=65002, announce=OWN, passive="passive on;"),
                 "b": dict(me=B_IP, my_as=65002, other=RB_IP, other_as=65001, announce=LEARNED, passive="")}
        procs = {}
        try:
            for side, kw in sides.items():
                conf = d / f"bird-{side}.conf"
                conf.write_text(BIRD_CONF.format(log=d / f"bird-{side}.log", **kw) + (KERNEL_EXPORT if side == "r" else ""))
                procs[side] = t.popen_in(side, ["bird", "-f", "-c", str(conf), "-s", str(d / f"bird-{side}.ctl"),
                                                "-P", str(d / f"bird-{side}.pid")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            took = _wait_route(t, LEARNED, True, 40)
            check(took is not None, f"{LEARNED} not learned within 40 s; kernel side: "
                  f"{t.run_in('r', ['ip', 'route'], timeout=5).out}\nbird in r: {_tail(d / 'bird-r.log')}")
            log(f"learned {LEARNED} in {took:.1f} s after BIRD started")
            row = _route(t, LEARNED)[0]
            check(row.get("via") == B_IP and row.get("port") == "b" and row.get("learned") == "kernel",
                  f"show routes: {row}")
            check(not _route(t, OWN), f"BIRD's blackhole {OWN} was taken: {_route(t, OWN)}")
            running = t.ctl("show", "config", json=True).json["result"]["running"]["routes"]
            check({"prefix": LEARNED, "via": B_IP, "source": "learned (kernel)"} in running, f"show config: {running}")
            n, r = ping(t, "a", "10.77.60.1", 3)
            check(n == 3, f"{n}/3 replies from 10.77.60.1 along the learned route:\n{r.brief()}")
            res = t.ctl("route", "get", "10.77.60.1", json=True).json["result"]
            check(res.get("route") == LEARNED and res.get("via") == B_IP, f"route get: {res}")
            birdc(d / "bird-b.ctl", "disable", "announce")
            gone = _wait_route(t, LEARNED, False, 20)
            check(gone is not None, f"{LEARNED} still routed 20 s after b withdrew it: {_route(t, LEARNED)}")
            log(f"withdrawn from redline {gone:.1f} s after b disabled its announcement")
            n, r = ping(t, "a", "10.77.60.1", 1)
            check(n == 0, f"10.77.60.1 still answers after the withdrawal:\n{r.brief()}")
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()  # by PID
                    p.wait(5)
