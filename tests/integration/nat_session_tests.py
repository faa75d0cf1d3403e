"""`redlinectl show nat sessions` and `nat flush` (issue 22): the NAT's sessions listed and ended
with conntrack's filters, by each worker from its own table, while traffic flows through the NAT.

Registered on the NAT topology (kind="nat"), after nat_tests.py's tests; redline only (the
nftables DUT has `conntrack -L`, not these commands).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Skip, check, test  # noqa: E402
from nat_tests import ECHO, NAT_ADDRS, peer_json, rise, servers  # noqa: E402
from nat_topo import IN1, IN2, NAT_IP, OUT1  # noqa: E402


def sessions(t, *filters: str) -> list[dict]:
    r = t.ctl("show", "nat", "sessions", *filters, json=True)
    check(r.rc == 0 and r.json and r.json.get("ok"), f"show nat sessions {' '.join(filters)}:\n{r.brief()}")
    res = r.json["result"]
    check("workers_not_answering" not in res, f"workers did not answer: {res.get('workers_not_answering')}")
    return res["sessions"]


def endpoint_ip(e: str) -> str:
    return e.rpartition(":")[0]


@test("nat_sessions_list_flush", kind="nat")
def t_list_flush(t) -> None:
    """UDP flows from two inside hosts and a ping running throughout: `show nat sessions` with each
    filter lists exactly the sessions it names, each with its three endpoints; `limit` bounds the
    listing; `nat flush inside IN1 proto udp` ends those (counted) and no other; the flows then
    start over on new sessions; bad filters are refused with what is accepted, exit 1."""
    if t.dut != "redline":
        raise Skip("redline's control commands (nftables has conntrack -L)")
    servers(t)
    ping = t.popen_in("in1", ["ping", "-n", "-i", "0.05", "-c", "120", "-W", "1", OUT1],
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        a = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "40"])
        b = peer_json(t, "in2", ["flows", "--dst", ECHO[2], "--count", "20"])
        check(a["answered"] == 40 and b["answered"] == 20, f"flows before listing: {a}, {b}")

        rows = sessions(t, "inside", IN1, "proto", "udp", "outside", ECHO[0])
        check(len(rows) >= 40, f"{len(rows)} UDP sessions of {IN1} to {ECHO[0]} listed, want >= 40")
        for r in rows:
            check(endpoint_ip(r["inside"]) == IN1 and r["outside"] == ECHO[0] and r["proto"] == "udp",
                  f"a row the filter does not select: {r}")
            check(endpoint_ip(r["external"]) in NAT_ADDRS and r["kind"] == "snat" and r["expires_s"] > 0,
                  f"row: {r}")
        workers = {r["worker"] for r in rows}
        check(workers <= set(range(t.workers)), f"workers {workers} of {t.workers}")
        rows2 = sessions(t, "inside", IN2)
        check(len([r for r in rows2 if r["outside"] == ECHO[2]]) >= 20 and
              all(endpoint_ip(r["inside"]) == IN2 for r in rows2), f"sessions of {IN2}: {rows2[:3]}...")
        icmp = sessions(t, "proto", "icmp", "outside", OUT1)
        check(any(endpoint_ip(r["inside"]) == IN1 for r in icmp), f"the running ping's session is not listed: {icmp}")
        one = next(r for r in rows)
        # One mapping (an external port) serves every session of its inside endpoint (RFC 4787
        # endpoint-independent mapping): the rows are that endpoint's, one per remote.
        exact = sessions(t, "external", one["external"], "proto", "udp")
        check(exact and all(r["inside"] == one["inside"] for r in exact) and one["outside"] in [r["outside"] for r in exact],
              f"external {one['external']}: {exact}")

        r = t.ctl("show", "nat", "sessions", "limit", "5", json=True)
        res = r.json["result"] if r.json else {}
        check(r.rc == 0 and len(res.get("sessions", [])) == 5 and res.get("truncated") is True,
              f"limit 5: {r.brief()}")
        r = t.ctl("show", "nat", "sessions", "proto", "udp", "limit", "3")
        rows = [l.split() for l in r.out.splitlines()]
        header = next((i for i, l in enumerate(rows) if l[:5] == ["worker", "proto", "inside", "external", "outside"]), None)
        check(r.rc == 0 and header is not None and len(rows) >= header + 4
              and all(len(l) >= 5 and l[1] == "udp" for l in rows[header + 1:header + 4]),
              f"the table (a header, then a row per session):\n{r.brief()}")

        s0 = t.counters()
        r = t.ctl("nat", "flush", "inside", IN1, "proto", "udp", json=True)
        flushed = r.json["result"]["flushed"] if r.json and r.json.get("ok") else None
        check(flushed is not None and flushed >= 40, f"nat flush inside {IN1} proto udp:\n{r.brief()}")
        rise(t, s0, "nat_sessions_flushed", flushed)
        check(sessions(t, "inside", IN1, "proto", "udp") == [], "UDP sessions of IN1 left after the flush")
        check(len([r for r in sessions(t, "inside", IN2) if r["outside"] == ECHO[2]]) >= 20,
              f"the flush of {IN1}'s sessions ended {IN2}'s")
        check(sessions(t, "proto", "icmp", "inside", IN1), "the flush of UDP ended the ping's ICMP session")

        s1 = t.counters()
        a = peer_json(t, "in1", ["flows", "--dst", ECHO[0], "--count", "40"])
        check(a["answered"] == 40, f"flows after the flush: {a}")
        rise(t, s1, "nat_sessions_created", 40)

        for args, want in ((["show", "nat", "sessions", "inside", "10.88.1"], "10.0.1.5:4000"),
                           (["show", "nat", "sessions", "proto", "sctp"], "tcp, udp, icmp"),
                           (["show", "nat", "sessions", "limit", "0"], "limit"),
                           (["nat", "flush", "outside", "10.88.2.2:99999"], "0-65535")):
            r = t.ctl(*args)
            check(r.rc == 1 and want in r.err, f"{' '.join(args)}: exit {r.rc}, want 1 and '{want}':\n{r.brief()}")
    finally:
        out, _ = ping.communicate(timeout=15)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    check(m is not None and int(m.group(2)) >= int(m.group(1)) * 9 // 10,
          f"the ping through the NAT while sessions were listed and flushed:\n{out[-400:]}")


@test("nat_packet_trace", kind="nat")
def t_trace(t) -> None:
    """`trace add 10 --port lan` and a ping from in1 to the outside: the echo request's trace
    enters the NAT stage with in1's source and the output stage with the NAT's address, done."""
    if t.dut != "redline":
        raise Skip("redline's packet trace")
    t.ctl("trace", "clear")
    r = t.ctl("trace", "add", "10", "--port", "lan")
    check(r.rc == 0, f"trace add: {r.brief()}")
    p = t.run_in("in1", ["ping", "-n", "-c", "1", "-W", "2", OUT1], timeout=10)
    check(p.rc == 0, f"ping {OUT1} from in1:\n{p.brief()}")
    res = t.ctl("show", "trace", json=True).json["result"]
    # The part of its trace that ends it (a handoff to the owning worker starts a second part).
    echo = [x for x in res["packets"] if x.get("verdict") == "done" and
            any(f"{IN1} > {OUT1} icmp type 8" in st["headers"] for st in x.get("steps", []))]
    check(echo, f"no traced echo request: {[(x.get('verdict'), x.get('steps')) for x in res['packets']]}")
    steps = {s["stage"]: s["headers"] for s in echo[0]["steps"]}
    check("nat" in steps and IN1 in steps["nat"], f"stages {list(steps)}")
    check(steps.get("output", "").split(" icmp")[0].endswith(f"{NAT_IP} > {OUT1}") and echo[0]["verdict"] == "done",
          f"at output: {steps.get('output')}, {echo[0]['verdict']}")
    t.ctl("trace", "clear")
