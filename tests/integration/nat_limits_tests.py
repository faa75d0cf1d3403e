"""RFC 6888's limits per inside host and port-block allocation with its log (issue 23), each
test with a redline of its own ([nat.limits] and [nat.log] are fixed at start).

The inside hosts in1 and in2 both leave by masquerade on NAT_IP; in1 is the one that exhausts
its share, in2 the one that must not notice.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Skip, check  # noqa: E402
from nat_tests import ECHO, _echo, _fresh, counters, nat, peer_json, rise  # noqa: E402
from nat_topo import IN1, IN2, NAT_IP, NatOptions  # noqa: E402


def _stat(t, name: str) -> int:
    return t.stats()[name]


@nat("nat_host_session_limit", fresh=True)
def t_session_limit(workers, log) -> None:
    """sessions_per_host = 10: in1's 30 UDP flows get 10 sessions, the other 20 are refused and
    counted (nat_refused_host_sessions); in2's 10 flows all pass meanwhile; once in1's sessions
    are flushed it gets 10 again. With several workers every flow of a host is made on its home
    worker, so the limit holds across workers."""
    if os.environ.get("NAT_DUT", "redline") != "redline":
        raise Skip("redline's [nat.limits]")
    opts = NatOptions(extra="[nat.limits]\nsessions_per_host = 10\n")
    with _fresh(workers, log, opts) as t:
        _echo(t)
        s0 = counters(t)
        a = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "30", "--rounds", "2", "--timeout", "0.5"])
        check(a["answered"] == 10, f"in1: {a['answered']} of 30 flows answered with sessions_per_host = 10")
        rise(t, s0, "nat_refused_host_sessions", 20)
        b = peer_json(t, "in2", ["flows", "--dst", ECHO[0], "--count", "10"])
        check(b["answered"] == 10, f"in2: {b['answered']} of 10 flows answered while in1 is at its limit")
        r = t.ctl("show", "nat", "sessions", "inside", IN1, json=True)
        rows = r.json["result"]["sessions"] if r.json and r.json.get("ok") else None
        check(rows is not None and len(rows) == 10 and len({x["worker"] for x in rows}) == 1,
              f"in1's sessions: want 10, all on its home worker: {rows}")
        r = t.ctl("nat", "flush", "inside", IN1, json=True)
        check(r.rc == 0, f"nat flush inside {IN1}: {r.brief()}")
        a = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "10"])
        check(a["answered"] == 10, f"in1 after the flush: {a['answered']} of 10 flows answered")


@nat("nat_port_blocks_log", fresh=True)
def t_port_blocks(workers, log) -> None:
    """port_block_size = 64, ports_per_host = 128, [nat.log] to a file: in1's 100 flows take
    their outside ports from two blocks of 64 (two block-allocated lines with in1, NAT_IP and the
    ranges, no remote); 60 more find no room (nat_refused_host_ports); the file is rotated
    (moved aside, a reload) and in2's 20 flows get a block of their own, logged in the new file;
    `nat flush inside in1` ends its flows and its two blocks go back (block-released lines,
    counted)."""
    if os.environ.get("NAT_DUT", "redline") != "redline":
        raise Skip("redline's [nat.limits] and [nat.log]")
    fd, path = tempfile.mkstemp(prefix="redline-nat-log-", suffix=".log")
    os.close(fd)
    try:
        extra = f'[nat.limits]\nports_per_host = 128\nport_block_size = 64\n\n[nat.log]\nfile = "{path}"\n'
        with _fresh(workers, log, NatOptions(extra=extra)) as t:
            _echo(t)
            s0 = counters(t)
            a = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "100", "--list-ports"])
            check(a["answered"] == 100, f"in1: {a['answered']} of 100 flows answered with two blocks of 64")
            rise(t, s0, "nat_port_blocks_allocated", 2)
            lines = wait_lines(path, lambda ls: len(allocated(ls, IN1)) >= 2)
            ranges = allocated(lines, IN1)
            check(len(ranges) == 2, "in1's block-allocated lines: want 2, got:\n" + "\n".join(lines))
            for lo, hi in ranges:
                check(hi - lo == 63, f"a block of {hi - lo + 1} ports: {ranges}")
            check(all(any(lo <= p <= hi for lo, hi in ranges) for p in a["ports"]),
                  f"in1's ports {a['ports'][:10]}... are not all in its logged blocks {ranges}")
            check(not any("10.88.2.2" in l for l in lines), "the log names a remote (RFC 6888 REQ-12)")

            s1 = counters(t)
            more = peer_json(t, "in1", ["flows", "--dst", ECHO[1], "--count", "60", "--rounds", "2",
                                        "--timeout", "0.5", "--list-ports"])
            # A new socket may get a source port of the first batch's (closed) ones: its flow
            # then finds that endpoint's mapping (RFC 4787 REQ-1) and needs no new port.
            new_ports = set(more["ports"]) - set(a["ports"])
            check(len(new_ports) <= 28 and more["answered"] < 60,
                  f"in1: {more['answered']} of 60 more flows answered, {len(new_ports)} on new ports, with 128 ports "
                  f"and 100 taken")
            check(all(any(lo <= p <= hi for lo, hi in ranges) for p in more["ports"]),
                  f"in1's later ports {sorted(new_ports)} outside its blocks {ranges}")
            rise(t, s1, "nat_refused_host_ports", 30)
            # logrotate: the file moved aside, a reload; the log goes on in a new file of that name.
            os.rename(path, path + ".1")
            r = t.ctl("reload", json=True)
            check(r.rc == 0, f"reload: {r.brief()}")
            b = peer_json(t, "in2", ["flows", "--dst", ECHO[0], "--count", "20", "--list-ports"])
            check(b["answered"] == 20, f"in2: {b['answered']} of 20 flows answered while in1 is at its limit")
            check(not any(lo <= p <= hi for p in b["ports"] for lo, hi in ranges),
                  f"in2 got ports of in1's blocks: {b['ports']}")

            s2 = counters(t)
            r = t.ctl("nat", "flush", "inside", IN1, json=True)
            check(r.rc == 0, f"nat flush inside {IN1}: {r.brief()}")
            rise(t, s2, "nat_port_blocks_released", 2)
            lines = wait_lines(path, lambda ls: len(released(ls, IN1)) >= 2)
            check(sorted(released(lines, IN1)) == sorted(f"{lo}-{hi}" for lo, hi in ranges),
                  f"block-released lines for in1's blocks {ranges}:\n" + "\n".join(lines))
            check(any(f"inside={IN2} outside={NAT_IP}:" in l and "block-allocated" in l for l in lines),
                  "no block-allocated line for in2 in the file reopened after the reload:\n" + "\n".join(lines))
            check(len(allocated(Path(path + ".1").read_text().splitlines(), IN1)) == 2,
                  "in1's lines did not stay in the rotated file")
    finally:
        Path(path).unlink(missing_ok=True)
        Path(path + ".1").unlink(missing_ok=True)


LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z nat (block-allocated|block-released) proto=udp "
                  r"inside=(\S+) outside=(\S+):(\d+)-(\d+)$")


def allocated(lines: list[str], host: str) -> list[tuple[int, int]]:
    """The port ranges of `host`'s block-allocated lines on NAT_IP."""
    return [(int(m.group(4)), int(m.group(5))) for l in lines
            if (m := LINE.match(l)) and m.group(1) == "block-allocated" and m.group(2) == host and m.group(3) == NAT_IP]


def released(lines: list[str], host: str) -> list[str]:
    return [f"{m.group(4)}-{m.group(5)}" for l in lines if (m := LINE.match(l)) and m.group(1) == "block-released"
            and m.group(2) == host]


def wait_lines(path: str, done, timeout: float = 5.0) -> list[str]:
    """The log's lines once `done(lines)` holds (the control thread drains every 20 ms), or at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        lines = Path(path).read_text().splitlines()
        if done(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)
