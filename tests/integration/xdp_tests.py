"""AF_XDP ports (issue 11): what redline sets up itself, what it reports, and the setups it must
refuse with a clear start-up error and nothing left behind.  Every test starts its own redline
(fresh=True) on veth pairs, whatever run.py --ports says; names start with `xdp_`, so
`run.py --only xdp` picks them.

  xdp_bpffs_mtu_and_mode     `ip netns exec` gives redline a fresh sysfs, so /sys/fs/bpf is no
                             bpffs: redline mounts one (in its own mount namespace: the root
                             namespace's /sys/fs/bpf stays as it was) and says so; sets port b's
                             interface MTU to the port's (1000); logs per port af_xdp, copy mode
                             (a veth has no zero-copy) and the busy-poll state; forwards a
                             1000-byte DF ping; exits cleanly with no XDP program left attached.
                             The same with a bpffs already mounted: nothing mounted, no libxdp
                             "No bpffs" warning.
  xdp_missing_interface      iface= names no interface: non-zero exit, stderr names
                             ports[i].device and "does not exist"; port a (which did exist and
                             opened first) keeps no XDP program.
  xdp_too_many_queues        queue_count=2 on a one-queue veth: non-zero exit naming "queue".
  xdp_interface_in_use       a second redline on the interfaces of a running one, and redline on
                             an interface carrying someone else's XDP program: non-zero exit
                             with "in use"; the running redline keeps forwarding and the foreign
                             program stays attached.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Topology  # noqa: E402
from harness import B_IP, Fail, check, close_and_check, ping, test  # noqa: E402


def xdp(name, **opts):
    """@test for a fresh AF_XDP topology of its own."""
    return test(name, fresh=True, **opts)


# ---------------------------------------------------------------------------------------
# helpers


class Scratch:
    """A router namespace and a host namespace joined by veth pairs (same name at both ends),
    for tests that start redline by hand.  Removed, with whatever runs in them, on exit."""

    def __init__(self, veths: list[str], queues: int = 1) -> None:
        sfx = secrets.token_hex(3)
        self.r, self.h = f"rl-{sfx}-r", f"rl-{sfx}-h"
        self.veths, self.queues = veths, queues
        self.tmp = Path(tempfile.mkdtemp(prefix=f"redline-rl-{sfx}-"))
        self.created: list[str] = []

    def __enter__(self) -> "Scratch":
        try:
            for ns in (self.r, self.h):
                topo.sh(["ip", "netns", "add", ns], check=True)
                self.created.append(ns)
                topo.sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                         "net.ipv6.conf.default.disable_ipv6=1"], check=True)
            q = str(self.queues)
            for v in self.veths:
                topo.sh(["ip", "-n", self.r, "link", "add", v, "numtxqueues", q, "numrxqueues", q, "type", "veth",
                         "peer", "name", v, "netns", self.h, "numtxqueues", q, "numrxqueues", q], check=True)
                topo.sh(["ip", "-n", self.r, "link", "set", v, "up"], check=True)
                topo.sh(["ip", "-n", self.h, "link", "set", v, "up"], check=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for ns in reversed(self.created):
            topo.delete_ns(ns)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def left(self) -> list[str]:
        return [n for n in self.created if topo.ns_exists(n)]


def xdp_config(ifaces: list[str], *, queues: int = 1, workers: int | None = None) -> str:
    """Two AF_XDP ports on `ifaces`, no control socket (nothing shared with a running redline)."""
    text = "" if workers is None else f"workers = {workers}\n"
    for i, (name, iface) in enumerate(zip("ab", ifaces)):
        text += (f'[[ports]]\nname = "{name}"\ndevice = "{topo.port_device("afxdp", i, iface, queues)}"\n'
                 f'address = "10.77.{i + 1}.1/24"\n\n')
    return text + '[control]\nsocket = ""\n'


def start_expecting_failure(ns: str, text: str, workers: int, tmp: Path, timeout: float = 30) -> topo.Result:
    """Starts redline in `ns` with config `text` and waits (bounded) for it to exit.  If it says
    ready instead, it is stopped by PID and the test fails: the setup should have been refused."""
    cfg = tmp / f"redline-{secrets.token_hex(2)}.toml"
    cfg.write_text(text)
    fp = f"{ns}-{secrets.token_hex(2)}"
    cmd = ["ip", "netns", "exec", ns, str(topo.redline_bin()), *topo.eal_args(workers, fp), "--", "--config", str(cfg)]
    out, err = tmp / f"{fp}.out", tmp / f"{fp}.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, start_new_session=True,
                             preexec_fn=topo._die_with_parent)
    started = False
    try:
        deadline = time.monotonic() + timeout
        while p.poll() is None and time.monotonic() < deadline:
            if topo.READY_LINE in out.read_text(errors="replace"):
                started = True
                break
            time.sleep(0.1)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        topo.remove_runtime_dir(fp)
    r = topo.Result(cmd, p.returncode, out.read_text(errors="replace"), err.read_text(errors="replace"))
    check(not started, f"redline started (said ready) where it should have refused:\n{r.brief(1500)}")
    check(r.rc not in (0, None), f"exit code {r.rc}:\n{r.brief(1500)}")
    check("redline: ready" not in r.out, "printed ready")
    return r


def no_xdp_left(ns: str, ifaces: list[str], problems: list[str], when: str) -> None:
    for i in ifaces:
        left = topo.xdp_on(ns, i)
        if left:
            problems.append(f"{when}: XDP program still attached to {i}:\n{left}")


def root_bpffs() -> str:
    """The root namespace's /sys/fs/bpf as findmnt sees it ("" if nothing is mounted there)."""
    return topo.sh(["findmnt", "-n", "-o", "FSTYPE,SOURCE,TARGET", "/sys/fs/bpf"], timeout=5).out.strip()


