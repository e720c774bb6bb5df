"""Benchmark: .DAT fixtures on the stand-in image, each against a baseline measured in the same run.

Run from the repository root: ``python benchmarks/fixture_bench.py [--mb 1024]``. Writes a
fixture of ``--mb`` MiB of random bytes, then prints four ratios (issue 10 targets):

1. ``fixture validate`` throughput vs ``openssl dgst -sha256`` on the same file (>= 0.9);
2. restoring the fixture into a snapshot (``iris-envs build``, IRIS start and clean stop
   included) vs ``docker run`` + ``docker cp`` + stop + ``docker commit`` of the same bytes
   (<= 1.2);
3. the snapshot's layer over the base image vs the fixture bytes (<= 1.05);
4. ``fixture create`` out of an ``up`` container vs ``docker cp`` of the same IRIS.DAT out.

Needs a Docker engine and the stand-in image (IRIS_ENVS_STANDIN_PREFIX); removes what it made.
Each measurement is repeated (``--repeat``, default 3) and medians are compared: on a VM the
disk's speed varies by a third from one gigabyte to the next. No asserts: the numbers are for
the report.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

MIB = 1024 * 1024
VERSION = "2025.1"


def run(
    *argv: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "true"}
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def timed(*argv: str, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    run(*argv, cwd=cwd)
    return time.perf_counter() - started


def write_fixture(folder: Path, mib: int) -> int:
    """IRIS.DAT of random bytes (incompressible) and its manifest; return its size."""
    folder.mkdir(parents=True)
    digest = hashlib.sha256()
    with (folder / "IRIS.DAT").open("wb") as handle:
        for _ in range(mib):
            chunk = os.urandom(MIB)
            digest.update(chunk)
            handle.write(chunk)
    manifest = {
        "schema_version": 1,
        "fixture_id": "bench",
        "version": "1",
        "description": "benchmark",
        "created_at": "2026-11-22T00:00:00Z",
        "iris_version": "2024.1.0.1.0",
        "source_namespace": "USER",
        "source_database": "BENCH",
        "files": [
            {"path": "IRIS.DAT", "size": mib * MIB, "sha256": "sha256:" + digest.hexdigest()}
        ],
        "tables": [],
        "features": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return mib * MIB


def image_size(ref: str) -> int:
    return int(run("docker", "image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


CLI = [sys.executable, "-m", "iris_envs"]


def settled() -> None:
    """Flush dirty pages first: the writeback of a previous gigabyte would be billed to the
    next timed step (the commit of a 1 GiB layer varied 9.5-13 s here without it)."""
    os.sync()


def median_of(repeat: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeat))


def bench_validate(work: Path, dat: Path, size: int, repeat: int) -> None:
    """1. validate vs openssl (the page cache is warm for both after the first read)."""
    run("openssl", "dgst", "-sha256", str(dat))
    settled()
    openssl = median_of(repeat, lambda: timed("openssl", "dgst", "-sha256", str(dat)))
    validate = median_of(
        repeat, lambda: timed(*CLI, "fixture", "validate", "fixtures/bench", cwd=work)
    )
    print(
        f"validate {size / MIB / validate:.0f} MiB/s vs openssl {size / MIB / openssl:.0f} "
        f"MiB/s: throughput ratio {openssl / validate:.2f} (target >= 0.9)"
    )


def baseline_snapshot(image: str, dat: Path | None, made: list[str]) -> float:
    """docker run, (docker cp of the fixture), docker stop, docker commit: seconds taken."""
    settled()
    started = time.perf_counter()
    cid = run("docker", "run", "-d", image).stdout.strip()
    made.append(cid)
    if dat is not None:
        run("docker", "exec", cid, "mkdir", "-p", "/usr/irissys/mgr/bench")
        run("docker", "cp", str(dat), f"{cid}:/usr/irissys/mgr/bench/IRIS.DAT")
    run("docker", "stop", cid)
    ref = f"fxbench-baseline:{uuid.uuid4().hex[:8]}"
    run("docker", "commit", cid, ref)
    made.append(ref)
    return time.perf_counter() - started


def remove_snapshots(*envs: str) -> None:
    """Remove every snapshot image of these environments."""
    ids = {
        image
        for env in envs
        for image in run(
            "docker", "images", "-q", "--filter", f"reference=iris-envs/*/{env}", check=False
        ).stdout.split()
    }
    if ids:
        run("docker", "rmi", "-f", *ids, check=False)


def timed_build(work: Path, env: str) -> float:
    """A first build of the key, as after a change of inputs: the previous round's snapshot is
    removed untimed first (``--rebuild`` would also time removing the snapshot it replaces)."""
    remove_snapshots(env)
    settled()
    return timed(*CLI, "build", "-e", env, cwd=work)


def bench_restore(
    work: Path, env: str, image: str, dat: Path, size: int, *, made: list[str], repeat: int
) -> None:
    """2. restore into a snapshot vs run + cp + stop + commit; 3. layer vs fixture bytes."""
    builds, baselines, empties, empty_baselines = [], [], [], []
    for _ in range(repeat):  # interleaved, so a slow spell of the disk hits both sides
        builds.append(timed_build(work, env))
        baselines.append(baseline_snapshot(image, dat, made))
        # The fixture's own cost: the same build without the dat step, and the same baseline
        # without the copy (start, readiness, clean stop and commit are paid anyway).
        empties.append(timed_build(work, f"{env}-empty"))
        empty_baselines.append(baseline_snapshot(image, None, made))
    build, baseline = statistics.median(builds), statistics.median(baselines)
    empty, empty_baseline = statistics.median(empties), statistics.median(empty_baselines)
    print(
        f"restore into a snapshot {build:.1f} s vs docker run+cp+stop+commit {baseline:.1f} s: "
        f"ratio {build / baseline:.2f} (target <= 1.2; medians of {repeat})"
    )
    marginal, marginal_baseline = build - empty, baseline - empty_baseline
    print(
        f"  the fixture's part: {marginal:.1f} s vs the copy's part of the baseline "
        f"{marginal_baseline:.1f} s: ratio {marginal / marginal_baseline:.2f}"
    )
    from iris_envs.naming import project_repository

    layer = image_size(f"{project_repository(work.resolve(), env)}:latest") - image_size(image)
    print(
        f"snapshot layers {layer / MIB:.1f} MiB vs fixture {size / MIB:.1f} MiB: ratio "
        f"{layer / size:.3f} (target <= 1.05)"
    )


def bench_create(work: Path, env: str, size: int) -> None:
    """4. fixture create out of an `up` container vs docker cp out."""
    up = run(*CLI, "up", env, cwd=work)
    try:
        name = next(
            line.split("=", 1)[1]
            for line in up.stdout.splitlines()
            if line.startswith("IRIS_ENVS_CONTAINER=")
        )
        out = work / "created"
        create = timed(
            *CLI, "fixture", "create", "--env", env, "--database", "BENCH", "-o", str(out), cwd=work
        )
        source = f"{name}:/usr/irissys/mgr/bench/IRIS.DAT"
        copy = timed("docker", "cp", source, str(work / "cp.dat"))
    finally:
        run(*CLI, "down", env, cwd=work, check=False)
    same = (out / "IRIS.DAT").stat().st_size == size
    print(
        f"fixture create {create:.1f} s vs docker cp out {copy:.1f} s: ratio "
        f"{create / copy:.2f} (bytes match: {same})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="fixture size in MiB (default 1024)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; medians are compared"
    )
    args = parser.parse_args()

    from tests.standin.build import ensure_standin_images

    # Bytecode first, as pip compiles a package at install: where PYTHONDONTWRITEBYTECODE is
    # set (the machine these numbers come from sets it), every CLI call would compile the
    # package again, about 50 ms, which is 5% of validating 1 GiB.
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "iris_envs"), quiet=1)

    image = ensure_standin_images()[VERSION]
    env = f"fxbench-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="fixture-bench-"))
    made: list[str] = []
    try:
        size = write_fixture(work / "fixtures" / "bench", args.mb)
        dat = work / "fixtures" / "bench" / "IRIS.DAT"
        (work / "iris-envs.toml").write_text(
            f'[env."{env}"]\nimage = "{image}"\n'
            'setup = [{ dat = "fixtures/bench", database = "BENCH", mount = "database" }]\n'
            f'[env."{env}-empty"]\nimage = "{image}"\n'
        )
        print(f"fixture: {size / MIB:.0f} MiB of random bytes")
        bench_validate(work, dat, size, args.repeat)
        bench_restore(work, env, image, dat, size, made=made, repeat=args.repeat)
        bench_create(work, env, size)
    finally:
        for thing in made:
            kind = "rmi" if ":" in thing else "rm"
            run("docker", kind, "-f", thing, check=False)
        remove_snapshots(env, f"{env}-empty")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
