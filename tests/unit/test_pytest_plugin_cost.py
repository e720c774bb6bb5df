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
