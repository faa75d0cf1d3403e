#!/usr/bin/python3
"""Integration tests: the real `redline` binary routing between Linux hosts in namespaces.

    sudo /usr/bin/python3 tests/integration/run.py                 # 1 and 4 workers
    sudo /usr/bin/python3 tests/integration/run.py --workers 4 --only flood
    sudo /usr/bin/python3 tests/integration/run.py --only nat      # the NAT tests, 1 and 4 workers
    sudo /usr/bin/python3 tests/integration/run.py --dut nft       # the NAT tests against nftables
    sudo /usr/bin/python3 tests/integration/run.py --ports afxdp   # router tests with AF_XDP host links
    sudo /usr/bin/python3 tests/integration/run.py --only xdp      # AF_XDP start-up and bad setup
    sudo /usr/bin/python3 tests/integration/run.py --only kernel   # the kernel exception path
    sudo /usr/bin/python3 tests/integration/run.py --only tcp      # TCP/UDP against Linux (and udp_)
    REDLINE_BIN=/path/to/redline ... run.py                        # another binary

Per test one line `PASS <name>/w<N>`, `FAIL <name>/w<N>: <reason>` or
`SKIP <name>/w<N>: <reason>`; last line `integration: N passed, N failed`.
Exit code 0 only if nothing failed.

One topology (see topo.py) is shared by the tests of a worker count; tests only
read counter *deltas*, so they do not depend on each other's traffic.  The NAT tests
(nat_tests.py, registered with kind="nat") share a NAT topology of their own (nat_topo.py), the
kernel exception path's tests (kernel_tests.py, kind="kernel") a router topology with kernel
interfaces; the AF_XDP set-up tests (xdp_tests.py) each start their own;
with `--dut nft` only they run, once, against Linux nftables in redline's place (`/nft`).  If redline
dies during a test, that test fails and a fresh topology is started for the rest.
The last test of each worker count stops redline and checks the exit contract.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Topology, TopologyError  # noqa: E402
from harness import TESTS, Fail, Skip  # noqa: E402
import router_tests  # noqa: E402,F401  (registers the router's tests)
import control_tests  # noqa: E402,F401  (registers the control plane's tests)
import route_tests  # noqa: E402,F401  (registers ECMP, route get and reload keeping run-time routes)
import operate_tests  # noqa: E402,F401  (registers log level, counter deltas, bit rates)
import monitoring_tests  # noqa: E402,F401  (registers the alert rules and the dashboard against a real scrape)
import exit_tests  # noqa: E402,F401  (registers the exit contract: last of the router's tests)
import nat_topo  # noqa: E402
import nat_tests  # noqa: E402,F401  (registers the NAT tests, on a topology of their own)
import nat_session_tests  # noqa: E402,F401  (registers `show nat sessions` and `nat flush`, on the same)
import nat_limits_tests  # noqa: E402,F401  (registers RFC 6888 limits, port blocks and their log, each with its own redline)
import kernel_tests  # noqa: E402,F401  (registers the kernel exception path's tests, kind="kernel")
import learned_route_tests  # noqa: E402,F401  (registers routes learned from BIRD, with its own redline)
import xdp_tests  # noqa: E402,F401  (registers the AF_XDP set-up tests, each with its own redline)
import tcp_tests  # noqa: E402,F401  (registers TCP/UDP against Linux, kind="tcp")
import tcp_hostile_tests  # noqa: E402,F401  (registers hostile TCP peers, each with its own redline)
import endpoint_tests  # noqa: E402,F401  (registers one owner per local port, each with its own redline)
import deploy_tests  # noqa: E402,F401  (registers the systemd unit and readiness, each with its own redline)



# ---------------------------------------------------------------------------------------
# runner


class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.passed = self.failed = self.skipped = 0
        self.failed_logs: list[str] = []

    def log(self, msg: str) -> None:
        if self.args.verbose:
            print(f"  .. {msg}", flush=True)

    def report(self, name: str, status: str, reason: str = "") -> None:
        if status == "PASS":
            self.passed += 1
            print(f"PASS {name}", flush=True)
        elif status == "SKIP":
            self.skipped += 1
            print(f"SKIP {name}: {reason}", flush=True)
        else:
            self.failed += 1
            reason = reason.strip().replace("\n", "\n    ")
            print(f"FAIL {name}: {reason}", flush=True)

    def new_topology(self, workers: int, kind: str = "router"):
        if kind == "nat":
            t = nat_topo.make(workers, keep_logs=self.args.keep_logs, log=self.log)
        elif kind == "kernel":
            t = kernel_tests.make(workers, keep_logs=self.args.keep_logs, log=self.log)
        elif kind == "tcp":
            t = tcp_tests.make(workers, keep_logs=self.args.keep_logs, log=self.log)
        else:
            t = Topology(workers=workers, keep_logs=self.args.keep_logs, log=self.log)
        t.__enter__()
        self.log(f"{kind} topology {t.prefix}: {'redline pid ' + str(t.pid) if t.pid else t.dut}, logs {t.tmpdir}")
        return t

    def run_workers(self, workers: int, label: str | None = None) -> None:
        """Every selected test once: fresh ones first, then the shared ones of each kind (router,
        nat) on one topology per kind.  `label` names the run in reports (w1, w4, nft)."""
        label = label or f"w{workers}"
        selected = [(n, fn, o) for n, fn, o in TESTS if self.args.only is None or self.args.only in n]
        if self.args.dut != "redline":
            selected = [x for x in selected if x[2].get("kind") == "nat"]
        elif self.args.ports != "tap":
            # The NAT topology is made of taps; the router's tests are what runs on other links.
            selected = [x for x in selected if x[2].get("kind") != "nat"]
        fresh = [x for x in selected if x[2].get("fresh")]
        for name, fn, _ in fresh:
            self.run_one(f"{name}/{label}", lambda fn=fn: fn(workers, self.log))
        kinds: list[str] = []
        for _, _, o in selected:
            if not o.get("fresh") and o.get("kind", "router") not in kinds:
                kinds.append(o.get("kind", "router"))
        for kind in kinds:
            self.run_shared(workers, label, kind,
                            [x for x in selected if not x[2].get("fresh") and x[2].get("kind", "router") == kind])

    def run_shared(self, workers: int, label: str, kind: str, shared: list) -> None:
        shared = sorted(shared, key=lambda x: bool(x[2].get("final")))  # the final test ends the topology
        t: Topology | None = None
        restarts = 0
        prev = "start"
        try:
            for name, fn, opts in shared:
                full = f"{name}/{label}"
                if t is None or not t.alive():
                    if t is not None:
                        self.report(f"redline_alive/{label}", "FAIL",
                                    self._with_death(f"redline died after {prev}", t))
                        t.failed = True
                        self.failed_logs.append(str(t.tmpdir))
                        t.close()
                        t = None
                        restarts += 1
                        if restarts > 2:
                            self.report(full, "FAIL", "redline keeps dying; giving up on this worker count")
                            continue
                    try:
                        t = self.new_topology(workers, kind)
                    except (TopologyError, OSError) as e:
                        self.report(full, "FAIL", f"topology did not start: {e}")
                        t = None
                        restarts += 1
                        if restarts > 2:
                            for n2, _, _ in shared[shared.index((name, fn, opts)) + 1:]:
                                self.report(f"{n2}/{label}", "FAIL", "topology does not start")
                            return
                        continue
                ok = self.run_one(full, lambda fn=fn, t=t: fn(t), topo_=t)
                prev = full
                if not ok:
                    t.failed = True
                if opts.get("final"):
                    if t.failed:
                        self.failed_logs.append(str(t.tmpdir))
                    t = None
        finally:
            if t is not None:
                # --only without the final test: still check the exit contract quietly
                res = t.stop()
                if res.returncode != 0 or res.mbufs_in_use != 0:
                    self.report(f"exit/{label}", "FAIL",
                                f"exit code {res.returncode}, mbufs in use at exit: {res.mbufs_in_use}")
                    t.failed = True
                if t.failed:
                    self.failed_logs.append(str(t.tmpdir))
                t.close()

    def run_one(self, name: str, call, topo_: Topology | None = None) -> bool:
        t0 = time.monotonic()
        try:
            call()
        except Skip as e:
            self.report(name, "SKIP", str(e))
            return True
        except Fail as e:
            self.report(name, "FAIL", self._with_death(str(e), topo_))
            return False
        except TopologyError as e:
            self.report(name, "FAIL", self._with_death(f"harness: {e}", topo_))
            return False
        except Exception as e:  # a bug in the test or harness: show where
            tb = traceback.format_exc(limit=3)
            self.report(name, "FAIL", f"{type(e).__name__}: {e}\n{tb}")
            return False
        if topo_ is not None and topo_.proc is not None and topo_.stop_result is None and not topo_.alive():
            self.report(name, "FAIL", self._with_death("redline exited during the test", topo_))
            return False
        self.log(f"{name} took {time.monotonic() - t0:.1f}s")
        self.report(name, "PASS")
        return True

    @staticmethod
    def _with_death(msg: str, t: Topology | None) -> str:
        if t is not None and t.proc is not None and t.stop_result is None and not t.alive():
            msg += (f"\n[redline pid {t.pid} exited with {t.proc.returncode}; stderr tail:\n"
                    f"{t.tail(t.err_lines)}\nstdout tail:\n{t.tail(t.out_lines)}]")
        return msg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, action="append", choices=sorted(topo.EAL_BY_WORKERS),
                    help="worker count (repeatable); default: 1 and 4")
    ap.add_argument("--only", help="run only tests whose name contains this")
    ap.add_argument("--keep-logs", action="store_true", help="keep redline's logs even on success")
    ap.add_argument("--list", action="store_true", help="list tests and exit")
    ap.add_argument("--dut", choices=nat_topo.DUTS, default="redline",
                    help="device under test of the NAT tests; nft runs only those, once, against Linux nftables")
    ap.add_argument("--ports", choices=topo.PORT_KINDS, default=topo.PORTS,
                    help="host links of the router (and kernel) tests: tap (net_tap, default) or afxdp "
                         "(net_af_xdp on veth pairs; the NAT tests stay on taps and are left out)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    nat_topo.DUT = args.dut
    topo.PORTS = args.ports
    if args.list:
        for n, fn, _ in TESTS:
            print(n)
        return 0
    if os.geteuid() != 0:
        print("integration tests need root (network namespaces)", file=sys.stderr)
        print("integration: 0 passed, 1 failed")
        return 1
    binary = topo.redline_bin()
    if args.dut == "redline" and not binary.exists():
        print(f"FAIL setup: redline binary not found at {binary} (build first or set REDLINE_BIN)")
        print("integration: 0 passed, 1 failed")
        return 1

    # SIGTERM/SIGHUP: unwind through the finally blocks so namespaces are removed.
    def _term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)

    r = Runner(args)
    try:
        if args.dut == "redline":
            for w in args.workers or [1, 4]:
                r.run_workers(w, label=f"w{w}" if args.ports == "tap" else f"w{w}-{args.ports}")
        else:
            r.run_workers(1, label=args.dut)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", flush=True)
        r.failed += 1
    finally:
        topo._cleanup_all()
    if r.failed_logs:
        print("redline logs of failed runs: " + " ".join(sorted(set(r.failed_logs))))
    if r.skipped:
        print(f"({r.skipped} skipped)")
    print(f"integration: {r.passed} passed, {r.failed} failed", flush=True)
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
