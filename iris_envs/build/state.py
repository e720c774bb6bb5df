"""What one build attempt has created so far (container, image, timings), shared by its phases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import BuildFailed
from iris_envs.fixtures.dat_step import DatCopy
from iris_envs.instance.containers import Owner, container_name
from iris_envs.instance.objectscript import run_session
from iris_envs.instance.recipes import ENV_PASSWORD, ENV_USERNAME
from iris_envs.key.cache_key import BaseImage
from iris_envs.progress import Reporter


class BuildLog(Protocol):
    """Where a build writes its log: the cache folder's file (attempt.py), or memory."""

    def write(self, text: str, /) -> int:
        """Append ``text``."""
        ...


class BuildState:
    """What one build attempt has created so far, shared by its phases."""

    def __init__(
        self,
        engine: DockerEngine,
        spec: EnvSpec,
        *,
        owner: Owner,
        reporter: Reporter,
        log: BuildLog,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.owner = owner
        self.reporter = reporter
        self.log = log
        self.name = container_name("build", spec.name, owner)
        self.container_id: str | None = None
        self.image_id: str | None = None
        self.succeeded = False
        self.fixture_bytes = 0
        self.tidied_bytes = 0
        self.timings: dict[str, float] = {}
        self.dat_copies: dict[int, DatCopy] = {}
        self.removal: tuple[threading.Thread, dict[str, BaseException], str] | None = None

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        mark = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - mark

    def _session(
        self,
        container_id: str,
        body: list[str],
        what: str,
        *,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.log.write(f"--- {what}\n")
        environment = {**secret_environment(self.spec), **(extra or {})}
        result = run_session(
            self.engine, container_id, body, namespace="%SYS", environment=environment, what=what
        )
        self.log.write(result.output + "\n")

    def _base_info(self, base: BaseImage) -> ImageInfo:
        info = self.engine.inspect_image(base.image_id or base.ref)
        if info is None:
            raise BuildFailed(f"base image {base.ref} disappeared during the build")
        return info

    def _remove_build_container_meanwhile(self, container_id: str) -> None:
        """Remove the committed build container on a thread while the snapshot is verified.

        Its removal kills the keep-alive shell and unmounts the layer, which writes back what
        the build wrote (about a second per gigabyte): time the verify start can share.
        """
        if self.removal is not None:  # already under way (a license build starts it earlier)
            return
        outcome: dict[str, BaseException] = {}

        def remove() -> None:
            try:
                self.engine.remove_container(container_id)
            except BaseException as error:  # re-raised by _finish_removal
                outcome["error"] = error

        thread = threading.Thread(target=remove, name="iris-envs-remove-build", daemon=True)
        thread.start()
        self.removal = (thread, outcome, container_id)
        self.container_id = None

    def _finish_removal(self) -> None:
        """Wait for the build container's removal; a failed one is clean_up's to retry."""
        if self.removal is None:
            return
        thread, outcome, container_id = self.removal
        thread.join()
        self.removal = None
        if "error" in outcome:
            self.container_id = container_id
            raise outcome["error"]


def secret_environment(spec: EnvSpec) -> dict[str, str]:
    """Exec-only variables carrying credentials into ``iris session`` (never container Env)."""
    return {ENV_USERNAME: spec.username, ENV_PASSWORD: spec.password}
