"""`cache export/import` and `cache prune` (issue 11) on the real engine."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from iris_envs.naming import LABEL_INPUTS, LABEL_KEY, shared_ref
from tests.integration.conftest import (
    MakeProject,
    cli_env,
    derived_image,
    docker,
    env_containers,
    env_snapshot_refs,
    image_labels,
    remove_env_artifacts,
    run_cli,
    snapshot_repo,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def env_project(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Path]:
    env = f"cc-{uuid.uuid4().hex[:8]}"
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw-cache"\n'
        'setup = [{ objectscript = "setup.script" }]\n',
        {"setup.script": 'Write "v1",!\n'},
        name=env,
    )
    yield root
    remove_env_artifacts(env)


def env_of(root: Path) -> str:
    return root.name


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


def repo_tags(env: str) -> list[str]:
    """The tags of the environment's snapshots, in any project or under the project-independent
    name (so a name left behind by export or import shows up twice)."""
    return sorted(ref.rsplit(":", 1)[1] for ref in env_snapshot_refs(env))


def test_export_import_round_trip_and_a_truncated_archive(
    env_project: Path, tmp_path: Path
) -> None:
    env = env_of(env_project)
    assert run_cli(["build", "-e", env], env_project, timeout=180).returncode == 0
    archive = tmp_path / "snapshot.tar.gz"
    exported = run_cli(["cache", "export", env, "-o", str(archive)], env_project, timeout=180)
    assert exported.returncode == 0, exported.stderr
    with gzip.open(archive) as handle:  # really a gzip'd docker save archive
        assert handle.read(512)
    tags = repo_tags(env)
    remove_env_artifacts(env)
    assert repo_tags(env) == []

    # A truncated archive fails cleanly and tags nothing.
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    broken = run_cli(["cache", "import", str(truncated)], env_project, timeout=180)
    assert broken.returncode == ExitCode.CONFIG_ERROR, broken.stderr  # as any file not an archive
    assert "Traceback" not in broken.stderr
    assert repo_tags(env) == []

    imported = run_cli(["cache", "import", str(archive)], env_project, timeout=180)
    assert imported.returncode == 0, imported.stderr
    assert repo_tags(env) == tags  # the key's tag is back, and so is latest (as pull and build)
    [key_tag] = [t for t in tags if t != "latest"]
    repo = snapshot_repo(env, env_project)  # imported as this project's snapshot
    assert image_id(f"{repo}:latest") == image_id(f"{repo}:{key_tag}")
    ran = run_cli(["run", "-e", env, "--no-build", "--", "true"], env_project, timeout=180)
    assert ran.returncode == 0, ran.stderr  # the imported snapshot is the current key's

    # Another good snapshot of the same key here: importing the archive keeps it.
    rebuilt = run_cli(["build", "-e", env, "--rebuild"], env_project, timeout=180)
    assert rebuilt.returncode == 0, rebuilt.stderr
    here = image_id(f"{repo}:{key_tag}")
    again = run_cli(["cache", "import", str(archive)], env_project, timeout=180)
    assert again.returncode == 0 and "kept it, loaded nothing" in again.stdout, again.stderr
    assert image_id(f"{repo}:{key_tag}") == here == image_id(f"{repo}:latest")


def test_prune_keeps_the_newest_dry_run_removes_nothing_and_in_use_images_stay(
    env_project: Path,
) -> None:
    env = env_of(env_project)
    script = env_project / "setup.script"
    refs = []
    for version in ("v1", "v2", "v3"):  # three keys of one environment
        script.write_text(f'Write "{version}",!\n')
        built = run_cli(["build", "-e", env], env_project, timeout=180)
        assert built.returncode == 0, built.stderr
        [new] = set(repo_tags(env)) - {"latest", *refs}  # the tag this build added
        refs.append(new)
    tags = repo_tags(env)
    assert len(tags) == 4  # three keys and latest
    # A stopped container of the OLDEST snapshot: its image must never be removed.
    holder = docker("create", f"{snapshot_repo(env, env_project)}:{refs[0]}").stdout.strip()
    try:
        dry = run_cli(["cache", "prune", "--keep", "1", "--dry-run"], env_project)
        assert dry.returncode == 0, dry.stderr
        assert repo_tags(env) == tags  # nothing removed
        pruned = run_cli(["cache", "prune", "--keep", "1"], env_project)
        assert pruned.returncode == 0, pruned.stderr
        left = repo_tags(env)
        assert refs[2] in left and "latest" in left, (refs, left)  # the newest stays
        assert refs[1] not in left  # an older, unused one went
        assert refs[0] in left  # in use by a container: kept
    finally:
        docker("rm", "-f", holder, check=False)


def test_import_of_a_foreign_file_is_a_clear_error(env_project: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "not-a-snapshot.tar.gz"
    foreign.write_bytes(gzip.compress(b"hello, not a docker archive\n"))
    done = run_cli(["cache", "import", str(foreign)], env_project)
    assert done.returncode == ExitCode.CONFIG_ERROR, done.stderr  # one code for any bad file
    assert "Traceback" not in done.stderr and "iris-envs: error:" in done.stderr


def build_and_export(root: Path, archive: Path) -> tuple[str, str]:
    """Build the project's snapshot and export it; return its (project's) ref and image ID."""
    env = env_of(root)
    assert run_cli(["build", "-e", env], root, timeout=180).returncode == 0
    exported = run_cli(["cache", "export", env, "-o", str(archive)], root, timeout=180)
    assert exported.returncode == 0, exported.stderr
    [tag] = [t for t in repo_tags(env) if t != "latest"]
    ref = f"{snapshot_repo(env, root)}:{tag}"
    return ref, image_id(ref)


def add_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for field, value in fields.items():
        setattr(info, field, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


@pytest.mark.parametrize("link", [tarfile.SYMTYPE, tarfile.LNKTYPE], ids=["symlink", "hardlink"])
def test_a_linked_manifest_is_refused_and_retags_nothing(
    env_project: Path, tmp_path: Path, standin_images: dict[str, str], link: bytes
) -> None:
    """Issue 22 item 3: the checked manifest.json is followed by a link of the same name to
    another manifest that tags a victim image; the engine would read the second one."""
    env = env_of(env_project)
    good = tmp_path / "good.tar.gz"
    build_and_export(env_project, good)
    remove_env_artifacts(env)
    victim = f"h-victim-{uuid.uuid4().hex[:8]}/base:1"
    docker("tag", standin_images["2024.1"], victim)
    try:
        victim_id = image_id(victim)
        crafted = tmp_path / "crafted.tar"
        with (
            gzip.open(good) as source,
            tarfile.open(fileobj=source, mode="r|") as legit,
            tarfile.open(crafted, "w") as out,
        ):
            for member in legit:
                extracted = legit.extractfile(member) if member.isfile() else None
                data = extracted.read() if extracted is not None else b""
                out.addfile(member, io.BytesIO(data) if member.isfile() else None)
                if member.name == "manifest.json":
                    manifest = json.loads(data)
            manifest[0]["RepoTags"] = [victim]
            # Named as docker save names an image config, so only the link gives it away.
            evil = "e" * 64 + ".json"
            add_member(out, evil, json.dumps(manifest).encode())
            add_member(out, "manifest.json", type=link, linkname=evil)
        done = run_cli(["cache", "import", str(crafted)], env_project, timeout=180)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert "manifest.json" in done.stderr and "link" in done.stderr, done.stderr
        assert image_id(victim) == victim_id  # the victim's tag did not move
        assert repo_tags(env) == []
    finally:
        docker("rmi", victim, check=False)


def test_an_archive_of_many_large_members_is_streamed(env_project: Path, tmp_path: Path) -> None:
    """Issue 22 item 3: 400 members of 4 MiB each (a few MB gzip'd) once took 1.67 GB of RSS."""
    bomb = tmp_path / "bomb.tar.gz"
    zeros = bytes(4 << 20)
    with gzip.open(bomb, "wb", compresslevel=6) as raw, tarfile.open(fileobj=raw, mode="w|") as tar:
        for number in range(400):  # names docker save gives layers and configs: all streamed
            add_member(tar, f"{number:064x}" + ("/layer.tar" if number % 2 else ".json"), zeros)
    assert bomb.stat().st_size < 8 << 20
    measure = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-c", measure, sys.executable, "-m", "iris_envs"]
    done = subprocess.run(
        [*command, "cache", "import", str(bomb)],
        cwd=env_project,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    code, max_rss_kib = (int(word) for word in done.stdout.split()[-2:])
    assert code != 0 and "Traceback" not in done.stderr, done.stderr
    assert max_rss_kib < 200 * 1024, max_rss_kib  # the CLI itself takes about 60 MB


def test_import_of_a_device_or_of_zeros_is_refused_at_once(
    env_project: Path, tmp_path: Path
) -> None:
    """Issue 22 item 3: `cache import /dev/zero` read zeros forever."""
    zeros = tmp_path / "zeros.tar"
    zeros.write_bytes(bytes(16 << 20))
    for path, problem in (("/dev/zero", "not a regular file"), (str(zeros), "not a tar archive")):
        done = run_cli(["cache", "import", path], env_project, timeout=30)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert problem in done.stderr, done.stderr


@pytest.mark.parametrize("lie", ["no-inputs", "other-base"])
def test_a_lying_archive_never_replaces_a_good_snapshot(
    env_project: Path, tmp_path: Path, standin_images: dict[str, str], lie: str
) -> None:
    """Issue 22 item 3: an archive under the snapshot's own name whose image records no inputs,
    or sits on another base image, replaced the good snapshot (and `latest` stayed)."""
    env = env_of(env_project)
    ref, good_id = build_and_export(env_project, tmp_path / "good.tar.gz")
    latest = f"{snapshot_repo(env, env_project)}:latest"
    labels = image_labels(ref)
    travelling = shared_ref(env, labels[LABEL_KEY])  # the name archives carry
    if lie == "no-inputs":
        lying = derived_image(ref, travelling, {LABEL_INPUTS: ""})
    else:
        lying = derived_image(standin_images["2024.1"], travelling, labels)
    archive = tmp_path / "lying.tar"
    with archive.open("wb") as out:
        subprocess.run(["docker", "save", travelling], stdout=out, check=True, timeout=120)
    docker("rmi", lying)  # the engine has only the good snapshot again
    done = run_cli(["cache", "import", str(archive)], env_project, timeout=180)
    assert done.returncode == ExitCode.BUILD_FAILED, done.stderr
    expected = "records no key inputs" if lie == "no-inputs" else "do not extend"
    assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert image_id(ref) == good_id and image_id(latest) == good_id
    assert docker("image", "inspect", lying, check=False).returncode != 0  # nothing of it left
    ran = run_cli(["run", "-e", env, "--no-build", "--", "true"], env_project, timeout=180)
    assert ran.returncode == 0, ran.stderr


def test_export_to_a_full_disk_is_a_clear_error_and_leaves_no_partial_file(
    env_project: Path, tiny_tmpfs: Path
) -> None:
    """Issue 22 item 5: an OSError traceback (exit 1) before."""
    env = env_of(env_project)
    assert run_cli(["build", "-e", env], env_project, timeout=180).returncode == 0
    target = tiny_tmpfs / "snapshot.tar.gz"
    done = run_cli(["cache", "export", env, "-o", str(target)], env_project, timeout=180)
    assert done.returncode == ExitCode.CONFIG_ERROR, done.stderr
    assert str(target) in done.stderr and "No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tiny_tmpfs.iterdir()) == []  # no partial or temporary file


def test_export_to_a_symlink_is_refused_and_its_target_kept(
    env_project: Path, tmp_path: Path
) -> None:
    """Issue 22 item 5: `-o` naming a symlink (e.g. /dev/stdout) replaced it."""
    env = env_of(env_project)
    assert run_cli(["build", "-e", env], env_project, timeout=180).returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    target = out / "precious.txt"
    target.write_text("keep me\n")
    link = out / "link.tar.gz"
    link.symlink_to(target)
    fifo = out / "fifo"  # stands for /dev/null and other non-files (never touched here)
    os.mkfifo(fifo)
    for output, problem in ((link, "symbolic link"), (fifo, "not a regular file")):
        done = run_cli(["cache", "export", env, "-o", str(output)], env_project, timeout=180)
        assert done.returncode == ExitCode.CONFIG_ERROR, done.stderr
        assert f"{output}: {problem}" in done.stderr and "Traceback" not in done.stderr
    assert link.is_symlink() and target.read_text() == "keep me\n"
    assert fifo.is_fifo() and sorted(out.iterdir()) == sorted([target, link, fifo])


def test_export_to_dash_streams_the_archive_to_stdout(env_project: Path) -> None:
    """Issue 22 item 5: `-o -` wrote a file named `-`."""
    env = env_of(env_project)
    assert run_cli(["build", "-e", env], env_project, timeout=180).returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "cache", "export", env, "-o", "-"],
        cwd=env_project,
        env=cli_env(),
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not (env_project / "-").exists()
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(done.stdout))) as tar:
        assert "manifest.json" in tar.getnames()
    assert b"-> -" not in done.stdout and env.encode() in done.stderr


def test_a_cache_folder_that_fills_during_a_build_is_exit_2_and_the_build_cleaned_up(
    make_project: MakeProject, standin_images: dict[str, str], tiny_tmpfs: Path
) -> None:
    """Issue 22 item 5: ENOSPC writing the build log was an OSError traceback."""
    env = f"cf-{uuid.uuid4().hex[:8]}"
    # About 200 KiB of session output: more than the 64 KiB folder holds once the log has it.
    lines = "".join(f'Write "{number:04d} {"x" * 200}",!\n' for number in range(1000))
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\n'
        'setup = [{ objectscript = "big.script" }]\n',
        {"big.script": lines},
        name=env,
    )
    cache = tiny_tmpfs / "cache"
    try:
        done = run_cli(["build", "-e", env], root, {"IRIS_ENVS_CACHE_DIR": str(cache)}, 300)
        assert done.returncode == ExitCode.CONFIG_ERROR, done.stdout + done.stderr
        assert f"the cache folder {cache} cannot be used" in done.stderr, done.stderr
        assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
        assert env_containers(env) == []
        images = docker("images", "-q", "--filter", f"label=org.iris-envs.env={env}").stdout
        assert images.split() == [] and repo_tags(env) == []
    finally:
        remove_env_artifacts(env)
