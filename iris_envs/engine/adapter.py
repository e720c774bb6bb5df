"""The only module that talks to the Docker engine: a small typed facade over the ``docker`` SDK."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from iris_envs.errors import (
    DockerOperationFailed,
    DockerUnavailable,
    ImageNotFound,
    IrisEnvsError,
    NotFoundInEngine,
    OutputFolderError,
)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Files stream in and out of containers in 1 MiB pieces: .DAT fixtures can be gigabytes.
_CHUNK = 1024 * 1024
# Pieces of an upload (copy_in): large enough that framing costs nothing, small enough to stay
# off the allocator's mmap path (4 MiB pieces made a 1 GiB copy slower here).
_UPLOAD_PIECE = 256 * 1024
# Chunks read ahead of the hashing writer of copy_out (bounded: 8 MiB in memory at most).
_WRITE_BEHIND_CHUNKS = 8
# After an engine error, how long to check whether the engine is still there (see
# DockerEngine.stopped_answering); a genuine refusal (a full disk) is reported that much later.
ENGINE_GONE_WINDOW = 1.5
PING_TIMEOUT = 2.0

PullProgress = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class ImageInfo:
    """What the pipeline needs to know about an image."""

    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    labels: dict[str, str]
    created: str
    size: int
    os: str
    architecture: str
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    user: str = ""


@dataclass(frozen=True)
class ContainerInfo:
    """State of one container as the engine reports it."""

    id: str
    name: str
    image: str
    status: str  # created | running | exited | ...
    running: bool
    exit_code: int | None
    labels: dict[str, str]
    ports: dict[int, int]  # container port -> host port on 127.0.0.1
    health: str | None  # healthy | unhealthy | starting | None (no healthcheck)
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path into a container."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create a container; ports are published on 127.0.0.1 by default."""

    image: str
    name: str | None = None
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] | None = None
    ports: Sequence[int] = ()  # container TCP ports to publish on a random host port
    publish_address: str = "127.0.0.1"  # the host address they are published on
    mounts: Sequence[Mount] = ()
    user: str | None = None
    platform: str | None = None
    entrypoint: Sequence[str] | None = None  # overrides the image's (maintenance containers)


@dataclass(frozen=True)
class ExecResult:
    """Exit code and combined stdout/stderr of a command run in a container."""

    exit_code: int
    output: str


@dataclass(frozen=True)
class FileToCopy:
    """One host file or directory to copy into a container under ``name``."""

    source: Path
    name: str  # path relative to the destination directory


def vanished_engine_error(engine: DockerEngine, error: IrisEnvsError) -> IrisEnvsError:
    """``error``, or DockerUnavailable (exit 4) if it was an engine error and the engine has
    stopped answering since: what a dockerd shutdown (or a Docker Desktop quit) answered last
    is not the command's failure (see DockerEngine.stopped_answering)."""
    if not isinstance(error, DockerOperationFailed):
        return error
    gone = engine.stopped_answering()
    if gone is None:
        return error
    return DockerUnavailable(
        f"the Docker engine stopped answering (its last answer: {error.message})", hint=gone.hint
    )


