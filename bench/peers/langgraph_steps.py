"""LangGraph with the SQLite checkpointer: a graph whose node `step` runs N
times (a conditional edge loops back to it), each run returning a 200-byte
string; with durability="sync" the checkpoint of every step is written before
the next step starts.

  langgraph_steps.py time    --db F --n N                  times a thread of 0 and of N steps
  langgraph_steps.py start   --db F --n N --counter C --id T   runs thread T (killed by bench.py)
  langgraph_steps.py recover --db F --n N --counter C --id T   a new process: invoke(None) on T
                                                               resumes from the last checkpoint
"""

import argparse
import sqlite3
from typing import TypedDict

from common import Counter, now, payload, report

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["time", "start", "recover"])
ap.add_argument("--db", required=True)
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--counter")
ap.add_argument("--id")
args = ap.parse_args()

from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

counter = Counter(args.counter)


class State(TypedDict):
    i: int
    n: int
    total: int
    out: str


def step(state: State) -> dict:
    i = state["i"]
    counter.hit(i)
    out = payload(i)
    return {"i": i + 1, "out": out, "total": state["total"] + len(out)}


def more(state: State) -> str:
    return "step" if state["i"] < state["n"] else END


builder = StateGraph(State)
builder.add_node("step", step)
builder.add_conditional_edges(START, more, ["step", END])
builder.add_conditional_edges("step", more, ["step", END])

conn = sqlite3.connect(args.db, check_same_thread=False)
saver = SqliteSaver(conn)
saver.setup()
graph = builder.compile(checkpointer=saver)


def run(thread, n):
    config = {"configurable": {"thread_id": thread}, "recursion_limit": args.n + 10}
    inp = None if n is None else {"i": 0, "n": n, "total": 0, "out": ""}
    return graph.invoke(inp, config, durability="sync")["total"]


if args.mode == "time":
    run("warm-up", 10)
    t = now()
    run("zero", 0)
    t0 = now() - t
    t = now()
    out = run("steps", args.n)
    tn = now() - t
    assert out == args.n * 200, out
    report(
        t0=t0,
        tn=tn,
        n=args.n,
        sqlite={
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
        },
    )
elif args.mode == "start":
    run(args.id, args.n)
else:
    out = run(args.id, None)
    assert out == args.n * 200, out
    report(result=out)
