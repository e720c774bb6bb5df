"""Benchmark: sharing snapshots (issue 11), each against a baseline measured in the same run.

Run from the repository root: ``python benchmarks/share_bench.py [--data-mb 200]``. With a
snapshot carrying ``--data-mb`` MB of random data (a shell step writes it), prints:

- ``cache export`` + ``cache import`` vs ``docker save | gzip`` + ``docker load`` of the same
  image (target: at most 1.1);
- ``run --registry`` hitting a local registry (Debian's docker-registry on 127.0.0.1) with no
  local snapshot vs ``build --rebuild`` of the same environment (the time a runner saves).

Needs a Docker engine and docker-registry; removes what it made. No asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout


def timed(command: list[str] | str, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=env, shell=isinstance(command, str), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{command} failed:\n{done.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-mb", type=int, default=200, help="MB of data in the snapshot")
    args = parser.parse_args()

    from iris_envs.naming import project_repository
    from tests.integration.local_registry import local_registry
    from tests.standin.build import ensure_standin_images

    image = ensure_standin_images()["2025.1"]
    work = Path(tempfile.mkdtemp(prefix="iris-envs-share-bench-"))
    name = f"share-{uuid.uuid4().hex[:6]}"
    (work / "iris-envs.toml").write_text(
        f'[env."{name}"]\nimage = "{image}"\npassword = "Pw-share"\nsetup = [{{ shell = '
        f'"head -c {args.data_mb * 1_000_000} /dev/urandom > /home/irisowner/data" }}]\n'
    )
    env = {**os.environ, "IRIS_ENVS_CACHE_DIR": str(work / "cache"), "CI": "true"}
    cli = [sys.executable, "-m", "iris_envs"]
    repo = project_repository(work.resolve(), name)  # the project's own snapshot repository
    try:
        build = timed([*cli, "build", "-e", name, "--rebuild"], work, env)
        tag = subprocess.run(
            ["docker", "images", "--format", "{{.Tag}}", repo],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        ref = f"{repo}:{next(t for t in tag if t != 'latest')}"
        ours = timed([*cli, "cache", "export", name, "-o", str(work / "a.tar.gz")], work, env)
        save = timed(f"docker save {ref} | gzip -6 > {work / 'b.tar.gz'}", work, env)
        subprocess.run(
            ["docker", "rmi", "-f", ref, f"{repo}:latest"], capture_output=True, check=False
        )
        ours += timed([*cli, "cache", "import", str(work / "a.tar.gz")], work, env)
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)
        save += timed(f"docker load -i {work / 'b.tar.gz'}", work, env)
        with local_registry(work / "registry") as registry:
            timed([*cli, "cache", "push", name, "--registry", registry], work, env)
            subprocess.run(["docker", "rmi", "-f", ref], capture_output=True, check=False)
            pull = timed([*cli, "run", "-e", name, "--registry", registry, "--", "true"], work, env)
            run_local = timed([*cli, "run", "-e", name, "--", "true"], work, env)
    finally:
        refs = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        mine = [r for r in refs if name in r]
        if mine:
            subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"snapshot with {args.data_mb} MB of data")
    print(f"docker save|gzip + docker load   {save:6.2f} s")
    print(
        f"cache export + cache import      {ours:6.2f} s   ratio {ours / save:.2f} (target <= 1.1)"
    )
    print(f"build --rebuild                  {build:6.2f} s")
    print(f"run --registry (pull hit + run)  {pull:6.2f} s   vs a warm local run {run_local:.2f} s")
    print(f"pull hit + run / local build     {pull / build:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
