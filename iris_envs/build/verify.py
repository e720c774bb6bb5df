"""Build phase four: the committed image started once; it must come up clean and accept the user."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

from iris_envs.build.state import BuildState
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.shield import signals_held
from iris_envs.errors import BuildFailed
from iris_envs.instance.containers import Owner, container_name, iris_container_spec
from iris_envs.instance.objectscript import ScriptFailed
from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
from iris_envs.instance.recipes import verify_login
from iris_envs.progress import Reporter

ABNORMAL_SHUTDOWN = "shutdown was abnormal"


class VerifyPhase(BuildState):
    """Phase four: the committed image started once and the test user logged in."""

    def _verify(self, image_id: str, created: Callable[[], None]) -> None:
        """Start the committed image once: it must come up cleanly and accept the test user.

        ``created`` runs once its container exists (the engine makes a container's layer only
        after a removal in progress has finished).
        """
        spec, engine = self.spec, self.engine
        container_spec = iris_container_spec(
            image_id,
            spec,
            role="verify",
            owner=self.owner,
            name=container_name("verify", spec.name, self.owner),
        )
        # No published ports: the checks run through exec, and each port costs a proxy process
        # to start and stop (about 0.15 s of every build here).
        container_id: str | None = None
        try:
            with signals_held("create the verify container"):
                container_id = engine.create_container(
                    dataclasses.replace(container_spec, ports=())
                )
            created()
            engine.start(container_id)
            # The build container passed `iris qlist` on the same files: the session probe
            # suffices here, as for every later container of the snapshot (readiness.py).
            wait_until_ready(engine, container_id, timeout=spec.ready_timeout, checks=WARM_CHECKS)
            if ABNORMAL_SHUTDOWN in engine.logs(container_id).lower():
                raise BuildFailed("the snapshot starts with an abnormal-shutdown warning")
            self._session(container_id, verify_login(), "verify test user login")
        except ScriptFailed as failure:
            self.log.write(failure.output)
            raise BuildFailed(
                f"the snapshot does not accept user {spec.username!r}: {failure.error_text}"
            ) from None
        finally:
            if container_id is not None:
                engine.remove_container(container_id)

    def verify_image(self, image_id: str) -> None:
        """Start an image made elsewhere (a pulled snapshot) once, as a build verifies its own."""
        self._verify(image_id, created=lambda: None)


def verify_pulled(
    engine: DockerEngine, spec: EnvSpec, image_id: str, *, owner: Owner, reporter: Reporter
) -> None:
    """Phase four on a snapshot from a registry: raises BuildFailed or NotReady when it fails."""
    VerifyPhase(engine, spec, owner=owner, reporter=reporter, log=io.StringIO()).verify_image(
        image_id
    )
