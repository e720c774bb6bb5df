"""Build phase one: the build container started, the dat copies and the CPF merge file in."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from iris_envs.build.clean_stop import keep_alive_entrypoint
from iris_envs.build.setup_steps import SETUP_DIR
from iris_envs.build.state import BuildState
from iris_envs.config.cpf import IRIS_CPF, unmerged_settings
from iris_envs.engine.shield import signals_held
from iris_envs.engine.types import FileToCopy
from iris_envs.errors import BuildFailed
from iris_envs.fixtures.copy_ahead import copy_databases_ahead
from iris_envs.instance.containers import iris_container_spec
from iris_envs.instance.objectscript import IRIS_OWNER_UID
from iris_envs.instance.readiness import wait_until_ready
from iris_envs.key.cache_key import BaseImage

CPF_MERGE_TARGET = f"{SETUP_DIR}/merge.cpf"


class StartPhase(BuildState):
    """Phase one: the build container, started with the fixtures copied in and the CPF merged."""

    def _start(self, base: BaseImage, inputs: dict[str, Any]) -> str:
        spec, engine = self.spec, self.engine
        entrypoint, command = keep_alive_entrypoint(
            self._base_info(base), CPF_MERGE_TARGET if spec.cpf_merge else None
        )
        container_spec = iris_container_spec(
            base.image_id or spec.image, spec, role="build", owner=self.owner, name=self.name
        )
        with signals_held("create the build container"):  # its id is what clean_up removes
            container_id = engine.create_container(
                dataclasses.replace(container_spec, entrypoint=entrypoint, command=command)
            )
            self.container_id = container_id
        if spec.cpf_merge is not None:
            # Copied in, not mounted: iris-main merges it at start, and the snapshot keeps it.
            # What was sent must be what the key hashed (the file may be edited meanwhile).
            sent: dict[str, str] = {}
            engine.copy_in(
                container_id,
                str(SETUP_DIR),
                [FileToCopy(spec.cpf_merge, "merge.cpf")],
                uid=IRIS_OWNER_UID,
                gid=IRIS_OWNER_UID,
                digests=sent,
            )
            if sent.get("merge.cpf") != inputs["cpf_merge"]["content"]["sha256"]:
                raise BuildFailed(
                    f"the CPF merge file {spec.cpf_merge} changed during the build; "
                    "nothing was committed",
                    hint="run the build again once the file is no longer being edited",
                )
        with self.reporter.step("start build container") as handle:
            engine.start(container_id)
            # The `dat` databases are copied while IRIS starts (see fixtures/copy_ahead.py).
            self.dat_copies = copy_databases_ahead(
                engine, container_id, spec.setup, on_progress=handle.update
            )
            wait_until_ready(
                engine, container_id, timeout=spec.ready_timeout, on_progress=handle.update
            )
        if spec.cpf_merge is not None:
            self._check_cpf_merge(container_id, spec.cpf_merge)
        return container_id

    def _check_cpf_merge(self, container_id: str, merge_file: Path) -> None:
        """The merge's settings must be in iris.cpf: the log line says success regardless."""
        engine = self.engine
        cpf = engine.read_file(container_id, IRIS_CPF).decode("utf-8", errors="replace")
        merged = engine.read_file(container_id, CPF_MERGE_TARGET).decode("utf-8", errors="replace")
        missing = unmerged_settings(merged, cpf)
        if missing:
            raise BuildFailed(
                f"the CPF merge file {merge_file} did not take effect: iris.cpf lacks "
                + ", ".join(missing),
                hint="check the section and setting names (a misspelt section is ignored "
                "silently by IRIS, which still logs 'IRIS Merge completed successfully')",
            )
