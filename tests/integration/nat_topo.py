"""The NAT topology: two inside hosts, an outside network with two servers and a Linux router
to a far network behind a 1280-byte link, and a swappable device under test (DUT) between them.

Problem: the NAT tests must prove redline's NAT against Linux hosts, and the tests themselves
must be proven right before redline can translate.  So the same test bodies run against two
DUTs that present the same addresses to the hosts:

  * RedlineNat: redline with a [nat] config; its net_tap ports are created in the router
    namespace and the kernel sides moved into the host namespaces (topo.Topology does that).
  * NftNat: a Linux router namespace with veth pairs, ip_forward=1 and nftables masquerade,
    snat to a pool, dnat port forwards and hairpin snat; conntrack timeouts via the per-netns
    sysctls net.netfilter.nf_conntrack_*.

Shape (names get a random suffix; nothing in the root namespace):

    in1  10.88.1.2/24 ── lan  10.88.1.1 ┐
    in2  10.88.4.2/24 ── lan2 10.88.4.1 ├ DUT (rl-XXXXXX-r) ── wan 10.88.2.1 ── out 10.88.2.2/24,
         10.88.4.130/24 (pool rule)    ┘   pool 10.88.2.5-6                    10.88.2.3/24
                                                                            │ ip_forward=1, MTU 1280
                                                                   far 10.88.3.2/24 (gw 10.88.3.1)

  in1, in2: default route via the DUT.  out: NO route to 10.88.1/24 or 10.88.4/24 (the NAT hides
  them; replies go to the NAT addresses on the connected /24).  The DUT routes 10.88.3.0/24 via
  10.88.2.2.  Test code names hosts "in1", "in2", "out", "far" (and "r", the DUT's namespace).

Rules (examples/nat.toml has the same ones):
  snat 10.88.1.0/24   -> masquerade (10.88.2.1)
  snat 10.88.4.0/25   -> masquerade, TCP MSS clamped to 1360
  snat 10.88.4.128/25 -> pool ["10.88.2.5", "10.88.2.6"] (paired: one inside address, one outside)
  dnat tcp 10.88.2.1:8080 -> 10.88.1.2:80,  udp 10.88.2.1:5353 -> 10.88.1.2:5353,
       udp 10.88.2.1:5354 -> 10.88.1.2:5354 (nothing listens there: in1's port unreachable
       must leave translated, RFC 5508 section 4.2)

Counters exist only on redline: `t.has_counters`; `t.stats()` returns None on nftables.
`t.nat_sessions()` is `redlinectl show nat` total on redline, the conntrack table size on nft.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import topo
from topo import Result, StopResult, Topology, TopologyError, sh

IN1, IN2, IN2_POOL = "10.88.1.2", "10.88.4.2", "10.88.4.130"
R_LAN, R_LAN2, NAT_IP = "10.88.1.1", "10.88.4.1", "10.88.2.1"
OUT1, OUT2 = "10.88.2.2", "10.88.2.3"
POOL = ("10.88.2.5", "10.88.2.6")
FAR, FAR_GW = "10.88.3.2", "10.88.3.1"
FAR_MTU = 1280
INSIDE_NETS = ("10.88.1.0/24", "10.88.4.0/24")
MSS_CLAMP = 1360
DNAT_TCP = (f"{NAT_IP}:8080", f"{IN1}:80")
DNAT_UDP = (f"{NAT_IP}:5353", f"{IN1}:5353")
DNAT_UDP_CLOSED = (f"{NAT_IP}:5354", f"{IN1}:5354")  # nothing listens: in1 answers port unreachable

DUTS = ("redline", "nft")
DUT = os.environ.get("NAT_DUT", "redline")  # run.py --dut sets this

HOST_PORT = {"in1": "lan", "in2": "lan2", "out": "wan"}  # host -> [[ports]] name


@dataclass
class NatOptions:
    """The knobs of [nat] that tests change; defaults are the contract's defaults."""
    filtering: str = "address-dependent"
    max_sessions: int = 65536
    hairpinning: bool = True
    # redline's default split: the NAT below TCP's ephemeral ports (61000-65535)
    ports: dict = field(default_factory=lambda: {"tcp": "1024-60999", "udp": "1024-60999",
                                                 "icmp": "1024-65535"})
    timeouts: dict = field(default_factory=lambda: {"udp": 300, "tcp_established": 7440,
                                                    "tcp_transitory": 240, "icmp": 60})
    rfc_minimums: bool = True
    extra: str = ""  # more [nat.*] tables, as TOML text ([nat.limits], [nat.log])


