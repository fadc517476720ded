"""pytest fixtures for the fake exchange (registered in ``tests/conftest.py`` via ``pytest_plugins``).

* ``fake_exchange_server`` (session): one running ``FakeExchange`` over the recorded data (loaded once).
* ``fake_exchange`` (function): the same server, reset before the test (clock at 2025-06-17 08:38:08 UTC,
  ``store.DEFAULT_NOW_MS``; no faults, no holes, empty request log).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_exchange.server import FakeExchange


@pytest.fixture(scope="session")
def fake_exchange_server() -> Iterator[FakeExchange]:
    """The session's fake exchange; prefer ``fake_exchange``, which resets its state per test."""
    with FakeExchange() as fake:
        yield fake


@pytest.fixture
def fake_exchange(fake_exchange_server: FakeExchange) -> FakeExchange:
    """The fake exchange in its initial state; point ccxt at ``fake_exchange.url`` with
    ``ingest.ccxt_urls.override_api_urls``."""
    fake_exchange_server.reset()
    return fake_exchange_server
