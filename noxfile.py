"""The project's own automation: tests, lint and typecheck sessions (also what CI runs)."""

from __future__ import annotations

import os
import subprocess

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "podman", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PYTHON = ["3.11"]  # the version CI machines have; add more where they are installed


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (the integration tests need Docker: scripts/ensure-docker)."""
    session.install("-e", ".[test]")
    # Two workers, one test module each at a time (module fixtures build their snapshot once):
    # most of a test's time is spent waiting for containers, so this halves the run on two
    # cores. Every test names its own environments and containers, so workers never collide.
    # tests/docs needs the docs extra and runs in the docs session, not skipped here.
    # --no-loadscope-reorder: files in the order tests/conftest.py gives them, slowest first.
    default = [
        *["-q", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"],
        *["--ignore=tests/docs", "--durations=15"],
    ]
    session.run("python", "-m", "pytest", *(session.posargs or default))


# The integration tests of the core features Podman must run (issue 26): a snapshot build, the
# commit and a clean stop included, a failing step and Ctrl-C during the commit; run with its exit
# codes, Ctrl-C and `up`/`run --reuse`; spares; export/import and prune; the engine adapter; the
# pytest plugin (xdist, --iris-keep-on-failure, fresh_iris_env). A subset of their files, so
# Podman and Docker both fit in CI's time: the rest of those files exercise the same adapter calls.
PODMAN_CORE = [
    f"tests/integration/{name}"
    for name in (
        "test_build.py::test_build_leaves_a_tagged_labelled_snapshot",
        "test_build.py::test_snapshot_filesystem_holds_what_the_setup_steps_made",
        "test_build.py::test_snapshot_records_no_password_anywhere",
        "test_build.py::test_snapshot_starts_without_abnormal_shutdown_warning",
        "test_build.py::test_failing_step_exits_5_names_the_step_and_leaves_nothing",
        "test_build.py::test_sigint_during_the_commit_exits_130_and_leaves_no_image",
        "test_run.py::test_run_passes_fails_and_passes_pytest_codes_through",
        "test_run.py::test_sigint_stops_the_commands_and_removes_the_containers",
        "test_run.py::test_up_then_run_reuse_uses_the_same_container",
        "test_spares.py::test_a_run_uses_a_warm_spare_exactly_once_and_starts_the_next",
        "test_spares.py::test_concurrent_runs_never_share_a_spare",
        "test_cache_commands.py::test_export_import_round_trip_and_a_truncated_archive",
        "test_cache_commands.py"
        "::test_prune_keeps_the_newest_dry_run_removes_nothing_and_in_use_images_stay",
        "test_docker_adapter.py",
        "test_pytest_plugin.py::test_the_same_file_sees_the_same_values_under_run_and_under_plain_pytest",
        "test_pytest_plugin.py::test_xdist_workers_get_their_own_containers_and_one_build",
        "test_pytest_plugin.py"
        "::test_keep_on_failure_keeps_the_failed_sessions_container_with_the_way_in",
        "test_pytest_plugin.py"
        "::test_fresh_iris_env_is_another_container_of_the_same_env_removed_after_the_test",
    )
]


@nox.session(python=PYTHON)
def podman(session: nox.Session) -> None:
    """The core integration tests against Podman's Docker API (docs/your-machine.md#podman).

    scripts/ensure-podman provides the service (root installs and starts it) and names its
    socket; the tests then reach Podman through DOCKER_HOST, the docker CLI included. Where no
    service can be had the session is skipped, and in CI (CI=true) it fails instead.
    """
    # Not session.run: a provisioning failure must be able to skip the session outside CI.
    done = subprocess.run(
        ["bash", "scripts/ensure-podman"], stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:
        message = "no Podman service (scripts/ensure-podman failed; its reason is above)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            session.error(f"CI=true: {message}")
        session.skip(message)
    lines = done.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("DOCKER_HOST="):
        session.error(f"scripts/ensure-podman printed no DOCKER_HOST line: {done.stdout!r}")
    docker_host = lines[-1].removeprefix("DOCKER_HOST=")
    session.install("-e", ".[test]")
    default = ["-q", "-n", "2", "--dist", "loadfile", *PODMAN_CORE]
    session.run(
        "python",
        "-m",
        "pytest",
        *(session.posargs or default),
        env={"DOCKER_HOST": docker_host},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package."""
    # nox too: iris_envs.nox is typed against it.
    session.install("-e", ".[test]", "mypy>=1.10", "nox>=2024.4")
    session.run("mypy")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the MkDocs site strictly (a broken link, anchor or page missing from nav fails)."""
    session.install("-e", ".[docs]")
    # The generated references must match the code before the site is built from them.
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "tests/unit/cli/test_cli_reference.py",
        "tests/unit/config/test_config_reference.py",
    )
    # The built site as a reader sees it: opened from disk in headless Chromium (skipped where
    # there is none; CHROMIUM names the binary), code lines whole, names unbroken, links working.
    session.run("python", "-m", "pytest", "-q", "tests/docs")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(session.create_tmp() + "/site"),
        env={"NO_MKDOCS_2_WARNING": "1"},
    )
