"""Deploying redline as a service (issue 22): the shipped systemd unit passes
`systemd-analyze verify`, and redline tells a service manager it is ready, pings its watchdog
while every worker's loop turns, and says when it stops, over a NOTIFY_SOCKET the test listens on
(these machines do not boot systemd: the test plays its part of the sd_notify protocol).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from harness import Fail, Skip, check, test  # noqa: E402
from topo import Topology  # noqa: E402

UNIT = Path(__file__).resolve().parents[2] / "examples" / "redline.service"


@test("systemd_unit_verify", fresh=True)
def t_unit_verify(workers: int, log) -> None:
    """examples/redline.service, its ExecStart pointed at the built binary (systemd-analyze checks
    that the program exists), verifies with no complaint; a misspelt key in a copy is reported (so
    the check can fail)."""
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze is not installed (Debian package systemd)")
    d = Path(tempfile.mkdtemp(prefix="redline-unit-"))
    try:
        text = UNIT.read_text().replace("/usr/local/bin/redline", str(topo.redline_bin()))
        unit = d / "redline.service"
        unit.write_text(text)
        r = topo.sh(["systemd-analyze", "verify", str(unit)], timeout=60)
        check(r.rc == 0 and not (r.out + r.err).strip(), f"systemd-analyze verify:\n{r.brief()}")
        bad = d / "redline-bad.service"
        bad.write_text(text.replace("WatchdogSec=", "WatchdogSecs="))
        r = topo.sh(["systemd-analyze", "verify", str(bad)], timeout=60)
        check("WatchdogSecs" in r.out + r.err, f"a misspelt key was not reported:\n{r.brief()}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _messages(sock: socket.socket, until: float) -> list[str]:
    out = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return out


@test("systemd_notify_readiness", fresh=True)
def t_notify(workers: int, log) -> None:
    """With NOTIFY_SOCKET and WATCHDOG_USEC=400000 in its environment, redline sends READY=1 (with
    a STATUS naming its workers) once it runs, WATCHDOG=1 about every 200 ms, and STOPPING=1 when
    told to stop; without them it starts as before (every other test)."""
    d = Path(tempfile.mkdtemp(prefix="redline-notify-"))
    path = d / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o666)
        t = Topology(workers=workers, log=log)
        t.launch_prefix = ["env", f"NOTIFY_SOCKET={path}", "WATCHDOG_USEC=400000"]
        with t:
            first = _messages(sock, time.monotonic() + 5)
            ready = [m for m in first if "READY=1" in m]
            check(ready and f"STATUS={workers} workers" in ready[0], f"no READY=1 with a status: {first}")
            pings = [m for m in first + _messages(sock, time.monotonic() + 2) if m == "WATCHDOG=1"]
            # 7 s at one ping per 200 ms is 35: at least half of that, whatever the machine's load.
            check(len(pings) >= 15, f"{len(pings)} watchdog pings in ~7 s at WATCHDOG_USEC=400000")
            res = t.stop()
            check(res.returncode == 0, f"exit code {res.returncode}")
            last = _messages(sock, time.monotonic() + 1)
            check(any("STOPPING=1" in m for m in last), f"no STOPPING=1 at the stop: {last[-3:]}")
    finally:
        sock.close()
        shutil.rmtree(d, ignore_errors=True)