def _q(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_q(x) for x in v) + "]"
    return f'"{v}"'


def render_nat_section(o: NatOptions) -> str:
    lines = ["[nat]", 'inside = ["lan", "lan2"]', 'outside = ["wan"]', f"filtering = {_q(o.filtering)}",
             f"max_sessions = {o.max_sessions}", f"hairpinning = {_q(o.hairpinning)}", "", "[nat.ports]"]
    lines += [f"{k} = {_q(v)}" for k, v in o.ports.items()]
    lines += ["", "[nat.timeouts]"] + [f"{k} = {_q(v)}" for k, v in o.timeouts.items()]
    lines += [f"rfc_minimums = {_q(o.rfc_minimums)}", ""]
    if o.extra:
        lines += [o.extra.strip(), ""]
    lines += ["[[nat.snat]]", 'source = "10.88.1.0/24"', 'to = "masquerade"', "",
              "[[nat.snat]]", 'source = "10.88.4.0/25"', 'to = "masquerade"', f"mss_clamp = {MSS_CLAMP}", "",
              "[[nat.snat]]", 'source = "10.88.4.128/25"', f"to = {_q(list(POOL))}", "",
              "[[nat.dnat]]", 'protocol = "tcp"', f'external = "{DNAT_TCP[0]}"', f'internal = "{DNAT_TCP[1]}"', "",
              "[[nat.dnat]]", 'protocol = "udp"', f'external = "{DNAT_UDP[0]}"', f'internal = "{DNAT_UDP[1]}"', "",
              "[[nat.dnat]]", 'protocol = "udp"', f'external = "{DNAT_UDP_CLOSED[0]}"',
              f'internal = "{DNAT_UDP_CLOSED[1]}"', ""]
    return "\n".join(lines)


def render_nat_config(sfx: str, o: NatOptions | None = None, workers: int | None = None) -> str:
    """redline's config for the NAT topology, with tap names carrying `sfx`."""
    o = o or NatOptions()
    taps = {n: f"rl-{n}-{sfx}" for n in ("lan", "lan2", "wan")}
    for t in taps.values():
        if len(t) > 15:
            raise ValueError(f"tap name {t!r} longer than 15 characters")
    w = f"workers = {workers}\n" if workers is not None else ""
    return f"""\
# generated by tests/integration/nat_topo.py (examples/nat.toml documents every key)
{w}
[[ports]]
name = "lan"
device = "net_tap0,iface={taps['lan']}"
address = "{R_LAN}/24"
mac = "02:00:00:88:01:01"

[[ports]]
name = "lan2"
device = "net_tap1,iface={taps['lan2']}"
address = "{R_LAN2}/24"
mac = "02:00:00:88:04:01"

[[ports]]
name = "wan"
device = "net_tap2,iface={taps['wan']}"
address = "{NAT_IP}/24"
mac = "02:00:00:88:02:01"

[[routes]]
prefix = "10.88.3.0/24"
via = "{OUT1}"

[arp]
reachable_s = 300
retry_ms = 1000
retries = 3
queue_per_neighbor = 16

[icmp]
error_rate = 100
error_burst = 50

[pipeline]
burst = 64
idle_sleep_us = 20

{render_nat_section(o)}"""


# --------------------------------------------------------------------------------------
# what both DUTs add around the DUT itself


