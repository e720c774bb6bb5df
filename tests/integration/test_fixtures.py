"""Fixture folders on the real engine: the `dat` step restores one into a snapshot, a bad one is
refused before any container exists (issue 10 acceptance)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    container_events_since,
    docker,
    env_snapshot_refs,
    popen_cli,
    run_cli,
    unique_env,
)

pytestmark = pytest.mark.docker

VERSION = "2025.1"
# A real file of known bytes: 3 MiB + 5 of random data (not a multiple of the hash chunk).
DATA = os.urandom(3 * 1024 * 1024 + 5)


def fixture_files(
    folder: str, data: bytes = DATA, *, iris_version: str = "2024.1.0.262.0", **overrides: Any
) -> dict[str, str | bytes]:
    """The files of a fixture folder (for make_project): IRIS.DAT and its manifest."""
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "known bytes",
        "created_at": "2026-11-22T12:00:00Z",
        "iris_version": iris_version,
        "source_namespace": "USER",
        "source_database": "ORDERS",
        "files": [
            {
                "path": "IRIS.DAT",
                "size": len(data),
                "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
            }
        ],
        "tables": [],
        "features": {},
    }
    manifest.update(overrides)
    return {f"{folder}/IRIS.DAT": data, f"{folder}/manifest.json": json.dumps(manifest)}


def project(
    make_project: MakeProject,
    image: str,
    env: str,
    files: dict[str, str | bytes],
    step: str = '{ dat = "fixtures/orders" }',
) -> Path:
    return make_project(f'[env."{env}"]\nimage = "{image}"\nsetup = [{step}]\n', files, name=env)


def in_snapshot(env: str, script: str) -> str:
    """Run a shell script in a throw-away container of the environment's snapshot."""
    [image] = [ref for ref in env_snapshot_refs(env) if ref.endswith(":latest")]
    return docker("run", "--rm", "--entrypoint", "sh", image, "-c", script, timeout=120).stdout


def test_a_fixture_is_restored_into_the_snapshot_byte_for_byte_owned_by_irisowner(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Any,
) -> None:
    env = env_cleanup(unique_env("fx"))
    root = project(make_project, standin_images[VERSION], env, fixture_files("fixtures/orders"))
    assert run_cli(["fixture", "validate", "fixtures/orders"], root).returncode == 0
    built = run_cli(["build", "-e", env], root, timeout=300)
    assert built.returncode == 0, built.stderr
    out = in_snapshot(
        env,
        "stat -c '%u:%g %s' /usr/irissys/mgr/orders/IRIS.DAT; "
        "sha256sum /usr/irissys/mgr/orders/IRIS.DAT; "
        "ls /usr/irissys/mgr/orders; cat /usr/irissys/mgr/sessions/*.script",
    )
    assert f"51773:51773 {len(DATA)}" in out
    assert hashlib.sha256(DATA).hexdigest() in out
    # Only the manifest's files are copied (not manifest.json), then added, mounted and mapped
    # into the env's namespace (mount = "namespace" is the default).
    assert "manifest.json" not in out.split("sha256sum")[0]
    assert "##class(Config.Databases).Create(db,.p)" in out
    assert "##class(SYS.Database).MountDatabase(path)" in out
    assert '%PrepareClassQuery("%SYS.GlobalQuery","DirectoryList")' in out
    # Mapped into the env's namespace, whose own defaults are never repointed (issue 24).
    assert "Config.Namespaces).Modify" not in out
    # The manifest's checksum is the fixture's part of the key (no separate tree hash).
    key = run_cli(["explain", env], root)
    assert key.returncode == 0, key.stderr


def test_a_global_mapping_mount(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any
) -> None:
    env = env_cleanup(unique_env("fx"))
    root = project(
        make_project,
        standin_images[VERSION],
        env,
        fixture_files("fixtures/orders"),
        '{ dat = "fixtures/orders", mount = "globals:Orders*" }',
    )
    built = run_cli(["build", "-e", env], root, timeout=300)
    assert built.returncode == 0, built.stderr
    scripts = in_snapshot(env, "cat /usr/irissys/mgr/sessions/*.script")
    assert "##class(Config.MapGlobals).Create(ns,name,.m)" in scripts
    assert "Config.Namespaces).Modify" not in scripts


