"""Which snapshot images a project may use: its own by tag, or another's identical one by key.

Each project names its snapshots in its own repository, ``iris-envs/<project id>/<env>``
(naming.py), and only ever tags, untags or prunes those names. Two projects whose environment
has the same name and the same key would build the same content (the key covers every input), so
the second one does not build again: it puts its own tag on the first one's image. The image
then lives as long as any project's tag names it: removing a snapshot removes only the remover's
tags, and the engine deletes the image with its last tag ("If an image has multiple tags, using
this command with the tag as a parameter only removes the tag. If the tag is the only one for
the image, both the image and the tag are removed": docker-image-rm(1), Docker 20.10-28).
"""

from __future__ import annotations

from pathlib import PurePath

from iris_envs import naming
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import DockerOperationFailed


def own_snapshot(
    engine: DockerEngine, project_root: str | PurePath, env_name: str, key: str
) -> ImageInfo | None:
    """The project's snapshot of ``key``, if its tag names an image that carries the key."""
    info = engine.inspect_image(naming.snapshot_ref(project_root, env_name, key))
    # The tag holds 12 hex digits; the full key label guards against a prefix collision.
    if info is not None and info.labels.get(naming.LABEL_KEY) == key:
        return info
    return None


def shareable_snapshot(engine: DockerEngine, env_name: str, key: str) -> ImageInfo | None:
    """A snapshot of the same environment name and key that another project (or the
    project-independent name of an archive or an older iris-envs) has tagged; None if none.

    Untagged ones are not offered: nobody vouches for them (a build between commit and tag, or
    ``gc``'s to remove).
    """
    candidates = engine.images_by_label(
        {naming.LABEL_ROLE: "snapshot", naming.LABEL_ENV: env_name, naming.LABEL_KEY: key}
    )
    tagged = [c for c in candidates if any(naming.parse_snapshot_ref(t) for t in c.tags)]
    return max(tagged, key=lambda info: info.created, default=None)


def adopt(
    engine: DockerEngine, info: ImageInfo, project_root: str | PurePath, env_name: str, key: str
) -> ImageInfo | None:
    """Tag another project's identical snapshot as this project's; None if it went meanwhile."""
    try:
        engine.tag(info.id, naming.snapshot_ref(project_root, env_name, key))
        engine.tag(info.id, naming.latest_ref(project_root, env_name))
    except DockerOperationFailed:
        return None  # removed by its last owner between the lookup and the tag: a miss
    return own_snapshot(engine, project_root, env_name, key)


def project_images(
    engine: DockerEngine, project_root: str | PurePath, env_name: str
) -> list[ImageInfo]:
    """Every snapshot of ``env_name`` that the project has tagged (any key)."""
    repository = naming.project_repository(project_root, env_name) + ":"
    return [
        info
        for info in engine.images_by_label(
            {naming.LABEL_ROLE: "snapshot", naming.LABEL_ENV: env_name}
        )
        if any(tag.startswith(repository) for tag in info.tags)
    ]
