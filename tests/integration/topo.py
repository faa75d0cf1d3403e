"""Network-namespace topology around a running `redline` binary.

Problem: integration tests and the demo need the real binary routing between
Linux peers, without ever touching the root namespace (see DESIGN.md, "Network
etiquette"), without colliding with parallel runs, and without leaving
namespaces or processes behind when something fails half way.

Shape:

    R (router ns)    runs `redline`; redline creates its net_tap ports here
    A, B, ... (one host ns per [[ports]] entry)
                     after `redline: ready` the kernel side of each tap is moved
                     from R into its host ns, given its own MAC (net_tap gives
                     the kernel side the DPDK port's MAC), an address (first
                     free address of the port's subnet) and a default route via
                     redline.  A host that is the `via` of a static route also
                     gets the first address of that route's prefix on lo.

Port kinds (`PORTS`, set by run.py --ports or REDLINE_PORTS; a config's device strings decide):

    tap     net_tap vdevs: redline creates the taps, the topology moves their kernel sides
    afxdp   net_af_xdp (or net_af_packet) vdevs on veth pairs the topology creates BEFORE
            redline starts: redline's end (the vdev's iface=) in R, the peer end, with the
            same name, in the host ns; queues as many as the vdev's queue_count= (qpairs=).
            The host side is then configured exactly as a moved tap, plus
            `ethtool -K IF tx off` (else TCP/UDP checksums arrive unfilled at redline).

A port may also have a kernel exception interface ([ports.kernel] interface = ..., a TAP that
redline creates in R with the port's MAC and address): `Port.kernel_if`.

Stdlib only: this runs under Debian's /usr/bin/python3 (which also has scapy,
used by pkt.py inside the host namespaces).  Python >= 3.11 (tomllib).

Usage:

    with Topology(workers=1) as t:          # starts everything
        r = t.run_in("a", ["ping", "-c", "1", "10.77.1.1"])
        s = t.stats()                       # SIGUSR1, parsed block
        print(s["icmp_echo_replied"])
        res = t.stop()                      # SIGTERM, final block, mbufs
    # namespaces removed, processes killed by PID
"""

from __future__ import annotations

import atexit
import ctypes
import ipaddress
import json as _json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "build" / "dpdk_app" / "redline"

# The contract said `--no-huge -m 512 --in-memory --no-pci`, but EAL 22.11 refuses that:
# --no-huge implies legacy memory, and "Option --legacy-mem is not compatible with
# --in-memory".  --no-shconf (no shared config files, no multi-process IPC) plus a unique
# --file-prefix gives what --in-memory was for: parallel runs that do not collide and leave
# nothing behind but an empty /var/run/dpdk/<prefix>, which Topology removes.
EAL_COMMON = ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf"]
EAL_BY_WORKERS = {
    # lcore 0 is the main/control lcore; every other lcore is a worker.
    1: ["-l", "0,1"],
    4: ["--lcores", "0@0,1@1,2@0,3@1,4@1"],
}

# Kind of host links for the default config and render_config: "tap" (net_tap) or "afxdp"
# (net_af_xdp on veth pairs).  run.py --ports sets it.
PORT_KINDS = ("tap", "afxdp")
PORTS = os.environ.get("REDLINE_PORTS", "tap")

READY_LINE = "redline: ready"
DEFAULT_CONTROL_SOCKET = "/run/redline/redline.sock"  # [control] socket when the config names none
MBUFS_RE = re.compile(r"^mbufs in use at exit:\s*(-?\d+)\s*$")


def redline_bin() -> Path:
    return Path(os.environ.get("REDLINE_BIN", str(DEFAULT_BIN)))


def redlinectl_bin() -> Path:
    """REDLINECTL_BIN, else the redlinectl built beside the redline under test."""
    return Path(os.environ.get("REDLINECTL_BIN", str(redline_bin().parent / "redlinectl")))


def eal_args(workers: int, file_prefix: str | None = None) -> list[str]:
    if workers not in EAL_BY_WORKERS:
        raise ValueError(f"no EAL layout for {workers} workers (have {sorted(EAL_BY_WORKERS)})")
    env = os.environ.get("REDLINE_EAL")  # whole-list override, e.g. to try other memory options
    common = shlex.split(env) if env else EAL_COMMON
    fp = ["--file-prefix", file_prefix] if file_prefix else []
    return common + fp + EAL_BY_WORKERS[workers]


