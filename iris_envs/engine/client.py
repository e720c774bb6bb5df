"""The engine connection: a lazily created SDK client and the translation of its errors."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from iris_envs.engine.discovery import Endpoint, discover
from iris_envs.errors import (
    DockerOperationFailed,
    DockerUnavailable,
    ImageNotFound,
    IrisEnvsError,
    NotFoundInEngine,
)

# After an engine error, how long to check whether the engine is still there (see
# DockerEngine.stopped_answering); a genuine refusal (a full disk) is reported that much later.
ENGINE_GONE_WINDOW = 1.5


PING_TIMEOUT = 2.0


# How long the first request (the SDK asks the engine's API version when the client is made)
# may wait for an answer. An engine accepts connections at once; one that accepts and never
# answers (a hung dockerd, a wrong socket) made every command wait out the 300 s request
# timeout before exit 4 (issue 22, item 17). A busy engine still answers /version in
# milliseconds: it is served without the locks builds and commits hold.
FIRST_ANSWER_TIMEOUT = 10.0


def vanished_engine_error(engine: EngineClient, error: IrisEnvsError) -> IrisEnvsError:
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


UNREACHABLE_HINT = (
    "start Docker Desktop or dockerd (or Colima, Rancher Desktop, Podman), or point DOCKER_HOST "
    "(or `docker context use`) at a running engine; see docs/your-machine.md"
)


def sdk_client(endpoint: Endpoint, timeout: float) -> Any:
    """A docker SDK client for ``endpoint``, its TLS files included.

    ``docker.from_env()`` is not used: docker-py 7.1 reads only DOCKER_HOST, so a Docker
    context or a socket found elsewhere would be ignored (docs/your-machine.md).
    """
    import docker
    from docker.tls import TLSConfig

    tls: Any = False
    if endpoint.tls is not None:
        files = endpoint.tls
        tls = TLSConfig(
            client_cert=(str(files.cert), str(files.key)) if files.cert and files.key else None,
            ca_cert=str(files.ca) if files.ca and files.verify else None,
            verify=files.verify,
        )
    client = docker.DockerClient(
        base_url=endpoint.host,
        tls=tls,
        timeout=min(timeout, FIRST_ANSWER_TIMEOUT),
        # The ssh binary, as the docker CLI uses (and testcontainers): paramiko is not needed.
        use_ssh_client=endpoint.host.startswith("ssh://"),
    )
    client.api.timeout = timeout  # every later request: the caller's bound
    return client


def unreachable(endpoint: Endpoint, reason: str = "") -> DockerUnavailable:
    """Exit 4 naming the engine, why it was chosen, and every socket tried before it."""
    message = f"no Docker engine answers at {endpoint.describe()}"
    if reason:
        message += f": {reason}"
    if endpoint.tried:
        message += "; tried: " + "; ".join(endpoint.tried)
    return DockerUnavailable(message, hint=UNREACHABLE_HINT)


def label_filters(labels: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Engine filters matching every label (value None = the label with any value)."""
    return {"label": [k if v is None else f"{k}={v}" for k, v in labels.items()]}


def familiar_ref(ref: str) -> str:
    """``ref`` as dockerd spells it: without the ``docker.io/`` (and ``library/``) Podman adds.

    Podman's compat API normalises short names to Docker Hub ("iris-envs/app:k" is reported as
    "docker.io/iris-envs/app:k", docs/your-machine.md#podman); dockerd reports the short
    ("familiar") form, which is what every tag comparison in iris-envs expects.
    """
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def engine_is_podman(version: Mapping[str, Any]) -> bool:
    """Whether an engine's ``/version`` answer comes from Podman (its compat API)."""
    components = version.get("Components") or ()
    return any("podman" in str(c.get("Name", "")).lower() for c in components)


def _explanation(error: Any) -> str:
    explanation = getattr(error, "explanation", None)
    return str(explanation or error)


class EngineClient:
    """The engine connection and error translation under DockerEngine; creating one does no I/O."""

    def __init__(
        self,
        client_factory: Callable[[], Any] | None = None,
        *,
        timeout: float = 300,
        endpoint: Endpoint | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._timeout = timeout  # seconds per request (a commit of gigabytes takes minutes)
        self._endpoint = endpoint
        self._podman: bool | None = None  # asked on first need (is_podman)

    @property
    def endpoint(self) -> Endpoint:
        """The engine this client talks to, and why (found on first use: engine/discovery.py)."""
        if self._endpoint is None:
            self._endpoint = discover()
        return self._endpoint

    @property
    def _sdk(self) -> Any:
        if self._client is None:
            with self._translate():
                if self._client_factory is not None:
                    self._client = self._client_factory()
                else:
                    # deferred: `iris-envs --version` must not import the SDK
                    self._client = sdk_client(self.endpoint, self._timeout)
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
        except docker.errors.TLSParameterError as error:
            raise unreachable(self.endpoint, f"its TLS files do not fit: {error}") from None
        except (
            requests.exceptions.ConnectionError,
            docker.errors.DockerException,
            ConnectionError,
            FileNotFoundError,
        ) as error:
            # The SDK reports a first request that timed out as a DockerException.
            silent = "timed out" in str(error).lower()
            reason = f"it accepted the connection but sent no answer ({error})" if silent else ""
            raise unreachable(self.endpoint, reason) from None
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

    def is_podman(self) -> bool:
        """Whether the engine is Podman's Docker-compatible service (asked once, then kept).

        Podman's ``/version`` names itself in ``Components`` ("Podman Engine"); dockerd says
        "Engine". Only where the two behave differently (the commit's labels) does it matter.
        """
        if self._podman is None:
            with self._translate("version"):
                version = self._api.version()
            self._podman = engine_is_podman(version)
        return self._podman

    def platform(self) -> str:
        """The engine's native platform, e.g. ``linux/amd64``."""
        with self._translate("version"):
            version = self._api.version()
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(version["Arch"], version["Arch"])
        return f"{version['Os']}/{arch}"
