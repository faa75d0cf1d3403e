"""Operating redline while it runs: redlinectl over the control socket, live routes, reload,
neighbor flush, many clients, root-only access, Prometheus /metrics and DPDK telemetry."""

from __future__ import annotations

import json
import os
import shutil
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from topo import Topology  # noqa: E402
from harness import (  # noqa: E402  (the shared helpers and the @test registry)
    ABSENT, A_IP, B_IP, Fail, PY, RA_IP, STATIC_IP, Skip, check, expect_rise, ping, still_answers, test,
)


# ---------------------------------------------------------------------------------------
# operating redline: Prometheus /metrics and DPDK telemetry

METRICS_ADDR = "127.0.0.1:9469"  # loopback of the router namespace the test creates
TELEMETRY_TOOL = "/usr/bin/dpdk-telemetry.py"  # Debian package dpdk-dev


def _http_get(t: Topology, path: str) -> tuple[int, dict[str, str], str]:
    """GET http://METRICS_ADDR<path> from inside the router namespace: (status, headers, body)."""
    r = t.run_in("r", ["curl", "-sS", "--max-time", "5", "-D", "-", f"http://{METRICS_ADDR}{path}"], timeout=10)
    check(r.rc == 0, f"curl {path} failed:\n{r.brief()}")
    head, _, body = r.out.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _telemetry(t: Topology, commands: list[str]) -> list:
    """Sends each command to redline's telemetry socket with dpdk-telemetry.py; answers in order."""
    sock = Path("/var/run/dpdk", t.file_prefix, "dpdk_telemetry.v2")
    check(sock.is_socket(), f"no telemetry socket at {sock} (EAL: {' '.join(t.eal)})")
    r = t.run_in("r", [PY, TELEMETRY_TOOL, "-f", t.file_prefix], input="".join(c + "\n" for c in commands),
                 timeout=15)
    check(r.rc == 0, f"dpdk-telemetry.py failed:\n{r.brief()}")
    answers = [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]
    check(len(answers) == len(commands), f"{len(answers)} answers to {len(commands)} commands:\n{r.brief()}")
    return [a.get(c.split(",")[0]) for a, c in zip(answers, commands)]


def check_metrics_conventions(t: Topology, body: str, fams: dict, workers: int) -> None:
    """The issue-22 shape of the page: drops by reason, busy time as a counter, the worker label
    and its lcore, the appliance's state, and no lint from Prometheus' own promtool."""
    drops = fams.get("redline_dropped_packets")
    check(drops is not None and drops.type == "counter", "no counter redline_dropped_packets_total")
    reasons = {s.labels["reason"] for s in drops.samples}
    check({"ipv4_no_route", "ipv4_bad_checksum", "tcp_bad_checksum"} <= reasons and
          len(drops.samples) == len(reasons) * workers, f"{len(drops.samples)} drop samples, reasons {sorted(reasons)[:8]}...")
    busy = fams.get("redline_busy_seconds")
    check(busy is not None and busy.type == "counter" and len(busy.samples) == workers and
          all(s.value >= 0 for s in busy.samples), f"redline_busy_seconds_total: {busy and busy.samples}")
    info = fams.get("redline_worker_info")
    check(info is not None and sorted(s.labels["worker"] for s in info.samples) == [str(w) for w in range(workers)]
          and all(s.labels["lcore"].isdigit() for s in info.samples), f"redline_worker_info: {info and info.samples}")
    check("redline_worker_busy_ratio" not in fams, "the since-the-last-scrape busy ratio is still there")
    for name, type_ in (("build_info", "gauge"), ("start_time_seconds", "gauge"), ("reloads", "counter"),
                        ("last_reload_applied", "gauge"), ("mbufs_in_use", "gauge"), ("mbufs", "gauge"),
                        ("neighbors", "gauge"), ("neighbors_capacity", "gauge"), ("tcp_connections", "gauge")):
        f = fams.get(f"redline_{name}")
        check(f is not None and f.type == type_ and f.samples, f"no {type_} redline_{name}")
    build = fams["redline_build_info"].samples[0].labels
    check(build.get("version") and build.get("dpdk", "").startswith("DPDK"), f"redline_build_info labels {build}")
    in_use = {s.labels["pool"]: s.value for s in fams["redline_mbufs_in_use"].samples}
    size = {s.labels["pool"]: s.value for s in fams["redline_mbufs"].samples}
    # Ports hold receive buffers: from the packet pool, or (AF_XDP) from their own.
    check("packets" in in_use and set(in_use) == set(size) and all(in_use[p] < size[p] for p in in_use)
          and sum(in_use.values()) > 0, f"mbufs in use {in_use}, of {size}")
    check(fams["redline_neighbors"].samples[0].value >= 1, "no neighbor after pings from host a")
    if shutil.which("promtool"):
        r = t.run_in("r", ["promtool", "check", "metrics"], input=body, timeout=30)
        check(r.rc == 0, f"promtool check metrics on a scrape:\n{r.brief(2000)}")
    else:
        raise Fail("promtool missing (Debian package prometheus; scripts/setup.sh installs it)")


