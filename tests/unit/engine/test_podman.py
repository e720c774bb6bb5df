"""Where Podman's Docker-compatible API answers differently from dockerd: the adapter hides it."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.client import engine_is_podman, familiar_ref
from iris_envs.engine.images import podman_label_changes
from iris_envs.errors import DockerOperationFailed

# The Components of /version as each engine answers it (read here from dockerd 20.10.24 and
# from `podman system service` 4.3.1).
DOCKER_VERSION = {
    "Version": "20.10.24+dfsg1",
    "Components": [{"Name": "Engine"}, {"Name": "containerd"}, {"Name": "runc"}],
    "Os": "linux",
    "Arch": "amd64",
}
PODMAN_VERSION = {
    "Version": "4.3.1",
    "Components": [{"Name": "Podman Engine"}, {"Name": "Conmon"}, {"Name": "OCI Runtime (runc)"}],
    "Os": "linux",
    "Arch": "amd64",
}
SNAPSHOT_LABELS = {
    "org.iris-envs.key": "ab12",
    "org.iris-envs.inputs": json.dumps({"setup": ['Write "hi"'], "ns": "USER"}),
    "org.iris-envs.owner-pid": "",  # blanked: the build container's own must not survive
    "org.example.spaced": " edge spaces ",
    "org.example.quoted": '"already quoted"',
}


def podman_parses_label(change: str) -> tuple[str, str]:
    """Podman 4.3's reading of one ``LABEL`` change, step for step (pkg/util/utils.go,
    GetImageConfig: split at the first space, TrimSpace, split at the first "=", one pair of
    surrounding double quotes removed from key and value, no unescaping)."""
    instruction, value = change.split(" ", 1)
    assert instruction.upper() == "LABEL"
    key, val = value.strip().split("=", 1)
    if key.startswith('"') and key.endswith('"'):
        key = key.removeprefix('"').removesuffix('"')
    if val.startswith('"') and val.endswith('"'):
        val = val.removeprefix('"').removesuffix('"')
    return key, val


class FakeApi:
    """The low-level SDK calls the adapter's commit and inspect make, as one engine answers."""

    def __init__(self, version: dict[str, Any], commit_id: str = "sha256:" + "c" * 64) -> None:
        self.answer = version
        self.commit_id = commit_id
        self.posted: list[dict[str, Any]] = []
        self.version_calls = 0
        self.image: dict[str, Any] = {}
        self.container: dict[str, Any] = {}

    def version(self) -> dict[str, Any]:
        self.version_calls += 1
        return self.answer

    def _url(self, path: str) -> str:
        return path

    def _post_json(self, url: str, data: Any, **kwargs: Any) -> str:
        self.posted.append({"url": url, "data": data, **kwargs})
        return "response"

    def _result(self, response: Any, json: bool) -> dict[str, str]:
        return {"Id": self.commit_id}

    def inspect_image(self, ref: str) -> dict[str, Any]:
        return self.image

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        return self.container


def engine_over(api: FakeApi) -> DockerEngine:
    return DockerEngine(client_factory=lambda: types.SimpleNamespace(api=api))


def test_podman_is_told_apart_from_dockerd_by_its_version_answer() -> None:
    assert engine_is_podman(PODMAN_VERSION)
    assert not engine_is_podman(DOCKER_VERSION)
    assert not engine_is_podman({})  # an engine that names no components is taken for dockerd
    api = FakeApi(PODMAN_VERSION)
    engine = engine_over(api)
    assert engine.is_podman() and engine.is_podman()
    assert api.version_calls == 1  # asked once per engine object


def test_on_podman_the_commit_carries_the_labels_as_label_changes() -> None:
    # Podman's /commit drops the body's Labels: the snapshot had no key label and every
    # lookup missed. On Podman they travel as LABEL changes too, and arrive exactly.
    api = FakeApi(PODMAN_VERSION)
    engine_over(api).commit("c1", labels=SNAPSHOT_LABELS, changes=["USER 51773"], message="m")
    [sent] = api.posted
    changes = sent["params"]["changes"]
    assert changes[0] == "USER 51773"  # the caller's own changes first, unchanged
    assert dict(podman_parses_label(change) for change in changes[1:]) == SNAPSHOT_LABELS


