"""The monitoring kit of issue 22 (examples/monitoring/): Prometheus' own promtool accepts the
scrape config and the alert rules and passes the rules' unit tests, every alert has a case that
fires and one that must not, and every metric the Grafana dashboard and the alerts query is one a
real scrape of redline shows (Grafana is not in Debian, so the dashboard is checked by its
queries: a renamed metric would leave a panel silently empty).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import topo  # noqa: E402
from harness import B_IP, Fail, check, ping, test  # noqa: E402
from topo import Topology  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "examples" / "monitoring"
CONFIG, RULES, RULES_TEST, DASHBOARD = (MON / n for n in ("prometheus.yml", "alerts.yml", "alerts_test.yml",
                                                         "redline-dashboard.json"))
METRICS_ADDR = "127.0.0.1:9469"  # loopback of the router namespace the test creates
NAME = re.compile(r"\bredline_[a-z0-9_]+")


def _promtool() -> str:
    p = shutil.which("promtool")
    if not p:
        raise Fail("promtool missing (Debian package prometheus; scripts/setup.sh installs it)")
    return p


def _alert_names(text: str) -> list[str]:
    return re.findall(r"^\s*-\s*alert:\s*(\w+)\s*$", text, re.M)


def _test_with_exprs(promtool: str, expr: str, log) -> str:
    """promtool test rules on copies of the rules and their tests in which every alert's `expr:`
    is `expr`; the output (which must be a failure)."""
    d = Path(tempfile.mkdtemp(prefix="redline-rules-"))
    try:
        (d / RULES.name).write_text(re.sub(r"^(\s*expr:\s).*$", lambda m: m.group(1) + expr,
                                           RULES.read_text(), flags=re.M))
        shutil.copy(RULES_TEST, d / RULES_TEST.name)
        r = topo.sh([promtool, "test", "rules", str(d / RULES_TEST.name)], timeout=120)
        log(f"promtool test rules with every expr '{expr}': exit {r.rc}")
        check(r.rc != 0, f"the rules' tests pass even with every expr '{expr}':\n{r.brief(2000)}")
        return r.out + r.err
    finally:
        shutil.rmtree(d, ignore_errors=True)


@test("monitoring_rules", fresh=True)
def t_monitoring_rules(workers: int, log) -> None:
    """promtool check config (prometheus.yml and, through its rule_files, alerts.yml), check rules
    and test rules all exit 0; and the tests cover every alert both ways: with every expr made
    to always fire, each alert fails a case that expects no alert, and with every expr made never
    to fire, each alert fails a case that expects it."""
    promtool = _promtool()
    # (rule_files are found relative to the file naming them, so any working directory does)
    for args in (["check", "config", str(CONFIG)], ["check", "rules", str(RULES)], ["test", "rules", str(RULES_TEST)]):
        r = topo.sh([promtool, *args], timeout=120)
        log(f"promtool {' '.join(args)}: exit {r.rc}")
        check(r.rc == 0, f"promtool {' '.join(args)} exit {r.rc}:\n{r.brief(3000)}")
    alerts = _alert_names(RULES.read_text())
    check(len(alerts) >= 4 and len(set(alerts)) == len(alerts), f"alerts in {RULES.name}: {alerts}")
    problems = []
    out = _test_with_exprs(promtool, "vector(1)", log)
    quiet = set(re.findall(r"alertname: (\w+), time: \S+,\s*exp:\[\]", out))
    problems += [f"{a}: no case where it must not fire" for a in alerts if a not in quiet]
    out = _test_with_exprs(promtool, "vector(1) == 0", log)
    fired = set(re.findall(r"alertname: (\w+), time: \S+,", out))
    problems += [f"{a}: no case where it fires" for a in alerts if a not in fired]
    check(not problems, f"{RULES_TEST.name} (each alert's single-line `expr:` rewritten): " + "; ".join(problems))


def _http_get(t: Topology, path: str) -> str:
    r = t.run_in("r", ["curl", "-sS", "--fail", "--max-time", "5", f"http://{METRICS_ADDR}{path}"], timeout=10)
    check(r.rc == 0, f"curl {path} failed:\n{r.brief()}")
    return r.out


def _dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) of every panel's targets (rows' nested panels too) and every query variable;
    fails on invalid JSON, a repeated panel id or a panel without a query."""
    try:
        dash = json.loads(DASHBOARD.read_text())
    except ValueError as e:
        raise Fail(f"{DASHBOARD.name} is not valid JSON: {e}")
    panels, stack = [], list(dash.get("panels", []))
    while stack:
        p = stack.pop(0)
        panels.append(p)
        stack += p.get("panels", [])
    ids = [p.get("id") for p in panels]
    dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    check(panels and None not in ids and not dup, f"{DASHBOARD.name}: panel ids {ids} (repeated: {dup})")
    exprs, empty = [], []
    for p in panels:
        if p.get("type") == "row":
            continue
        got = [(f"panel {p['id']} '{p.get('title')}'", t["expr"]) for t in p.get("targets", []) if t.get("expr")]
        if not got:
            empty.append(f"{p['id']} '{p.get('title')}'")
        exprs += got
    check(not empty, f"{DASHBOARD.name}: panels without a query: {empty}")
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            exprs.append((f"variable ${v.get('name')}", q.get("query", "") if isinstance(q, dict) else str(q)))
    return exprs