@test("metrics_and_telemetry", fresh=True)
def t_metrics_and_telemetry(workers: int, log) -> None:
    """`[control] metrics` serves the counters as Prometheus text, which the reference parser
    (python3-prometheus-client) reads; the same counters answer in DPDK telemetry under
    /redline/ (dpdk-telemetry.py; the socket exists under --no-shconf); a second redline asking
    for the same address refuses to start and says the address is in use."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed")
    if not Path(TELEMETRY_TOOL).exists():
        raise Skip(f"{TELEMETRY_TOOL} missing (Debian package dpdk)")
    sfx = os.urandom(3).hex()
    text = (topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers)
            + f'\n[control]\nsocket = "/tmp/rl-{sfx}-ctl.sock"\nmetrics = "{METRICS_ADDR}"\n')
    with Topology(workers=workers, config_text=text, log=log) as t:
        s0 = t.stats()
        n, r = ping(t, "a", RA_IP, 3)
        check(n == 3, f"{n}/3 replies:\n{r.brief()}")
        expect_rise(t, s0, "icmp_echo_replied", 3)
        status, headers, body = _http_get(t, "/metrics")
        check(status == 200, f"GET /metrics: {status}")
        check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
              f"Content-Type {headers.get('content-type')!r}")
        try:
            fams = {f.name: f for f in text_string_to_metric_families(body)}
        except ValueError as e:
            raise Fail(f"the reference parser refuses the page: {e}\n{body[:500]}")
        after = t.stats()
        # The page and `redlinectl show counters` read the same counters.
        shown = {c["name"]: c["value"] for c in t.ctl("show", "counters", json=True).json["result"]["counters"]}
        page = {f.name[len("redline_"):]: sum(x.value for x in f.samples) for f in fams.values()
                if f.type == "counter" and f.name[len("redline_"):] in shown}
        check(len(page) == len(shown), f"{len(shown) - len(page)} counters of show counters missing from the page")
        for name in ("rx_packets", "icmp_echo_replied", "arp_replies_sent"):
            check(page[name] <= shown[name] <= after[name],
                  f"{name}: page {page[name]}, show counters {shown[name]}, stats block after {after[name]}")

        def samples(family: str, type_: str) -> list:
            check(family in fams, f"no family {family} on the page")
            check(fams[family].type == type_, f"{family} is a {fams[family].type}, want {type_}")
            return fams[family].samples

        for name in after.counters:
            samples(f"redline_{name}", "counter")
        echo = samples("redline_icmp_echo_replied", "counter")
        check(sorted(s.labels["worker"] for s in echo) == [str(w) for w in range(workers)],
              f"redline_icmp_echo_replied_total labels {[s.labels for s in echo]}, want worker 0..{workers - 1}")
        echoed = sum(s.value for s in echo)
        check(s0["icmp_echo_replied"] + 3 <= echoed <= after["icmp_echo_replied"],
              f"icmp_echo_replied on the page {echoed}, stats block before {s0['icmp_echo_replied']}"
              f" (+3 pings), after {after['icmp_echo_replied']}")
        check(fams["redline_icmp_echo_replied"].documentation == "echo requests answered",
              f"HELP {fams['redline_icmp_echo_replied'].documentation!r}")
        rx = {s.labels["port"]: s.value for s in samples("redline_port_rx_packets", "counter")}
        check(set(rx) == {"a", "b"} and rx["a"] >= 3, f"redline_port_rx_packets_total {rx}")
        for stat in ("tx_packets", "rx_bytes", "tx_bytes", "rx_missed", "rx_errors", "tx_errors", "rx_nombuf"):
            samples(f"redline_port_{stat}", "counter")
        queues = {(s.labels["port"], s.labels["queue"]) for s in samples("redline_port_queue_rx_packets", "counter")}
        check(queues == {(p, str(q)) for p in "ab" for q in range(workers)}, f"RX queues {sorted(queues)}")
        xstats = samples("redline_port_xstat", "counter")
        check(any(s.labels["port"] == "a" for s in xstats), "no xstats of port a")
        check(any(s.value == 0 for s in xstats), "no xstat at 0: a series that appears only once non-zero loses its first increase")
        check(all(s.value in (0, 1) for s in samples("redline_port_link_up", "gauge")), "link_up not 0 or 1")
        check_metrics_conventions(t, body, fams, workers)
        status, _, _ = _http_get(t, "/nope")
        check(status == 404, f"GET /nope: {status}, want 404")
        root, counters, core0, ports, per_worker, no_such_core = _telemetry(
            t, ["/", "/redline/counters", "/redline/counters_by_core,0", "/redline/ports", "/redline/workers",
                f"/redline/counters_by_core,{workers}"])
        mine = {"/redline/counters", "/redline/counters_by_core", "/redline/ports", "/redline/workers"}
        check(mine <= set(root or []), f"/ lists {sorted(c for c in root or [] if 'redline' in c)}")
        check(set(after.counters) <= set(counters or {}),
              f"/redline/counters lacks {sorted(set(after.counters) - set(counters or {}))[:5]}")
        check(counters["icmp_echo_replied"] >= echoed, f"/redline/counters icmp_echo_replied {counters['icmp_echo_replied']}")
        check(set(core0 or {}) == set(counters), "/redline/counters_by_core,0 names differ from /redline/counters")
        check(no_such_core is None, f"/redline/counters_by_core,{workers} answered {no_such_core}, want null")
        check(set(ports or {}) == {"a", "b"} and ports["a"]["rx_packets"] >= 3, f"/redline/ports {ports}")
        check(len((per_worker or {}).get("busy_cycles", [])) == workers
              and len(per_worker.get("rx_packets", [])) == workers, f"/redline/workers {per_worker}")
        fp = f"{t.prefix}-eal2"
        cfg = t.tmpdir / "second.toml"
        cfg.write_text('[[ports]]\nname = "x"\ndevice = "net_null0"\naddress = "10.0.1.1/24"\n'
                       f'[control]\nsocket = ""\nmetrics = "{METRICS_ADDR}"\n')
        try:
            r = t.run_in("r", [str(topo.redline_bin()), *topo.eal_args(1, fp), "--", "--config", str(cfg)], timeout=30)
        finally:
            topo.remove_runtime_dir(fp)
        check(r.rc not in (0, None), f"a second redline on a used metrics address ran (rc {r.rc}):\n{r.brief()}")
        check("Address already in use" in r.err and METRICS_ADDR in r.err,
              f"the second redline does not say the address is in use:\n{r.err[-600:]}")
        check(topo.READY_LINE not in r.out, "the second redline printed ready")
        res = t.stop()
        check(res.returncode == 0 and res.mbufs_in_use == 0 and not res.killed,
              f"exit code {res.returncode}, mbufs in use {res.mbufs_in_use}, killed {res.killed}")



# ---------------------------------------------------------------------------------------
# operating redline: the control socket and redlinectl

CTL_COMMANDS = ["help", "show counters", "show ports", "show routes", "show neighbors", "show workers",
                "show config", "route add", "route del", "neighbor flush", "reload"]


def ctl_ok(t: Topology, *args: str, json: bool = False) -> topo.Result:
    """redlinectl ARGS must succeed (rc 0; with json, an {"ok": true} reply)."""
    r = t.ctl(*args, json=json)
    check(r.rc == 0, f"redlinectl {' '.join(args)}: rc {r.rc}\n{r.brief()}")
    if json:
        check(isinstance(r.json, dict) and r.json.get("ok") is True,
              f"redlinectl --json {' '.join(args)}: reply is not {{\"ok\": true, ...}}:\n{r.brief()}")
    return r


def routes_now(t: Topology) -> list[dict]:
    return ctl_ok(t, "show", "routes", json=True).json["result"]


def route_row(routes: list[dict], prefix: str) -> dict | None:
    return next((r for r in routes if r.get("prefix") == prefix), None)


@test("neighbor_flush")
def t_neighbor_flush(t: Topology) -> None:
    """`neighbor flush IP` forgets that neighbor (the ARP owner applies it within a loop
    iteration), `neighbor flush` forgets all; the next packet resolves them again."""
    def neighbors() -> set[str]:
        return {row["ip"] for row in ctl_ok(t, "show", "neighbors", json=True).json["result"]}

    def wait_gone(ips: set[str]) -> set[str]:
        deadline = time.monotonic() + 3
        while (left := neighbors() & ips) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    n, r = ping(t, "a", B_IP, 2)
    check(n >= 1, f"no ping A->B:\n{r.brief()}")
    check({A_IP, B_IP} <= neighbors(), f"neighbors before: {neighbors()}")
    ctl_ok(t, "neighbor", "flush", B_IP)
    check(not wait_gone({B_IP}), f"{B_IP} still listed after neighbor flush")
    check(A_IP in neighbors(), "flushing one neighbor took another with it")
    s0 = t.stats()
    n, r = ping(t, "a", B_IP, 2)
    check(n >= 1, f"no ping A->B after the flush:\n{r.brief()}")
    check(B_IP in neighbors(), f"{B_IP} not learned again")
    check(t.stats().delta(s0, "arp_requests_sent") >= 1, "no ARP request resolved the flushed neighbor")
    ctl_ok(t, "neighbor", "flush")
    check(not wait_gone({A_IP, B_IP}), f"still listed after flushing all: {neighbors()}")
    still_answers(t)


@test("control_show_commands")
def t_control_show(t: Topology) -> None:
    """Every show command answers, in tables and in JSON; the numbers agree with the SIGUSR1
    stats block; routes, neighbors, workers and help say what the topology has."""
    for what in ("counters", "ports", "routes", "neighbors", "workers", "config"):
        r = ctl_ok(t, "show", what)
        check(r.out.strip(), f"redlinectl show {what} printed nothing:\n{r.brief()}")
        ctl_ok(t, "show", what, json=True)

    s0 = t.stats()
    n, r = ping(t, "a", RA_IP, 3)
    check(n == 3, f"{n}/3 replies:\n{r.brief()}")
    expect_rise(t, s0, "icmp_echo_replied", 3)
    listed = ctl_ok(t, "show", "counters", "--nonzero", json=True).json["result"]
    table = ctl_ok(t, "show", "counters", "--nonzero")
    s1 = t.stats()
    values = {c["name"]: c["value"] for c in listed["counters"]}
    check(all(v != 0 for v in values.values()), f"--nonzero lists zeros: {values}")
    got = values.get("icmp_echo_replied")
    check(got is not None and s0["icmp_echo_replied"] + 3 <= got <= s1["icmp_echo_replied"],
          f"show counters: icmp_echo_replied {got}; stats block before {s0['icmp_echo_replied']} (+3 pings), "
          f"after {s1['icmp_echo_replied']}")
    m = re.search(r"^icmp_echo_replied\s+(\d+)\s*$", table.out, re.M)
    check(m and s0["icmp_echo_replied"] + 3 <= int(m.group(1)) <= s1["icmp_echo_replied"],
          f"the table has no matching icmp_echo_replied row:\n{table.out}")
    check(not re.search(r"^\S+\s+0\s*$", table.out, re.M), f"--nonzero table lists zeros:\n{table.out}")
    refused = t.ctl("show", "counters", "--core", str(t.workers))
    check(refused.rc == 1 and "no worker" in refused.err, f"show counters --core {t.workers}:\n{refused.brief()}")

    routes = routes_now(t)
    want = [("10.77.1.0/24", "forward", "a", None), ("10.77.2.0/24", "forward", "b", None),
            ("10.77.1.1/32", "local", "a", None), ("10.77.2.1/32", "local", "b", None),
            ("10.77.1.255/32", "broadcast", "a", None), ("10.77.2.255/32", "broadcast", "b", None),
            ("10.77.3.0/24", "forward", "b", B_IP)]
    for prefix, kind, port, via in want:
        row = route_row(routes, prefix)
        check(row and (row.get("kind"), row.get("port"), row.get("via")) == (kind, port, via),
              f"show routes: {prefix} is {row}, want {kind} on {port}" + (f" via {via}" if via else "")
              + f"\n{routes}")
    table = ctl_ok(t, "show", "routes")
    check(all(p in table.out for p, *_ in want), f"show routes table:\n{table.out}")

    neighbors = ctl_ok(t, "show", "neighbors", json=True).json["result"]
    a = next((x for x in neighbors if x.get("ip") == A_IP), None)
    check(a and a.get("mac") == t.port("a").host_mac and a.get("port") == "a" and a.get("state") == "reachable",
          f"show neighbors: host A is {a}, want {t.port('a').host_mac} on a, reachable\n{neighbors}")
    check(A_IP in ctl_ok(t, "show", "neighbors").out, "host A not in the neighbors table")

    workers = ctl_ok(t, "show", "workers", json=True).json["result"]
    check(sorted(w.get("core") for w in workers) == list(range(t.workers)),
          f"show workers: {len(workers)} rows for {t.workers} workers: {workers}")
    check(all(0 <= w.get("busy_ratio", -1) <= 1 for w in workers), f"busy ratios out of [0, 1]: {workers}")
    rows = [ln for ln in ctl_ok(t, "show", "workers").out.splitlines()[1:] if ln.strip()]
    check(len(rows) == t.workers, f"show workers table has {len(rows)} rows for {t.workers} workers")

    config = ctl_ok(t, "show", "config", json=True).json["result"]
    check(config.get("path") == str(t.config_file) and config.get("text") == t.config_file.read_text(),
          f"show config: path {config.get('path')!r}, want {str(t.config_file)!r}, or the text differs")
    ports = ctl_ok(t, "show", "ports", json=True).json["result"]
    check(sorted(p.get("name") for p in ports) == ["a", "b"], f"show ports: {[p.get('name') for p in ports]}")

    helped = ctl_ok(t, "help")
    commands = [c.get("command") for c in ctl_ok(t, "help", json=True).json["result"]]
    missing = [c for c in CTL_COMMANDS if c not in commands or not re.search(rf"^{c}\b", helped.out, re.M)]
    check(not missing, f"help does not list {missing}:\n{helped.out}")


@test("show_tables_keep_fields_of_every_row")
def t_show_tables_fields(t: Topology) -> None:
    """The human tables of redlinectl show every field a row has, even when the first row lacks
    it: the gateway of a static route (connected routes come first, without one) and the MAC of
    a reachable neighbor next to an unreachable one (which has none)."""
    problems = []
    table = ctl_ok(t, "show", "routes").out
    row = next((ln for ln in table.splitlines() if ln.split()[:1] == ["10.77.3.0/24"]), None)
    if not (row and B_IP in row):
        problems.append(f"show routes: the row of 10.77.3.0/24 does not name its gateway {B_IP}:\n{table}")
    t.run_in("a", ["ping", "-n", "-c", "1", "-w", "5", ABSENT], timeout=10)  # an unreachable neighbor
    n, r = ping(t, "a", RA_IP, 1)
    check(n == 1, f"no ping to {RA_IP}:\n{r.brief()}")
    listed = ctl_ok(t, "show", "neighbors", json=True).json["result"]
    if any(x.get("state") == "unreachable" for x in listed):
        table = ctl_ok(t, "show", "neighbors").out
        row = next((ln for ln in table.splitlines() if ln.split()[:1] == [A_IP]), None)
        if not (row and t.port("a").host_mac in row):
            problems.append(f"show neighbors: the row of {A_IP} does not show its MAC {t.port('a').host_mac}:\n{table}")
    check(not problems, "\n".join(problems))


ROUTE_FLAPS = 5


@test("route_change_under_traffic")
def t_route_change(t: Topology) -> None:
    """A more specific route added and removed under a steady ping loses no packet; a new prefix
    routes once added and is net-unreachable once removed; a route over a local address is
    refused."""
    n, r = ping(t, "a", STATIC_IP, 1)  # ARP resolved both ways before the count starts
    check(n == 1, f"no ping to {STATIC_IP} before the test:\n{r.brief()}")
    host = "10.77.3.1/32"
    s0 = t.stats()
    pinger = t.popen_in("a", ["ping", "-n", "-i", "0.01", "-c", "600", "-W", "2", STATIC_IP],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    flaps = 0
    try:
        time.sleep(0.5)
        for _ in range(ROUTE_FLAPS):
            ctl_ok(t, "route", "add", host, "via", B_IP)
            if flaps == 0:
                row = route_row(routes_now(t), host)
                check(row and row.get("via") == B_IP, f"show routes after route add: {row}")
            time.sleep(0.2)
            ctl_ok(t, "route", "del", host)
            time.sleep(0.2)
            flaps += 1
        still = pinger.poll() is None
        out, _ = pinger.communicate(timeout=30)
    finally:
        t.ctl("route", "del", host)
    check(still, f"the ping ended before the {ROUTE_FLAPS} route changes did:\n{out[-400:]}")
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    check(m, f"no ping summary:\n{out[-400:]}")
    sent, got = int(m.group(1)), int(m.group(2))
    s1 = t.stats()
    if got != sent:
        deltas = {k: s1.delta(s0, k) for k in s1.counters if s1.delta(s0, k)}
        ports = {p: {k: s1.port(p, k) - s0.port(p, k) for k in s1.ports.get(p, {}) if s1.port(p, k) - s0.port(p, k)}
                 for p in s1.ports}
        raise Fail(f"{sent - got}/{sent} pings lost across {flaps} add/del of {host}; counter deltas {deltas}; "
                   f"port deltas {ports}\n{out[-300:]}")
    check(route_row(routes_now(t), host) is None, f"{host} still in show routes after route del")

    # A new prefix: reachable after route add, unreachable (ICMP from redline) after route del.
    prefix, addr = "10.77.9.0/24", "10.77.9.1"
    b = t.port("b").host_ns
    topo.sh(["ip", "-n", b, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
    try:
        ctl_ok(t, "route", "add", prefix, "via", B_IP)
        n, r = ping(t, "a", addr, 2)
        check(n == 2, f"{n}/2 replies from {addr} after route add {prefix}:\n{r.brief()}")
        ctl_ok(t, "route", "del", prefix)
        s0 = t.stats()
        r = t.run_in("a", ["ping", "-n", "-c", "1", "-w", "4", addr], timeout=10)
        check(re.search(rf"From {re.escape(RA_IP)} .*Destination Net Unreachable", r.out),
              f"no 'Destination Net Unreachable' from {RA_IP} after route del {prefix}:\n{r.brief()}")
        expect_rise(t, s0, "ipv4_no_route", 1)
        gone = t.ctl("route", "del", prefix)
        check(gone.rc == 1 and "no static route" in gone.err, f"route del of a removed route:\n{gone.brief()}")
    finally:
        t.ctl("route", "del", prefix)
        topo.sh(["ip", "-n", b, "addr", "del", f"{addr}/32", "dev", "lo"])

    before = routes_now(t)
    r = t.ctl("route", "add", f"{RA_IP}/32", "via", B_IP)
    check(r.rc == 1, f"route add over redline's own address: rc {r.rc}, want 1\n{r.brief()}")
    check(RA_IP in r.err and "local" in r.err, f"the refusal does not name the reason:\n{r.brief()}")
    check(routes_now(t) == before, "show routes changed after a refused route add")
    still_answers(t)


def _numbered_line(text: str, needle: str) -> int:
    """1-based number of the last line of `text` that contains `needle`."""
    return max(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@test("reload_config")
def t_reload(t: Topology) -> None:
    """`reload` applies a [[routes]] change of the file redline runs from; a file that fails
    validation changes nothing and the error names file:line:key; SIGHUP reloads as well."""
    cfg = t.config_file
    original = cfg.read_text()
    before = routes_now(t)
    extra = "10.77.8.0/24"
    added = original.rstrip("\n") + f'\n\n[[routes]]\nprefix = "{extra}"\nvia = "{B_IP}"\n'
    try:
        cfg.write_text(added)
        res = ctl_ok(t, "reload", json=True).json["result"]
        check(any(extra in x for x in res.get("routes_added", [])) and res.get("routes_removed") == []
              and res.get("needs_restart") == [], f"reload: {res}")
        row = route_row(routes_now(t), extra)
        check(row and row.get("via") == B_IP and row.get("port") == "b", f"show routes after reload: {extra} is {row}")
        with_extra = routes_now(t)

        broken = {  # what: (file text, text on the line the error must name, key it must name)
            "gateway not on a connected network": (
                original.rstrip("\n") + f'\n\n[[routes]]\nprefix = "{extra}"\nvia = "10.99.0.1"\n',
                'via = "10.99.0.1"', "routes[1].via"),
            "unknown key": (added.rstrip("\n") + "\nmetric = 5\n", "metric = 5", "routes[1].metric"),
        }
        for what, (text, needle, key) in broken.items():
            cfg.write_text(text)
            line = _numbered_line(text, needle)
            r = t.ctl("reload")
            check(r.rc == 1, f"reload of a broken file ({what}): rc {r.rc}, want 1\n{r.brief()}")
            check(f"{cfg}:{line}:" in r.err and key in r.err,
                  f"reload error ({what}) does not name {cfg}:{line}: and {key}:\n{r.err}")
            check(routes_now(t) == with_extra, f"show routes changed after a refused reload ({what})")

        cfg.write_text(original)
        res = ctl_ok(t, "reload", json=True).json["result"]
        check(res.get("routes_removed") == [extra] and res.get("routes_added") == [], f"reload back: {res}")
        check(routes_now(t) == before, f"show routes after restoring the file:\n{routes_now(t)}\nwant\n{before}")

        # SIGHUP: the same reload, reported in redline's log (stderr).
        for text, want_added, want_removed in ((added, [extra], []), (original, [], [extra])):
            cfg.write_text(text)
            mark = t.output_mark("err")
            os.kill(t.pid, signal.SIGHUP)
            line = t.wait_output(lambda s: "redline info: reload (SIGHUP):" in s, since=mark, stream="err")
            check(line, f"no 'redline info: reload (SIGHUP): ...' log line within 5 s; stderr tail:\n{t.tail(t.err_lines)}")
            res = json.loads(line.split("(SIGHUP):", 1)[1])
            check([x.split()[0] for x in res.get("routes_added", [])] == want_added
                  and res.get("routes_removed") == want_removed, f"SIGHUP reload: {line}")
            check((route_row(routes_now(t), extra) is not None) == bool(want_added),
                  f"show routes after SIGHUP: {extra} is {route_row(routes_now(t), extra)}")
        check(routes_now(t) == before, "show routes differs from the start after the SIGHUP round trip")
    finally:
        if cfg.read_text() != original:
            cfg.write_text(original)
            t.ctl("reload")
    still_answers(t)


CTL_CLIENTS = r"""
import json, socket, sys, threading, time
path = sys.argv[1]
out = {}

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def read_reply(s):
    buf = b""
    try:
        while b"\n" not in buf:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except (ConnectionResetError, socket.timeout) as e:
        out.setdefault("read_errors", []).append(repr(e))
    line = buf.split(b"\n")[0]
    try:
        return json.loads(line)
    except ValueError:
        return {"unparsed": line[:200].decode(errors="replace")}

