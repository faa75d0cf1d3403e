"""The last tests of each worker count: the stats block adds up, and redline exits cleanly with
every mbuf back (run.py imports this module last, so these run after every other test)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from topo import Topology  # noqa: E402
from harness import check, close_and_check, test  # noqa: E402


@test("stats_consistent")
def t_stats(t: Topology) -> None:
    s = t.stats()
    bad = s.core_sum_mismatches()
    check(not bad, "per-core values do not add up: " + "; ".join(bad[:5]))
    check(s.cores, "no `core` lines in the stats block")
    for p in ("a", "b"):
        check(s.port(p, "rx_packets") > 0 and s.port(p, "tx_packets") > 0,
              f"port {p}: rx_packets={s.port(p, 'rx_packets')} tx_packets={s.port(p, 'tx_packets')}")
    check(not s.unparsed, f"unparsed lines in stats block: {s.unparsed[:3]}")
    # cores with nothing to report may print no `core` lines at all
    check(len(s.cores) <= t.workers, f"stats for cores {sorted(s.cores)}, but only {t.workers} workers")


@test("clean_exit", final=True)
def t_clean_exit(t: Topology) -> None:
    res = t.stop()
    problems = []
    if res.killed:
        problems.append("redline ignored SIGTERM (had to SIGKILL)")
    if res.returncode != 0:
        problems.append(f"exit code {res.returncode}; stderr tail:\n{t.tail(t.err_lines)}")
    if res.stats is None:
        problems.append(f"no stats block at exit; stdout tail:\n{t.tail(t.out_lines)}")
    if res.mbufs_in_use != 0:
        problems.append(f"mbufs in use at exit: {res.mbufs_in_use}")
    close_and_check(t, problems)


