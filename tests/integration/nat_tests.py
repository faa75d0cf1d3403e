"""The NAT's tests (issue 8): RFC 4787 (UDP), RFC 5382 (TCP), RFC 5508 (ICMP) behaviour, port
forwards, fragments, limits and expiry, against a swappable device under test (nat_topo.py):
redline with a [nat] config, or Linux nftables (`run.py --dut nft`) to show the tests are right.

Every test body runs on both DUTs.  What only redline has (counters, `redlinectl show nat`,
configurable filtering, reload) is checked where `t.has_counters` / `t.dut == "redline"`, and
said so in a SKIP otherwise.  Names start with `nat_`, so `run.py --only nat` picks them.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nat_topo  # noqa: E402
import topo  # noqa: E402
from harness import Fail, PY, Skip, check, close_and_check, ping, test, traceroute_hops  # noqa: E402
from nat_topo import (  # noqa: E402
    DNAT_TCP, DNAT_UDP, DNAT_UDP_CLOSED, FAR, FAR_MTU, IN1, IN2, IN2_POOL, MSS_CLAMP, NAT_IP, OUT1, OUT2, POOL, R_LAN, NatOptions,
)

PEER = str(Path(__file__).resolve().parent / "nat_peer.py")
NAT_ADDRS = {NAT_IP, *POOL}
INSIDE_RE = re.compile(r"\b10\.88\.[14]\.\d+")
ECHO = [f"{OUT1}:7", f"{OUT1}:8", f"{OUT2}:7"]  # the outside UDP reflector
TCP_SRV = f"{OUT1}:9000"                        # the outside TCP server (closes first)

COUNTERS = ["nat_sessions_created", "nat_sessions_expired", "nat_refused_no_port", "nat_refused_table_full",
            "nat_translated_out", "nat_translated_in", "nat_icmp_errors_translated", "nat_hairpinned",
            "nat_fragments", "nat_filtered", "nat_no_mapping", "nat_mss_clamped", "nat_steered"]


def nat(name, **opts):
    """@test for the NAT topology (run.py gives these tests a nat_topo DUT)."""
    return test(name, kind="nat", **opts)


# ---------------------------------------------------------------------------------------
# helpers


def counters(t):
    return t.counters() if t.has_counters else None


def rise(t, s0, name: str, want: int = 1, timeout: float = 5.0):
    """On redline: counter `name` rises by >= want since s0 (bounded wait).  No-op on nft."""
    if s0 is None:
        return None
    s1 = t.wait_counter(s0, name, want, timeout=timeout)
    got = s1.delta(s0, name)
    nz = {k: s1.delta(s0, k) for k in COUNTERS if s1.delta(s0, k)}
    check(got >= want, f"{name} +{got}, want >= {want} (NAT counters that moved: {nz})")
    return s1


def peer_json(t, host: str, args: list[str], timeout: float = 30) -> dict:
    r = t.run_in(host, [PY, PEER, *args], timeout=timeout)
    try:
        return json.loads(r.out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise Fail(f"nat_peer.py {args[0]} in {host} failed:\n{r.brief(1500)}")


class Lines:
    """Reads a background process's stdout into a queue (bounded waits, no blocking reads)."""

    def __init__(self, proc: subprocess.Popen, stream=None) -> None:
        self.proc = proc
        self.stream = stream or proc.stdout
        self.q: queue.Queue[str] = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in iter(self.stream.readline, ""):
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def get(self, timeout: float) -> str | None:
        try:
            line = self.q.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None
        if line is not None:
            self.all.append(line)
        return line

    def wait_for(self, pred, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            line = self.get(left)
            if line is None:
                if self.proc.poll() is not None and self.q.empty():
                    return None
                continue
            if pred(line):
                return line
        return None


def start_bg(t, host: str, cmd: list[str], ready: str | None = "ready", timeout: float = 10) -> Lines:
    p = t.popen_in(host, cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(p)
    if ready is not None and lines.wait_for(lambda l: ready in l, timeout) is None:
        stop_bg(lines)
        raise Fail(f"{cmd[:3]} in {host} did not start: {lines.all[-5:]}")
    return lines


def stop_bg(lines: Lines) -> None:
    p = lines.proc
    if p.poll() is None:
        p.kill()  # by PID
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            pass


class Peer:
    """nat_peer.py peer: one UDP socket in a host; send(), and the datagrams it received."""

    def __init__(self, t, host: str, bind: str | None = None) -> None:
        self.host = host
        self.lines = start_bg(t, host, [PY, PEER, "peer", *(["--bind", bind] if bind else [])], ready='"ready"')
        self.local = json.loads(self.lines.all[-1])["ready"]
        self.got: list[dict] = []

    def send(self, dst: str, text: str) -> None:
        ip, port = dst.rsplit(":", 1)
        self.lines.proc.stdin.write(f"send {ip} {port} {text}\n")
        self.lines.proc.stdin.flush()

    def poll(self, wait: float = 0.0) -> list[dict]:
        deadline = time.monotonic() + wait
        while True:
            line = self.lines.get(max(0.0, deadline - time.monotonic()))
            if line is None:
                break
            try:
                self.got.append(json.loads(line))
            except ValueError:
                pass
        return self.got

    def wait(self, pred, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.got:
                if pred(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.poll(min(left, 0.2))

    def learn_mapping(self, via: str = ECHO[0], timeout: float = 5.0) -> str:
        """Sends to the reflector (retried) and returns the IP:PORT it saw."""
        tag = f"learn-{time.monotonic_ns()}"
        for _ in range(3):
            self.send(via, tag)
            m = self.wait(lambda m: m.get("data", "").endswith("|" + tag), timeout / 3)
            if m:
                return m["data"].split("|", 1)[0]
        raise Fail(f"{self.host} peer {self.local}: no answer from the reflector {via}; got {self.got[-5:]}")

    def close(self) -> None:
        stop_bg(self.lines)


def send_from(t, host: str, bind: str, dst: str, text: str, count: int = 3) -> None:
    """One-shot datagrams from host, socket bound to `bind` (IP:PORT, port 0 for any)."""
    ip, port = dst.rsplit(":", 1)
    r = t.run_in(host, [PY, PEER, "peer", "--bind", bind], input=f"send {ip} {port} {text}\n" * count, timeout=10)
    check(r.rc == 0, f"send from {host} {bind} failed:\n{r.brief()}")


# ---- servers: one set per DUT instance, started on first use

BIG = 1 << 20


def http_server(t, host: str, ip: str, port: int) -> Path:
    """nginx (Debian nginx-light) on ip:port in `host`; returns its access log.  Without nginx,
    python3 -m http.server (its log lines also start with the client address)."""
    d = Path(t.tmpdir, f"http-{host}-{port}")
    html = d / "html"
    html.mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text(f"<h1>redline NAT test: {host} {ip}:{port}</h1>\n")
    (html / "big.bin").write_bytes(bytes(i % 251 for i in range(BIG)))
    log = d / "access.log"
    nginx = shutil.which("nginx")
    if nginx:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (d / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        conf = d / "nginx.conf"
        conf.write_text(f"""\
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log {log};
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server {{
    listen {ip}:{port};
    root {html};
  }}
}}
""")
        cmd = [nginx, "-p", str(d), "-c", str(conf)]
        proc = t.popen_in(host, cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    else:
        logf = open(log, "w")
        cmd = [PY, "-m", "http.server", "--bind", ip, "--directory", str(html), str(port)]
        proc = t.popen_in(host, cmd, stdout=subprocess.DEVNULL, stderr=logf)
        logf.close()
    for _ in range(50):
        r = t.run_in(host, ["ss", "-Hltn", f"src {ip}:{port}"], timeout=5)
        if r.out.strip():
            return log
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise Fail(f"HTTP server {' '.join(cmd)} in {host} did not listen on {ip}:{port} (rc {proc.poll()}): {err}")


def servers(t) -> dict:
    """The servers the shared tests use, started once per DUT instance."""
    s = getattr(t, "_nat_servers", None)
    if s is None:
        s = {
            "echo": start_bg(t, "out", [PY, PEER, "echo", *ECHO]),
            "tcp": start_bg(t, "out", [PY, PEER, "tcpserver", TCP_SRV]),
            "http_out": http_server(t, "out", OUT1, 80),
            "http_in1": http_server(t, "in1", IN1, 80),
            "echo_in1": start_bg(t, "in1", [PY, PEER, "echo", DNAT_UDP[1]]),
        }
        t._nat_servers = s
    return s


def last_client(log: Path, timeout: float = 3.0) -> str | None:
    """Client address of the last request in an access log (nginx writes it after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in log.read_text(errors="replace").splitlines() if '"GET ' in l] if log.exists() else []
        if lines or time.monotonic() >= deadline:
            return lines[-1].split()[0] if lines else None
        time.sleep(0.1)


def curl(t, host: str, url: str, extra: list[str] | None = None, timeout: float = 20) -> tuple[str, int, int]:
    """(status line, http code, bytes) of a GET; Fail if curl fails."""
    r = t.run_in(host, ["curl", "-sS", "--max-time", str(int(timeout - 5)), "-D", "-", "-o", "/dev/null",
                        "-w", "\n%{http_code} %{size_download}\n", *(extra or []), url], timeout=timeout)
    check(r.rc == 0, f"curl {url} from {host} failed:\n{r.brief()}")
    status = r.out.replace("\r", "").splitlines()[0]
    code, size = r.out.strip().splitlines()[-1].split()
    return status, int(code), int(size)


class Capture:
    """tcpdump on a host's DUT-facing interface (inbound only unless direction="inout"),
    `-n -l -v` (verbose=False: one line a packet); stop() returns the text."""

    def __init__(self, t, host: str, filt: str = "ip", verbose: bool = True, direction: str = "in") -> None:
        if not shutil.which("tcpdump"):
            raise Skip("tcpdump is not installed (Debian package tcpdump)")
        cmd = ["tcpdump", "-n", "-l", *(["-v"] if verbose else []), "-Q", direction, "-i", t.iface(host),
               *filt.split()]
        self.path = Path(t.tmpdir, f"tcpdump-{host}-{time.monotonic_ns()}.txt")
        with open(self.path, "w") as f:
            self.proc = t.popen_in(host, cmd, stdout=f, stderr=subprocess.PIPE, text=True)
        self.err = Lines(self.proc, self.proc.stderr)
        if self.err.wait_for(lambda l: "listening on" in l, 10) is None:
            self.proc.kill()
            raise Fail(f"tcpdump did not start: {self.err.all}")

    def stop(self) -> str:
        time.sleep(0.3)
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT by PID: tcpdump flushes and exits
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        return self.path.read_text(errors="replace")

    @staticmethod
    def packets(text: str) -> list[str]:
        """One string per packet (tcpdump -v continues a packet on indented lines)."""
        pkts: list[str] = []
        for line in text.splitlines():
            if re.match(r"^\d\d:\d\d:\d\d", line):
                pkts.append(line)
            elif pkts:
                pkts[-1] += "\n" + line
        return pkts

    @staticmethod
    def outer(pkt: str) -> tuple[str, str] | None:
        """(source, destination) of the packet's own IP header (not of an embedded one)."""
        m = re.search(r"\n\s+(\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > (\d+\.\d+\.\d+\.\d+)", pkt)
        return (m.group(1), m.group(2)) if m else None


def single_worker(t) -> bool:
    return t.workers in (None, 1)


# ---------------------------------------------------------------------------------------
# shared-topology tests (one DUT per worker count, in this order)


@nat("nat_http_curl")
def t_http(t) -> None:
    """curl from in1 to nginx in out: 200, and nginx logged the NAT address; a 1 MiB body
    crosses intact in size (checksums right, or the transfer would stall)."""
    srv = servers(t)
    s0 = counters(t)
    status, code, _ = curl(t, "in1", f"http://{OUT1}/")
    check(code == 200 and status.startswith("HTTP/1.1 200"), f"status line {status!r}")
    client = last_client(srv["http_out"])
    check(client == NAT_IP, f"nginx logged client {client}, want {NAT_IP}")
    _, code, size = curl(t, "in1", f"http://{OUT1}/big.bin")
    check(code == 200 and size == BIG, f"big.bin: {code}, {size} bytes of {BIG}")
    rise(t, s0, "nat_translated_in", 500)
    rise(t, s0, "nat_translated_out", 100)
    rise(t, s0, "nat_sessions_created", 2)


@nat("nat_udp_roundtrip")
def t_udp(t) -> None:
    servers(t)
    s0 = counters(t)
    res = peer_json(t, "in1", ["query", "--dst", ECHO[0]])
    row = res["replies"][0]
    check(row["intact"], f"no intact echo from {ECHO[0]}: {res}")
    check(row["from"] == ECHO[0], f"reply came from {row['from']}, want {ECHO[0]}")
    check(row["seen"].split(":")[0] == NAT_IP, f"the outside saw {row['seen']}, want {NAT_IP}:*")
    rise(t, s0, "nat_translated_out")
    rise(t, s0, "nat_translated_in")


@nat("nat_ping")
def t_ping(t) -> None:
    """Pings from in1, in2 and in2's pooled address through the NAT."""
    s0 = counters(t)
    for host, extra in (("in1", []), ("in2", []), ("in2", ["-I", IN2_POOL])):
        n, r = ping(t, host, OUT1, 3, extra)
        check(n == 3, f"{host} {' '.join(extra)}: {n}/3 replies:\n{r.brief()}")
    rise(t, s0, "nat_translated_in", 9)


@nat("nat_ping_same_identifier")
def t_ping_same_id(t) -> None:
    """in1 and in2 ping the same server at the same time with the same ICMP identifier
    (`ping -e`): the NAT maps the identifiers apart (RFC 5508 REQ-2), so each gets its own
    replies, all of them, no duplicates."""
    cmd = ["ping", "-n", "-c", "10", "-i", "0.1", "-W", "2", "-e", "4660", OUT1]
    procs = {h: t.popen_in(h, cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for h in ("in1", "in2")}
    outs = {}
    for h, p in procs.items():
        try:
            outs[h], _ = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            outs[h], _ = p.communicate(timeout=5)
    for h, o in outs.items():
        m = re.search(r"(\d+) received", o)
        check(m and int(m.group(1)) == 10 and "DUP!" not in o, f"{h}: {o.strip()[-400:]}")


def _traceroute(t, mode: list[str]) -> None:
    s0 = counters(t)
    r = t.run_in("in1", ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "6", *mode, FAR], timeout=40)
    check(r.rc == 0, f"traceroute failed:\n{r.brief()}")
    hops = traceroute_hops(r.out)
    want = {1: R_LAN, 2: OUT1, 3: FAR}
    check(all(hops.get(k) == v for k, v in want.items()) and max(hops) == 3,
          f"hops {hops}, want {want}:\n{r.out}")
    rise(t, s0, "nat_icmp_errors_translated", 1)


nat("nat_traceroute_udp")(lambda t: _traceroute(t, []))
nat("nat_traceroute_icmp")(lambda t: _traceroute(t, ["-I"]))
nat("nat_traceroute_tcp")(lambda t: _traceroute(t, ["-T", "-p", "80"]))


@nat("nat_frag_needed")
def t_frag_needed(t) -> None:
    """`ping -M do -s 1400` to far: out (a Linux router) answers "fragmentation needed, mtu
    1280" to the NAT address; the NAT rewrites it (outer and embedded headers, checksums), so
    in1's ping reports it and in1's kernel learns the path MTU (RFC 5508 section 7)."""
    s0 = counters(t)
    t.run_in("in1", ["ip", "route", "flush", "cache"])
    r = t.run_in("in1", ["ping", "-n", "-c", "3", "-i", "0.3", "-W", "2", "-M", "do", "-s", "1400", FAR], timeout=15)
    check(re.search(rf"From {re.escape(OUT1)} .*Frag needed.*mtu = {FAR_MTU}", r.out),
          f"no 'Frag needed ... mtu = {FAR_MTU}' from {OUT1}:\n{r.brief()}")
    g = t.run_in("in1", ["ip", "route", "get", FAR])
    check(f"mtu {FAR_MTU}" in g.out, f"in1 did not learn the path MTU: {g.out.strip()}")
    n, r = ping(t, "in1", FAR, 2, ["-M", "do", "-s", str(FAR_MTU - 28)])
    check(n == 2, f"{n}/2 replies to pings that fit the path MTU:\n{r.brief()}")
    rise(t, s0, "nat_icmp_errors_translated", 1)


@nat("nat_outside_sees_only_nat_addresses")
def t_outside_view(t) -> None:
    """tcpdump -v on out's link to the DUT while in1 and in2 use TCP, UDP, ICMP, traceroute and
    the pool, and an inside host answers a port forward with port unreachable: every packet
    arriving at out comes from a NAT address, and no inside address appears anywhere, not even
    in the headers embedded in ICMP errors."""
    servers(t)
    cap = Capture(t, "out")
    try:
        curl(t, "in1", f"http://{OUT1}/")
        curl(t, "in2", f"http://{OUT1}/")
        curl(t, "in2", f"http://{OUT1}/", ["--interface", IN2_POOL])
        peer_json(t, "in1", ["query", "--dst", ECHO[0], "--dst", ECHO[2]])
        ping(t, "in1", OUT1, 2)
        ping(t, "in2", OUT2, 2, ["-I", IN2_POOL])
        t.run_in("in1", ["traceroute", "-n", "-q", "1", "-w", "1", "-m", "3", FAR], timeout=20)
        ref = peer_json(t, "out", ["refused", "--dst", DNAT_UDP_CLOSED[0]])
    finally:
        text = cap.stop()
    pkts = Capture.packets(text)
    check(len(pkts) >= 20, f"tcpdump saw only {len(pkts)} packets:\n{text[-1000:]}")
    leaks = [p for p in pkts if INSIDE_RE.search(p)]
    check(not leaks, f"{len(leaks)} packets show an inside address at out, e.g.:\n" + "\n".join(leaks[:3]))
    sources = {}
    for p in pkts:
        o = Capture.outer(p)
        check(o, f"cannot parse tcpdump output:\n{p}")
        sources[o[0]] = sources.get(o[0], 0) + 1
    check(set(sources) <= NAT_ADDRS, f"sources seen at out: {sources}, want only {sorted(NAT_ADDRS)}")
    check(sources.get(NAT_IP, 0) > 0 and any(sources.get(a, 0) for a in POOL), f"sources: {sources}")
    check(any("ICMP" in p and "unreachable" in p for p in pkts), "no ICMP unreachable from the inside seen")
    if t.dut == "redline":  # (Linux forwards partial checksums that tcpdump calls incorrect)
        bad = [p for p in pkts if "incorrect" in p or "bad cksum" in p]
        check(not bad, f"{len(bad)} packets with a wrong checksum at out, e.g.:\n" + "\n".join(bad[:3]))
    check(ref["result"] == "refused", f"out's socket to {DNAT_UDP_CLOSED[0]} got {ref}, want refused "
          "(the inside host's port unreachable, translated outbound)")


@nat("nat_endpoint_independent_mapping")
def t_eim(t) -> None:
    """One inside socket, three outside endpoints (two addresses, two ports): all see the same
    outside address and port (RFC 4787 REQ-1)."""
    servers(t)
    res = peer_json(t, "in1", ["query", *sum((["--dst", e] for e in ECHO), [])])
    seen = [r["seen"] for r in res["replies"]]
    check(all(r["intact"] for r in res["replies"]), f"not all answered: {res}")
    check(len(set(seen)) == 1 and seen[0].startswith(NAT_IP + ":"), f"mappings seen: {dict(zip(ECHO, seen))}")


@nat("nat_port_preservation")
def t_port_preservation(t) -> None:
    """An inside socket on port 40000 keeps it outside (RFC 4787 REQ-3 'preserve where free').
    With several workers redline preserves a port only if it lies in the choosing core's share
    of the port space (the reply must hash to that core), so there it is not asserted."""
    servers(t)
    res = peer_json(t, "in1", ["query", "--bind", f"{IN1}:40000", "--dst", ECHO[0]])
    row = res["replies"][0]
    check(row["intact"], f"no answer: {res}")
    ip, port = row["seen"].rsplit(":", 1)
    check(ip == NAT_IP, f"seen {row['seen']}")
    if single_worker(t):
        check(port == "40000", f"outside port {port}, want 40000 (preserved)")
    else:
        lo, hi = (int(x) for x in t.nat_cfg.get("ports", {}).get("udp", "1024-60999").split("-"))
        check(lo <= int(port) <= hi, f"outside port {port} outside the udp range {lo}-{hi}")
        t.log(f"port preservation not asserted with {t.workers} workers: 40000 -> {port}")


@nat("nat_filtering")
def t_filtering(t) -> None:
    """A mapping made towards OUT1:7 is reached by OUT1 from another port only if filtering is
    address-dependent (redline's default; nft: address-and-port-dependent), and never from OUT2
    (RFC 4787 REQ-8).  Unsolicited datagrams to a NAT port without a mapping reach nobody."""
    servers(t)
    p = Peer(t, "in1")
    try:
        m = p.learn_mapping(ECHO[0])
        s0 = counters(t)
        send_from(t, "out", f"{OUT2}:0", m, "from-other-address")
        send_from(t, "out", f"{OUT1}:9999", m, "from-other-port")
        p.poll(1.5)
        got = {x.get("data") for x in p.got}
        check("from-other-address" not in got, f"filtering let {OUT2} reach {m}: {p.got}")
        if t.filtering == "address-dependent":
            check("from-other-port" in got, f"address-dependent filtering dropped {OUT1}:9999 -> {m}: {p.got}")
        else:
            check("from-other-port" not in got, f"{t.filtering} filtering let {OUT1}:9999 reach {m}")
        rise(t, s0, "nat_filtered", 3)
        s0 = counters(t)
        send_from(t, "out", f"{OUT1}:0", f"{NAT_IP}:60000", "no-mapping")  # in the range, no mapping
        rise(t, s0, "nat_no_mapping", 3)
    finally:
        p.close()


@nat("nat_hairpinning")
def t_hairpin(t) -> None:
    """in1 and in2 learn their outside mappings from the reflector, then send to each other's
    mapping (hole punching: each first opens its own filter towards the NAT address); each
    receives the other's datagrams from the other's OUTSIDE address and port (RFC 4787 REQ-9).
    TCP: in2 reaches in1's web server through the port forward on the NAT address, and in1
    sees the NAT address as the client (RFC 5382 REQ-8)."""
    srv = servers(t)
    s0 = counters(t)
    p1, p2 = Peer(t, "in1"), Peer(t, "in2")
    try:
        m1, m2 = p1.learn_mapping(), p2.learn_mapping()
        check(m1.split(":")[0] == NAT_IP and m2.split(":")[0] == NAT_IP, f"mappings {m1}, {m2}")
        t.expose_mapping("udp", m1, p1.local.replace("0.0.0.0", IN1))
        t.expose_mapping("udp", m2, p2.local.replace("0.0.0.0", IN2))
        got1 = got2 = None
        for k in range(6):
            p1.send(m2, f"h1-{k}")
            p2.send(m1, f"h2-{k}")
            got2 = got2 or p2.wait(lambda m: m.get("data", "").startswith("h1-"), 0.5)
            got1 = got1 or p1.wait(lambda m: m.get("data", "").startswith("h2-"), 0.5)
            if got1 and got2:
                break
        check(got2, f"in2 ({m2}) never received in1's datagrams sent to it; in2 got {p2.got[-5:]}")
        check(got1, f"in1 ({m1}) never received in2's datagrams sent to it; in1 got {p1.got[-5:]}")
        check(got2["from"] == m1, f"in2 saw in1's datagram from {got2['from']}, want in1's mapping {m1}")
        check(got1["from"] == m2, f"in1 saw in2's datagram from {got1['from']}, want in2's mapping {m2}")
    finally:
        p1.close()
        p2.close()
    status, code, _ = curl(t, "in2", f"http://{DNAT_TCP[0]}/")
    check(code == 200, f"in2 -> {DNAT_TCP[0]}: {status}")
    client = last_client(srv["http_in1"])
    check(client == NAT_IP, f"in1's web server saw client {client}, want {NAT_IP}")
    rise(t, s0, "nat_hairpinned", 2)


@nat("nat_dnat")
def t_dnat(t) -> None:
    """Port forwards: out fetches 10.88.2.1:8080 and gets in1's web server (which sees out's
    real address); UDP 10.88.2.1:5353 reaches in1's echo server and the reply comes from the
    forward's address; an inside port unreachable for a forward reaches out translated."""
    srv = servers(t)
    status, code, _ = curl(t, "out", f"http://{DNAT_TCP[0]}/")
    check(code == 200, f"out -> {DNAT_TCP[0]}: {status}")
    client = last_client(srv["http_in1"])
    check(client == OUT1, f"in1's web server saw client {client}, want {OUT1}")
    res = peer_json(t, "out", ["query", "--dst", DNAT_UDP[0]])
    row = res["replies"][0]
    check(row["intact"], f"no answer through the UDP forward {DNAT_UDP[0]}: {res}")
    check(row["from"] == DNAT_UDP[0], f"reply from {row['from']}, want {DNAT_UDP[0]}")
    check(row["seen"].split(":")[0] == OUT1, f"in1 saw {row['seen']}, want {OUT1}:*")
    ref = peer_json(t, "out", ["refused", "--dst", DNAT_UDP_CLOSED[0]])
    check(ref["result"] == "refused", f"forward to a closed inside port: {ref}, want refused")


@nat("nat_mss_clamp")
def t_mss(t) -> None:
    """SYNs of in2's masqueraded prefix carry MSS 1360 at out (mss_clamp); in1's keep 1460."""
    servers(t)
    s0 = counters(t)
    cap = Capture(t, "out", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn")
    try:
        r2 = peer_json(t, "in2", ["tcpclient", "--dst", TCP_SRV, "--bind-port", "0", "--count", "1"])
        curl(t, "in1", f"http://{OUT1}/")
    finally:
        text = cap.stop()
    check(r2["ok"] == 1, f"in2 -> {TCP_SRV}: {r2}")
    mss = {}
    for p in Capture.packets(text):
        m = re.search(r"> [\d.]+\.(\d+): Flags \[S\].*?mss (\d+)", p, re.S)
        if m:
            mss.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    srv_port = int(TCP_SRV.split(":")[1])
    check(mss.get(srv_port) == {MSS_CLAMP}, f"in2's SYN MSS at out: {mss.get(srv_port)}, want {MSS_CLAMP}\n{text[-800:]}")
    check(mss.get(80) == {1460}, f"in1's SYN MSS at out: {mss.get(80)}, want 1460 (not clamped)")
    rise(t, s0, "nat_mss_clamped", 1)


@nat("nat_tcp_reuse_4tuple")
def t_tcp_reuse(t) -> None:
    """Five connections in a row from in1's port 45000 to the same server, which closes first
    (TIME-WAIT on the outside): each succeeds, through the same mapping (RFC 5382 REQ-1, and
    the TIME-WAIT handling of section 5)."""
    servers(t)
    res = peer_json(t, "in1", ["tcpclient", "--dst", TCP_SRV, "--bind-ip", IN1, "--bind-port", "45000", "--count", "5"])
    check(res["ok"] == 5, f"{res['ok']}/5 connections: {res['errors']}")
    check(len(set(res["seen"])) == 1 and res["seen"][0].startswith(NAT_IP + ":"), f"mappings seen: {res['seen']}")


@nat("nat_fragmented_udp")
def t_fragments(t) -> None:
    """4000-byte datagrams (three fragments at MTU 1500) cross whole both ways: in1 -> out's
    reflector -> in1 (SNAT), and out -> the forward 5353 -> in1's reflector -> out (DNAT)."""
    servers(t)
    s0 = counters(t)
    for host, dst in (("in1", ECHO[0]), ("out", DNAT_UDP[0])):
        res = peer_json(t, host, ["query", "--size", "4000", "--dst", dst, "--timeout", "2"])
        row = res["replies"][0]
        check(row["intact"] and row["len"] == 4000, f"{host} -> {dst}: 4000 bytes did not come back intact: {row}")
    rise(t, s0, "nat_fragments", 12)


@nat("nat_pool_paired")
def t_pool(t) -> None:
    """in2's 10.88.4.130 is translated to the pool; all its flows use ONE pool address (RFC 4787
    REQ-2, paired pooling), also for ICMP and TCP."""
    srv = servers(t)
    res = peer_json(t, "in2", ["flows", "--dst", ECHO[0], "--count", "16", "--bind-ip", IN2_POOL])
    check(res["answered"] == 16, f"{res['answered']}/16 flows answered: {res}")
    check(len(res["seen_addrs"]) == 1 and set(res["seen_addrs"]) <= set(POOL),
          f"pool addresses used: {res['seen_addrs']}, want one of {POOL}")
    addr = next(iter(res["seen_addrs"]))
    n, r = ping(t, "in2", OUT1, 2, ["-I", IN2_POOL])
    check(n == 2, f"ping from the pooled address: {n}/2:\n{r.brief()}")
    curl(t, "in2", f"http://{OUT1}/", ["--interface", IN2_POOL])
    client = last_client(srv["http_out"])
    check(client == addr, f"nginx saw {client}; the UDP flows used {addr} (pairing broken)")


@nat("nat_show")
def t_show(t) -> None:
    """`redlinectl show nat` (table and --json): sessions per worker add up to the total; every
    NAT counter of the contract is in `show counters` and in the stats block."""
    if t.dut != "redline":
        raise Skip("redline's control commands")
    r = t.ctl("show", "nat")
    check(r.rc == 0 and r.out.strip(), f"show nat:\n{r.brief()}")
    j = t.show_nat()
    total = nat_topo._nat_total(j.json)
    per = nat_topo._nat_per_worker(j.json)
    check(total is not None, f"no session total in show nat --json:\n{j.brief()}")
    check(per is not None and len(per) == t.workers and sum(per) == total,
          f"per-worker sessions {per} (want {t.workers} rows adding up to {total}):\n{j.brief()}")
    check(total > 0, "no sessions after the tests before this one")
    shown = {c["name"] for c in t.ctl("show", "counters", json=True).json["result"]["counters"]}
    missing = [c for c in COUNTERS if c not in shown]
    check(not missing, f"show counters lacks {missing}")
    s = t.stats()
    missing = [c for c in COUNTERS if c not in s.counters]
    check(not missing, f"the stats block lacks {missing}")


@nat("nat_10000_flows")
def t_many_flows(t) -> None:
    """10 000 concurrent UDP flows (10 000 sockets in in1): every one translated to its own
    outside port and answered; the DUT holds >= 10 000 sessions."""
    servers(t)
    s0 = counters(t)
    n = 10000
    res = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", str(n), "--batch", "250",
                               "--gap", "0.05", "--rounds", "5", "--timeout", "1.5"], timeout=60)
    t.log(f"10000 flows: {res}")
    check(res["answered"] == n, f"{res['answered']}/{n} flows answered ({res['sends']} datagrams sent)")
    check(res["seen_addrs"] == {NAT_IP: n}, f"outside addresses seen: {res['seen_addrs']}")
    check(res["distinct_ports"] == n, f"{res['distinct_ports']} distinct outside ports for {n} flows")
    sessions = t.nat_sessions()
    check(sessions >= n, f"{sessions} sessions after {n} flows")
    # A few of the 10 000 ephemeral ports may repeat a flow an earlier test left alive (the
    # topology is shared and UDP sessions last minutes): those reuse their session.
    rise(t, s0, "nat_sessions_created", n - n // 100)


@nat("nat_clean_exit", final=True)
def t_nat_exit(t) -> None:
    problems = []
    if t.dut == "redline":
        s = t.stats()
        bad = s.core_sum_mismatches()
        if bad:
            problems.append("per-core values do not add up: " + "; ".join(bad[:5]))
        res = t.stop()
        if res.killed:
            problems.append("redline ignored SIGTERM (had to SIGKILL)")
        if res.returncode != 0:
            problems.append(f"exit code {res.returncode}; stderr tail:\n{t.tail(t.err_lines)}")
        if res.mbufs_in_use != 0:
            problems.append(f"mbufs in use at exit: {res.mbufs_in_use}")
    close_and_check(t, problems)


# ---------------------------------------------------------------------------------------
# tests with a DUT of their own (other [nat] settings)


def _fresh(workers, log, opts: NatOptions):
    return nat_topo.make(workers, opts, log=log)


def _echo(t) -> Lines:
    return start_bg(t, "out", [PY, PEER, "echo", *ECHO])


@nat("nat_sessions_expire", fresh=True)
def t_expiry(workers, log) -> None:
    """Timeouts of 3 s (rfc_minimums = false): 20 UDP flows' sessions are there after 1 s and
    gone after the timeout (counted as expired), except one kept alive by outbound traffic
    every second, which keeps its mapping; once it stops, the table is empty."""
    opts = NatOptions(timeouts={"udp": 3, "tcp_established": 5, "tcp_transitory": 3, "icmp": 3},
                      rfc_minimums=False)
    with _fresh(workers, log, opts) as t:
        _echo(t)
        keep = Peer(t, "in1")
        m0 = keep.learn_mapping()
        s0 = counters(t)
        res = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "20"])
        check(res["answered"] == 20, f"{res['answered']}/20 flows answered")
        time.sleep(1.0)
        n1 = t.nat_sessions()
        check(n1 >= 21, f"{n1} sessions 1 s after 21 flows (timeout 3 s)")
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:  # refresh the kept flow every second for 6 s
            m = keep.learn_mapping()
            check(m == m0, f"the refreshed flow's mapping changed: {m0} -> {m}")
            time.sleep(1.0)
        n2 = t.nat_sessions()
        check(n2 <= 2, f"{n2} sessions 6 s after the 20 flows went quiet (timeout 3 s); want only the kept one")
        keep.close()
        deadline = time.monotonic() + 15.0
        while (n3 := t.nat_sessions()) > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        check(n3 == 0, f"{n3} sessions left 15 s after the last packet (timeout 3 s)")
        rise(t, s0, "nat_sessions_expired", 21)


@nat("nat_exhaustion_ports", fresh=True)
def t_exhaust_ports(workers, log) -> None:
    """udp ports 40000-40007: an existing flow keeps working while 30 new ones compete for the
    other 7 ports; those that get none are refused (nat_refused_no_port), nobody is translated
    outside the range."""
    opts = NatOptions(ports={"tcp": "1024-60999", "udp": "40000-40007", "icmp": "1024-65535"}, max_sessions=64)
    with _fresh(workers, log, opts) as t:
        _echo(t)
        old = Peer(t, "in1")
        m = old.learn_mapping()
        check(40000 <= int(m.split(":")[1]) <= 40007, f"first flow mapped to {m}, outside 40000-40007")
        s0 = counters(t)
        res = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "30", "--rounds", "2",
                                   "--timeout", "0.5", "--list-ports"])
        ports = res["ports"] or []
        t.log(f"port exhaustion: existing flow {m}; new flows: {res}")
        check(res["answered"] <= 7, f"{res['answered']} new flows answered with 8 ports and one taken: {ports}")
        check(all(40000 <= p <= 40007 for p in ports), f"ports outside the range: {ports}")
        check(int(m.split(":")[1]) not in ports, f"the existing flow's port {m} was given to another flow")
        for k in range(5):
            check(old.learn_mapping() == m, f"the existing flow lost its mapping {m} under exhaustion")
        rise(t, s0, "nat_refused_no_port", 30 - res["answered"])


@nat("nat_exhaustion_table", fresh=True)
def t_exhaust_table(workers, log) -> None:
    """max_sessions = 8 (per worker on redline; per inside address on nft, as connlimit): of 60
    new flows at most 8 per worker get sessions, the rest are refused (nat_refused_table_full),
    and an existing flow keeps working."""
    opts = NatOptions(max_sessions=8)
    with _fresh(workers, log, opts) as t:
        _echo(t)
        old = Peer(t, "in1")
        m = old.learn_mapping()
        s0 = counters(t)
        res = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "60", "--rounds", "2", "--timeout", "0.5"])
        limit = 8 * (t.workers or 1)
        t.log(f"table full: existing flow {m}; new flows: {res}")
        check(res["answered"] <= limit - 1, f"{res['answered']} new flows answered; table holds {limit} with one taken")
        for k in range(5):
            check(old.learn_mapping() == m, f"the existing flow lost its mapping {m} with the table full")
        rise(t, s0, "nat_refused_table_full", 60 - limit)