def docker_host() -> str:
    """Describe the engine endpoint the SDK will use, for error messages."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


class DockerEngine:
    """Facade over the docker SDK; creating one does no I/O (the client connects on first use)."""

    def __init__(
        self, client_factory: Callable[[], Any] | None = None, *, timeout: float = 300
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._timeout = timeout  # seconds per request (a commit of gigabytes takes minutes)

    # -- connection and error translation -------------------------------------------------

    @property
    def _sdk(self) -> Any:
        if self._client is None:
            with self._translate():
                if self._client_factory is not None:
                    self._client = self._client_factory()
                else:
                    import docker  # deferred: `iris-envs --version` must not import the SDK

                    self._client = docker.from_env(timeout=self._timeout)
        return self._client

    @property
    def _api(self) -> Any:
        return self._sdk.api

    @contextlib.contextmanager
    def _translate(self, what: str = "") -> Iterator[None]:
        """Turn SDK and transport exceptions into the project's own, without a traceback."""
        import docker.errors
        import requests.exceptions

        try:
            yield
        except IrisEnvsError:
            raise
        except docker.errors.ImageNotFound as error:
            raise ImageNotFound(f"{what}: image not found ({_explanation(error)})") from None
        except docker.errors.NotFound as error:
            raise NotFoundInEngine(f"{what}: not found ({_explanation(error)})") from None
        except docker.errors.APIError as error:
            raise DockerOperationFailed(f"{what}: {_explanation(error)}") from None
        except requests.exceptions.ReadTimeout as error:
            # Not a ConnectionError: without this it escaped as a traceback (an OSError).
            raise DockerOperationFailed(f"{what}: the engine timed out ({error})") from None
        except (
            requests.exceptions.ConnectionError,
            docker.errors.DockerException,
            ConnectionError,
            FileNotFoundError,
        ):
            raise DockerUnavailable(
                f"Docker engine not reachable at {docker_host()}",
                hint="start Docker Desktop or dockerd, or point DOCKER_HOST at a running engine",
            ) from None
        except requests.exceptions.RequestException as error:
            # A stream that broke half-way (ChunkedEncodingError, ...): also an OSError, which
            # would otherwise reach the CLI as a traceback.
            raise DockerOperationFailed(f"{what}: {error}") from None

    def ping(self) -> None:
        """Raise DockerUnavailable unless the engine answers."""
        with self._translate("ping"):
            self._api.ping()

    def stopped_answering(self, window: float | None = None) -> DockerUnavailable | None:
        """Ping for ``window`` seconds after an engine error: the failure if it goes silent.

        A dockerd that is shutting down can answer its last requests with errors of its own
        (seen: "error creating overlay mount ... invalid argument" for a start while it unmounted
        its layers). Such an error is the engine going away (exit 4), not the operation's
        fault; an engine that keeps answering meant its error.
        """
        deadline = time.monotonic() + (ENGINE_GONE_WINDOW if window is None else window)
        while True:
            try:
                self._ping_within(PING_TIMEOUT)
            except DockerUnavailable as gone:
                return gone
            except DockerOperationFailed:
                pass  # no answer in time (a remote engine out of reach, a busy one): undecided
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.25)

    def _ping_within(self, timeout: float) -> None:
        """A ping that waits at most ``timeout`` seconds for the answer (the client's own
        timeout is minutes long: right for a commit, not for asking whether anyone is there)."""
        with self._translate("ping"):
            api = self._api
            api._raise_for_status(api._get(api._url("/_ping"), timeout=timeout))

    def info(self) -> dict[str, Any]:
        """The engine's own description (`docker info`): version, storage driver, CPUs, root."""
        with self._translate("info"):
            return dict(self._api.info())

    def platform(self) -> str:
        """The engine's native platform, e.g. ``linux/amd64``."""
        with self._translate("version"):
            version = self._api.version()
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(version["Arch"], version["Arch"])
        return f"{version['Os']}/{arch}"

    # -- images ----------------------------------------------------------------------------

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
        with self._translate("list images"):
            summaries = self._api.images(filters=_label_filters(labels))
        found = []
        for summary in summaries:
            info = self.inspect_image(summary["Id"])
            if info is not None:
                found.append(info)
        return found

    def pull(self, ref: str, on_progress: PullProgress | None = None) -> ImageInfo:
        """Pull ``ref``, reporting the engine's per-layer progress messages."""
        repository, tag = _split_ref(ref)
        with self._translate(f"pull {ref}"):
            for message in self._api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in message:
                    raise DockerOperationFailed(f"pull {ref}: {message['error']}")
                if on_progress is not None:
                    on_progress(message)
        info = self.inspect_image(ref)
        if info is None:
            raise ImageNotFound(f"pull {ref}: the engine reported success but has no such image")
        return info

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

    def containers_of_image(self, image_id: str) -> list[str]:
        """Ids of every container (any state) created from ``image_id``."""
        with self._translate("list containers"):
            summaries = self._api.containers(all=True)
        return [str(s["Id"]) for s in summaries if s.get("ImageID") == image_id]

    # -- containers ------------------------------------------------------------------------

    def create_container(self, spec: ContainerSpec) -> str:
        """Create (not start) a container and return its id."""
        api = self._api
        with self._translate(f"create container from {spec.image}"):
            host_config = api.create_host_config(
                # 127.0.0.1 by default: a test database must not be reachable from the network.
                port_bindings={port: (spec.publish_address, None) for port in spec.ports},
                binds={
                    str(m.source): {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                    for m in spec.mounts
                },
            )
            created = api.create_container(
                spec.image,
                command=list(spec.command) if spec.command is not None else None,
                hostname=spec.hostname,
                user=spec.user,
                name=spec.name,
                labels=dict(spec.labels),
                environment=dict(spec.environment),
                ports=list(spec.ports),
                host_config=host_config,
                platform=spec.platform,
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            )
        return str(created["Id"])

    def start(self, container_id: str) -> None:
        """Start a created or stopped container."""
        with self._translate(f"start container {container_id[:12]}"):
            self._api.start(container_id)

    def stop(self, container_id: str, timeout: float = 60) -> None:
        """Send SIGTERM, wait up to ``timeout`` seconds, then SIGKILL (docker stop semantics)."""
        with self._translate(f"stop container {container_id[:12]}"):
            self._api.stop(container_id, timeout=int(timeout))

    def rename(self, current_name: str, new_name: str) -> None:
        """Rename a container found by its CURRENT NAME; NotFoundInEngine if no container has it.

        The engine serialises renames, so of several processes renaming one name exactly one
        succeeds: the others find the name gone. That makes it a claim without a lock file.
        """
        with self._translate(f"rename container {current_name}"):
            self._api.rename(current_name, new_name)

    def kill(self, container_id: str, signal: str = "SIGKILL") -> None:
        """Send a signal to the container's main process."""
        with self._translate(f"kill container {container_id[:12]}"):
            self._api.kill(container_id, signal=signal)

    def remove_container(self, container_id: str) -> None:
        """Force-remove a container (and its anonymous volumes); a missing one is not an error."""
        try:
            with self._translate(f"remove container {container_id[:12]}"):
                self._api.remove_container(container_id, force=True, v=True)
        except NotFoundInEngine:
            return
        except DockerOperationFailed as error:
            if "already in progress" in str(error).lower():
                return
            raise

    def wait(self, container_id: str, timeout: float | None = None) -> int:
        """Wait for the container to exit and return its exit code."""
        with self._translate(f"wait for container {container_id[:12]}"):
            result = self._api.wait(container_id, timeout=timeout)
        return int(result.get("StatusCode", -1))

    def logs(self, container_id: str, tail: int | None = None, since: float | None = None) -> str:
        """Return the container's log (stdout+stderr) as text, optionally only the last lines."""
        kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "tail": tail or "all"}
        if since is not None:
            kwargs["since"] = since
        with self._translate(f"logs of container {container_id[:12]}"):
            raw = self._api.logs(container_id, **kwargs)
        return bytes(raw).decode("utf-8", errors="replace")

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        """Return the container's state, or None when it does not exist."""
        try:
            with self._translate(f"inspect container {container_id[:12]}"):
                data = self._api.inspect_container(container_id)
        except NotFoundInEngine:
            return None
        return _container_info(data)

    def image_ids_in_use(self) -> set[str]:
        """Ids of the images every container on the engine (any state, any owner) was made from."""
        with self._translate("list containers"):
            summaries = self._api.containers(all=True)
        return {str(summary.get("ImageID", "")) for summary in summaries}

    def containers_by_label(self, labels: Mapping[str, str | None]) -> list[ContainerInfo]:
        """All containers (running or not) carrying every label (value None = any value)."""
        with self._translate("list containers"):
            summaries = self._api.containers(all=True, filters=_label_filters(labels))
        found = []
        for summary in summaries:
            info = self.inspect_container(summary["Id"])
            if info is not None:
                found.append(info)
        return found

    def exec(
        self,
        container_id: str,
        command: Sequence[str],
        *,
        user: str = "",
        environment: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        workdir: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run a command in a running container, optionally feeding ``stdin``, and collect output.

        Values reach the command through ``environment`` (exec-only: unlike the container's own
        environment, it is not recorded by ``docker commit``).
        """
        api = self._api
        with self._translate(f"exec in container {container_id[:12]}"):
            exec_id = api.exec_create(
                container_id,
                list(command),
                stdin=stdin is not None,
                user=user,
                environment=dict(environment or {}),
                workdir=workdir,
            )["Id"]
            if stdin is None and timeout is None:
                output = bytes(api.exec_start(exec_id, demux=False) or b"")
            else:
                output = self._exec_over_socket(exec_id, stdin or b"", timeout)
            exit_code = self._exec_exit_code(exec_id)
        return ExecResult(exit_code, output.decode("utf-8", errors="replace"))

    def _exec_over_socket(self, exec_id: str, stdin: bytes, timeout: float | None) -> bytes:
        """Attach to an exec, write stdin, half-close it (EOF), and read multiplexed frames."""
        from docker.utils.socket import frames_iter

        sock = self._api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)  # the SDK wraps the socket in a SocketIO on unix
        try:
            raw.settimeout(timeout)
            if stdin:
                raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)  # EOF: `iris session` reads until the end of stdin
            chunks = [data for _stream, data in frames_iter(sock, tty=False)]
        except TimeoutError:
            raise DockerOperationFailed(
                f"exec {exec_id[:12]} did not finish within {timeout:.0f} s"
            ) from None
        finally:
            sock.close()
            # Closing the SDK's SocketIO wrapper leaves the socket itself open (ResourceWarning,
            # and one leaked file descriptor per exec over a long build).
            if raw is not sock:
                raw.close()
        return b"".join(chunks)

    def _exec_exit_code(self, exec_id: str) -> int:
        # The socket can close a moment before the engine records the exit code.
        for _ in range(200):
            state = self._api.exec_inspect(exec_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(0.05)
        raise DockerOperationFailed(f"exec {exec_id[:12]}: no exit code reported")

    def copy_in(
        self,
        container_id: str,
        destination: str,
        files: Sequence[FileToCopy],
        *,
        uid: int,
        gid: int,
        file_mode: int | None = None,
        create: bool = True,
        digests: dict[str, str] | None = None,
    ) -> int:
        """Copy host files/directories into ``destination``, owned by uid:gid; return bytes sent.

        With ``digests``, each regular file in ``files`` is hashed while it streams into the
        archive and ``digests[name]`` gets its ``sha256:<hex>``: what was sent, not what the file
        holds by now (a caller compares it with the hash its cache key used).

        With ``create`` the parent of ``destination`` must exist and ``destination`` is created
        owned by uid:gid; without it ``destination`` must exist and keeps its owner and mode.

        The engine keeps the ownership written in the tar headers, so files arrive owned by the
        given user (IRIS can only open an IRIS.DAT owned by irisowner, UID 51773).
        """
        # The tar is made as the engine reads it (chunked upload): a multi-gigabyte IRIS.DAT is
        # read once and never spooled to disk. Made in this thread, in large pieces: the engine
        # extracts as fast as the pieces come, and a tarfile writer on a thread behind a pipe
        # made 1 GiB take 1.5x as long (benchmarks/fixture_bench.py, restore).
        failure: list[BaseException] = []
        tar = _TarPieces((uid, gid), file_mode, digests)
        root = PurePosixPath(PurePosixPath(destination).name if create else "")
        finished: list[bool] = []

        def chunks() -> Iterator[bytes]:
            try:
                yield from _coalesced(tar.archive(root, files))
            except GeneratorExit:  # closed unfinished: the engine stopped reading (a refusal)
                raise
            except BaseException as error:  # the HTTP client may wrap it: raised again below
                failure.append(error)
                raise
            finished.append(True)

        parent = str(PurePosixPath(destination).parent) if create else destination
        try:
            with self._translate(f"copy files into container {container_id[:12]}"):
                ok = self._api.put_archive(container_id, parent, chunks())
        except BaseException:
            if failure:
                raise failure[0] from None
            raise
        if failure:
            raise failure[0]
        if not ok or not finished:
            raise DockerOperationFailed(f"copy into {destination} was refused by the engine")
        return tar.total

    def read_file(self, container_id: str, path: str) -> bytes:
        """Return the content of one regular file in a (running or stopped) container."""
        with self._translate(f"copy {path} out of container {container_id[:12]}"):
            stream, _stat = self._api.get_archive(container_id, path)
            buffer = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buffer) as archive:
            member = archive.next()
            extracted = archive.extractfile(member) if member is not None else None
            if extracted is None:
                raise DockerOperationFailed(f"{path} in container {container_id[:12]} is no file")
            return extracted.read()

    def copy_out(
        self,
        container_id: str,
        path: str,
        destination: Path,
        *,
        names: Sequence[str] | None = None,
        rename: Mapping[str, str] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> dict[str, tuple[int, str]]:
        """Stream the regular files of ``path`` (a file or folder) in a container into the host
        folder ``destination``, hashing while they stream; return {relative name: (size,
        "sha256:<hex>")}. Nothing is held in memory or spooled: the engine's tar stream is read
        once. Only regular files are written (links, devices are skipped) and a member name that
        would leave ``destination`` is refused. ``names`` limits it to those relative names;
        ``rename`` writes a file under another name (a temporary one, renamed when complete).
        """
        wanted = set(names) if names is not None else None
        found: dict[str, tuple[int, str]] = {}
        with (
            self._translate(f"copy {path} out of container {container_id[:12]}"),
            self._archive_response(container_id, path) as response,
        ):
            chunks = response.iter_content(chunk_size=_CHUNK, decode_unicode=False)
            reader = io.BufferedReader(_ChunkReader(chunks), _CHUNK)
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                for member in archive:
                    relative = _member_name(member.name)
                    if not member.isfile() or relative is None:
                        continue
                    if wanted is not None and relative not in wanted:
                        continue
                    target = destination / (rename or {}).get(relative, relative)
                    source = archive.extractfile(member)
                    assert source is not None
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        out = target.open("wb")
                    except OSError as error:
                        raise _output_error(target, error) from None
                    with out:
                        digest = _hash_and_write_behind(source, out, on_bytes, target=target)
                    found[relative] = (member.size, "sha256:" + digest)
        return found

    @contextlib.contextmanager
    def _archive_response(self, container_id: str, path: str) -> Iterator[Any]:
        """The engine's streamed archive of ``path``, closed when the block ends, also on an
        error or Ctrl-C: while the response is open the engine holds the container (an exec
        into it waits), so an interrupted copy must hang up before anything else runs there.
        The SDK's get_archive returns only a generator over it, which cannot close the socket."""
        api: Any = self._api
        response = api._get(
            api._url("/containers/{0}/archive", container_id),
            params={"path": path},
            stream=True,
            headers={"Accept-Encoding": "identity"},
        )
        try:
            api._raise_for_status(response)
            yield response
        finally:
            response.close()

    def commit(
        self,
        container_id: str,
        *,
        labels: Mapping[str, str],
        changes: Sequence[str] = (),
        message: str = "",
    ) -> str:
        """Commit a container to a new UNTAGGED image and return its id (tag it when verified)."""
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
            # The SDK's commit with no read timeout: the engine answers once the layer is
            # written, which for tens of gigabytes of fixtures outlasts the client's 300 s (the
            # build would fail while the engine went on to make the image).
            response = api._post_json(
                api._url("/commit"), data={"Labels": dict(labels)}, params=params, timeout=None
            )
            result = api._result(response, json=True)
        return str(result["Id"])


def _label_filters(labels: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Engine filters matching every label (value None = the label with any value)."""
    return {"label": [k if v is None else f"{k}={v}" for k, v in labels.items()]}


def _explanation(error: Any) -> str:
    explanation = getattr(error, "explanation", None)
    return str(explanation or error)


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
        tags=tuple(data.get("RepoTags") or ()),
        repo_digests=tuple(data.get("RepoDigests") or ()),
        labels=dict(config.get("Labels") or {}),
        created=str(data.get("Created", "")),
        size=int(data.get("Size") or 0),
        os=str(data.get("Os", "")),
        architecture=str(data.get("Architecture", "")),
        env=tuple(config.get("Env") or ()),
        cmd=tuple(config["Cmd"]) if config.get("Cmd") else None,
        entrypoint=tuple(config["Entrypoint"]) if config.get("Entrypoint") else None,
        user=str(config.get("User") or ""),
    )


def _container_info(data: Mapping[str, Any]) -> ContainerInfo:
    state = data.get("State") or {}
    config = data.get("Config") or {}
    ports: dict[int, int] = {}
    for key, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings and key.endswith("/tcp"):
            ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
    health = (state.get("Health") or {}).get("Status")
    return ContainerInfo(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        status=str(state.get("Status", "")),
        running=bool(state.get("Running")),
        exit_code=state.get("ExitCode") if not state.get("Running") else None,
        labels=dict(config.get("Labels") or {}),
        ports=ports,
        health=health,
        env=tuple(config.get("Env") or ()),
    )


def _output_error(target: Path, error: OSError) -> OutputFolderError:
    """A failed write on the host side of a copy out. Told apart from the engine's side: a
    missing folder (FileNotFoundError) would otherwise read as a missing engine socket, and a
    full disk ended in a traceback."""
    return OutputFolderError(
        f"cannot write {target}: {error.strerror or error}",
        hint="free space there, make it writable, or name another folder",
    )


def _hash_and_write_behind(
    source: IO[bytes],
    out: IO[bytes],
    on_bytes: Callable[[int], None] | None,
    *,
    target: Path,
) -> str:
    """Copy ``source`` to ``out`` and return its sha256 hex digest, hashing and writing each
    chunk on a second thread while this one reads the next off the engine's stream: sha256 and
    the write release the GIL, so a 1 GiB fixture costs about the longer of the two, not the
    sum (benchmarks/fixture_bench.py: fixture create vs docker cp out)."""
    digest = hashlib.sha256()
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_WRITE_BEHIND_CHUNKS)
    failure: list[BaseException] = []

    def write() -> None:
        while (chunk := chunks.get()) is not None:
            if failure:
                continue  # drain: the reader stops at its next put
            try:
                digest.update(chunk)
                out.write(chunk)
            except BaseException as error:  # raised again in the reading thread
                failure.append(error)

    writer = threading.Thread(target=write, name="iris-envs-write-behind", daemon=True)
    writer.start()
    try:
        while not failure and (chunk := source.read(_CHUNK)):
            chunks.put(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    finally:
        chunks.put(None)  # also on an error or Ctrl-C here: the writer ends before `out` closes
        writer.join()
    if failure:
        if isinstance(failure[0], OSError):
            raise _output_error(target, failure[0]) from None
        raise failure[0]
    return digest.hexdigest()


def _coalesced(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pass large pieces on as they are and gather small ones (headers, small files) into one:
    each chunk of the upload costs a round of framing and a system call."""
    pending = bytearray()
    for piece in pieces:
        if len(piece) >= _UPLOAD_PIECE:
            if pending:
                yield bytes(pending)
                pending.clear()
            yield piece
            continue
        pending += piece
        if len(pending) >= _UPLOAD_PIECE:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class _TarPieces:
    """A tar of files, every entry owned by one uid:gid, made as pieces while it is sent.

    Entries are what ``TarFile.add`` would write (links stay links, directories recurse in
    sorted order), except that a regular file hashed into ``digests`` is always its content.
    """

    def __init__(
        self, owner: tuple[int, int], file_mode: int | None, digests: dict[str, str] | None
    ) -> None:
        self.uid, self.gid = owner
        self.file_mode = file_mode
        self.digests = digests
        self.total = 0  # content bytes sent
        self.made: set[PurePosixPath] = set()
        # Only for gettarinfo (stat to header, hard links recognised); nothing is written to it.
        self.scratch = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=tarfile.PAX_FORMAT)

    def archive(self, root: PurePosixPath, files: Sequence[FileToCopy]) -> Iterator[bytes]:
        """Every piece of the tar of ``files`` under ``root`` (relative), end blocks included."""
        yield from self._folders(root)
        for item in files:
            arcname = root / item.name
            yield from self._folders(arcname.parent)
            if self.digests is not None and item.source.is_file():
                yield from self._content(item.source, str(arcname), item.name)
            else:
                yield from self._entry(item.source, str(arcname))
        yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # end of archive

    def _header(self, info: tarfile.TarInfo) -> bytes:
        info.uid, info.gid, info.uname, info.gname = self.uid, self.gid, "", ""
        if self.file_mode is not None and info.isfile():
            info.mode = self.file_mode
        return info.tobuf(tarfile.PAX_FORMAT, self.scratch.encoding, self.scratch.errors)

    def _folders(self, relative: PurePosixPath) -> Iterator[bytes]:
        # Intermediate folders get owned entries too; otherwise the engine makes them root's.
        for part in [*reversed(relative.parents), relative]:
            if str(part) in ("", ".") or part in self.made:
                continue
            self.made.add(part)
            info = tarfile.TarInfo(str(part))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            yield self._header(info)

    def _entry(self, source: Path, arcname: str) -> Iterator[bytes]:
        info = self.scratch.gettarinfo(str(source), arcname=arcname)
        if info.isreg():
            yield from self._content(source, arcname, None)
            return
        yield self._header(info)
        if info.isdir():
            for child in sorted(entry.name for entry in source.iterdir()):
                yield from self._entry(source / child, f"{arcname}/{child}")

    def _content(self, source: Path, arcname: str, name: str | None) -> Iterator[bytes]:
        digest = hashlib.sha256()
        with source.open("rb", buffering=0) as handle:
            # fstat of the open file: the size in the header and the bytes sent belong together.
            info = self.scratch.gettarinfo(arcname=arcname, fileobj=handle)
            yield self._header(info)
            remaining = info.size
            while remaining:
                piece = handle.read(min(_UPLOAD_PIECE, remaining))
                if not piece:
                    raise DockerOperationFailed(
                        f"{source} changed while it was copied: it shrank below the "
                        f"{info.size:,} bytes it had"
                    )
                if self.digests is not None:
                    digest.update(piece)
                remaining -= len(piece)
                yield piece
        yield tarfile.NUL * (-info.size % tarfile.BLOCKSIZE)
        self.total += info.size
        if self.digests is not None and name is not None:
            self.digests[name] = "sha256:" + digest.hexdigest()


def interactive_exec_argv(container_id: str, command: Sequence[str], *, user: str) -> list[str]:
    """argv for an interactive TTY exec through the docker CLI.

    The SDK has no terminal handling (raw mode, resize, escape keys), so interactive sessions
    are the one place iris-envs hands over to the CLI; it honours the same DOCKER_HOST.
    """
    return ["docker", "exec", "-it", "-u", user, container_id, *command]


class _ChunkReader(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks (the engine's archive response)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _member_name(name: str) -> str | None:
    """A tar member's name without its first component (the folder get_archive was asked for;
    a lone file keeps its name); None when it would leave the destination."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or any(part in ("..", "") for part in parts):
        return None
    rest = parts[1:] if len(parts) > 1 else parts
    return "/".join(rest) if rest else None
