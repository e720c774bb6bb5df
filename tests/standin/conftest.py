"""Fixtures for the stand-in image's own tests: built images and self-cleaning containers."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.standin.build import ensure_standin_images

CONTAINER_PREFIX = "standin-test-"


def docker(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; tests of the stand-in deliberately avoid the product's adapter."""
    return subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=check, timeout=60
    )


def wait_for_log(name: str, text: str, timeout: float = 15.0, count: int = 1) -> str:
    """Poll the container log until text appears count times; returns the whole log."""
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        proc = docker("logs", name, check=False)
        logs = proc.stdout + proc.stderr
        if logs.count(text) >= count:
            return logs
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in logs of {name} after {timeout}s:\n{logs}")


def wait_exited(name: str, timeout: float = 15.0) -> int:
    """Wait until the container stopped; returns its exit code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = docker(
            "inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", name
        ).stdout.split()
        if state[0] == "false":
            return int(state[1])
        time.sleep(0.1)
    raise AssertionError(f"{name} still running after {timeout}s")


@pytest.fixture(scope="session")
def standin_images() -> dict[str, str]:
    """Build (or reuse, by content hash) the stand-in images: {version: tag}."""
    return ensure_standin_images()


class Containers:
    """Starts containers named standin-test-*; remove_all() deletes them and their snapshots."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.images: list[str] = []

    def start(self, image: str, *run_args: str, wait: bool = True) -> str:
        name = f"{CONTAINER_PREFIX}{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        # A short start delay keeps the suite fast; the image default (1 s) is covered elsewhere.
        docker(
            "run",
            "-d",
            "--name",
            name,
            "-e",
            "STANDIN_START_DELAY=0.1",
            "-p",
            "127.0.0.1::1972",
            *run_args,
            image,
        )
        if wait:
            wait_for_log(name, "Enabling logons")
        return name

    def commit(self, name: str) -> str:
        image = f"{CONTAINER_PREFIX}snapshot:{uuid.uuid4().hex[:10]}"
        self.images.append(image)
        docker("commit", name, image)
        return image

    def remove_all(self) -> None:
        if self.names:
            docker("rm", "-f", *self.names, check=False)
        if self.images:
            docker("rmi", "-f", *self.images, check=False)


@pytest.fixture
def containers() -> Iterator[Containers]:
    """Per-test container factory; everything it created is removed even when the test fails."""
    factory = Containers()
    yield factory
    factory.remove_all()
