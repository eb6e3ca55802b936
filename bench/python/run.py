#!/usr/bin/env python3
"""Python and TypeScript guests beside the Rust guest: the same workload
(`steps`), the same relive binary, one run of this script.

    bench/python/run.py [--relive target/debug/relive] [--runs 20] [--reps 5]
                        [--langs rust,python,ts]

From the repository root, after `.ci/run`'s install steps (componentize-py in
target/venv, the TypeScript toolchain in node_modules). It builds the
components (`cargo build` for the Rust `steps`, `relive build` for
`bench/python/steps-py` and `bench/ts/steps-ts`), then measures, each as the
median of --reps:

- build: `relive build` of the Python and TypeScript guests, and the
  component sizes;
- first start: `relive run` of a 1-step run with an empty compilation cache
  (wall time of the whole process: compile, instantiate, run);
- cached start: the same with the cache filled by the previous run;
- per call: (elapsed of N steps - elapsed of 0 steps) / N, from the run's
  own `elapsed_ms`, for journaled clock reads, random reads, `files` tool
  calls and LLM calls (a local OpenAI-compatible server answering at once);
- memory under `relive serve`: VmRSS of the service per active run (--runs
  runs each inside an LLM call that takes 3 s) and per suspended run (--runs
  runs waiting for a signal), above the service's RSS before the batch.

Everything listens on 127.0.0.1 only; every process started is stopped by
its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target/bench-python"


class Llm(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers after `delay` s."""

    delay = 0.0
    in_flight = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"]))
        with Llm.lock:
            Llm.in_flight += 1
        try:
            time.sleep(Llm.delay)
            asked = json.loads(body)["messages"][0]["content"]
            answer = json.dumps(
                {
                    "id": "chatcmpl-bench",
                    "model": "bench-model",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"ok: {asked}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3},
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        finally:
            with Llm.lock:
                Llm.in_flight -= 1

    def log_message(self, *args: object) -> None:
        pass


def sh(*cmd: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, env=env)


def config(llm_url: str) -> Path:
    path = OUT / "steps.toml"
    path.write_text(
        f"""[journal]
path = "bench.db"

[models.bench]
provider = "openai"
base_url = "{llm_url}/v1"
model = "bench-model"
stream = false
max_attempts = 1
timeout_secs = 60

[tools.step]
builtin = "files"
root = "workspaces"

[agents.steps]
component = "{ROOT}/target/wasm32-wasip2/release/steps.wasm"
tools = ["step"]
models = ["bench"]

[agents.steps-py]
component = "{OUT}/steps-py.wasm"
tools = ["step"]
models = ["bench"]

[agents.steps-ts]
component = "{OUT}/steps-ts.wasm"
tools = ["step"]
models = ["bench"]
"""
    )
    return path


def run(relive: Path, conf: Path, agent: str, steps: int, kind: str, cache: Path, db: Path) -> tuple[float, dict[str, object]]:
    env = dict(os.environ, RELIVE_CACHE_DIR=str(cache))
    started = time.perf_counter()
    out = sh(relive, "--config", conf, "--db", db, "run", agent, "--input",
             json.dumps({"steps": steps, "kind": kind}), "--json", "-q", env=env)
    wall = time.perf_counter() - started
    report = json.loads(out.stdout)
    assert report["status"] == "completed", report
    return wall, report


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def count(db: Path, status: str, agent: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM runs WHERE status = ? AND agent = ?", (status, agent)).fetchone()[0])


def post(url: str, doc: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(url, json.dumps(doc).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def wait_until(what: str, check: object, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def serve_memory(relive: Path, conf: Path, agent: str, runs: int, cache: Path) -> tuple[float, float]:
    """MiB per active run and KiB per suspended run under `relive serve`."""
    work = Path(tempfile.mkdtemp(prefix="relive-bench-serve-", dir=OUT))
    db = work / "serve.db"
    port = 17000 + os.getpid() % 1000
    env = dict(os.environ, RELIVE_CACHE_DIR=str(cache))
    service = subprocess.Popen(
        [str(relive), "--config", str(conf), "--db", str(db), "serve", "--listen", f"127.0.0.1:{port}",
         "--max-runs", str(runs + 4)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                urllib.request.urlopen(f"{base}/v1/runs", timeout=1).read()
                return True
            except OSError:
                return False

        wait_until("relive serve (it compiles every agent of the config first)", up, 300)
        Llm.delay = 0.0
        post(f"{base}/v1/runs", {"agent": agent, "input": json.dumps({"steps": 1, "kind": "llm"})})
        wait_until("the warm-up run", lambda: count(db, "completed", agent) == 1)
        time.sleep(0.5)
        idle = rss_mib(service.pid)

        Llm.delay = 3.0
        for _ in range(runs):
            post(f"{base}/v1/runs", {"agent": agent, "input": json.dumps({"steps": 1, "kind": "llm"})})
        wait_until("every run inside its LLM call", lambda: Llm.in_flight >= runs, 120)
        peak = rss_mib(service.pid)
        while Llm.in_flight > 0:
            peak = max(peak, rss_mib(service.pid))
            time.sleep(0.05)
        wait_until("the active runs", lambda: count(db, "completed", agent) == runs + 1)
        per_active = (peak - idle) / runs

        time.sleep(0.5)
        before = rss_mib(service.pid)
        for _ in range(runs):
            post(f"{base}/v1/runs", {"agent": agent, "input": json.dumps({"steps": 1, "kind": "signal"})})
        wait_until("every run suspended", lambda: count(db, "suspended", agent) == runs, 300)
        time.sleep(0.5)
        per_suspended_kib = max(rss_mib(service.pid) - before, 0) * 1024 / runs
        return per_active, per_suspended_kib
    finally:
        Llm.delay = 0.0
        service.terminate()
        try:
            service.wait(20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--relive", type=Path, default=ROOT / "target/debug/relive")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--langs", default="rust,python,ts", help="the guests to measure, comma-separated")
    args = parser.parse_args()
    langs = args.langs.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    componentize = os.environ.get("RELIVE_COMPONENTIZE_PY", str(ROOT / "target/venv/bin/componentize-py"))

    build_s: dict[str, float] = {}
    sh("cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip2", "-p", "steps")
    if "python" in langs:
        started = time.perf_counter()
        sh(args.relive, "build", ROOT / "bench/python/steps-py", "-p", ROOT / "guest-sdk/python",
           "-o", OUT / "steps-py.wasm", env=dict(os.environ, RELIVE_COMPONENTIZE_PY=componentize))
        build_s["python"] = time.perf_counter() - started
    if "ts" in langs:
        started = time.perf_counter()
        sh(args.relive, "build", ROOT / "bench/ts/steps-ts", "-o", OUT / "steps-ts.wasm")
        build_s["ts"] = time.perf_counter() - started

    server = ThreadingHTTPServer(("127.0.0.1", 0), Llm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conf = config(f"http://127.0.0.1:{server.server_address[1]}")
    agents = {k: v for k, v in {"rust": "steps", "python": "steps-py", "ts": "steps-ts"}.items() if k in langs}
    sizes = {
        "rust": ROOT / "target/wasm32-wasip2/release/steps.wasm",
        "python": OUT / "steps-py.wasm",
        "ts": OUT / "steps-ts.wasm",
    }
    results: dict[str, dict[str, float]] = {}
    for lang, agent in agents.items():
        r: dict[str, float] = {"size_mb": sizes[lang].stat().st_size / 1e6}
        if lang in build_s:
            r["build_s"] = build_s[lang]
        db = OUT / f"{agent}.db"
        cold, warm = [], []
        for _ in range(args.reps):
            cache = Path(tempfile.mkdtemp(prefix="cache-", dir=OUT))
            cold.append(run(args.relive, conf, agent, 1, "clock", cache, db)[0])
            warm.append(run(args.relive, conf, agent, 1, "clock", cache, db)[0])
            shutil.rmtree(cache)
        r["first_start_s"] = statistics.median(cold)
        r["cached_start_s"] = statistics.median(warm)
        print(f"{lang}: first start {r['first_start_s']:.2f} s, cached {r['cached_start_s']:.3f} s", file=sys.stderr, flush=True)
        cache = OUT / "cache"
        run(args.relive, conf, agent, 1, "clock", cache, db)
        for kind, n in [("clock", 2000), ("random", 2000), ("tool", 500), ("llm", 200)]:
            per_call = []
            for _ in range(args.reps):
                base = float(run(args.relive, conf, agent, 0, kind, cache, db)[1]["elapsed_ms"])  # type: ignore[arg-type]
                full = float(run(args.relive, conf, agent, n, kind, cache, db)[1]["elapsed_ms"])  # type: ignore[arg-type]
                per_call.append((full - base) * 1000 / n)
            r[f"{kind}_us"] = statistics.median(per_call)
            print(f"{lang}: {kind}: {r[f'{kind}_us']:.1f} µs per call", file=sys.stderr, flush=True)
        r["zero_step_run_ms"] = float(run(args.relive, conf, agent, 0, "clock", cache, db)[1]["elapsed_ms"])  # type: ignore[arg-type]
        active, suspended = serve_memory(args.relive, conf, agent, args.runs, cache)
        r["rss_active_mib"] = active
        r["rss_suspended_kib"] = suspended
        results[lang] = r
    server.shutdown()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