def afxdp_topology(workers: int, log, mtu_b: int = 1500) -> Topology:
    sfx = secrets.token_hex(3)
    text = topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers, mtu_b=mtu_b, ports="afxdp")
    return Topology(workers=workers, config_text=text, ns_prefix=f"rl-{sfx}", log=log)


def redline_lines(t: Topology) -> list[str]:
    with t._cond:
        return list(t.out_lines) + list(t.err_lines)


def stop_clean(t: Topology, problems: list[str]) -> None:
    """Stops redline; exit 0 with every mbuf back, and no XDP program left on its interfaces."""
    res = t.stop()
    if res.killed or res.returncode != 0 or res.mbufs_in_use != 0:
        problems.append(f"exit code {res.returncode}, mbufs in use at exit {res.mbufs_in_use}"
                        f"{', SIGKILLed' if res.killed else ''}; stderr tail:\n{t.tail(t.err_lines)}")
    no_xdp_left(t.router_ns, [p.tap for p in t.ports], problems, "after redline stopped")


# ---------------------------------------------------------------------------------------
# tests


def phases(*fns) -> None:
    """Runs every phase even if an earlier one failed; fails with all their reasons."""
    failures = []
    for fn in fns:
        try:
            fn()
        except Fail as e:
            failures.append(str(e))
    check(not failures, "\n".join(failures))


@xdp("xdp_bpffs_mtu_and_mode")
def t_bpffs_mtu_mode(workers: int, log) -> None:
    phases(lambda: _bpffs_missing(workers, log), lambda: _bpffs_present(workers, log))


