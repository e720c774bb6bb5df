"""Shared fixtures: the real Docker engine, the stand-in IRIS images, an isolated cache folder."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _engine_answers() -> bool:
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def docker_engine_available() -> bool:
    """Skip Docker tests locally without an engine; in CI (CI=true) that is a failure instead."""
    if _engine_answers():
        return True
    message = "no Docker engine answers `docker info` (run scripts/ensure-docker)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def standin_images(docker_engine_available: bool) -> dict[str, str]:
    """Build (or reuse, by content hash) the stand-in IRIS images: {version: image ref}."""
    from tests.standin.build import ensure_standin_images

    return ensure_standin_images()


@pytest.fixture(scope="session", autouse=True)
def engine_left_as_found(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """The suite leaves the engine's other images and containers, and the user's cache folder,
    as it found them (tests/hermetic.py says what counts), and none of its own projects'
    snapshots or containers behind: checked after the last test.

    The user's cache folder is out of reach: every iris-envs call of the session, also in
    module- and session-scoped fixtures, gets a folder of the session's own (each test then
    its own, ``isolated_cache``). The engine check runs only when Docker tests do.
    """
    from tests.hermetic import engine_answers, leftovers, take_inventory, user_cache_folder

    cache = user_cache_folder()  # before the override below: the folder to keep
    saved = os.environ.get("IRIS_ENVS_CACHE_DIR")
    os.environ["IRIS_ENVS_CACHE_DIR"] = str(tmp_path_factory.mktemp("session-cache"))
    docker_tests = any(item.get_closest_marker("docker") for item in request.session.items)
    before = take_inventory(cache) if docker_tests and engine_answers() else None
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("IRIS_ENVS_CACHE_DIR", None)
        else:
            os.environ["IRIS_ENVS_CACHE_DIR"] = saved
    if before is None:
        return
    missing = before.missing_from(take_inventory(cache))
    if missing:
        pytest.fail(
            "the test suite removed or changed what it found on the engine or in the cache "
            f"folder {cache}:\n  " + "\n  ".join(missing),
            pytrace=False,
        )
    left = leftovers(tmp_path_factory.getbasetemp())
    if left:
        pytest.fail(
            "the test suite left its own snapshots or containers on the engine:\n  "
            + "\n  ".join(left),
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Give every test its own cache folder so tests never share hash caches or locks."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("IRIS_ENVS_CACHE_DIR", str(path))
    # Run in GitHub Actions, the suite would otherwise annotate and summarise every CLI call
    # (run/github.py): tests that want that set these variables themselves.
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def short_tmp_path() -> Iterator[Path]:
    """A temporary folder with a short path, for unix sockets: a socket path may have at most
    104 (macOS) or 108 (Linux) bytes, and macOS's temporary folders are deep."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ie-", dir="/tmp" if os.name == "posix" else None))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cleanup_label() -> Iterator[str]:
    """A unique label value; every container/image carrying it is removed after the test."""
    import uuid

    value = uuid.uuid4().hex[:12]
    yield value
    for kind, flag in (("container", "ps -aq"), ("image", "images -q")):
        ids = subprocess.run(
            ["docker", *flag.split(), "--filter", f"label=org.iris-envs.test={value}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if ids:
            cmd = ["docker", "rm", "-f"] if kind == "container" else ["docker", "rmi", "-f"]
            subprocess.run([*cmd, *set(ids)], capture_output=True, check=False)


REAL_IRIS_IMAGE_ENV = "IRIS_ENVS_TEST_IMAGE"


# The slowest test files, slowest first, as measured in a whole run (seconds in one worker, the
# time of a module's fixtures included). Run first, so the files that end the run are short
# ones: with two workers, a 3-minute file started last leaves the other worker idle for most
# of those 3 minutes. xdist keeps this order with --no-loadscope-reorder (noxfile.py; it would
# otherwise sort files by their number of tests). A stale list costs minutes, never results.
SLOWEST_FIRST = (
    "tests/integration/test_spares.py",  # 187 s
    "tests/integration/test_suite_is_hermetic.py",  # 167 s
    "tests/integration/test_pytest_plugin.py",  # 151 s
    "tests/integration/test_run.py",  # 151 s
    "tests/integration/test_isolation.py",  # 145 s
    "tests/integration/test_fidelity.py",  # 136 s
    "tests/integration/test_cache_commands.py",  # 122 s
    "tests/integration/test_build.py",  # 118 s
    "tests/reliability/test_engine_faults.py",  # 116 s
    "tests/integration/test_fixtures.py",  # 110 s
    "tests/integration/test_config_model.py",  # 102 s
    "tests/integration/test_signals.py",  # 85 s
    "tests/integration/test_unittest.py",  # 70 s
    "tests/integration/test_registry.py",  # 66 s
    "tests/integration/test_build_inputs.py",  # 64 s
    "tests/standin/test_standin.py",  # 59 s
    "tests/integration/test_project_scoping.py",  # 43 s
    "tests/integration/test_cache_scope.py",  # 42 s
    "tests/integration/test_monitor.py",  # 41 s
    "tests/integration/test_diagnostics.py",  # 39 s
    "tests/integration/test_fixture_marker.py",  # 38 s
    "tests/integration/test_quickstart.py",  # 35 s
)


def _slowest_first(items: list[pytest.Item]) -> None:
    rank = {path: index for index, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slowest files first (SLOWEST_FIRST); deselect (not skip) real_iris tests unless
    IRIS_ENVS_TEST_IMAGE names a real image.

    Real IRIS images cannot be pulled where the suite usually runs; deselecting keeps
    "no test is skipped in CI" meaningful while the GitHub workflow runs them.
    """
    _slowest_first(items)
    if os.environ.get(REAL_IRIS_IMAGE_ENV):
        return
    deselected = [item for item in items if item.get_closest_marker("real_iris")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("real_iris")]


def pytest_report_header(config: pytest.Config) -> str:
    image = os.environ.get(REAL_IRIS_IMAGE_ENV)
    return (
        f"real IRIS image: {image}"
        if image
        else "real_iris tests deselected (no IRIS_ENVS_TEST_IMAGE)"
    )
