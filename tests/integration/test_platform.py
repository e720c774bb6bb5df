"""`platform` (issue 26, item 5) on the real engine: an image with no build for the engine's
architecture is named by `doctor`; `platform` reaches the key, `list`, the containers and
`status`."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import MakeProject, docker, run_cli, unique_env

pytestmark = pytest.mark.docker


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            entry = tarfile.TarInfo(name)
            entry.size, entry.mtime = len(data), 946684800
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def foreign_image(docker_engine_available: bool) -> Iterator[str]:
    """An image built for the architecture the engine is NOT (arm64 here, amd64 on an arm64
    engine), loaded from a hand-made `docker save` archive: what an amd64-only IRIS image is
    to an Apple Silicon Mac."""
    native = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    foreign = "amd64" if native == "arm64" else "arm64"
    layer = _tar({"hello.txt": b"built for another machine\n"})
    config = json.dumps(
        {
            "architecture": foreign,
            "os": "linux",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()],
            },
        }
    ).encode()
    ref = f"iris-envs-test/foreign-{foreign}:{uuid.uuid4().hex[:8]}"
    manifest = [{"Config": "config.json", "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]
    archive = _tar(
        {
            "config.json": config,
            "layer/layer.tar": layer,
            "manifest.json": json.dumps(manifest).encode(),
        }
    )
    subprocess.run(["docker", "load"], input=archive, capture_output=True, check=True)
    yield ref
    docker("rmi", "-f", ref, check=False)


def test_doctor_names_an_image_with_no_build_for_the_engines_architecture(
    make_project: MakeProject, foreign_image: str
) -> None:
    native = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    foreign = foreign_image.split("/foreign-")[1].split(":", maxsplit=1)[0]
    root = make_project(f'[env.app]\nimage = "{foreign_image}"\n')
    done = run_cli(["doctor", "--json"], root)
    check = {c["check"]: c for c in json.loads(done.stdout)}["architecture"]
    assert check["status"] == "warn", check
    assert check["detail"] == (
        f"the engine is linux/{native}; app: {foreign_image} has no linux/{native} build "
        f"(only linux/{foreign})"
    )
    assert f'set `platform = "linux/{foreign}"`' in check["fix"]
    # Asking for a platform the image is not either: build says so at once, exit 5.
    root = make_project(
        f'[env.app]\nimage = "{foreign_image}"\nplatform = "linux/{native}"\n', name="p2"
    )
    build = run_cli(["build"], root)
    assert build.returncode == int(ExitCode.BUILD_FAILED), build.stderr
    assert f"no linux/{native} build of {foreign_image} could be pulled (the engine has its " in (
        build.stderr
    )
    assert "Traceback" not in build.stderr


def test_platform_reaches_list_the_containers_and_status(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Callable[[str], str],
) -> None:
    native = docker("version", "--format", "{{.Server.Arch}}").stdout.strip()
    name = env_cleanup(unique_env("plat"))
    body = f'[env.{name}]\nimage = "{standin_images["2025.1"]}"\n'
    root = make_project(body + f'platform = "linux/{native}"\n')
    listed = json.loads(run_cli(["list", "--json"], root).stdout)
    assert [row["platform"] for row in listed] == [f"linux/{native}"]
    up = run_cli(["up", name], root, timeout=180)
    assert up.returncode == 0, up.stderr
    try:
        rows = [
            r for r in json.loads(run_cli(["status", "--json"], root).stdout) if r["env"] == name
        ]
        assert [(r["role"], r["platform"]) for r in rows] == [("up", f"linux/{native}")]
        table = run_cli(["status"], root).stdout
        assert "platform" in table.splitlines()[0] and f"linux/{native}" in table
    finally:
        run_cli(["down", name], root)
    # The key follows the platform: the same environment without it keys differently only if
    # the engine's platform differs, so compare with another platform's key instead.
    other = "arm64" if native == "amd64" else "amd64"
    key_native = run_cli(["key", name], root).stdout.strip()
    make_project(body + f'platform = "linux/{other}"\n')
    assert run_cli(["key", name], root).stdout.strip() != key_native
