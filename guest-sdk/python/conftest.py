"""Test setup: the generated bindings, on sys.path before the SDK is imported.

The bindings are generated here from relive's ``wit/agent.wit`` by
``componentize-py bindings`` (never written by hand); their import
functions only raise ``NotImplementedError``, and each test replaces them
with a :class:`tests.fake.FakeWit`, the seam where a component would call
the host. componentize-py is found next to this Python (a virtual
environment) or through ``RELIVE_COMPONENTIZE_PY``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIT = HERE.parent.parent / "wit"


def _componentize_py() -> str:
    explicit = os.environ.get("RELIVE_COMPONENTIZE_PY")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("componentize-py")
    if found:
        return found
    raise SystemExit(
        "componentize-py not found: install guest-sdk/python/requirements-dev.txt into this "
        "Python's virtual environment (see .ci/run), or set RELIVE_COMPONENTIZE_PY"
    )


_BINDINGS = Path(tempfile.mkdtemp(prefix="relive-sdk-bindings-"))
subprocess.run(
    [_componentize_py(), "-q", "-d", str(WIT), "-w", "agent", "bindings", str(_BINDINGS)],
    check=True,
)
atexit.register(shutil.rmtree, _BINDINGS, ignore_errors=True)
sys.path.insert(0, str(_BINDINGS))
collect_ignore = ["conftest.py"]