def _bpffs_missing(workers: int, log) -> None:
    before = root_bpffs()
    problems: list[str] = []
    t = afxdp_topology(workers, log, mtu_b=1000)
    with t:
        lines = redline_lines(t)
        mounted = [line for line in lines if "bpffs" in line.lower() and "/sys/fs/bpf" in line]
        check(mounted, "no line says redline mounted bpffs at /sys/fs/bpf (under `ip netns exec` there is none); "
              "lines naming bpf: " + repr([line for line in lines if "bpf" in line.lower()][:6]))
        warned = [line for line in lines if "No bpffs found" in line]
        check(not warned, f"libxdp still found no bpffs: {warned[:2]}")
        check(root_bpffs() == before, f"the root namespace's /sys/fs/bpf changed: {before!r} -> {root_bpffs()!r}")
        for p in t.ports:
            mode = [line for line in lines if "af_xdp" in line and (p.tap in line or f"port {p.name}:" in line)
                    and re.search(r"\b(zero-copy|copy) mode\b", line)]
            check(mode, f"port {p.name}: no af_xdp line with `copy mode`/`zero-copy mode`; af_xdp lines: "
                  + repr([line for line in lines if "af_xdp" in line][:6]))
            check(any("busy" in line for line in mode), f"port {p.name}: the mode line does not give the busy-poll "
                  f"state: {mode}")
            check(not any("zero-copy mode" in line for line in mode),
                  f"port {p.name}: zero-copy claimed on a veth (veth has no AF_XDP zero-copy): {mode}")
        b = t.port("b")
        r = topo.sh(["ip", "-n", t.router_ns, "link", "show", b.tap], timeout=5)
        m = re.search(r"\bmtu (\d+)", r.out)
        check(m and m.group(1) == "1000", f"redline did not set {b.tap}'s MTU to port b's 1000:\n{r.brief()}")
        n, r = ping(t, "a", B_IP, 3, ["-s", str(1000 - 28), "-M", "do"])
        check(n == 3, f"{n}/3 replies to 1000-byte DF pings A->B:\n{r.brief()}")
        # The kernel's own drop counters of each port's sockets, beside the PMD's xstats.
        r = t.ctl("show", "ports", json=True)
        check(r.rc == 0, f"show ports: {r.brief()}")
        for port in r.json["result"]:
            xs = port.get("xstats", {})
            want = ["xsk_rx_dropped", "xsk_rx_ring_full", "xsk_rx_fill_ring_empty", "xsk_rx_invalid_descs",
                    "xsk_tx_invalid_descs"]
            check(all(k in xs for k in want), f"port {port.get('name')}: no xsk_* kernel counters in xstats: {sorted(xs)}")
            check(xs.get("xsk_tx_invalid_descs") == 0, f"port {port.get('name')}: the kernel refused descriptors: {xs}")
        stop_clean(t, problems)
    close_and_check(t, problems)
    check(root_bpffs() == before, f"the root namespace's /sys/fs/bpf changed: {before!r} -> {root_bpffs()!r}")


def _bpffs_present(workers: int, log) -> None:
    """A bpffs already there: redline uses it (no second mount, no libxdp warning)."""
    problems: list[str] = []
    t = afxdp_topology(workers, log)
    t.launch_prefix = ["sh", "-c", 'mount -t bpf bpf /sys/fs/bpf && exec "$0" "$@"']
    with t:
        lines = redline_lines(t)
        again = [line for line in lines if re.search(r"\bmount(ed|ing)? bpffs", line, re.I)]
        check(not again, f"bpffs was already mounted, yet redline says it mounted one: {again}")
        warned = [line for line in lines if "No bpffs found" in line]
        check(not warned, f"libxdp found no bpffs: {warned[:2]}")
        n, r = ping(t, "a", B_IP, 2)
        check(n == 2, f"{n}/2 replies A->B:\n{r.brief()}")
        stop_clean(t, problems)
    close_and_check(t, problems)


@xdp("xdp_missing_interface")
def t_missing_interface(workers: int, log) -> None:
    sfx = secrets.token_hex(3)
    present, absent = f"rl-a-{sfx}", f"rl-no-{sfx}"
    with Scratch([present]) as s:
        problems: list[str] = []
        for index, ifaces in ((1, [present, absent]), (0, [absent, present])):
            r = start_expecting_failure(s.r, xdp_config(ifaces), workers, s.tmp)
            check(f"ports[{index}].device" in r.err and "does not exist" in r.err,
                  f"stderr does not name ports[{index}].device and say `does not exist`:\n{r.err[-1500:]}")
            check(absent in r.err, f"stderr does not name the interface {absent}:\n{r.err[-800:]}")
            no_xdp_left(s.r, [present], problems, f"after the failed start (missing ports[{index}])")
        check(not problems, "; ".join(problems))
    check(not s.left(), f"namespaces left behind: {s.left()}")