@test("dashboard_metrics_exist", fresh=True)
def t_dashboard_metrics_exist(workers: int, log) -> None:
    """A redline with [control] metrics and a NAT (so the nat_* gauges exist) is scraped; every
    redline_* name in the dashboard's queries and in alerts.yml (expressions and the annotations
    that point operators at metrics) is a sample name on that page (the reference parser,
    python3-prometheus-client, reads it), and none is a deprecated one (HELP "DEPRECATED")."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Fail("python3-prometheus-client is not installed (scripts/setup.sh installs it)")
    wanted: dict[str, set[str]] = {}
    for where, expr in _dashboard_exprs():
        for name in NAME.findall(expr):
            wanted.setdefault(name, set()).add(f"{DASHBOARD.name} {where}")
    rules = [line for line in RULES.read_text().splitlines() if not line.lstrip().startswith("#")]
    for name in NAME.findall("\n".join(rules)):
        wanted.setdefault(name, set()).add(RULES.name)
    check(len(wanted) >= 10, f"only {sorted(wanted)} named by the dashboard and the alerts")

    sfx = os.urandom(3).hex()
    text = (topo.render_config(f"rl-a-{sfx}", f"rl-b-{sfx}", workers=workers)
            + '\n[nat]\ninside = ["a"]\noutside = ["b"]\n\n'
            + '[[nat.snat]]\nsource = "10.77.1.0/24"\nto = "masquerade"\n'
            + f'\n[control]\nsocket = "/tmp/rl-{sfx}-ctl.sock"\nmetrics = "{METRICS_ADDR}"\n')
    with Topology(workers=workers, config_text=text, log=log) as t:
        n, r = ping(t, "a", B_IP, 3)  # through the NAT: a session, and a neighbor on each side
        check(n >= 1, f"{n}/3 replies through the NAT:\n{r.brief()}")
        body = _http_get(t, "/metrics")
    try:
        fams = list(text_string_to_metric_families(body))
    except ValueError as e:
        raise Fail(f"the reference parser refuses the page: {e}\n{body[:500]}")
    # The parser drops _total from a counter family's name; the samples keep the names queried.
    shown = {s.name for f in fams for s in f.samples}
    deprecated = {s.name for f in fams if f.documentation.startswith("DEPRECATED") for s in f.samples}
    log(f"{len(wanted)} names queried, {len(shown)} sample names on the page")
    check(shown, f"no samples on the page:\n{body[:500]}")
    missing = [f"{n} ({', '.join(sorted(wanted[n]))})" for n in sorted(wanted) if n not in shown]
    old = [f"{n} ({', '.join(sorted(wanted[n]))})" for n in sorted(wanted) if n in deprecated]
    check(not missing and not old,
          (f"not on a real scrape: {'; '.join(missing)}" if missing else "")
          + ("; " if missing and old else "")
          + (f"deprecated (use redline_dropped_packets_total{{reason}}): {'; '.join(old)}" if old else ""))
