"""Container operations of the engine adapter: create, start, stop, rename, remove, inspect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iris_envs.engine.client import EngineClient, familiar_ref, label_filters
from iris_envs.engine.types import ContainerInfo, ContainerSpec
from iris_envs.errors import DockerOperationFailed, NotFoundInEngine


def _container_info(data: Mapping[str, Any]) -> ContainerInfo:
    state = data.get("State") or {}
    config = data.get("Config") or {}
    ports: dict[int, int] = {}
    for key, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if bindings and key.endswith("/tcp"):
            ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
    health = (state.get("Health") or {}).get("Status")
    networks = (data.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerInfo(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        image=familiar_ref(str(config.get("Image", ""))),
        status=str(state.get("Status", "")),
        running=bool(state.get("Running")),
        exit_code=state.get("ExitCode") if not state.get("Running") else None,
        labels=dict(config.get("Labels") or {}),
        ports=ports,
        health=health,
        env=tuple(config.get("Env") or ()),
        image_id=str(data.get("Image", "")),
        networks={name: str(n.get("IPAddress") or "") for name, n in networks.items()},
        network_mode=str((data.get("HostConfig") or {}).get("NetworkMode", "")),
        created=str(data.get("Created", "")),
    )


class ContainerOps(EngineClient):
    """Container operations: create, start, stop, rename, remove, inspect, logs."""

    def containers_of_image(self, image_id: str) -> list[str]:
        """Ids of every container (any state) created from ``image_id``."""
        with self._translate("list containers"):
            summaries = self._api.containers(all=True)
        return [str(s["Id"]) for s in summaries if s.get("ImageID") == image_id]

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

        Not a claim on its own: the engine looks the old name up, then renames whatever name
        the container has by then, so two racing renames of one name can both succeed (issue
        22 item 8; run/spares.py makes the claim exclusive with a token container's name).
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

    def wait(self, container_id: str, timeout: float = 300) -> int:
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
            summaries = self._api.containers(all=True, filters=label_filters(labels))
        found = []
        for summary in summaries:
            info = self.inspect_container(summary["Id"])
            if info is not None:
                found.append(info)
        return found