def test_on_dockerd_the_labels_stay_in_the_body_and_no_label_change_is_sent() -> None:
    # dockerd reads LABEL changes as a Dockerfile does (quotes removed, escapes processed): a
    # JSON value would be mangled there, so it keeps getting the labels in the body only.
    api = FakeApi(DOCKER_VERSION)
    engine_over(api).commit("c1", labels=SNAPSHOT_LABELS, changes=["USER 51773"])
    [sent] = api.posted
    assert sent["params"]["changes"] == ["USER 51773"]
    assert sent["data"] == {"Labels": SNAPSHOT_LABELS}


@pytest.mark.parametrize(
    ("key", "value"),
    [("org.example.note", "two\nlines"), ("bad=key", "v"), (" edge", "v"), ("", "v")],
)
def test_a_label_podman_cannot_carry_is_a_clear_error_not_a_wrong_label(
    key: str, value: str
) -> None:
    # Podman splits every change at line breaks and a label at its first "=": such a label
    # would arrive cut short or under another name.
    with pytest.raises(DockerOperationFailed, match="Podman's commit cannot carry"):
        podman_label_changes({key: value})


def test_a_commit_id_is_spelt_as_dockerd_spells_it() -> None:
    # Podman answers the bare hex; inspect_image (on both) says "sha256:<hex>".
    bare = "0bcf76f20ee89f3f611d0843462f70653611da42cb0c346297e30235af2b2a46"
    assert engine_over(FakeApi(PODMAN_VERSION, commit_id=bare)).commit("c", labels={}) == (
        f"sha256:{bare}"
    )
    assert engine_over(FakeApi(DOCKER_VERSION, commit_id=f"sha256:{bare}")).commit(
        "c", labels={}
    ) == (f"sha256:{bare}")


def test_podmans_docker_io_names_are_reported_in_dockers_short_form() -> None:
    assert familiar_ref("docker.io/iris-envs/app:ab12") == "iris-envs/app:ab12"
    assert familiar_ref("docker.io/library/busybox:1") == "busybox:1"
    assert familiar_ref("ghcr.io/acme/iris:1") == "ghcr.io/acme/iris:1"
    assert familiar_ref("localhost:5000/iris-envs/app:k") == "localhost:5000/iris-envs/app:k"
    assert familiar_ref("iris-envs/app:ab12") == "iris-envs/app:ab12"  # dockerd's, unchanged

    api = FakeApi(PODMAN_VERSION)
    api.image = {
        "Id": "sha256:" + "a" * 64,
        "RepoTags": ["docker.io/iris-envs/app:ab12"],
        "RepoDigests": ["docker.io/iris-envs/app@sha256:" + "d" * 64],
        "Config": {"Labels": {"org.iris-envs.key": "ab12"}},
    }
    api.container = {
        "Id": "c" * 64,
        "Name": "/iris-envs-run-app",
        "Config": {"Image": "docker.io/iris-envs/app:ab12"},
        "State": {"Status": "running", "Running": True},
    }
    engine = engine_over(api)
    image = engine.inspect_image("iris-envs/app:ab12")
    assert image is not None
    assert image.tags == ("iris-envs/app:ab12",)
    assert image.repo_digests == ("iris-envs/app@sha256:" + "d" * 64,)
    container = engine.inspect_container("c")
    assert container is not None and container.image == "iris-envs/app:ab12"


def test_a_listing_cut_short_by_a_removal_elsewhere_is_asked_again() -> None:
    # Podman 4.3 fails GET /images/json when another process removes an image meanwhile.
    import docker.errors

    calls: list[int] = []

    def images(filters: object) -> list[dict[str, str]]:
        calls.append(1)
        if len(calls) < 3:
            raise docker.errors.APIError('500: image not known: "sha256:0f30"')
        return []

    api = FakeApi(PODMAN_VERSION)
    api.images = images  # type: ignore[attr-defined]
    assert engine_over(api).images_by_label({"org.iris-envs.env": "app"}) == []
    assert len(calls) == 3

    def refused(filters: object) -> list[dict[str, str]]:
        raise docker.errors.APIError("500: storage is full")

    api.images = refused  # type: ignore[attr-defined]
    with pytest.raises(DockerOperationFailed, match="storage is full"):
        engine_over(api).images_by_label({})
