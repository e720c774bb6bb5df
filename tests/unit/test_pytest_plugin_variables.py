"""The pytest plugin exports exactly the variables `iris-envs run` does (issue 23 item 4)."""

from __future__ import annotations

import os
from pathlib import Path

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.types import ContainerInfo
from iris_envs.pytest_plugin.environments import VARIABLE_NAMES, IrisEnv, exported
from iris_envs.run.variables import connection_environment


def test_the_plugin_knows_every_variable_that_run_exports() -> None:
    spec = EnvSpec(name="app", project_root=Path("/p"), config_file=None, password="pw")
    container = ContainerInfo(
        id="c" * 64, name="n", image="i", status="running", running=True, exit_code=0,
        labels={}, ports={1972: 41972, 52773: 42773}, health=None,
    )  # fmt: skip
    variables = connection_environment(spec, container, "iris-envs/app:abc")
    assert set(VARIABLE_NAMES) == set(variables)
    env = IrisEnv.from_variables({**variables, "IRIS_ENVS_CACHE_DIR": "/elsewhere"})
    assert dict(env.variables) == variables  # only the connection's, nothing else of os.environ
    assert "pw" not in repr(env)


def test_exported_variables_are_put_back_afterwards() -> None:
    os.environ.pop("IRIS_PORT", None)
    os.environ["IRIS_HOST"] = "before"
    try:
        with exported({"IRIS_HOST": "127.0.0.1", "IRIS_PORT": "1972"}):
            assert (os.environ["IRIS_HOST"], os.environ["IRIS_PORT"]) == ("127.0.0.1", "1972")
        assert os.environ["IRIS_HOST"] == "before" and "IRIS_PORT" not in os.environ
    finally:
        os.environ.pop("IRIS_HOST", None)