@xdp("xdp_too_many_queues")
def t_too_many_queues(workers: int, log) -> None:
    sfx = secrets.token_hex(3)
    ifaces = [f"rl-a-{sfx}", f"rl-b-{sfx}"]
    with Scratch(ifaces) as s:
        r = start_expecting_failure(s.r, xdp_config(ifaces, queues=2), workers, s.tmp)
        check("queue" in r.err.lower(), f"stderr does not say what is wrong with the queues:\n{r.err[-1500:]}")
        check(ifaces[0] in r.err or "ports[0]" in r.err, f"stderr names neither the interface nor ports[0]:\n{r.err[-800:]}")
        problems: list[str] = []
        no_xdp_left(s.r, ifaces, problems, "after the failed start")
        check(not problems, "; ".join(problems))
    check(not s.left(), f"namespaces left behind: {s.left()}")


BPF_PASS = r"""
/* The smallest XDP program: pass everything (XDP_PASS = 2).  Someone else's program. */
__attribute__((section("xdp"), used)) int pass_all(void *ctx) { return 2; }
__attribute__((section("license"), used)) char _license[] = "GPL";
"""


def foreign_xdp_object(tmp: Path) -> Path | None:
    clang = shutil.which("clang") or shutil.which("clang-14")
    if not clang:
        return None
    src, obj = tmp / "pass.c", tmp / "pass.o"
    src.write_text(BPF_PASS)
    r = topo.sh([clang, "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)], timeout=60)
    return obj if r.ok else None


def prog_id(ns: str, iface: str) -> str | None:
    m = re.search(r"prog/xdp id (\d+)", topo.sh(["ip", "-n", ns, "-d", "link", "show", iface], timeout=5).out)
    return m.group(1) if m else None


@xdp("xdp_interface_in_use")
def t_in_use(workers: int, log) -> None:
    phases(lambda: _second_redline(workers, log), lambda: _foreign_program(workers, log))


def _second_redline(workers: int, log) -> None:
    problems: list[str] = []
    t = afxdp_topology(workers, log)
    with t:
        n, r = ping(t, "a", B_IP, 2)
        check(n == 2, f"{n}/2 replies A->B before the second redline:\n{r.brief()}")
        ids = {p.tap: prog_id(t.router_ns, p.tap) for p in t.ports}
        r = start_expecting_failure(t.router_ns, xdp_config([p.tap for p in t.ports], workers=None), workers, t.tmpdir)
        check("in use" in r.err, f"a second redline on {t.port('a').tap}: stderr does not say `in use`:\n{r.err[-1500:]}")
        check(t.alive(), "the first redline died when the second one started")
        after = {p.tap: prog_id(t.router_ns, p.tap) for p in t.ports}
        if after != ids:
            problems.append(f"the second redline changed the first one's XDP programs (ids): {ids} -> {after}")
        n, r = ping(t, "a", B_IP, 3)
        if n != 3:
            problems.append(f"the first redline no longer forwards after the second one's failed start: "
                            f"{n}/3 A->B:\n{r.brief()}")
        check(not problems, "; ".join(problems))
        stop_clean(t, problems)
    close_and_check(t, problems)


def _foreign_program(workers: int, log) -> None:
    """Someone else's XDP program on the interface: refused, and that program stays."""
    sfx = secrets.token_hex(3)
    ifaces = [f"rl-a-{sfx}", f"rl-b-{sfx}"]
    with Scratch(ifaces) as s:
        obj = foreign_xdp_object(s.tmp)
        if obj is None:
            raise Fail("no clang with a BPF target for the foreign-program case (Debian clang)")
        r = topo.sh(["ip", "-n", s.r, "link", "set", "dev", ifaces[0], "xdp", "obj", str(obj), "sec", "xdp"], timeout=20)
        if not r.ok:
            raise Fail(f"cannot attach a test XDP program here: {r.brief()}")
        pid = prog_id(s.r, ifaces[0])
        r = start_expecting_failure(s.r, xdp_config(ifaces), workers, s.tmp)
        check("in use" in r.err, f"redline on an interface with another XDP program: stderr does not say `in use`:\n"
              f"{r.err[-1500:]}")
        check(prog_id(s.r, ifaces[0]) == pid, f"the foreign XDP program (id {pid}) was replaced or removed: now "
              f"{topo.xdp_on(s.r, ifaces[0])!r}")
        problems = []
        no_xdp_left(s.r, ifaces[1:], problems, "after the failed start")
        check(not problems, "; ".join(problems))
    check(not s.left(), f"namespaces left behind: {s.left()}")
