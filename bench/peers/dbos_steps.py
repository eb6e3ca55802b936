"""DBOS (Python, SQLite system database): N sequential @DBOS.step calls in one
@DBOS.workflow, each returning a 200-byte string.

  dbos_steps.py time    --db F --n N              times a workflow of 0 and of N steps
  dbos_steps.py start   --db F --n N --counter C --id W   runs workflow W (killed by bench.py)
  dbos_steps.py recover --db F --n N --counter C --id W   a new process: DBOS.launch()
                                                          recovers W; waits for its result
"""

import argparse
import logging
import sqlite3

from common import Counter, now, payload, report

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["time", "start", "recover"])
ap.add_argument("--db", required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--counter")
ap.add_argument("--id")
args = ap.parse_args()

from dbos import DBOS, SetWorkflowID  # noqa: E402

counter = Counter(args.counter)

DBOS(
    config={
        "name": "relive-peer-steps",
        "system_database_url": f"sqlite:///{args.db}",
        "log_level": "WARNING",
    }
)


@DBOS.step()
def step(i: int) -> str:
    counter.hit(i)
    return payload(i)


@DBOS.workflow()
def steps_workflow(n: int) -> int:
    total = 0
    for i in range(n):
        total += len(step(i))
    return total


def sqlite_settings(path):
    c = sqlite3.connect(path)
    try:
        return {
            "journal_mode": c.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": c.execute("PRAGMA synchronous").fetchone()[0],
        }
    finally:
        c.close()


if args.mode == "time":
    DBOS.launch()
    steps_workflow(10)  # warm-up
    t = now()
    steps_workflow(0)
    t0 = now() - t
    t = now()
    out = steps_workflow(args.n)
    tn = now() - t
    assert out == args.n * 200, out
    report(t0=t0, tn=tn, n=args.n, sqlite=sqlite_settings(args.db))
    DBOS.destroy()
elif args.mode == "start":
    DBOS.launch()
    with SetWorkflowID(args.id):
        steps_workflow(args.n)
    DBOS.destroy()
else:
    DBOS.launch()  # recovers the workflows left PENDING by the killed process
    out = DBOS.retrieve_workflow(args.id).get_result()
    assert out == args.n * 200, out
    report(result=out)
    DBOS.destroy()
