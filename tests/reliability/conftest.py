"""A private Docker engine for fault tests (tests/private_engine.py), and the integration tests'
project fixture."""

from __future__ import annotations

from tests.integration.conftest import make_project
from tests.private_engine import PrivateEngine, private_engine

__all__ = ["PrivateEngine", "make_project", "private_engine"]  # fixtures shared here