def _setup_extras(ns_of, iface_of, log) -> None:
    """out: second server address, no route inward, router to far over MTU 1280; in2: the
    address its pool rule covers.  Kernel ICMP rate limits off (every error of these tests goes
    to the one NAT address, and the kernel would otherwise allow ~1 per second)."""
    OUT, FARNS, IN2NS = ns_of("out"), ns_of("far"), ns_of("in2")
    run = lambda *a: sh(list(a), check=True)  # noqa: E731
    run("ip", "-n", OUT, "addr", "add", f"{OUT2}/24", "dev", iface_of("out"))
    sh(["ip", "-n", OUT, "route", "del", "default"])  # redline's Topology adds one; out gets none
    run("ip", "-n", IN2NS, "addr", "add", f"{IN2_POOL}/24", "dev", iface_of("in2"))
    run("ip", "-n", OUT, "link", "add", "tofar", "type", "veth", "peer", "name", "toout", "netns", FARNS)
    for ns, ifc, a in ((OUT, "tofar", f"{FAR_GW}/24"), (FARNS, "toout", f"{FAR}/24")):
        run("ip", "-n", ns, "link", "set", ifc, "mtu", str(FAR_MTU))
        run("ip", "-n", ns, "addr", "add", a, "dev", ifc)
        run("ip", "-n", ns, "link", "set", ifc, "up")
    run("ip", "-n", FARNS, "route", "add", "default", "via", FAR_GW)
    run("ip", "netns", "exec", OUT, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for ns in (OUT, FARNS, ns_of("in1"), IN2NS):
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0",
            "net.ipv4.icmp_msgs_per_sec=100000")
    log(f"{OUT}: + {OUT2}/24, no default route, tofar {FAR_GW}/24 mtu {FAR_MTU}, ip_forward=1; "
        f"{FARNS}: {FAR}/24 via {FAR_GW}; {IN2NS}: + {IN2_POOL}/24")


def _nat_total(res) -> int | None:
    """The total session count in a `show nat --json` result, tolerant of its exact shape:
    {"total": N, ...}, {"sessions": N, ...}, {"sessions": {"total": N}}, or rows (a list, or
    under "workers"/"cores") each with "sessions"."""
    if isinstance(res, dict) and "result" in res and isinstance(res["result"], (dict, list)):
        res = res["result"]
    if isinstance(res, dict):
        for k in ("total", "sessions", "sessions_total", "total_sessions"):
            v = res.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, dict):
                t = _nat_total(v)
                if t is not None:
                    return t
        for k in ("workers", "cores", "per_worker", "per_core"):
            if isinstance(res.get(k), list):
                return _nat_total(res[k])
        return None
    if isinstance(res, list) and res and all(isinstance(x, dict) for x in res):
        vals = [x.get("sessions") for x in res]
        if all(isinstance(v, int) for v in vals):
            return sum(vals)
    return None


def _nat_per_worker(res) -> list[int] | None:
    if isinstance(res, dict) and "result" in res:
        res = res["result"]
    rows = None
    if isinstance(res, list):
        rows = res
    elif isinstance(res, dict):
        for k in ("workers", "cores", "per_worker", "per_core"):
            if isinstance(res.get(k), list):
                rows = res[k]
    if rows is None or not all(isinstance(x, dict) and isinstance(x.get("sessions"), int) for x in rows):
        return None
    return [x["sessions"] for x in rows]


# --------------------------------------------------------------------------------------
# DUT 1: redline


