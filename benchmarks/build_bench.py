"""Benchmark: a snapshot build on the stand-in image, phase by phase, and its layer size.

Run from the repository root: ``python benchmarks/build_bench.py [--load-mb 50] [--dat-mb 50]
[--files 200] [--repeat 1]``. Builds an environment whose setup loads a directory of class files
and mounts a dummy IRIS.DAT (``--rebuild`` every time), then prints the build time broken into
pull / start / setup / stop / commit / verify and the snapshot layer size as a ratio of the
fixture bytes copied in, and the WIJ/journal bytes the clean stop removed before the commit
(the layer would otherwise be that much larger: layer+tidied vs fixtures). Needs a Docker
engine; removes the snapshot images it made. No asserts.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

MB = 1_000_000
PHASES = ("pull", "start", "setup", "stop", "commit", "verify")


def write_fixtures(
    root: Path, *, image: str, env: str, load_mb: int, dat_mb: int, files: int
) -> int:
    """Write the project: ``files`` class files (load_mb in all) and a dat_mb IRIS.DAT."""
    written = 0
    per_file = max(1, load_mb * MB // files)
    for i in range(files):
        path = root / "src" / f"pkg{i % 10}" / f"Class{i:04d}.cls"
        path.parent.mkdir(parents=True, exist_ok=True)
        # Random bytes: the engine's layer size must not benefit from anything compressible.
        path.write_bytes(os.urandom(per_file))
        written += per_file
    dat = root / "fixtures" / "appdb" / "IRIS.DAT"
    dat.parent.mkdir(parents=True)
    with dat.open("wb") as handle:
        for _ in range(dat_mb):
            handle.write(os.urandom(MB))
    written += dat_mb * MB
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{image}"\npassword = "bench-{uuid.uuid4().hex[:8]}"\n'
        'setup = [{ load = "src" }, { dat = "fixtures/appdb", database = "APPDB" }]\n',
        encoding="utf-8",
    )
    return written


def remove_snapshots(repository: str) -> None:
    """Remove every tag of the benchmark's snapshot repository."""
    refs = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if refs:
        subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True, check=False)


def print_table(rows: list[dict[str, float]]) -> None:
    """One row per build: phase seconds, total, layer and fixture sizes and their ratio."""
    from iris_envs.progress import human_bytes

    header = ["run", *PHASES, "total s", "layer", "fixtures", "layer/fix", "tidied", "untidy/fix"]
    print(" ".join(f"{h:>10}" for h in header))
    for number, row in enumerate(rows, 1):
        ratio = row["layer"] / row["fixtures"] if row["fixtures"] else float("nan")
        cells = [
            str(number),
            *(f"{row[p]:.2f}" for p in PHASES),
            f"{row['total']:.2f}",
            human_bytes(row["layer"]),
            human_bytes(row["fixtures"]),
            f"{ratio:.3f}",
            human_bytes(row["tidied"]),
            f"{(row['layer'] + row['tidied']) / row['fixtures']:.3f}" if row["fixtures"] else "nan",
        ]
        print(" ".join(f"{c:>10}" for c in cells))
    if len(rows) > 1:
        medians = [statistics.median(r[p] for r in rows) for p in (*PHASES, "total")]
        print(" ".join(f"{c:>10}" for c in ["median", *(f"{m:.2f}" for m in medians)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-mb", type=int, default=50, help="MB of class files to load")
    parser.add_argument("--dat-mb", type=int, default=50, help="MB of the dummy IRIS.DAT")
    parser.add_argument("--files", type=int, default=200, help="number of class files")
    parser.add_argument("--repeat", type=int, default=1, help="builds to run (each --rebuild)")
    parser.add_argument("--version", default="2025.1", help="stand-in IRIS version")
    parser.add_argument("-v", "--verbose", action="store_true", help="show build progress")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iris-envs-build-bench-"))
    # An isolated cache folder (hash stat-cache, locks, logs), set before iris_envs reads it.
    os.environ["IRIS_ENVS_CACHE_DIR"] = str(work / "cache")

    from iris_envs import naming
    from iris_envs.build.snapshot import ensure_snapshot
    from iris_envs.config.load import load_project
    from iris_envs.config.selection import select_one
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.instance.containers import Owner
    from iris_envs.progress import Reporter, human_bytes
    from tests.standin.build import ensure_standin_images

    image = ensure_standin_images()[args.version]
    env = f"bench-{uuid.uuid4().hex[:8]}"
    root = work / "project"
    repository = naming.project_repository(root, env)  # as load_project names the project
    root.mkdir()
    rows: list[dict[str, float]] = []
    try:
        started = time.perf_counter()
        fixture_total = write_fixtures(
            root,
            image=image,
            env=env,
            load_mb=args.load_mb,
            dat_mb=args.dat_mb,
            files=max(1, args.files),
        )
        print(
            f"fixtures: {args.files} class files + IRIS.DAT, {human_bytes(fixture_total)} "
            f"written in {time.perf_counter() - started:.1f} s; base image {image}"
        )
        spec = select_one(load_project(root / "iris-envs.toml"), env)
        engine = DockerEngine()
        stream = sys.stderr if args.verbose else io.StringIO()
        for _ in range(args.repeat):
            mark = time.perf_counter()
            snapshot = ensure_snapshot(
                engine, spec, owner=Owner(), reporter=Reporter(env, stream=stream), rebuild=True
            )
            total = time.perf_counter() - mark
            row = {phase: snapshot.timings.get(phase, 0.0) for phase in PHASES}
            row["total"] = total
            row["layer"] = float(snapshot.layer_bytes)
            row["fixtures"] = float(snapshot.fixture_bytes)
            row["tidied"] = float(snapshot.tidied_bytes)
            rows.append(row)
    finally:
        remove_snapshots(repository)
        shutil.rmtree(work, ignore_errors=True)

    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