@nat("nat_filtering_endpoint_independent", fresh=True)
def t_eif(workers, log) -> None:
    """filtering = "endpoint-independent": once in1 sent anything out, any outside endpoint
    reaches its mapping (RFC 4787 REQ-8, the other option)."""
    if nat_topo.DUT != "redline":
        raise Skip("Linux conntrack filters address-and-port-dependently only")
    with _fresh(workers, log, NatOptions(filtering="endpoint-independent")) as t:
        _echo(t)
        p = Peer(t, "in1")
        m = p.learn_mapping()
        send_from(t, "out", f"{OUT2}:0", m, "from-anyone")
        check(p.wait(lambda x: x.get("data") == "from-anyone", 3), f"{OUT2} did not reach {m}: {p.got}")


@nat("nat_reload", fresh=True)
def t_reload(workers, log) -> None:
    """SIGHUP with a changed [[nat.snat]] (in1's prefix to 10.88.2.7): new flows use the new
    address, the existing flow keeps its mapping; a broken file (`redlinectl reload`) changes
    nothing and the error names file:line: and the key."""
    if nat_topo.DUT != "redline":
        raise Skip("redline's reload")
    import os
    import signal
    with _fresh(workers, log, NatOptions()) as t:
        _echo(t)
        old = Peer(t, "in1")
        m = old.learn_mapping()
        cfg = t.config_file
        original = cfg.read_text()
        changed = original.replace('source = "10.88.1.0/24"\nto = "masquerade"', 'source = "10.88.1.0/24"\nto = "10.88.2.7"')
        check(changed != original, "cannot find in1's snat rule in the config")
        cfg.write_text(changed)
        mark = t.output_mark("err")
        os.kill(t.pid, signal.SIGHUP)
        line = t.wait_output(lambda l: "reload (SIGHUP)" in l, since=mark, stream="err")
        check(line, f"no 'reload (SIGHUP)' log line within 5 s; stderr tail:\n{t.tail(t.err_lines)}")
        new = None
        for _ in range(10):
            new = peer_json(t, "in1", ["query", "--dst", ECHO[0]])["replies"][0]["seen"]
            if new and new.startswith("10.88.2.7:"):
                break
            time.sleep(0.25)
        check(new and new.startswith("10.88.2.7:"), f"a new flow after the reload was seen as {new}, want 10.88.2.7:*")
        check(old.learn_mapping() == m, f"the existing flow's mapping changed on reload (was {m})")
        broken = changed.replace('filtering = "address-dependent"', 'filtering = "sometimes"')
        cfg.write_text(broken)
        line = next(i + 1 for i, l in enumerate(broken.splitlines()) if 'filtering = "sometimes"' in l)
        r = t.ctl("reload")
        check(r.rc == 1, f"reload of a broken file: rc {r.rc}, want 1\n{r.brief()}")
        check(f"{cfg}:{line}:" in r.err and "nat.filtering" in r.err,
              f"reload error does not name {cfg}:{line}: and nat.filtering:\n{r.err}")
        res = peer_json(t, "in1", ["query", "--dst", ECHO[0]])
        check((res["replies"][0]["seen"] or "").startswith("10.88.2.7:"), f"after a refused reload: {res}")
        check(old.learn_mapping() == m, f"the existing flow's mapping changed after a refused reload (was {m})")