def test_one_flipped_byte_fails_validate_and_build_before_any_container(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any
) -> None:
    env = env_cleanup(unique_env("fx"))
    root = project(make_project, standin_images[VERSION], env, fixture_files("fixtures/orders"))
    flipped = bytearray(DATA)
    flipped[len(DATA) // 2] ^= 0x80
    (root / "fixtures/orders/IRIS.DAT").write_bytes(flipped)
    actual = "sha256:" + hashlib.sha256(bytes(flipped)).hexdigest()
    expected = "sha256:" + hashlib.sha256(DATA).hexdigest()

    checked = run_cli(["fixture", "validate", "fixtures/orders"], root)
    assert checked.returncode == int(ExitCode.CONFIG_ERROR)
    assert "IRIS.DAT" in checked.stderr and actual in checked.stderr
    assert expected in checked.stderr and "Traceback" not in checked.stderr

    since = time.time()
    built = run_cli(["build", "-e", env], root, timeout=300)
    assert built.returncode == int(ExitCode.CONFIG_ERROR), built.stderr
    assert "IRIS.DAT: checksum mismatch" in built.stderr
    assert actual in built.stderr and expected in built.stderr
    assert "Traceback" not in built.stderr
    assert container_events_since(env, since) == ""
    assert env_snapshot_refs(env) == []


@pytest.mark.parametrize(
    ("path", "why"),
    [("../x", "contains '..'"), ("/etc/passwd", "is absolute"), ("link.dat", "is a symlink")],
)
def test_hostile_manifests_are_refused_with_exit_2(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Any,
    path: str,
    why: str,
) -> None:
    env = env_cleanup(unique_env("fx"))
    files = fixture_files("fixtures/orders")
    manifest = json.loads(str(files["fixtures/orders/manifest.json"]))
    manifest["files"].append({"path": path, "size": 4, "sha256": "sha256:" + "0" * 64})
    files["fixtures/orders/manifest.json"] = json.dumps(manifest)
    files["outside.dat"] = b"four"
    root = project(make_project, standin_images[VERSION], env, files)
    if path == "link.dat":
        (root / "fixtures/orders/link.dat").symlink_to(root / "outside.dat")
    since = time.time()
    for args in (["fixture", "validate", "fixtures/orders"], ["build", "-e", env]):
        done = run_cli(args, root, timeout=300)
        assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
        assert why in done.stderr and "Traceback" not in done.stderr
    assert container_events_since(env, since) == ""


def test_a_fixture_from_a_newer_iris_is_refused(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any
) -> None:
    env = env_cleanup(unique_env("fx"))
    files = fixture_files("fixtures/orders", iris_version="2099.1.0.1.0")
    root = project(make_project, standin_images[VERSION], env, files)
    built = run_cli(["build", "-e", env], root, timeout=300)
    assert built.returncode == int(ExitCode.BUILD_FAILED), built.stderr
    assert "made by IRIS 2099.1.0.1.0, newer than this image's IRIS" in built.stderr
    assert "Traceback" not in built.stderr
    assert env_snapshot_refs(env) == []


def refused_forces(create: list[str], fixture: Path, root: Path) -> None:
    """`--force` (issue 22 item 4): a fixture folder with a planted link, and a folder whose
    manifest.json is a web app's, are refused with exit 2; nothing in or outside them changes."""
    victim = root / "victim.txt"
    victim.write_text("precious")
    planted = fixture / ".IRIS.DAT.partial"
    planted.symlink_to(victim)
    webapp = root / "webapp"
    webapp.mkdir()
    (webapp / "manifest.json").write_text('{"name": "My PWA"}')
    try:
        for folder, why in ((fixture, "symbolic links"), (webapp, "is not a fixture folder")):
            at = [*create[: create.index("-o")], "-o", str(folder), "--force"]
            done = run_cli(at, root, timeout=120)
            assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
            assert why in done.stderr and "Traceback" not in done.stderr
        assert victim.read_text() == "precious"
        assert (webapp / "manifest.json").read_text() == '{"name": "My PWA"}'
    finally:
        planted.unlink()


def test_round_trip_create_validate_restore(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any
) -> None:
    # Env A holds database ORDERS of known bytes; `fixture create` copies it out of A's `up`
    # container into project B; env B restores it; B's snapshot holds the same bytes, owned by
    # 51773.
    source, target = env_cleanup(unique_env("fxa")), env_cleanup(unique_env("fxb"))
    image = standin_images[VERSION]
    root = make_project(
        f'[env."{source}"]\nimage = "{image}"\nsetup = [{{ dat = "fixtures/orders" }}]\n',
        fixture_files("fixtures/orders"),
        name="source",
    )
    other = make_project(
        f'[env."{target}"]\nimage = "{image}"\nsetup = [{{ dat = "made/orders" }}]\n',
        name="target",
    )
    out_dir = other / "made" / "orders"
    up = run_cli(["up", source], root, timeout=300)
    assert up.returncode == 0, up.stderr
    create = ["fixture", "create", "--env", source, "--database", "ORDERS", "-o", str(out_dir)]
    try:
        made = run_cli([*create, "--description", "round trip"], root, timeout=300)
        assert made.returncode == 0, made.stderr
        assert "copied" in made.stderr  # byte progress
        # A non-empty folder is refused without --force, overwritten with it.
        again = run_cli(create, root, timeout=300)
        assert again.returncode == int(ExitCode.CONFIG_ERROR)
        assert "is not empty" in again.stderr and "--force" in again.stderr
        forced = run_cli([*create, "--force", "--method", "freeze"], root, timeout=300)
        assert forced.returncode == 0, forced.stderr
        refused_forces(create, out_dir, root)
        # The instance's own databases are never dismounted for a copy.
        system = run_cli(
            ["fixture", "create", "--env", source, "--namespace", "%SYS", "-o", str(other / "s")],
            root,
        )
        assert system.returncode == int(ExitCode.CONFIG_ERROR), system.stderr
        assert "IRISSYS is one of the instance's own databases" in system.stderr
        scripts = docker(
            "exec",
            up_container(source, root),
            "sh",
            "-c",
            "cat /usr/irissys/mgr/sessions/*.script",
            check=False,
        ).stdout
        dismounted_now = dismounted(up_container(source, root))
    finally:
        run_cli(["down", source], root, timeout=120)
    # The database was dismounted and mounted again around the first copy, frozen and thawed
    # around the second.
    assert "DismountDatabase(path)" in scripts and "ExternalThaw()" in scripts
    assert dismounted_now == "", dismounted_now
    assert (out_dir / "IRIS.DAT").read_bytes() == DATA
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert manifest["source_database"] == "ORDERS"
    assert manifest["iris_version"].startswith("2025.1")
    assert sorted(p.name for p in out_dir.iterdir()) == ["IRIS.DAT", "manifest.json"]
    assert run_cli(["fixture", "validate", str(out_dir)], root).returncode == 0
    built = run_cli(["build", "-e", target], other, timeout=300)
    assert built.returncode == 0, built.stderr
    out = in_snapshot(
        target,
        "stat -c '%u:%g %s' /usr/irissys/mgr/orders/IRIS.DAT; "
        "sha256sum /usr/irissys/mgr/orders/IRIS.DAT",
    )
    assert f"51773:51773 {len(DATA)}" in out
    assert hashlib.sha256(DATA).hexdigest() in out


def dismounted(container: str) -> str:
    """The database directories the stand-in has dismounted now (one per line)."""
    return docker(
        "exec",
        container,
        "sh",
        "-c",
        "cat /usr/irissys/mgr/.standin/mount/* 2>/dev/null | sed -n 's/^dismounted //p'",
        check=False,
    ).stdout.strip()


def test_ctrl_c_during_create_mounts_the_database_again_and_leaves_no_fixture(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any
) -> None:
    env = env_cleanup(unique_env("fxc"))
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\n'
        'setup = [{ dat = "data/orders" }]\n',
        {"data/orders/IRIS.DAT": b""},
    )
    # 768 MiB (sparse on the host): long enough to catch the copy in the act.
    os.truncate(root / "data" / "orders" / "IRIS.DAT", 768 * 1024 * 1024)
    up = run_cli(["up", env], root, timeout=300)
    assert up.returncode == 0, up.stderr
    out_dir = root / "made"
    with contextlib.ExitStack() as stack:
        stack.callback(run_cli, ["down", env], root, timeout=120)
        container = up_container(env, root)
        process = popen_cli(
            ["fixture", "create", "--env", env, "--database", "ORDERS", "-o", str(out_dir)], root
        )
        stack.callback(stop, process)

        def partial() -> bool:  # the copy under way, in its private staging folder
            return any(out_dir.glob(".iris-envs-create-*/IRIS.DAT"))

        deadline = time.monotonic() + 120
        while not partial() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert partial(), process.communicate()
        process.send_signal(signal.SIGINT)  # mid-copy (the engine holds the container then)
        # The mount-again must not wait behind the engine's half-read archive: it is hung up.
        _out, err = process.communicate(timeout=60)
        after = dismounted(container)
        scripts = docker(
            "exec", container, "sh", "-c", "cat /usr/irissys/mgr/sessions/*.script"
        ).stdout
    # Dismounted before the copy, mounted again after the interrupt.
    assert scripts.index("DismountDatabase(path)") < scripts.rindex("MountDatabase(path)")
    assert process.returncode == int(ExitCode.INTERRUPTED), err
    assert "Traceback" not in err, err
    assert after == "", f"left dismounted: {after}"
    # Nothing of the attempt is left, not even the folder it created (issue 23, item 5).
    assert not out_dir.exists(), list(out_dir.iterdir())


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_create_into_a_full_or_read_only_folder_is_exit_2_and_mounts_the_database_again(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Any,
    tiny_tmpfs: Path,
    fault: str,
) -> None:
    env = env_cleanup(unique_env("fxf"))
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\n'
        'setup = [{ dat = "data/orders" }]\n',
        {"data/orders/IRIS.DAT": os.urandom(4 * 1024 * 1024)},  # 4 MiB into 64 KiB
    )
    out_dir = tiny_tmpfs / "made"
    out_dir.mkdir()
    if fault == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    up = run_cli(["up", env], root, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        container = up_container(env, root)
        done = run_cli(
            ["fixture", "create", "--env", env, "--database", "ORDERS", "-o", str(out_dir)], root
        )
        after = dismounted(container)
    finally:
        run_cli(["down", env], root, timeout=120)
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert "Traceback" not in done.stderr
    reason = "No space left on device" if fault == "full" else "Read-only file system"
    assert f"cannot write {out_dir}" in done.stderr and reason in done.stderr, done.stderr
    assert "name another folder" in done.stderr
    assert after == "", f"left dismounted: {after}"
    assert list(out_dir.iterdir()) == []  # no partial file, no manifest


def stop(process: subprocess.Popen[str]) -> None:
    """Kill a CLI process a failed test left running, and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def up_container(env: str, root: Path) -> str:
    from iris_envs.config.load import load_project
    from iris_envs.instance.containers import up_container_name

    return up_container_name(load_project(root / "iris-envs.toml").envs[env])


def test_create_usage_errors_name_the_problem(
    make_project: MakeProject, standin_images: dict[str, str], env_cleanup: Any, tmp_path: Path
) -> None:
    env = env_cleanup(unique_env("fx"))
    root = make_project(f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\n', name=env)
    out = str(tmp_path / "out")
    cases = [
        (["--env", env], int(ExitCode.SELECTION_ERROR), "has no running `up` container"),
        (["--container", "iris-envs-no-such-container", "--database", "X"], 2, "does not exist"),
        (["--env", "nope"], int(ExitCode.SELECTION_ERROR), "nope"),
    ]
    for extra, code, text in cases:
        done = run_cli(["fixture", "create", *extra, "-o", out], root)
        assert done.returncode == code, done.stderr
        assert text in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()
