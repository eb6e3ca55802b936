from __future__ import annotations

import pytest

from .fake import FakeWit


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeWit:
    """The generated imports, answered by a :class:`FakeWit`."""
    wit = FakeWit()
    wit.install(monkeypatch)
    return wit