class RedlineNat(Topology):
    dut = "redline"
    has_counters = True

    def __init__(self, workers: int = 1, opts: NatOptions | None = None, *, config_text: str | None = None,
                 config_path: str | Path | None = None, ns_prefix: str | None = None,
                 keep_logs: bool = False, log=None) -> None:
        self.opts = opts or NatOptions()
        if config_text is None and config_path is None:
            sfx = secrets.token_hex(3)
            config_text = render_nat_config(sfx, self.opts)
            ns_prefix = ns_prefix or f"rl-{sfx}"
        super().__init__(workers, config_text=config_text, config_path=config_path, ns_prefix=ns_prefix,
                         keep_logs=keep_logs, log=log)
        for p in self.ports:
            p.lo_addrs = []  # 10.88.3.0/24 is far's network, not an address on out's lo
        self.far_ns = f"{self.prefix}-far"
        self.namespaces.append(self.far_ns)
        nat = tomllib.loads(self.config_text).get("nat", {})
        self.filtering = nat.get("filtering", "address-dependent")
        self.nat_cfg = nat

    def ns(self, which: str) -> str:
        if which in HOST_PORT:
            return self.port(HOST_PORT[which]).host_ns
        if which == "far":
            return self.far_ns
        return super().ns(which)

    def iface(self, host: str) -> str:
        return self.port(HOST_PORT[host]).tap

    def _setup_hosts(self) -> None:
        super()._setup_hosts()
        _setup_extras(self.ns, self.iface, self.log)

    def counters(self):
        return self.stats()

    def show_nat(self) -> topo.Result:
        return self.ctl("show", "nat", json=True)

    def nat_sessions(self) -> int:
        r = self.show_nat()
        total = _nat_total(r.json)
        if total is None:
            raise TopologyError(f"cannot read the session total from `redlinectl show nat --json`:\n{r.brief()}")
        return total

    def expose_mapping(self, proto: str, ext: str, internal: str) -> None:
        """Only the nftables DUT needs help to reach a learnt mapping (see NftNat)."""


# --------------------------------------------------------------------------------------
# DUT 2: Linux nftables in a router namespace


