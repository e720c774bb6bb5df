"""Build phase three: IRIS stopped cleanly, the container committed with the snapshot's labels."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import suppress
from typing import Any

from iris_envs import __version__, naming
from iris_envs.build.clean_stop import restore_config_changes, stop_iris_cleanly
from iris_envs.build.state import BuildState
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.shield import signals_held
from iris_envs.engine.types import ContainerSpec, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed, IrisEnvsError
from iris_envs.instance.containers import LICENSE_TARGET, Owner, container_labels, container_name
from iris_envs.instance.objectscript import IRIS_OWNER
from iris_envs.key.cache_key import BaseImage, input_files
from iris_envs.progress import human_bytes


def snapshot_labels(
    spec: EnvSpec, key: str, inputs: dict[str, Any], base: BaseImage, owner: Owner
) -> dict[str, str]:
    return {
        naming.LABEL_MANAGED: "true",
        naming.LABEL_ROLE: "snapshot",
        naming.LABEL_KEY: key,
        naming.LABEL_ENV: spec.name,
        naming.LABEL_INPUTS: json.dumps(inputs, sort_keys=True, separators=(",", ":")),
        naming.LABEL_FILES: json.dumps(input_files(spec), sort_keys=True, separators=(",", ":")),
        naming.LABEL_BASE_IMAGE: base.image_id or base.ref,
        naming.LABEL_VERSION: __version__,
        naming.LABEL_CREATED: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        # The build container's ownership labels would be inherited; blank them in the image.
        naming.LABEL_OWNER_PID: "",
        naming.LABEL_OWNER_HOST: "",
        naming.LABEL_OWNER_SPACE: "",
        naming.LABEL_RUN_ID: "",
        naming.LABEL_PROJECT: "",
        # Until it is verified and tagged the image is untagged and unused: this tells
        # `gc` (orphans.collect_untagged_snapshots) that a live build still owns it.
        naming.LABEL_BUILT_BY: f"{owner.host}:{owner.pid}",
        naming.LABEL_BUILT_IN: owner.space,
    }


class CommitPhase(BuildState):
    """Phase three: IRIS stopped cleanly, the container committed, what it replaced removed."""

    def _stop_cleanly(self, container_id: str) -> int:
        # No SYS.Container.Prevent*Message calls: every container has the same fixed hostname
        # (containers.HOSTNAME), and on error those methods end the session with exit 1, which
        # no Try/Catch contains (class reference; iris-facts.md).
        return stop_iris_cleanly(self.engine, container_id)

    def _commit(self, container_id: str, *, labels: dict[str, str], changes: list[str]) -> str:
        """Commit the build container, IRIS stopped and the keep-alive shell paused by the engine.

        An engine that cannot pause (rootless Docker on cgroup v1 has no freezer) refuses that:
        the container is then stopped, as the commit's state is the same (see clean_stop.py).
        """
        message = f"iris-envs snapshot of {self.spec.name}"
        try:
            with signals_held("finish the commit"):  # the image is clean_up's once it is known
                self.image_id = self.engine.commit(
                    container_id, labels=labels, changes=changes, message=message
                )
            return self.image_id
        except DockerOperationFailed as error:
            if "pause" not in str(error).lower():
                raise
        self.engine.stop(container_id, timeout=10)
        with signals_held("finish the commit"):
            self.image_id = self.engine.commit(
                container_id, labels=labels, changes=changes, message=message
            )
        return self.image_id

    def _discard_database_copies(self, container_id: str) -> None:
        """Delete the build container's copies of the `dat` databases once they are committed.

        The engine syncs the whole filesystem whenever it unmounts a layer (the verify
        container's start, the build container's removal), so the build container's gigabytes
        would be written to disk only to be deleted; unlinked first, they never are (about half
        a second per gigabyte here). Best effort: the container is removed next either way.
        """
        directories = sorted(copy.directory for copy in self.dat_copies.values())
        if not directories:
            return
        with suppress(DockerOperationFailed):  # e.g. a container the fallback commit stopped
            self.engine.exec(
                container_id, ["rm", "-rf", "--", *directories], user=IRIS_OWNER, timeout=120
            )

    def _without_mount_points(self, image_id: str, base: BaseImage) -> str:
        """Commit a layer that deletes the license bind-mount's mount point.

        The engine creates an empty file at a bind mount's target, and docker commit captures
        it: the snapshot would hold a root-owned, empty iris.key that irisowner cannot replace.
        A short root container deletes it; the second commit restores the base image's
        entrypoint, command and user, which the maintenance container overrode.
        """
        engine = self.engine
        changes = restore_config_changes(self._base_info(base))
        with signals_held("create the maintenance container"):
            container_id = engine.create_container(
                ContainerSpec(
                    image=image_id,
                    name=container_name("strip", self.spec.name, self.owner),
                    labels=container_labels("build", self.spec, self.owner),
                    user="root",
                    entrypoint=["rm", "-f", LICENSE_TARGET],
                    platform=self.spec.platform,
                )
            )
            self.container_id = container_id
        engine.start(container_id)
        if engine.wait(container_id, timeout=120) != 0:
            raise BuildFailed(f"could not remove the mount point {LICENSE_TARGET}")
        # Re-apply the snapshot's labels: the maintenance container's own (role=build, owner
        # pid) were merged over them and would otherwise end up on the snapshot.
        labels = engine.inspect_image(image_id)
        with signals_held("finish the commit"):
            # The snapshot now: clean_up removes it, and with it the first commit, its parent.
            stripped = self.image_id = engine.commit(
                container_id,
                labels=labels.labels if labels else {},
                changes=changes,
                message=f"iris-envs snapshot of {self.spec.name}",
            )
        engine.remove_container(container_id)
        self.container_id = None
        # The first commit is now an untagged parent layer of the snapshot: nothing to remove.
        return stripped

    def _remove_replaced(self, replaced: ImageInfo) -> None:
        """Remove the snapshot a ``--rebuild`` of the same key replaced, which its tags left.

        Untagged, it would only hold disk space (gigabytes with fixtures) until ``gc``. Not
        forced: the engine keeps it while a container runs from it, another tag names it or a
        derived snapshot is built on it, and ``gc`` removes it once it is free.
        """
        try:
            now = self.engine.inspect_image(replaced.id)
            if now is None or now.tags:  # gone, or tagged by someone else: theirs to keep
                return
            self.engine.remove_image(replaced.id)
        except IrisEnvsError:
            return
        self.reporter.line(
            f"removed the snapshot it replaced ({replaced.id.removeprefix('sha256:')[:12]}, "
            f"{human_bytes(replaced.size)})"
        )
