"""`py-nondet`: a Python test guest for the e2e tests (tests/python.rs).

- `values`: reads every source of nondeterminism a Python agent has
  (`time.time()`, `datetime.now()`, `random`, `uuid.uuid4()`, `secrets`,
  `os.urandom`, `time.monotonic()`), logs them, calls the `pause` tool (which the test can
  make hang, to kill the host there), reads them again and returns both.
- `network PORT`: tries TCP, UDP, listening and name lookups; returns what
  each attempt raised (or "connected!" when one succeeded).
- `raise`: fails with a Python exception, two frames deep.
"""

import datetime
import encodings.idna  # noqa: F401  (modules are resolved at build time: name lookups need it)
import json
import os
import random
import secrets
import socket
import time
import uuid

from relive_sdk import AgentError, export_agent, log, tools


def sample() -> dict[str, object]:
    return {
        "time": time.time(),
        "now": datetime.datetime.now().isoformat(),
        "random": random.random(),
        "randint": random.randint(0, 10**12),
        "uuid4": str(uuid.uuid4()),
        "secrets": secrets.token_hex(16),
        "urandom": os.urandom(16).hex(),
        "monotonic": time.monotonic(),
    }


def attempt(what: object) -> str:
    try:
        result = what() if callable(what) else what
        return f"succeeded: {result!r}"
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def network(port: int) -> dict[str, str]:
    def tcp() -> str:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        return "connected!"

    def udp() -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        return s.sendto(b"hello", ("127.0.0.1", port))

    def listen() -> str:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen()
        return "listening"

    return {
        "tcp": attempt(tcp),
        "udp": attempt(udp),
        "listen": attempt(listen),
        "getaddrinfo": attempt(lambda: socket.getaddrinfo("localhost", port)),
        "gethostbyname": attempt(lambda: socket.gethostbyname("example.com")),
    }


def explode(depth: int) -> str:
    if depth == 0:
        raise ValueError("boom from python")
    return explode(depth - 1)


def run(input: str) -> str:
    command, _, arg = input.partition(" ")
    if command == "values":
        before = sample()
        log.info("before: " + json.dumps(before))
        tools.call("pause", {})
        after = sample()
        return json.dumps({"before": before, "after": after})
    if command == "network":
        return json.dumps(network(int(arg)))
    if command == "raise":
        return explode(1)
    raise AgentError(f"py-nondet: unknown command {command!r}; use values, network PORT or raise")


WitWorld = export_agent(run)