def remove_runtime_dir(file_prefix: str) -> None:
    """EAL creates /var/run/dpdk/<file-prefix> even with --no-shconf; remove it.

    A clean exit leaves it empty; a killed redline leaves its telemetry socket behind.
    Only the telemetry sockets are removed, and only in our own unique directory.
    """
    d = Path("/var/run/dpdk", file_prefix)
    try:
        for f in d.iterdir():
            if f.name.startswith("dpdk_telemetry") and f.is_socket():
                f.unlink()
        d.rmdir()
    except OSError:
        pass


# --------------------------------------------------------------------------------------
# config


def port_device(kind: str, index: int, iface: str, queues: int = 1) -> str:
    """The [[ports]] device string of a port of `kind` ("tap", "afxdp") on interface `iface`."""
    if kind == "tap":
        return f"net_tap{index},iface={iface}"
    if kind == "afxdp":
        return f"net_af_xdp{index},iface={iface}" + (f",start_queue=0,queue_count={queues}" if queues > 1 else "")
    raise ValueError(f"unknown port kind {kind!r} (have {PORT_KINDS})")


def render_kernel(kernel: dict | None) -> str:
    """A [ports.kernel] table ({"interface": .., "pass": [..]}), or nothing."""
    if not kernel:
        return ""
    lines = ["", "[ports.kernel]"]
    for k, v in kernel.items():
        if isinstance(v, (list, tuple)):
            lines.append(f"{k} = [" + ", ".join(f'"{x}"' for x in v) + "]")
        elif isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, int):
            lines.append(f"{k} = {v}")
        else:
            lines.append(f'{k} = "{v}"')
    return "\n".join(lines) + "\n"


def render_config(tap_a: str, tap_b: str, *, arp_retry_ms: int = 1000, arp_retries: int = 3,
                  error_rate: int = 100, error_burst: int = 50, idle_sleep_us: int = 20,
                  workers: int | None = None, mtu_b: int = 1500, ports: str | None = None,
                  queues: int | None = None, kernel_a: dict | None = None,
                  kernel_b: dict | None = None) -> str:
    """The test config: examples/demo.toml's topology with caller-chosen interface names.

    `ports`: "tap" or "afxdp" (default: the module's PORTS); `queues`: an AF_XDP port's
    queue_count (default 1: DPDK 22.11's net_af_xdp takes a veth for a one-queue device, since a
    veth reports no combined channels, so redline's workers share that queue);
    `kernel_a`/`kernel_b`: [ports.kernel] tables."""
    for t in (tap_a, tap_b):
        if len(t) > 15:
            raise ValueError(f"tap name {t!r} longer than 15 characters")
    kind = ports or PORTS
    q = queues or 1
    w = f"workers = {workers}\n" if workers is not None else ""
    # net_af_xdp cannot change its interface's MAC ("cannot set MAC: Operation not supported"):
    # an AF_XDP port takes the veth's own, which the topology sets to the same address.
    mac = (lambda m: f'mac = "{m}"\n') if kind == "tap" else (lambda m: f"# veth mac {m}\n")
    return f"""\
# generated by tests/integration/topo.py
{w}
[[ports]]
name = "a"
device = "{port_device(kind, 0, tap_a, q)}"
address = "10.77.1.1/24"
{mac("02:00:00:77:01:01")}mtu = 1500
{render_kernel(kernel_a)}
[[ports]]
name = "b"
device = "{port_device(kind, 1, tap_b, q)}"
address = "10.77.2.1/24"
{mac("02:00:00:77:02:01")}mtu = {mtu_b}
{render_kernel(kernel_b)}
[[routes]]
prefix = "10.77.3.0/24"
via = "10.77.2.2"

[arp]
reachable_s = 300
retry_ms = {arp_retry_ms}
retries = {arp_retries}
queue_per_neighbor = 16

[icmp]
error_rate = {error_rate}
error_burst = {error_burst}

[pipeline]
burst = 64
idle_sleep_us = {idle_sleep_us}
"""


