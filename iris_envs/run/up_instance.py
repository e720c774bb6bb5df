"""The long-lived `up` container of an environment: found again, and judged stale or current."""

from __future__ import annotations

from iris_envs import naming
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import ConfigError
from iris_envs.run.instance import Instance


def find_up_instance(engine: DockerEngine, spec: EnvSpec) -> Instance | None:
    """The running container ``iris-envs up`` started for this project's environment, if any."""
    for container in engine.containers_by_label(
        {
            naming.LABEL_ROLE: "up",
            naming.LABEL_ENV: spec.name,
            naming.LABEL_PROJECT: str(spec.project_root),
            naming.LABEL_MANAGED: "true",
        }
    ):
        if container.running:
            network = engine.join_client_network(container.id)  # in a container: engine/network
            joined = container
            if network is not None and network not in container.networks:
                joined = engine.inspect_container(container.id) or container
            return Instance(spec, joined, container.image, 0.0, network)
    return None


def stale_up_reason(instance: Instance, key: str) -> str:
    """Why an `up` container no longer matches the environment ('' when it does).

    Its snapshot's key label (inherited by the container) covers everything the snapshot holds,
    the test user's password hash included: a changed configuration, input file or regenerated
    password all change it.
    """
    running = instance.container.labels.get(naming.LABEL_KEY, "")
    if running == key:
        return ""
    return (
        f"the `up` container {instance.container.name} runs snapshot {running[:12] or '?'}, but "
        f"the environment's snapshot is now {key[:12]} (its configuration, an input file or the "
        "password changed), so its database and credentials no longer match"
    )


def refuse_stale_up(engine: DockerEngine, spec: EnvSpec, key: str) -> None:
    """``run --reuse``: raise ConfigError when the `up` container runs an older snapshot than
    ``key`` (checked before anything is built: the run would not use what it built)."""
    instance = find_up_instance(engine, spec)
    stale = stale_up_reason(instance, key) if instance is not None else ""
    if stale:
        raise ConfigError(
            stale,
            hint=f"restart it with `iris-envs up -e {spec.name}` (it is replaced), or run "
            "without --reuse",
        )