BAD_NAT = {  # what: (replace this, with this, key the error must name)
    "unknown inside port": ('inside = ["lan", "lan2"]', 'inside = ["lan", "lan9"]', "nat.inside"),
    "udp timeout below RFC 4787's 120 s": ("udp = 300", "udp = 60", "nat.timeouts.udp"),
    "tcp established timeout below 7440 s": ("tcp_established = 7440", "tcp_established = 600",
                                             "nat.timeouts.tcp_established"),
    "bad filtering": ('filtering = "address-dependent"', 'filtering = "sometimes"', "nat.filtering"),
    "reversed port range": ('udp = "1024-60999"', 'udp = "2000-1000"', "nat.ports.udp"),
    "pool address not on an outside network": ('"10.88.2.5", "10.88.2.6"', '"10.88.9.5"', "nat.snat[2].to"),
    "dnat to an outside address": (f'internal = "{DNAT_TCP[1]}"', 'internal = "10.88.2.2:80"', "nat.dnat[0].internal"),
}


@nat("nat_bad_config", fresh=True)
def t_bad_config(workers, log) -> None:
    """Broken [nat] settings: redline refuses to start (non-zero exit, no `ready`) and stderr
    names the key."""
    if nat_topo.DUT != "redline":
        raise Skip("redline's config")
    import os
    import tempfile
    sfx = os.urandom(3).hex()
    ns = f"rl-{sfx}-cfg"
    d = Path(tempfile.mkdtemp(prefix="redline-natcfg-"))
    good = nat_topo.render_nat_config(sfx)
    problems = []
    try:
        topo.sh(["ip", "netns", "add", ns], check=True)
        for what, (old, new, key) in BAD_NAT.items():
            check(old in good, f"{what}: {old!r} not in the config")
            cfg = d / "bad.toml"
            cfg.write_text(good.replace(old, new, 1))
            r = topo.sh(["ip", "netns", "exec", ns, str(topo.redline_bin()), *topo.eal_args(workers or 1, ns),
                         "--", "--config", str(cfg)], timeout=30)
            if r.timed_out or r.rc == 0 or "redline: ready" in r.out:
                problems.append(f"{what}: accepted (rc {r.rc})")
            elif key not in r.err:
                problems.append(f"{what}: stderr does not name {key!r}: {r.err.strip()[-300:]}")
            topo.kill_ns_processes(ns)
    finally:
        topo.delete_ns(ns)
        topo.remove_runtime_dir(ns)
        shutil.rmtree(d, ignore_errors=True)
    check(not problems, "\n".join(problems))
