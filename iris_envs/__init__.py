"""iris-envs: warm, cached InterSystems IRIS test environments (kept import-free for a fast CLI).

The public Python API is loaded lazily (PEP 562): ``import iris_envs`` costs nothing, and
``iris-envs --version`` imports neither the docker SDK nor rich nor the IRIS driver. The
integrations keep their own documented modules: ``iris_envs.nox``, ``iris_envs.testcontainers``
and the pytest plugin (``iris_envs.pytest_plugin``, registered through the ``pytest11`` entry
point).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_LAZY: dict[str, str] = {
    "connect": "iris_envs.dbapi",
    "ConnectFailed": "iris_envs.dbapi",
}

__all__ = ["ConnectFailed", "__version__", "connect"]

if TYPE_CHECKING:
    from iris_envs.dbapi import ConnectFailed, connect


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iris_envs' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