def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

idle = connect()                                # connects, never writes
half = connect()
half.sendall(b'{"command": "show coun')         # half a line, then nothing
time.sleep(0.2)

replies = [None] * 10
go = threading.Barrier(10)
def client(i):
    try:
        s = connect()
        go.wait(5)
        s.sendall(b'{"command":"show counters"}\n')
        replies[i] = read_reply(s)
        s.close()
    except Exception as e:
        replies[i] = {"exception": repr(e)}
t0 = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
for th in threads:
    th.start()
for th in threads:
    th.join(15)
out["clients_s"] = time.monotonic() - t0
out["clients_ok"] = [isinstance(r, dict) and r.get("ok") is True for r in replies]
out["clients_bad"] = [r for r in replies if not (isinstance(r, dict) and r.get("ok") is True)][:3]

big = connect()
try:
    big.sendall(b"x" * (1 << 20) + b"\n")
    out["big_send"] = "all sent"
except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
    out["big_send"] = repr(e)
out["big_reply"] = read_reply(big)
out["big_closed"] = closed(big)

bad = connect()
bad.sendall(b"this is not json\n")
out["bad_reply"] = read_reply(bad)

half.sendall(b'ters"}\n')                       # the rest of the stalled line
out["half_reply"] = read_reply(half)
for s in (idle, half, big, bad):
    s.close()
