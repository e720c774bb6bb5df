"""Tests against the warm IRIS of the `quickstart` environment, through the pytest plugin.

Run them with `iris-envs run -- pytest` (or `pytest --iris-env quickstart`): the snapshot is built
once (IRIS started, passwords unexpired, src/ loaded, setup/seed.script run, IRIS stopped cleanly,
the container committed), and every later run starts from it in seconds.
"""

import os


def test_the_connection_is_exported_for_application_code(iris_env):
    # The IRIS_* variables (testcontainers-iris names) are what application code reads.
    assert os.environ["IRIS_NAMESPACE"] == iris_env.namespace == "USER"
    assert os.environ["IRIS_CONNECTION_STRING"] == f"{iris_env.host}:{iris_env.port}/USER"


def test_the_setup_step_loaded_the_class(iris_env):
    exists = iris_env.run_objectscript(
        ['Write ##class(%Dictionary.CompiledClass).%ExistsId("Demo.Hello")']
    )
    assert exists == "1"


def test_objectscript_output_comes_back_as_written(iris_env):
    # run_objectscript returns what the script wrote: no banner, no prompts.
    written = iris_env.run_objectscript(['Write "namespace ",$NAMESPACE', 'Write ", done"'])
    assert written == "namespace USER, done"
