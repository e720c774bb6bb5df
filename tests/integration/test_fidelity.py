"""Real-IRIS fidelity (issue 8) on a real engine: each test fails on code that only suited the
lax stand-in, because the stand-in now imitates the documented behaviour it used to accept."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    remove_env_artifacts,
    run_cli,
    unique_env,
)
from tests.private_engine import PrivateEngine
from tests.standin.build import build_dc_variant, build_expired_variant

pytestmark = pytest.mark.docker

VERSION = "2025.1"
MGR = "/usr/irissys/mgr"
ZERO_CONFIG_IMAGE = "intersystemsdc/iris-community:latest-em"  # iris_envs.config.spec.DEFAULT_IMAGE


@pytest.fixture(scope="module")
def dc_images(standin_images: dict[str, str]) -> dict[str, str]:
    """The intersystemsdc flavour: both public wrapper versions (background and foreground)."""
    return {
        "dc-background": build_dc_variant(VERSION),
        "dc-foreground": build_dc_variant(VERSION, foreground=True),
    }


Build = Callable[..., tuple[str, subprocess.CompletedProcess[str]]]


@pytest.fixture
def build(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Build]:
    """build(setup, files, image=..., extra=...) -> (env, `iris-envs build` result)."""
    envs: list[str] = []

    def run(
        setup: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        image: str | None = None,
        extra: str = "",
    ) -> tuple[str, subprocess.CompletedProcess[str]]:
        env = unique_env("fi")
        envs.append(env)
        toml = (
            f'[env."{env}"]\nimage = "{image or standin_images[VERSION]}"\n'
            f'password = "Pw{uuid.uuid4().hex}"\n{extra}setup = [\n{setup}]\n'
        )
        root = make_project(toml, files or {}, name=env)
        return env, run_cli(["build", "-e", env], cwd=root, timeout=180)

    yield run
    for env in envs:
        remove_env_artifacts(env)


def snapshot_of(result: subprocess.CompletedProcess[str], env: str) -> str:
    match = re.search(rf"{re.escape(env)}: (\S+) \(built\)", result.stdout)
    assert match, result.stdout + result.stderr
    return match.group(1)


def in_image(ref: str, script: str) -> str:
    """Run a shell script in a throw-away container of ``ref`` without starting IRIS."""
    return docker("run", "--rm", "--entrypoint", "sh", ref, "-c", script).stdout


def image_config(ref: str) -> dict[str, object]:
    return dict(json.loads(docker("image", "inspect", "-f", "{{json .Config}}", ref).stdout))


def start_snapshot(ref: str) -> str:
    """Start a container of the snapshot with its own entrypoint; wait for `Enabling logons`."""
    name = f"fidelity-{uuid.uuid4().hex[:10]}"
    docker("run", "-d", "--name", name, "-e", "STANDIN_START_DELAY=0.1", ref)
    for _ in range(100):
        if "Enabling logons" in docker("logs", name, check=False).stdout:
            return name
        subprocess.run(["sleep", "0.1"], check=True)
    raise AssertionError(docker("logs", name, check=False).stdout)


# -- item 1: the clean stop is judged inside the container, not by its exit code ----------------


@pytest.mark.parametrize("flavour", ["dc-background", "dc-foreground"])
def test_intersystemsdc_wrapper_images_build_with_a_clean_iris_stop(
    build: Build, dc_images: dict[str, str], flavour: str
) -> None:
    # `docker stop` of these images exits 143 (and the foreground wrapper kills IRIS): a build
    # that judged the container's exit code refused every snapshot of the default image.
    image = dc_images[flavour]
    env, done = build('  { shell = "echo ok > /home/irisowner/made.txt" },\n', image=image)
    assert done.returncode == 0, done.stderr
    ref = snapshot_of(done, env)
    # The snapshot keeps the image's own entrypoint (the build ran it under a keep-alive shell).
    config = image_config(ref)
    base = image_config(image)
    assert config["Entrypoint"] == base["Entrypoint"] == ["/tini", "--", "/docker-entrypoint.sh"]
    assert config.get("Cmd") == base.get("Cmd")
    assert config["User"] == base["User"]
    name = start_snapshot(ref)
    try:
        log = docker("logs", name).stdout
        assert "abnormal" not in log.lower(), log
        shutdowns = docker("exec", name, "cat", f"{MGR}/.standin/shutdowns").stdout.split("\n")
        assert shutdowns[0].startswith("clean"), shutdowns
    finally:
        docker("rm", "-f", name, check=False)


def test_a_failing_iris_stop_fails_the_build_and_commits_nothing(build: Build) -> None:
    # A directory where `iris stop` writes its request makes the stand-in's `iris stop` fail.
    env, done = build(f'  {{ shell = "mkdir {MGR}/.standin/stop-request" }},\n')
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "`iris stop IRIS quietly` failed with exit code 1" in done.stderr
    assert "none was committed" in done.stderr
    assert docker("images", "-aq", "--filter", f"label=org.iris-envs.env={env}").stdout == ""


def test_snapshot_holds_no_wij_or_journal_files_and_an_empty_messages_log(build: Build) -> None:
    env, done = build('  { shell = "true" },\n')
    assert done.returncode == 0, done.stderr
    ref = snapshot_of(done, env)
    listing = in_image(
        ref,
        f"ls {MGR}/IRIS.WIJ 2>&1; ls -A {MGR}/journal | wc -l; wc -c < {MGR}/messages.log; "
        f"stat -c %u {MGR}/messages.log",
    ).split("\n")
    assert "No such file" in listing[0], listing
    assert listing[1:4] == ["0", "0", "51773"], listing


# -- item 2: sql steps call ImportDDL with Do and are judged by its errors log --------------------


SQL_OK = (
    "CREATE TABLE Demo.Item (Name VARCHAR(50))\nGO\nINSERT INTO Demo.Item (Name) VALUES ('a')\nGO\n"
)


def test_sql_step_runs_importddl_as_a_procedure(build: Build) -> None:
    env, done = build('  { sql = "sql/schema.sql" },\n', {"sql/schema.sql": SQL_OK})
    assert done.returncode == 0, done.stderr
    executed = in_image(snapshot_of(done, env), f"cat {MGR}/.standin/sql-executed")
    assert "CREATE TABLE Demo.Item" in executed and "INSERT INTO Demo.Item" in executed


def test_sql_statement_that_fails_fails_the_step_with_the_errors_log(build: Build) -> None:
    bad = SQL_OK + "INSERT INTO Demo.Missing VALUES (1) -- STANDIN-SQL-ERROR\nGO\n"
    _env, done = build('  { sql = "sql/schema.sql" },\n', {"sql/schema.sql": bad})
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "setup[1] sql sql/schema.sql" in done.stderr
    assert "errors log" in done.stderr and "SQLCODE = -1" in done.stderr
    assert "GO" in done.stderr  # the hint names the statement separator
    assert "Traceback" not in done.stderr


# -- item 3: each line is judged by its own outcome, not by $ZERROR -----------------------------


def test_an_error_caught_inside_a_step_does_not_fail_it(build: Build) -> None:
    script = 'Try { ZTRAP "HANDLED" } Catch { }\nWrite "after the handled error",!\n'
    _env, done = build(
        '  { objectscript = "setup/caught.script" },\n', {"setup/caught.script": script}
    )
    assert done.returncode == 0, done.stderr


def test_a_failing_status_is_reported_with_its_text_and_stops_later_lines(build: Build) -> None:
    files = {
        "src/App/Broken.cls": "Class App.Broken { STANDIN-LOAD-ERROR }\n",
        "setup/after.script": 'Set ^Never=1\nWrite "never",!\n',
    }
    _env, done = build('  { load = "src" },\n  { objectscript = "setup/after.script" },\n', files)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "ERROR #5475: Error compiling routine" in done.stderr  # the status text, not <THROW>
    assert "setup[2]" not in done.stderr


def test_a_step_line_with_a_comment_still_runs(build: Build) -> None:
    script = 'Write "commented" ; a trailing comment\n// a comment line\nSet ^X=1 // another\n'
    _env, done = build('  { objectscript = "setup/c.script" },\n', {"setup/c.script": script})
    assert done.returncode == 0, done.stderr


# -- item 4: SYS.Container methods end the session; the build no longer calls them --------------


def test_sys_container_failure_ends_the_session_and_fails_the_step(build: Build) -> None:
    script = "Do ##class(SYS.Container).PreventJournalRolloverMessage()\n"
    _env, done = build('  { objectscript = "setup/s.script" },\n', {"setup/s.script": script})
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "exit code 1" in done.stderr and "nostu" in done.stderr


# -- item 5: IPM only where it is installed or mapped -------------------------------------------


def test_ipm_step_on_an_image_without_ipm_says_what_to_do(build: Build) -> None:
    _env, done = build('  { ipm = "sslclient" },\n')
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "IPM is not installed in namespace USER" in done.stderr
    assert 'zpm "enable -map -repos -globally"' in done.stderr
    assert "Traceback" not in done.stderr


def test_ipm_step_in_a_new_namespace_needs_ipm_mapped_there(
    build: Build, dc_images: dict[str, str]
) -> None:
    image = dc_images["dc-background"]
    env, done = build('  { ipm = "sslclient" },\n', image=image, extra='namespace = "APP"\n')
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "IPM is not installed in namespace APP" in done.stderr

    mapped = (
        '  { objectscript = "setup/map-ipm.script", namespace = "USER" },\n'
        '  { ipm = "sslclient", version = "1.0.1" },\n'
    )
    # Mapping the code alone leaves the new namespace without a registry (issue 24, item 6):
    # that gets its own message, which names the flags that map the registries too.
    files = {"setup/map-ipm.script": 'zpm "enable -map -globally"\n'}
    env, done = build(mapped, files, image=image, extra='namespace = "APP"\n')
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "IPM in namespace APP has no package registry" in done.stderr
    assert "enable -map -repos -globally" in done.stderr and "Traceback" not in done.stderr
    files = {"setup/map-ipm.script": 'zpm "enable -map -repos -globally"\n'}
    env, done = build(mapped, files, image=image, extra='namespace = "APP"\n')
    assert done.returncode == 0, done.stderr
    installed = in_image(snapshot_of(done, env), f"cat {MGR}/.standin/ipm")
    assert "APP: install sslclient 1.0.1" in installed


def test_ipm_install_failure_reports_ipm_status_text(
    build: Build, dc_images: dict[str, str]
) -> None:
    _env, done = build('  { ipm = "standin-missing" },\n', image=dc_images["dc-background"])
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "ERROR #5001: Could not find package standin-missing" in done.stderr


# -- item 7: the CPF merge is checked by its effect and not repeated by every container ----------


@pytest.mark.parametrize("flavour", ["plain", "dc-background"])
def test_cpf_merge_takes_effect_once_and_leaves_no_variable_in_the_snapshot(
    build: Build, dc_images: dict[str, str], flavour: str
) -> None:
    # Both image flavours: the plain /iris-main and the intersystemsdc wrapper (issue 24).
    merge = f"[config]\nglobals=0,0,512,0,0,0\n[Actions]\nCreateDatabase:Name=X,Directory={MGR}/x\n"
    env, done = build(
        '  { shell = "true" },\n',
        {"merge.cpf": merge},
        image=None if flavour == "plain" else dc_images[flavour],
        extra='cpf_merge = "merge.cpf"\n',
    )
    assert done.returncode == 0, done.stderr
    ref = snapshot_of(done, env)
    env_list = image_config(ref)["Env"]
    assert isinstance(env_list, list)
    assert not [item for item in env_list if item.startswith("ISC_CPF_MERGE_FILE")], env_list
    # The CPF is /usr/irissys/iris.cpf (RACS_cpf), not in mgr/ (issue 24, item 1): the action's
    # database is there too, with the trailing slash IRIS writes.
    cpf = in_image(ref, "cat /usr/irissys/iris.cpf")
    assert "globals=0,0,512,0,0,0" in cpf and f"X={MGR}/x/" in cpf
    name = start_snapshot(ref)
    try:
        merges = docker("exec", name, "cat", f"{MGR}/.standin/merges").stdout.splitlines()
        assert len(merges) == 1, merges  # merged in the build only, not again by this container
    finally:
        docker("rm", "-f", name, check=False)


def test_cpf_merge_with_a_misspelt_section_fails_the_build(build: Build) -> None:
    _env, done = build(
        '  { shell = "true" },\n',
        {"merge.cpf": "[confg]\nglobals=0,0,512,0,0,0\n"},
        extra='cpf_merge = "merge.cpf"\n',
    )
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "did not take effect" in done.stderr and "[confg] globals" in done.stderr


# -- item 8: a license failure that makes the container exit is still explained ----------------


def test_expired_community_license_is_explained_after_the_container_exited(
    build: Build, standin_images: dict[str, str]
) -> None:
    _env, done = build('  { shell = "true" },\n', image=build_expired_variant(VERSION))
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "13 months" in done.stderr
    assert done.stderr.index("13 months") < done.stderr.index("20-core")
    assert "Invalid Community Edition license" in done.stderr  # the log line itself is shown


# -- acceptance: zero-config `iris-envs run -- pytest` on both stand-in flavours -----------------


@pytest.mark.parametrize("flavour", ["plain", "dc-background"])
def test_zero_config_run_passes_on_both_image_flavours(
    tmp_path: Path,
    standin_images: dict[str, str],
    dc_images: dict[str, str],
    private_engine: PrivateEngine,
    flavour: str,
) -> None:
    # Zero configuration means the default image NAME, which an IRIS developer's engine likely
    # has (and the `default` environment every zero-config project shares): a private engine,
    # where the stand-in can carry that name without touching theirs.
    image = standin_images[VERSION] if flavour == "plain" else dc_images[flavour]
    private_engine.load(image)
    private_engine.docker("tag", image, ZERO_CONFIG_IMAGE)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_env.py").write_text(
        "import os\n\n"
        "def test_connection_variables():\n"
        "    assert os.environ['IRIS_ENVS_ENV'] == 'default'\n"
        "    assert os.environ['IRIS_NAMESPACE'] == 'USER'\n"
        "    assert int(os.environ['IRIS_PORT']) > 0\n",
        encoding="utf-8",
    )
    done = run_cli(
        ["run", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env={"DOCKER_HOST": private_engine.host},
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
