"""The private Docker engine of fault tests (tests/private_engine.py; the `private_engine`
fixture lives in tests/conftest.py): stopped, restarted or filled without touching the engine
everybody else's tests use. Needs root and dockerd (as CI has); outside CI it skips."""

from __future__ import annotations

from tests.integration.conftest import make_project
from tests.private_engine import PrivateEngine

__all__ = ["PrivateEngine", "make_project"]  # the integration tests' fixture, shared here
