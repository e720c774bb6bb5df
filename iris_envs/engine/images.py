"""Image operations of the engine adapter: inspect, list, pull, tag, push, save, load, commit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from iris_envs.engine.client import EngineClient, familiar_ref, label_filters
from iris_envs.engine.types import ImageInfo, PullProgress
from iris_envs.errors import DockerOperationFailed, ImageNotFound, NotFoundInEngine

# A commit writes the container's changes as one layer: minutes for tens of gigabytes, never
# hours; past this the engine is taken to have stopped answering.
COMMIT_TIMEOUT = 2 * 3600.0
LIST_ATTEMPTS = 5  # listings an image removal elsewhere cut short (Podman < 4.6), then give up


def _split_ref(ref: str) -> tuple[str, str]:
    """Split ``repo[:tag]`` (a registry port is not a tag) into repository and tag."""
    if "@" in ref:
        return ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = ref.rsplit(":", 1)
        return repository, tag
    return ref, "latest"


def _image_info(data: Mapping[str, Any]) -> ImageInfo:
    config = data.get("Config") or {}
    return ImageInfo(
        id=data["Id"],
        tags=tuple(familiar_ref(tag) for tag in data.get("RepoTags") or ()),
        repo_digests=tuple(familiar_ref(digest) for digest in data.get("RepoDigests") or ()),
        labels=dict(config.get("Labels") or {}),
        created=str(data.get("Created", "")),
        size=int(data.get("Size") or 0),
        os=str(data.get("Os", "")),
        architecture=str(data.get("Architecture", "")),
        env=tuple(config.get("Env") or ()),
        cmd=tuple(config["Cmd"]) if config.get("Cmd") else None,
        entrypoint=tuple(config["Entrypoint"]) if config.get("Entrypoint") else None,
        user=str(config.get("User") or ""),
        layers=tuple((data.get("RootFS") or {}).get("Layers") or ()),
    )


def podman_label_changes(labels: Mapping[str, str]) -> list[str]:
    """``LABEL`` changes that give a Podman commit exactly ``labels``.

    Podman parses a change as ``LABEL key=value``: split at the first ``=``, one pair of
    surrounding double quotes removed, nothing unescaped, and every change split at newlines
    (pkg/util/utils.go GetImageConfig and compat CommitContainer, v4.3). Quoting every value
    keeps JSON values, empty values and edge spaces intact. dockerd would unescape them as a
    Dockerfile does, which is why it gets the labels in the body instead.
    """
    changes = []
    for key, value in labels.items():
        if not key or key != key.strip() or "=" in key or "\n" in key + value:
            raise DockerOperationFailed(
                f"label {key!r}: Podman's commit cannot carry a label whose key is empty, has "
                "'=' or edge spaces, or which has a line break; use Docker for this image"
            )
        changes.append(f'LABEL {key}="{value}"')
    return changes


class ImageOps(EngineClient):
    """Image operations: inspect, list, pull, tag, push, save, load, commit."""

    def inspect_image(self, ref: str) -> ImageInfo | None:
        """Return the image, or None when the engine does not have it."""
        try:
            with self._translate(f"inspect image {ref}"):
                data = self._api.inspect_image(ref)
        except NotFoundInEngine:
            return None
        return _image_info(data)

    def images_by_label(self, labels: Mapping[str, str | None]) -> list[ImageInfo]:
        """Images carrying every label (value None = any value)."""
        for attempt in range(LIST_ATTEMPTS):
            try:
                with self._translate("list images"):
                    summaries = self._api.images(filters=label_filters(labels))
                break
            except DockerOperationFailed as error:
                # Podman before 4.6 fails a listing when another process removes an image
                # meanwhile ("image not known", "layer not known"; podman PR #18980): asked
                # again, it lists what is left.
                if "not known" not in str(error) or attempt == LIST_ATTEMPTS - 1:
                    raise
                time.sleep(0.2)
        found = []
        for summary in summaries:
            info = self.inspect_image(summary["Id"])
            if info is not None:
                found.append(info)
        return found

    def pull(
        self, ref: str, on_progress: PullProgress | None = None, *, platform: str | None = None
    ) -> ImageInfo:
        """Pull ``ref`` (the ``platform`` variant, e.g. ``linux/amd64``, else the engine's),
        reporting the engine's per-layer progress messages."""
        repository, tag = _split_ref(ref)
        with self._translate(f"pull {ref}"):
            stream = self._api.pull(
                repository, tag=tag, stream=True, decode=True, platform=platform
            )
            for message in stream:
                if "error" in message:
                    raise DockerOperationFailed(f"pull {ref}: {message['error']}")
                if on_progress is not None:
                    on_progress(message)
        info = self.inspect_image(ref)
        if info is None:
            raise ImageNotFound(f"pull {ref}: the engine reported success but has no such image")
        return info

    def image_platforms(self, ref: str, timeout: float = 10) -> list[str] | None:
        """The platforms (``linux/arm64``, ...) ``ref``'s registry has builds for; None when the
        registry cannot be asked (offline, a login needed) within ``timeout`` seconds."""
        try:
            with self._translate(f"ask the registry about {ref}"):
                api = self._api
                response = api._get(api._url("/distribution/{0}/json", ref), timeout=timeout)
                data = api._result(response, True)
        except DockerOperationFailed:  # a 404, 401 or timeout from the registry
            return None
        platforms = data.get("Platforms") or []
        return [f"{p.get('os', '?')}/{p.get('architecture', '?')}" for p in platforms] or None

    def tag(self, image_id: str, ref: str) -> None:
        """Point ``ref`` (repository:tag) at ``image_id``."""
        repository, tag = _split_ref(ref)
        with self._translate(f"tag {ref}"):
            self._api.tag(image_id, repository, tag=tag, force=True)

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        """Remove an image or tag; a missing one is not an error."""
        with contextlib.suppress(NotFoundInEngine), self._translate(f"remove image {ref}"):
            self._api.remove_image(ref, force=force)

    def push(self, ref: str, on_progress: PullProgress | None = None) -> str:
        """Push ``ref`` with the engine's own registry login (``docker login``); return its digest.

        Credentials are never passed in: the SDK reads the same ``~/.docker/config.json`` (and
        credential helpers) as the docker CLI.
        """
        repository, tag = _split_ref(ref)
        digest = ""
        with self._translate(f"push {ref}"):
            for message in self._api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in message:
                    raise DockerOperationFailed(f"push {ref}: {message['error']}")
                digest = (message.get("aux") or {}).get("Digest", digest)
                if on_progress is not None:
                    on_progress(message)
        return str(digest)

    def save(self, ref: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """Stream ``docker save REF``: an uncompressed tar with the image, its tag and labels."""
        with self._translate(f"save {ref}"):
            yield from self._api.get_image(ref, chunk_size=chunk_size)

    def load(self, chunks: Iterable[bytes]) -> list[str]:
        """``docker load`` from a stream of tar chunks; return what the engine says it loaded."""
        loaded: list[str] = []
        with self._translate("load image archive"):
            for message in self._api.load_image(chunks):
                if "error" in message:
                    raise DockerOperationFailed(f"load image archive: {message['error']}")
                stream = str(message.get("stream") or "")
                if ":" in stream:  # "Loaded image: REF" or "Loaded image ID: sha256:..."
                    loaded.append(stream.split(":", 1)[1].strip())
        return loaded

    def commit(
        self,
        container_id: str,
        *,
        labels: Mapping[str, str],
        changes: Sequence[str] = (),
        message: str = "",
    ) -> str:
        """Commit a container to a new UNTAGGED image and return its id (tag it when verified)."""
        if self.is_podman():
            # Podman's compat /commit ignores the body's Labels (pkg/api/handlers/compat/
            # images.go, v4.3: the body is decoded and dropped), so they travel as LABEL changes.
            changes = [*changes, *podman_label_changes(labels)]
        params = {
            "container": container_id,
            "comment": message or None,
            "author": "iris-envs",
            # A stopped container needs no pause; a running one is paused by the engine.
            "pause": True,
            "changes": list(changes) or None,
        }
        with self._translate(f"commit container {container_id[:12]}"):
            api = self._api
            # Not the SDK's commit and its client timeout: the engine answers once the layer is
            # written, which for tens of gigabytes of fixtures outlasts the client's 300 s (the
            # build would fail while the engine went on to make the image). Still bounded, so
            # an engine that stops answering cannot hold a build forever.
            response = api._post_json(
                api._url("/commit"),
                data={"Labels": dict(labels)},
                params=params,
                timeout=COMMIT_TIMEOUT,
            )
            result = api._result(response, json=True)
        image_id = str(result["Id"])
        # dockerd answers "sha256:<hex>", Podman the bare hex (as its image inspect does not):
        # one spelling, so an id compares equal to what inspect_image reports.
        return image_id if ":" in image_id else f"sha256:{image_id}"
