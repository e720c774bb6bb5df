"""The pytest plugin costs nothing where it is not used."""

from __future__ import annotations


def test_the_pytest_plugin_imports_nothing_heavy_until_a_fixture_is_used() -> None:
    # pytest loads the plugin in every project where iris-envs is installed (issue 9, item 1).
    import subprocess
    import sys

    code = (
        "import sys, iris_envs.pytest_plugin\n"
        "heavy = [m for m in ('docker', 'iris', 'rich', 'testcontainers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_sessions_containers_are_removed_when_its_tests_finish_not_at_unconfigure() -> None:
    # An xdist worker is interrupted (SIGINT) 5 s after it reports itself finished, which it
    # does right after pytest_sessionfinish: a removal left for unconfigure could be cut off,
    # and the worker's container kept running.
    import types

    import pytest

    from iris_envs import pytest_plugin

    closed: list[str] = []
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[pytest_plugin._STATE] = types.SimpleNamespace(  # type: ignore[assignment]
        close=lambda: closed.append("containers")
    )
    config.stash[pytest_plugin.isolation.CLONES] = types.SimpleNamespace(  # type: ignore[assignment]
        close=lambda: closed.append("clone pools")
    )
    pytest_plugin.pytest_sessionfinish(types.SimpleNamespace(config=config))  # type: ignore[arg-type]
    assert closed == ["clone pools", "containers"]
