"""`doctor` says when an image has no build for the engine's architecture (arm64 Macs and
amd64-only images), and when an environment's `platform` runs emulated (no Docker)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from iris_envs.build.snapshot import ensure_base_image
from iris_envs.cli.doctor_checks import PASS, WARN, check_architecture
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed
from iris_envs.progress import Reporter
from tests.unit import image

ARM_ENGINE = {"Architecture": "aarch64", "OSType": "linux"}
IMAGE = "intersystemsdc/iris-community:2025.1"


@dataclass
class Engine:
    """Local images by ref, and what the registry would say about each ref."""

    local: dict[str, ImageInfo] = field(default_factory=dict)
    registry: dict[str, list[str]] = field(default_factory=dict)
    pulled: list[tuple[str, str | None]] = field(default_factory=list)

    def inspect_image(self, ref: str) -> ImageInfo | None:
        return self.local.get(ref)

    def image_platforms(self, ref: str) -> list[str] | None:
        return self.registry.get(ref)

    def pull(self, ref: str, on_progress: object = None, *, platform: str | None = None) -> None:
        self.pulled.append((ref, platform))
        raise DockerOperationFailed(f"pull {ref}: no matching manifest for {platform}")


def project(**specs: EnvSpec) -> SimpleNamespace:
    return SimpleNamespace(envs=specs)


def amd64_image() -> ImageInfo:
    return image("sha256:a", (IMAGE,))  # tests.unit.image is linux/amd64


def test_an_amd64_only_image_on_an_arm64_engine_names_the_platform_setting() -> None:
    engine = Engine(local={IMAGE: amd64_image()})
    check = check_architecture(ARM_ENGINE, project(app=EnvSpec("app", image=IMAGE)), engine)
    assert check.status == WARN
    assert check.detail == (
        f"the engine is linux/arm64; app: {IMAGE} has no linux/arm64 build (only linux/amd64)"
    )
    assert 'platform = "linux/amd64"' in check.fix


def test_an_image_not_pulled_yet_is_checked_against_its_registry() -> None:
    engine = Engine(registry={IMAGE: ["linux/amd64"]})
    check = check_architecture(ARM_ENGINE, project(app=EnvSpec("app", image=IMAGE)), engine)
    assert check.status == WARN and "has no linux/arm64 build (only linux/amd64)" in check.detail
    both = Engine(registry={IMAGE: ["linux/amd64", "linux/arm64"]})
    assert check_architecture(ARM_ENGINE, project(a=EnvSpec("a", image=IMAGE)), both).status == (
        PASS
    )


def test_platform_amd64_runs_emulated_and_says_so() -> None:
    engine = Engine(local={IMAGE: amd64_image()})
    spec = EnvSpec("app", image=IMAGE, platform="linux/amd64")
    check = check_architecture(ARM_ENGINE, project(app=spec), engine)
    assert check.status == WARN
    assert check.detail == (
        "the engine is linux/arm64; these environments run emulated (slow): app (linux/amd64)"
    )


def test_native_images_and_unknown_ones_pass() -> None:
    engine = Engine(local={IMAGE: amd64_image()})
    amd = {"Architecture": "x86_64", "OSType": "linux"}
    check = check_architecture(amd, project(app=EnvSpec("app", image=IMAGE)), engine)
    assert check.status == PASS, check
    # Not pulled, and the registry cannot be asked (offline): nothing to say.
    assert check_architecture(ARM_ENGINE, project(app=EnvSpec("x", image="other:1")), engine) == (
        replace(check, detail="engine linux/arm64; every environment's image has a build")
    )


def test_a_platform_the_local_image_is_not_is_pulled_and_a_miss_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = Engine(local={IMAGE: amd64_image()})
    spec = EnvSpec("app", image=IMAGE, platform="linux/arm64", project_root=tmp_path)
    with pytest.raises(BuildFailed) as raised:
        ensure_base_image(engine, spec, Reporter("app"))  # type: ignore[arg-type]
    assert engine.pulled == [(IMAGE, "linux/arm64")]
    assert raised.value.message.startswith(
        f"environment app: no linux/arm64 build of {IMAGE} could be pulled (the engine has its "
        "linux/amd64 build)"
    )
    assert raised.value.hint and "remove `platform`" in raised.value.hint
    # The image the engine has is used as it is when it fits (a variant is not compared).
    fits = replace(spec, platform="linux/amd64/v2")
    assert ensure_base_image(engine, fits, Reporter("app")).image_id == "sha256:a"  # type: ignore[arg-type]
    capsys.readouterr()
