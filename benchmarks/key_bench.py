"""Benchmark: cold fixture hashing vs sha256sum, and warm cache-key computation (2 GB of fixtures).

Run: ``python benchmarks/key_bench.py [--size-gb 2] [--files 1000]``. Prints a table; no asserts.
Targets (issue 3): cold throughput >= 0.8 x sha256sum, warm key < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

MIB = 1 << 20
BLOCK = 64 * MIB  # random block repeated to fill files quickly; still real bytes to hash


def make_fixtures(root: Path, total: int, files: int) -> list[Path]:
    """Half the bytes in one IRIS.DAT, half spread over ``files`` files in a class tree."""
    block = os.urandom(BLOCK)
    written: list[Path] = []

    def fill(path: Path, size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            left = size
            while left > 0:
                # Vary each write a little so no two files are byte-identical.
                chunk = block[: min(left, BLOCK)]
                handle.write(chunk)
                left -= len(chunk)
            handle.write(str(path).encode())
        written.append(path)

    fill(root / "fixtures" / "appdb" / "IRIS.DAT", total // 2)
    per_file = (total - total // 2) // files
    for i in range(files):
        fill(root / "src" / f"pkg{i % 20:02d}" / f"Class{i:04d}.cls", per_file)
    # Fixtures are normally old; the hash cache ignores files modified in the last 2 seconds.
    stamp = time.time() - 3600
    for path in written:
        os.utime(path, (stamp, stamp))
    (root / "iris-envs.toml").write_text(
        '[env.big]\npassword = "pw"\nsetup = [{dat = "fixtures/appdb"}, {load = "src"}]\n'
    )
    return written


def timed(func: object, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp dir)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iris-envs-bench-", dir=args.dir))
    os.environ["IRIS_ENVS_CACHE_DIR"] = str(work / "cache")
    from iris_envs.cache.hashing import HashCache, default_cache
    from iris_envs.config.load import load_project
    from iris_envs.key.cache_key import BaseImage, compute_key

    total = int(args.size_gb * 1024 * MIB)
    try:
        print(f"writing {total / MIB / 1024:.2f} GiB in {args.files + 1} files under {work} ...")
        paths = make_fixtures(work, total, args.files)
        size = sum(p.stat().st_size for p in paths)
        # Both tools read the same files, from the page cache after this first pass.
        sha_cmd = ["sha256sum", *map(str, paths)]
        subprocess.run(sha_cmd, check=True, stdout=subprocess.DEVNULL)
        sha = min(timed(lambda: subprocess.run(sha_cmd, check=True, stdout=subprocess.DEVNULL), 2))

        spec = load_project(cwd=work).envs["big"]
        base = BaseImage("intersystemsdc/iris-community:2025.1", "sha256:" + "0" * 64)
        cold = min(timed(lambda: compute_key(spec, base, "linux/amd64", HashCache(None)), 2))

        # The same with one thread, to separate hashing speed from parallelism.
        from iris_envs.cache import hashing

        workers, hashing.MAX_WORKERS = hashing.MAX_WORKERS, 1
        serial = min(timed(lambda: compute_key(spec, base, "linux/amd64", HashCache(None)), 1))
        hashing.MAX_WORKERS = workers

        compute_key(spec, base, "linux/amd64")  # fills and saves the persistent stat-cache
        warm = timed(lambda: compute_key(spec, base, "linux/amd64", default_cache()), 20)

        # A new process pays for loading the cache JSON once: measure that too.
        probe = (
            "import time,sys;sys.path.insert(0,sys.argv[1]);"
            "from iris_envs.config.load import load_project;"
            "from iris_envs.key.cache_key import BaseImage,"
            "compute_key;s=load_project(cwd=__import__('pathlib').Path(sys.argv[2])).envs['big'];"
            "b=BaseImage('x:1','sha256:'+'0'*64);t=time.perf_counter();"
            "compute_key(s,b,'linux/amd64');print(time.perf_counter()-t)"
        )
        root = str(Path(__file__).resolve().parents[1])
        fresh = float(
            subprocess.run(
                [sys.executable, "-c", probe, root, str(work)],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ,
            ).stdout
        )

        gib = size / (1024 * MIB)
        rows = [
            ("fixture data", f"{gib:.2f} GiB in {len(paths)} files", ""),
            ("sha256sum (1 process)", f"{sha:.2f} s", f"{gib / sha * 1024:.0f} MiB/s"),
            ("cold key (hashing)", f"{cold:.2f} s", f"{gib / cold * 1024:.0f} MiB/s"),
            ("cold / sha256sum ratio", f"{sha / cold:.2f}", "target >= 0.8"),
            ("cold key, 1 thread", f"{serial:.2f} s", f"ratio {sha / serial:.2f}"),
            ("warm key, median", f"{statistics.median(warm) * 1000:.1f} ms", "target < 50 ms"),
            ("warm key, max of 20", f"{max(warm) * 1000:.1f} ms", ""),
            ("warm key, new process", f"{fresh * 1000:.1f} ms", "includes cache JSON load"),
        ]
        width = max(len(r[0]) for r in rows)
        for name, value, note in rows:
            print(f"{name:<{width}}  {value:>26}  {note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
