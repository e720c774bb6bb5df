"""Every docs/troubleshooting.md entry names a message a test provokes, with its exit code.

To add an entry: write a ``### `words of the message``` heading (``...`` stands for a name or
path) with ``Exit N.`` in its text on the page, and a Case below under the same heading text.
``{image}`` in a configuration is the stand-in image; ``{env}`` a fresh environment name
(cleaned up afterwards).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import run_cli, unique_env, write_project
from tests.standin.build import build_expired_variant

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
HEADING = re.compile(r"^### `(.+)`$", re.MULTILINE)


@dataclass(frozen=True)
class Case:
    """A project, a command line and the exit code that together print the message."""

    args: list[str]
    exit_code: ExitCode
    toml: str = '[env.{env}]\nimage = "{image}"\n'
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # {tmp} is the test's temporary folder
    needs_engine: bool = False
    image: Callable[[], str] | None = None  # builds another stand-in variant for {image}


CONFIG, SELECTION = ExitCode.CONFIG_ERROR, ExitCode.SELECTION_ERROR
CASES: dict[str, Case] = {
    "no Docker engine answers at": Case(
        ["build"], ExitCode.DOCKER_UNAVAILABLE, env={"DOCKER_HOST": "unix://{tmp}/none.sock"}
    ),
    "could not pull base image": Case(
        ["build"],
        ExitCode.BUILD_FAILED,
        # Port 1 on the loopback refuses at once: no traffic leaves the machine.
        toml='[env.{env}]\nimage = "localhost:1/no-such/iris:1"\n',
        needs_engine=True,
    ),
    "invalid TOML": Case(["list"], CONFIG, toml="[env.{env}\n"),
    "unknown key; did you mean": Case(["list"], CONFIG, toml='[env.{env}]\nimag = "{image}"\n'),
    "a name containing dots must be quoted": Case(
        ["list"], CONFIG, toml='[env.iris-2025.1]\nimage = "{image}"\n'
    ),
    "invalid value (got ...); allowed: a Docker image reference": Case(
        ["list"], CONFIG, toml='[env.{env}]\nimage = "Bad Image"\n'
    ),
    "names no environment": Case(
        ["list"], CONFIG, toml='default = ["nope"]\n[env.{env}]\nimage = "{image}"\n'
    ),
    "which is not set (or empty)": Case(
        ["list"], CONFIG, toml='[env.{env}]\npassword = "$IRIS_ENVS_DOCS_UNSET_VARIABLE"\n'
    ),
    "a license only applies to edition = 'enterprise'": Case(
        ["list"], CONFIG, toml='[env.{env}]\nlicense = "iris.key"\n'
    ),
    "license key ... does not exist": Case(
        ["build"],
        CONFIG,
        toml='[env.{env}]\nimage = "{image}"\nedition = "enterprise"\nlicense = "missing.key"\n',
        needs_engine=True,
    ),
    "not found: tried": Case(
        ["key", "{env}"], CONFIG, toml='[env.{env}]\nsetup = [{{load = "src/missing"}}]\n'
    ),
    "unknown environment": Case(["key", "nope"], SELECTION),
    "unknown tag": Case(["list", "-m", "nope"], SELECTION),
    "an empty name was given to -e/-m": Case(["run", "-e", "", "--", "true"], SELECTION),
    "command not found": Case(["run", "--", "iris-envs-docs-no-such-command"], CONFIG),
    "run has no option ...: options for the command go after": Case(["run", "-k", "greet"], CONFIG),
    "--report ...: the folder ... does not exist": Case(
        ["run", "--report", "{tmp}/no/such/folder/report.json", "--", "true"], CONFIG
    ),
    "the cache folder ... cannot be used": Case(
        ["build"], CONFIG, env={"IRIS_ENVS_CACHE_DIR": "{tmp}/iris-envs.toml"}, needs_engine=True
    ),
    "shell ... failed: the command exited with code": Case(
        ["build"],
        ExitCode.BUILD_FAILED,
        toml='[env.{env}]\nimage = "{image}"\nsetup = [{{shell = "exit 3"}}]\n',
        needs_engine=True,
    ),
    "Error compiling": Case(
        ["build"],
        ExitCode.BUILD_FAILED,
        toml='[env.{env}]\nimage = "{image}"\nsetup = [{{load = "src/Bad.cls"}}]\n',
        # The stand-in fails to compile a file containing this marker (tests/standin/README.md).
        files={"src/Bad.cls": "Class Bad.Thing Extends %RegisteredObject STANDIN-LOAD-ERROR\n"},
        needs_engine=True,
    ),
    "the build container did not become ready": Case(
        ["build"],
        ExitCode.BUILD_FAILED,
        toml='[env.{env}]\nimage = "{image}"\nready_timeout = 0.2\n',
        needs_engine=True,
    ),
    "the Community Edition refused to start its license": Case(
        ["build"],
        ExitCode.BUILD_FAILED,
        image=lambda: build_expired_variant("2025.1"),
        needs_engine=True,
    ),
}


def page_entries() -> dict[str, str]:
    """Heading text -> the entry's text up to the next heading."""
    text = PAGE.read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    entries = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        entries[match.group(1)] = text[match.end() : end]
    return entries


def as_pattern(heading: str) -> re.Pattern[str]:
    return re.compile(".+?".join(re.escape(part) for part in heading.split("...")), re.DOTALL)


def test_every_entry_has_a_case_and_every_case_an_entry() -> None:
    entries = page_entries()
    assert sorted(entries) == sorted(CASES)


@pytest.mark.parametrize("heading", sorted(CASES))
def test_the_message_is_printed_with_the_documented_exit_code(
    heading: str, tmp_path: Path, env_cleanup: Callable[[str], str], request: pytest.FixtureRequest
) -> None:
    case = CASES[heading]
    entry = page_entries()[heading]
    assert f"Exit {int(case.exit_code)}." in entry, f"{heading}: the page gives another exit code"
    image = "iris-envs-test/iris-community:2025.1"
    if case.needs_engine:
        image = request.getfixturevalue("standin_images")["2025.1"]
    if case.image is not None:
        image = case.image()
    name = env_cleanup(unique_env("ts"))

    def fill(text: str) -> str:
        return text.format(env=name, image=image, tmp=tmp_path)

    root = write_project(tmp_path, fill(case.toml), {k: fill(v) for k, v in case.files.items()})
    done = run_cli([fill(a) for a in case.args], root, {k: fill(v) for k, v in case.env.items()})
    output = done.stdout + done.stderr
    assert done.returncode == int(case.exit_code), output
    assert as_pattern(heading).search(output), f"{heading!r} not in:\n{output}"
    assert "Traceback" not in output