print(json.dumps(out))
"""


@test("control_many_clients")
def t_control_many_clients(t: Topology) -> None:
    """A silent client and one stalled half way through a line do not hold up 10 concurrent
    clients; a 1 MiB line is answered with an error and its connection closed; invalid JSON
    gets {"ok": false}; the stalled line, once finished, is answered; redline keeps routing."""
    r = t.run_in("r", [PY, "-c", CTL_CLIENTS, str(t.control_socket)], timeout=60)
    check(r.rc == 0, f"client script failed:\n{r.brief(1500)}")
    out = json.loads(r.out.strip().splitlines()[-1])
    check(all(out["clients_ok"]), f"{out['clients_ok'].count(True)}/10 clients got ok: {out['clients_bad']}")
    check(out["clients_s"] < 5, f"10 clients took {out['clients_s']:.1f} s")
    big = out["big_reply"]
    check(big.get("ok") is False and "request longer than" in big.get("error", ""),
          f"1 MiB line: reply {big} (send: {out['big_send']})")
    check(out["big_closed"], "the connection of the 1 MiB line stayed open")
    check(out["bad_reply"].get("ok") is False and out["bad_reply"].get("error"), f"invalid JSON: {out['bad_reply']}")
    check(out["half_reply"].get("ok") is True, f"the stalled half line, once finished: {out['half_reply']}")
    still_answers(t)


@test("control_socket_root_only")
def t_control_root_only(t: Topology) -> None:
    """The socket is root's, mode 0600: redlinectl as nobody cannot connect (exit 2, "Permission
    denied"), root's can.  The test directory is opened to others (0711) meanwhile, so it is the
    socket's own mode that refuses, not the directory's."""
    import stat
    st = os.stat(t.control_socket)
    check(stat.S_ISSOCK(st.st_mode), f"{t.control_socket} is not a socket")
    check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0,
          f"socket mode {stat.S_IMODE(st.st_mode):o} owner {st.st_uid}, want 600 root")
    mode = stat.S_IMODE(os.stat(t.tmpdir).st_mode)
    os.chmod(t.tmpdir, 0o711)
    try:
        r = t.ctl("show", "workers", user="nobody")
    finally:
        os.chmod(t.tmpdir, mode)
    check(r.rc == 2 and "Permission denied" in r.err, f"redlinectl as nobody: rc {r.rc}, want 2:\n{r.brief()}")
    ctl_ok(t, "show", "workers")


