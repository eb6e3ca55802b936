"""Shared pieces of the peer drivers: the 200-byte step result, the counter
file that records every execution of a step (the side effect used to count
steps that ran twice), and the JSON line each driver prints for bench.py."""

import json
import os
import sys
import time

PAYLOAD_BYTES = 200


def payload(i: int) -> str:
    """The result of step i: a 200-byte ASCII string."""
    head = f"step-{i:06d}-"
    return head + "x" * (PAYLOAD_BYTES - len(head))


class Counter:
    """Appends one fixed-width line `<step> <pid>` per execution of a step.

    The file is opened once, unbuffered (one write(2) per step), so the
    harness can watch its size to see how many steps have run."""

    LINE = 16  # "%06d %08d\n"

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else None
        self.pid = os.getpid()

    def hit(self, i: int) -> None:
        if self.fd is not None:
            os.write(self.fd, b"%06d %08d\n" % (i, self.pid))


def report(**fields) -> None:
    """One JSON line on stdout, read by bench.py."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


now = time.perf_counter