class NftNat(topo.Managed):
    dut = "nft"
    has_counters = False
    # Linux conntrack keeps a mapping per 5-tuple: inbound packets are accepted only from the
    # exact address and port the inside host sent to (RFC 4787: address and port-dependent).
    filtering = "address-and-port-dependent"

    def __init__(self, workers: int | None = None, opts: NatOptions | None = None, *,
                 ns_prefix: str | None = None, keep_logs: bool = False, log=None) -> None:
        self.opts = opts or NatOptions()
        self.workers = None  # not a concept here; tests that depend on it treat None like 1
        self.suffix = secrets.token_hex(3)
        self.prefix = ns_prefix or f"rl-{self.suffix}"
        self.router_ns = f"{self.prefix}-r"
        self.host_ns = {h: f"{self.prefix}-{p}" for h, p in HOST_PORT.items()}
        self.host_ns["far"] = f"{self.prefix}-far"
        self.host_if = {h: f"rl-{p}-{self.suffix}" for h, p in HOST_PORT.items()}
        self.namespaces = [self.router_ns] + list(self.host_ns.values())
        self.keep_logs = keep_logs
        self.log = log or (lambda m: None)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"redline-nft-{self.prefix}-"))
        self.proc = None
        self.pid = None
        self.stop_result: StopResult | None = None
        self.failed = False
        self.out_lines: list[str] = []
        self.err_lines: list[str] = []
        self._bg: list[subprocess.Popen] = []
        self._created_ns: list[str] = []
        self._closed = False
        self.nat_cfg = {"ports": dict(self.opts.ports), "timeouts": dict(self.opts.timeouts),
                        "max_sessions": self.opts.max_sessions}

    # ---- the interface the tests use (same as RedlineNat)

    def ns(self, which: str) -> str:
        if which in ("r", "router"):
            return self.router_ns
        if which in self.host_ns:
            return self.host_ns[which]
        if which in self.namespaces:
            return which
        raise KeyError(which)

    def iface(self, host: str) -> str:
        return self.host_if[host]

    def run_in(self, which: str, cmd, timeout: float = 10, check: bool = False, input: str | None = None) -> Result:
        if isinstance(cmd, str):
            import shlex
            cmd = shlex.split(cmd)
        return sh(["ip", "netns", "exec", self.ns(which), *cmd], timeout=timeout, check=check, input=input)

    def popen_in(self, which: str, cmd: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(which), *cmd], preexec_fn=topo._die_with_parent, **kw)
        self._bg.append(p)
        return p

    def stats(self):
        return None

    counters = stats

    def nat_sessions(self) -> int:
        # Reading the table (unlike nf_conntrack_count) skips and evicts entries that timed out
        # but that the garbage collector has not reached yet.
        r = self.run_in("r", ["cat", "/proc/net/nf_conntrack"], timeout=10)
        if not r.ok:
            raise TopologyError(f"cannot read conntrack table: {r.brief()}")
        return sum(1 for line in r.out.splitlines() if line.strip())

    def expose_mapping(self, proto: str, ext: str, internal: str) -> None:
        """Linux has no endpoint-independent mapping or filtering: a learnt mapping is not
        reachable from other endpoints (hairpinning included).  The nft DUT emulates it with a
        port forward of the mapping to the inside endpoint (what a full-cone NAT keeps)."""
        ip, port = ext.rsplit(":", 1)
        self.nft(f"add rule ip nat prerouting ip daddr {ip} {proto} dport {port} dnat to {internal}")

    def alive(self) -> bool:
        return not self._closed

    def tail(self, lines, n: int = 15) -> str:
        return ""

    def nft(self, script: str) -> None:
        r = self.run_in("r", ["nft", "-f", "-"], input=script + "\n", timeout=10)
        if not r.ok:
            raise TopologyError(f"nft refused:\n{script}\n{r.brief()}")

    # ---- lifecycle

    def start(self) -> None:
        topo._live.append(self)
        if not shutil.which("nft"):
            raise TopologyError("nft not found (Debian package nftables)")
        for n in self.namespaces:
            if topo.ns_exists(n):
                raise TopologyError(f"namespace {n} already exists")
        for n in self.namespaces:
            sh(["ip", "netns", "add", n], check=True)
            self._created_ns.append(n)
            sh(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
            sh(["ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"], check=True)
        R = self.router_ns
        addrs = {"in1": (R_LAN, IN1), "in2": (R_LAN2, IN2), "out": (NAT_IP, OUT1)}
        for h, port in HOST_PORT.items():
            H, hif = self.host_ns[h], self.host_if[h]
            sh(["ip", "-n", R, "link", "add", port, "type", "veth", "peer", "name", hif, "netns", H], check=True)
            r_ip, h_ip = addrs[h]
            sh(["ip", "-n", R, "addr", "add", f"{r_ip}/24", "dev", port], check=True)
            sh(["ip", "-n", R, "link", "set", port, "up"], check=True)
            sh(["ip", "-n", H, "addr", "add", f"{h_ip}/24", "dev", hif], check=True)
            sh(["ip", "-n", H, "link", "set", hif, "up"], check=True)
            if h != "out":
                sh(["ip", "-n", H, "route", "add", "default", "via", r_ip], check=True)
        for a in POOL:  # Linux answers ARP for the pool only if the addresses are its own
            sh(["ip", "-n", R, "addr", "add", f"{a}/32", "dev", "wan"], check=True)
        sh(["ip", "-n", R, "route", "add", "10.88.3.0/24", "via", OUT1], check=True)
        self._sysctls()
        self.nft(self.ruleset())
        _setup_extras(self.ns, self.iface, self.log)
        self.log(f"nft DUT {R}: ready")

    def _sysctls(self) -> None:
        t = self.opts.timeouts
        vals = ["net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_msgs_per_sec=100000",
                "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
                f"net.netfilter.nf_conntrack_udp_timeout={t['udp']}",
                f"net.netfilter.nf_conntrack_udp_timeout_stream={t['udp']}",
                f"net.netfilter.nf_conntrack_icmp_timeout={t['icmp']}",
                f"net.netfilter.nf_conntrack_tcp_timeout_established={t['tcp_established']}"]
        for k in ("syn_sent", "syn_recv", "fin_wait", "close_wait", "last_ack", "time_wait"):
            vals.append(f"net.netfilter.nf_conntrack_tcp_timeout_{k}={t['tcp_transitory']}")
        sh(["ip", "netns", "exec", self.router_ns, "sysctl", "-qw", *vals], check=True)

    def ruleset(self) -> str:
        o = self.opts
        inside = "{ " + ", ".join(INSIDE_NETS) + " }"
        ranges = []
        for proto, l4 in (("tcp", "tcp"), ("udp", "udp"), ("icmp", "icmp")):
            rng = o.ports.get(proto, "1024-65535")  # nft's own default
            if rng != "1024-65535" and proto != "icmp":
                lo, hi = rng.split("-")
                ranges.append(f'oifname "wan" ip saddr {inside} meta l4proto {l4} masquerade to :{lo}-{hi}')
        limit = ""
        if o.max_sessions < 65536:
            # connlimit: at most max_sessions live connections per inside address (the nearest
            # Linux has to redline's per-worker table size; nf_conntrack_max is not per-netns).
            limit = (f"set sessions {{ type ipv4_addr; size 65535; flags dynamic; }}\n"
                     f"  chain sessionlimit {{ type filter hook forward priority filter; policy accept;\n"
                     f"    iifname {{ \"lan\", \"lan2\" }} ct state new add @sessions {{ ip saddr ct count over {o.max_sessions} }} drop\n"
                     f"  }}\n")
        return f"""\
flush ruleset
table ip nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {NAT_IP} tcp dport {DNAT_TCP[0].split(':')[1]} dnat to {DNAT_TCP[1]}
    ip daddr {NAT_IP} udp dport {DNAT_UDP[0].split(':')[1]} dnat to {DNAT_UDP[1]}
    ip daddr {NAT_IP} udp dport {DNAT_UDP_CLOSED[0].split(':')[1]} dnat to {DNAT_UDP_CLOSED[1]}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ip saddr 10.88.4.128/25 snat to {POOL[0]}-{POOL[1]} persistent
    {chr(10).join(ranges)}
    oifname "wan" ip saddr {{ 10.88.1.0/24, 10.88.4.0/25 }} masquerade
    oifname {{ "lan", "lan2" }} ct status dnat ip saddr {inside} snat to {NAT_IP}
  }}
}}
table ip filter {{
  {limit}chain mss {{
    type filter hook forward priority mangle; policy accept;
    iifname "lan2" ip saddr 10.88.4.0/25 tcp flags & (syn | rst) == syn tcp option maxseg size set {MSS_CLAMP}
  }}
}}
"""

    def stop(self, timeout: float = 20.0) -> StopResult:
        if self.stop_result is None:
            self.stop_result = StopResult(0, None, 0, False)
        return self.stop_result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for p in self._bg:
                if p.poll() is None:
                    try:
                        p.kill()
                        p.wait(5)
                    except Exception:
                        pass
        finally:
            for n in reversed(self._created_ns):
                topo.delete_ns(n)
            if self in topo._live:
                topo._live.remove(self)
            if not (self.keep_logs or self.failed):
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def leftover_namespaces(self) -> list[str]:
        return [n for n in self.namespaces if topo.ns_exists(n)]


def make(workers: int | None, opts: NatOptions | None = None, *, dut: str | None = None,
         keep_logs: bool = False, log=None):
    """An unstarted DUT of kind `dut` (default: the module's DUT); use it as a context manager."""
    dut = dut or DUT
    if dut == "redline":
        return RedlineNat(workers or 1, opts, keep_logs=keep_logs, log=log)
    if dut == "nft":
        return NftNat(workers, opts, keep_logs=keep_logs, log=log)
    raise ValueError(f"unknown DUT {dut!r} (have {DUTS})")