def _devargs(device: str) -> dict[str, str]:
    """'net_tap0,iface=rl-a,mac=..' -> {'_name': 'net_tap0', 'iface': 'rl-a', ...}"""
    parts = device.split(",")
    out = {"_name": parts[0]}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        out[k.strip()] = v.strip()
    return out


def _mac_plus_one(mac: str) -> str:
    b = [int(x, 16) for x in mac.split(":")]
    b[5] = (b[5] + 1) & 0xFF
    return ":".join(f"{x:02x}" for x in b)


def _random_mac() -> str:
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xFC) | 0x02  # unicast, locally administered
    return ":".join(f"{x:02x}" for x in b)


@dataclass
class Port:
    name: str                     # [[ports]].name
    tap: str                      # kernel interface name (iface= of the net_tap vdev)
    iface: ipaddress.IPv4Interface  # redline's address on this port
    router_mac: str | None        # [[ports]].mac, if configured
    host_ns: str = ""
    host_ip: ipaddress.IPv4Interface | None = None
    host_mac: str = ""
    lo_addrs: list[str] = field(default_factory=list)  # extra /32s on the host's lo
    mtu: int = 1500               # [[ports]].mtu: the host's side of the link gets the same
    kind: str = "tap"             # "tap" (redline makes it) or "veth" (the topology makes a pair)
    queues: int = 1               # veth: queues per direction (the vdev's queue_count=/qpairs=)
    kernel_if: str | None = None  # [ports.kernel].interface: redline's TAP in the router ns
    kernel_pass: list[str] = field(default_factory=list)  # [ports.kernel].pass

    @property
    def router_ip(self) -> str:
        return str(self.iface.ip)


def ports_from_config(text: str) -> tuple[list[Port], list[dict]]:
    cfg = tomllib.loads(text)
    ports = []
    sections = text.split("[[ports]]")[1:]
    for i, p in enumerate(cfg.get("ports", [])):
        dev = _devargs(p["device"])
        veth = dev["_name"].startswith(("net_af_xdp", "net_af_packet"))
        if not (veth or dev["_name"].startswith("net_tap")) or "iface" not in dev:
            raise ValueError(f"port {p.get('name')!r}: topology needs a net_tap, net_af_xdp or net_af_packet "
                             f"vdev with iface=, got {p['device']!r}")
        iface = ipaddress.IPv4Interface(p["address"])
        port = Port(name=p["name"], tap=dev["iface"], iface=iface, router_mac=p.get("mac"), mtu=p.get("mtu", 1500))
        if veth:
            port.kind = "veth"
            if not port.router_mac:  # render_config's "# veth mac M" line in this port's table
                m = re.search(r"^# veth mac ([0-9a-f:]{17})$", sections[i] if i < len(sections) else "", re.M)
                port.router_mac = m.group(1) if m else None
            port.queues = int(dev.get("queue_count", dev.get("qpairs", "1")))
        kernel = p.get("kernel")
        if kernel:
            port.kernel_if = kernel.get("interface")
            port.kernel_pass = list(kernel.get("pass", []))
        host = next(h for h in iface.network.hosts() if h != iface.ip)
        port.host_ip = ipaddress.IPv4Interface(f"{host}/{iface.network.prefixlen}")
        port.host_mac = _mac_plus_one(port.router_mac) if port.router_mac else _random_mac()
        ports.append(port)
    routes = cfg.get("routes", [])
    for r in routes:
        for port in ports:
            if str(port.host_ip.ip) == r["via"]:
                net = ipaddress.IPv4Network(r["prefix"])
                first = next(iter(net.hosts()), net.network_address)
                port.lo_addrs.append(f"{first}/32")
    return ports, routes


# --------------------------------------------------------------------------------------
# stats parsing (pure functions: unit-testable without redline)


class Stats:
    """One `stats begin` .. `stats end` block."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.cores: dict[int, dict[str, int]] = {}
        self.ports: dict[str, dict[str, int]] = {}
        self.pool: dict[str, int] = {}  # mbufs_in_use, mbufs_total
        self.unparsed: list[str] = []

    def __getitem__(self, name: str) -> int:
        return self.counters.get(name, 0)

    def port(self, port: str, stat: str) -> int:
        return self.ports.get(port, {}).get(stat, 0)

    def delta(self, older: "Stats", name: str) -> int:
        return self[name] - older[name]

    def core_sum_mismatches(self) -> list[str]:
        """Counters whose per-core values do not add up to the `counter` line."""
        bad = []
        if not self.cores:
            return bad
        names = set(self.counters)
        for c in self.cores.values():
            names |= set(c)
        for n in sorted(names):
            s = sum(c.get(n, 0) for c in self.cores.values())
            if s != self.counters.get(n, 0):
                bad.append(f"{n}: counter={self.counters.get(n, 0)} sum(cores)={s}")
        return bad

    def __repr__(self) -> str:
        nz = {k: v for k, v in self.counters.items() if v}
        return f"Stats(counters(non-zero)={nz}, cores={sorted(self.cores)}, ports={sorted(self.ports)})"


def _int(s: str) -> int:
    return int(s, 0) if s.lower().startswith("0x") else int(s)


def parse_stats_block(lines: list[str]) -> Stats:
    """Parse the lines strictly between `stats begin` and `stats end`."""
    st = Stats()
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        try:
            if f[0] == "counter" and len(f) == 3:
                st.counters[f[1]] = _int(f[2])
            elif f[0] == "core" and len(f) == 4:
                st.cores.setdefault(int(f[1]), {})[f[2]] = _int(f[3])
            elif f[0] == "port" and len(f) == 4:
                st.ports.setdefault(f[1], {})[f[2]] = _int(f[3])
            elif f[0] == "pool" and len(f) == 3:
                st.pool[f[1]] = _int(f[2])
            else:
                st.unparsed.append(raw)
        except ValueError:
            st.unparsed.append(raw)
    return st


def find_stats_blocks(lines: list[str]) -> list[tuple[int, Stats]]:
    """All complete blocks in `lines`, as (index of the `stats end` line, Stats).

    Lines that are not part of the block grammar (EAL log lines that landed in
    the middle, say) are kept in Stats.unparsed rather than failing the parse.
    A `stats begin` without an `end` before the next `begin` is discarded.
    """
    out = []
    start = None
    for i, raw in enumerate(lines):
        s = raw.strip()
        if s == "stats begin":
            start = i
        elif s == "stats end" and start is not None:
            out.append((i, parse_stats_block(lines[start + 1:i])))
            start = None
    return out


def find_mbufs_at_exit(lines: list[str]) -> int | None:
    for raw in reversed(lines):
        m = MBUFS_RE.match(raw.strip())
        if m:
            return int(m.group(1))
    return None


# --------------------------------------------------------------------------------------
# process helpers


@dataclass
class Result:
    cmd: list[str]
    rc: int | None          # None if it timed out (it was killed by PID)
    out: str
    err: str
    timed_out: bool = False
    json: object = None     # Topology.ctl(..., json=True): the parsed reply (None if not JSON)

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def brief(self, n: int = 600) -> str:
        s = f"$ {shlex.join(self.cmd)} -> rc={self.rc}{' (timeout)' if self.timed_out else ''}\n"
        s += (self.out + ("\n" + self.err if self.err.strip() else "")).strip()
        return s if len(s) <= n else s[:n] + " ..."


def sh(cmd: list[str] | str, timeout: float = 10, check: bool = False, input: str | None = None) -> Result:
    """Run a command, bounded in time; on timeout the child is killed by PID."""
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                           errors="replace")
        r = Result(cmd, p.returncode, p.stdout, p.stderr)
    except subprocess.TimeoutExpired as e:
        def _s(x):
            return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
        r = Result(cmd, None, _s(e.stdout), _s(e.stderr), timed_out=True)
    if check and not r.ok:
        raise TopologyError(f"command failed: {r.brief()}")
    return r


class TopologyError(Exception):
    pass


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def ns_exists(name: str) -> bool:
    return Path("/var/run/netns", name).exists()


def kill_ns_processes(ns: str) -> list[int]:
    """SIGKILL, by PID, every process still inside a namespace this harness created."""
    r = sh(["ip", "netns", "pids", ns], timeout=5)
    pids = [int(x) for x in r.out.split() if x.isdigit()]
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def delete_ns(ns: str) -> None:
    if not ns_exists(ns):
        return
    kill_ns_processes(ns)
    for _ in range(20):  # bounded: processes may take a moment to die
        r = sh(["ip", "netns", "del", ns], timeout=5)
        if r.ok or not ns_exists(ns):
            return
        time.sleep(0.1)


def xdp_on(ns: str, ifname: str) -> str:
    """What `ip -d link show IF` in `ns` says of an attached XDP program ("" if none, or if the
    interface is gone): the lines naming `xdp` (the flag, `prog/xdp`, `xdpgeneric`, ...)."""
    r = sh(["ip", "-n", ns, "-d", "link", "show", "dev", ifname], timeout=5)
    if not r.ok:
        return ""
    hits = []
    for i, line in enumerate(r.out.splitlines()):
        words = line.replace("<", " ").replace(">", " ").replace(",", " ").split()
        if i == 0:
            words = words[2:]  # "N: IF@ifM:" may itself contain "xdp" in a test's name
        if any(w == "xdp" or w.startswith(("xdp", "prog/xdp")) for w in words):
            hits.append(line.strip())
    return "\n".join(hits)


_live: list["Topology"] = []


@atexit.register
def _cleanup_all() -> None:
    for t in list(_live):
        try:
            t.close()
        except Exception:
            pass


# --------------------------------------------------------------------------------------


@dataclass
class StopResult:
    returncode: int | None
    stats: Stats | None
    mbufs_in_use: int | None
    killed: bool             # True if SIGTERM was not enough and we had to SIGKILL


class Managed:
    """`with X(...) as t:` for anything with start(), close() and a `failed` flag: a start that
    fails half-way, or an exception in the block, closes it with its logs kept."""

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.failed = True
            self.close()
            raise
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is not None:
            self.failed = True
        self.close()


class Topology(Managed):
    """Router namespace running redline + one host namespace per port."""

    def __init__(self, workers: int = 1, *, config_text: str | None = None,
                 config_path: str | Path | None = None, ns_prefix: str | None = None,
                 eal: list[str] | None = None, binary: str | Path | None = None,
                 ready_timeout: float = 30.0, keep_logs: bool = False, log=None) -> None:
        self.suffix = secrets.token_hex(3)
        self.prefix = ns_prefix or f"rl-{self.suffix}"
        self.workers = workers
        self.file_prefix = f"{self.prefix}-eal"
        self.eal = eal if eal is not None else eal_args(workers, self.file_prefix)
        self.binary = Path(binary) if binary else redline_bin()
        self.ready_timeout = ready_timeout
        self.keep_logs = keep_logs
        self.log = log or (lambda msg: None)
        if config_path is not None:
            config_text = Path(config_path).read_text()
        if config_text is None:
            config_text = render_config(f"rl-a-{self.suffix}", f"rl-b-{self.suffix}")
        self.ports, self.routes = ports_from_config(config_text)
        self.router_ns = f"{self.prefix}-r"
        for p in self.ports:
            p.host_ns = f"{self.prefix}-{p.name}"
        self.namespaces = [self.router_ns] + [p.host_ns for p in self.ports]
        for n in self.namespaces:
            if len(n) > 64 or "/" in n:
                raise ValueError(f"bad namespace name {n!r}")
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"redline-{self.prefix}-"))
        # Every redline gets a control socket of its own (never the shared default under
        # /run/redline, which parallel runs would fight over), unless the config says otherwise.
        control = tomllib.loads(config_text).get("control")
        if control is None:
            self.control_socket: Path | None = self.tmpdir / "control.sock"
            config_text = config_text.rstrip("\n") + f'\n\n[control]\nsocket = "{self.control_socket}"\n'
        else:
            sock = control.get("socket", DEFAULT_CONTROL_SOCKET)
            self.control_socket = Path(sock) if sock else None
        self.config_text = config_text

        self.config_file = self.tmpdir / "redline.toml"
        self.stdout_log = self.tmpdir / "redline.stdout.log"
        self.stderr_log = self.tmpdir / "redline.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []
        self._cond = threading.Condition()
        self._readers: list[threading.Thread] = []
        self._created_ns: list[str] = []
        self._bg: list[subprocess.Popen] = []
        self.stop_result: StopResult | None = None
        self._closed = False
        self.failed = False  # set by callers to keep logs
        self.echo = None     # optional callable(line) for each stdout line of redline (demo)
        # Words between `ip netns exec R` and the binary, e.g. a `sh -c '...; exec "$0" "$@"'`
        # that prepares redline's mount namespace first (it must exec, so the PID stays redline's).
        self.launch_prefix: list[str] = []

    # ---- lookup

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(name)

    def ns(self, which: str) -> str:
        """'r' -> router ns; a port name -> its host ns; a full ns name -> itself."""
        if which in ("r", "router"):
            return self.router_ns
        for p in self.ports:
            if p.name == which:
                return p.host_ns
        if which in self.namespaces:
            return which
        raise KeyError(which)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # ---- lifecycle

    def start(self) -> None:
        _live.append(self)
        if not self.binary.exists():
            raise TopologyError(f"redline binary not found: {self.binary} (build it, or set REDLINE_BIN)")
        for n in self.namespaces:
            if ns_exists(n):
                raise TopologyError(f"namespace {n} already exists")
        for n in self.namespaces:
            sh(["ip", "netns", "add", n], check=True)
            self._created_ns.append(n)
            sh(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
            # Keep IPv6 chatter (RS, MLD, DAD) off the test links; `default` also covers the
            # taps that redline creates later inside the router namespace.
            sh(["ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"], check=True)
        self._create_veths()
        self.config_file.write_text(self.config_text)
        self._start_redline()
        self._wait_ready()
        self._setup_hosts()

    def _create_veths(self) -> None:
        """veth ports: the pair exists before redline starts (an AF_XDP or af_packet port opens
        an existing interface).  redline's end, named as the vdev's iface=, in R with the port's
        MAC, up; the peer end, with the same name, straight into the host namespace.  Both ends
        get the port's queue count (veth XDP wants as many RX queues as the peer has TX queues)."""
        R = self.router_ns
        for p in self.ports:
            if p.kind != "veth":
                continue
            q = str(p.queues)
            sh(["ip", "-n", R, "link", "add", p.tap, "numtxqueues", q, "numrxqueues", q, "type", "veth",
                "peer", "name", p.tap, "netns", p.host_ns, "numtxqueues", q, "numrxqueues", q], check=True)
            if p.router_mac:
                sh(["ip", "-n", R, "link", "set", p.tap, "address", p.router_mac], check=True)
            sh(["ip", "-n", R, "link", "set", p.tap, "up"], check=True)
            self.log(f"{R}: veth {p.tap} ({q} queue(s)), peer {p.tap} in {p.host_ns}")

    def _start_redline(self) -> None:
        cmd = ["ip", "netns", "exec", self.router_ns, *self.launch_prefix, str(self.binary), *self.eal, "--",
               "--config", str(self.config_file)]
        self.command = cmd
        self.log(f"starting: {shlex.join(cmd)}")
        # `ip netns exec` execs the binary, so Popen.pid is redline's PID.  New session: a
        # Ctrl-C on the terminal reaches only the harness, which then stops redline in order.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        for stream, lines, path in ((self.proc.stdout, self.out_lines, self.stdout_log),
                                    (self.proc.stderr, self.err_lines, self.stderr_log)):
            t = threading.Thread(target=self._reader, args=(stream, lines, path), daemon=True)
            t.start()
            self._readers.append(t)

    def _reader(self, stream, lines: list[str], path: Path) -> None:
        with open(path, "w", buffering=1) as f:
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                f.write(line + "\n")
                with self._cond:
                    lines.append(line)
                    self._cond.notify_all()
                if self.echo is not None and lines is self.out_lines:
                    try:
                        self.echo(line)
                    except Exception:
                        pass
        with self._cond:
            self._cond.notify_all()

    def _wait_until(self, pred, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
        return True

    def _wait_ready(self) -> None:
        ok = self._wait_until(lambda: READY_LINE in self.out_lines or self.proc.poll() is not None,
                              self.ready_timeout)
        if READY_LINE in self.out_lines:
            self.log(f"redline ready (pid {self.pid})")
            return
        if self.proc.poll() is not None:
            time.sleep(0.2)  # let the readers drain
            raise TopologyError(f"redline exited with {self.proc.returncode} before ready (logs {self.tmpdir}); "
                                f"stderr tail:\n{self.tail(self.err_lines)}\nstdout tail:\n{self.tail(self.out_lines)}")
        assert not ok
        raise TopologyError(f"no '{READY_LINE}' within {self.ready_timeout}s (is stdout flushed? logs {self.tmpdir}); "
                            f"stdout tail:\n{self.tail(self.out_lines)}\nstderr tail:\n{self.tail(self.err_lines)}")

    def tail(self, lines: list[str], n: int = 15) -> str:
        with self._cond:
            return "\n".join("    " + l for l in lines[-n:])

    def _setup_hosts(self) -> None:
        R = self.router_ns
        for p in self.ports:
            H = p.host_ns
            if p.kind == "tap":
                # the tap should be there the moment redline says ready; allow a short grace
                for _ in range(50):
                    if sh(["ip", "-n", R, "link", "show", p.tap], timeout=5).ok:
                        break
                    time.sleep(0.1)
                else:
                    raise TopologyError(f"tap {p.tap} not found in {R} after ready:\n"
                                        + sh(["ip", "-n", R, "link"]).out)
                sh(["ip", "-n", R, "link", "set", p.tap, "netns", H], check=True)
            else:
                # A veth hands its peer partial checksums (CHECKSUM_PARTIAL); XDP and af_packet
                # see them unfilled.  Off on the host's side, the kernel sums in software.
                if not shutil.which("ethtool"):
                    raise TopologyError("ethtool not found (Debian package ethtool): veth host sides "
                                        "need `ethtool -K IF tx off`")
                sh(["ip", "netns", "exec", H, "ethtool", "-K", p.tap, "tx", "off"], check=True)
            sh(["ip", "-n", H, "link", "set", p.tap, "down"], check=True)
            sh(["ip", "-n", H, "link", "set", p.tap, "address", p.host_mac], check=True)
            sh(["ip", "-n", H, "link", "set", p.tap, "mtu", str(p.mtu)], check=True)
            sh(["ip", "-n", H, "addr", "add", str(p.host_ip), "dev", p.tap], check=True)
            sh(["ip", "-n", H, "link", "set", p.tap, "up"], check=True)
            sh(["ip", "-n", H, "route", "add", "default", "via", p.router_ip], check=True)
            for a in p.lo_addrs:
                sh(["ip", "-n", H, "addr", "add", a, "dev", "lo"], check=True)
            self.log(f"{H}: {p.tap} {p.host_ip} mac {p.host_mac}, default via {p.router_ip}"
                     + (f", lo {' '.join(p.lo_addrs)}" if p.lo_addrs else ""))

    # ---- running things in namespaces

    def run_in(self, which: str, cmd: list[str] | str, timeout: float = 10, check: bool = False,
               input: str | None = None) -> Result:
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        return sh(["ip", "netns", "exec", self.ns(which), *cmd], timeout=timeout, check=check,
                  input=input)

    def popen_in(self, which: str, cmd: list[str], **kw) -> subprocess.Popen:
        """Background process in a namespace; killed by PID in close()."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(which), *cmd],
                             preexec_fn=_die_with_parent, **kw)
        self._bg.append(p)
        return p

    def ctl(self, *args: str, json: bool = False, user: str | None = None, timeout: float = 15) -> Result:
        """redlinectl --socket <this redline's socket> ARGS, run in the router namespace.

        `user`: run it as that user (runuser -u USER --).  `json`: pass --json and parse the
        reply into Result.json (None if stdout is not JSON, e.g. when redline cannot be reached).
        """
        if self.control_socket is None:
            raise TopologyError("this redline has no control socket ([control] socket = \"\")")
        binary = redlinectl_bin()
        if user is not None:
            # A copy beside the socket: the build tree may sit where only root can enter
            # (/root/redline, a mktemp -d clone), and then the other user could not run it at all.
            copy = Path(self.tmpdir) / "redlinectl"
            if not copy.exists():
                shutil.copy2(binary, copy)
                copy.chmod(0o755)
            binary = copy
        cmd = [str(binary), "--socket", str(self.control_socket), *(["--json"] if json else []), *args]
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
        r = self.run_in("r", cmd, timeout=timeout)
        if json:
            try:
                r.json = _json.loads(r.out)
            except ValueError:
                r.json = None
        return r

    def wait_output(self, pred, since: int = 0, timeout: float = 5.0, stream: str = "out") -> str | None:
        """Waits (bounded) for a line redline printed on stdout (stream "out") or its log on
        stderr ("err"), from index `since` on (see output_mark()), for which pred(line) holds;
        returns it, or None."""
        found: list[str] = []
        lines = self.out_lines if stream == "out" else self.err_lines

        def seen() -> bool:
            for line in lines[since:]:
                if pred(line):
                    found.append(line)
                    return True
            return False
        self._wait_until(seen, timeout)
        return found[0] if found else None

    def output_mark(self, stream: str = "out") -> int:
        """How many lines redline printed so far on stdout or stderr (for wait_output's `since`)."""
        with self._cond:
            return len(self.out_lines if stream == "out" else self.err_lines)

    # ---- counters

    def stats(self, timeout: float = 5.0) -> Stats:
        """SIGUSR1 redline and parse the next complete stats block it prints."""
        if not self.alive():
            raise TopologyError(f"redline is not running (rc={self.proc.returncode if self.proc else None})")
        with self._cond:
            before = len(find_stats_blocks(self.out_lines))
        os.kill(self.proc.pid, signal.SIGUSR1)
        got = self._wait_until(lambda: len(find_stats_blocks(self.out_lines)) > before
                               or self.proc.poll() is not None, timeout)
        with self._cond:
            blocks = find_stats_blocks(self.out_lines)
        if len(blocks) <= before:
            raise TopologyError(f"no stats block within {timeout}s after SIGUSR1 "
                                f"(alive={self.alive()}, got={got}); stdout tail:\n{self.tail(self.out_lines)}")
        return blocks[before][1]

    def wait_counter(self, base: Stats, name: str, min_delta: int, timeout: float = 5.0,
                     interval: float = 0.25) -> Stats:
        """Poll stats until counter `name` rose by >= min_delta over `base` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s.delta(base, name) >= min_delta or time.monotonic() >= deadline:
                return s
            time.sleep(interval)

    # ---- shutdown

    def stop(self, timeout: float = 20.0) -> StopResult:
        """SIGTERM redline by PID, wait (bounded), parse final stats and mbuf line."""
        if self.stop_result is not None:
            return self.stop_result
        if self.proc is None:
            self.stop_result = StopResult(None, None, None, False)
            return self.stop_result
        with self._cond:
            before = len(find_stats_blocks(self.out_lines))
        killed = False
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.log(f"redline (pid {self.proc.pid}) ignored SIGTERM for {timeout}s: SIGKILL")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        for t in self._readers:
            t.join(5)
        with self._cond:
            blocks = find_stats_blocks(self.out_lines)
            final = blocks[-1][1] if len(blocks) > before else None
            mbufs = find_mbufs_at_exit(self.out_lines)
        self.stop_result = StopResult(self.proc.returncode, final, mbufs, killed)
        return self.stop_result

    def close(self) -> None:
        """Idempotent teardown: stop redline, kill leftovers by PID, delete namespaces."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.proc is not None and self.stop_result is None:
                self.stop(timeout=10)
        finally:
            for p in self._bg:
                if p.poll() is None:
                    try:
                        p.kill()
                        p.wait(5)
                    except Exception:
                        pass
            for n in reversed(self._created_ns):
                delete_ns(n)
            if "--file-prefix" in self.eal:
                remove_runtime_dir(self.eal[self.eal.index("--file-prefix") + 1])
            if self in _live:
                _live.remove(self)
            if not (self.keep_logs or self.failed):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def leftover_namespaces(self) -> list[str]:
        return [n for n in self.namespaces if ns_exists(n)]
