"""Benchmark: pytest -n 4 with the iris-envs plugin vs one container's start.

Run from the repository root: ``python benchmarks/xdist_bench.py [--delay 5] [--repeat 3]``.
On a stand-in whose start takes ``--delay`` seconds, with the snapshot built first (untimed),
prints the median wall time of ``pytest --iris-env E`` running one test (one worker, one
container) and of ``pytest -n 4 --iris-env E`` running four (four workers, each starting its own
container at the same time), and their ratio (target: at most 1.5). No asserts.
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
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

TESTS = "".join(f"def test_{i}(iris_env):\n    assert iris_env.port > 0\n\n" for i in range(4))


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=5, help="stand-in start delay (seconds)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    args = parser.parse_args()

    from tests.standin.build import build_slow_variant

    image = build_slow_variant("2025.1", args.delay)
    work = Path(tempfile.mkdtemp(prefix="iris-envs-xdist-bench-"))
    name = f"xdist-{uuid.uuid4().hex[:6]}"
    (work / "iris-envs.toml").write_text(f'[env."{name}"]\nimage = "{image}"\npassword = "Pw-x"\n')
    (work / "pytest.ini").write_text("[pytest]\n")
    (work / "test_bench.py").write_text(TESTS)
    env = {**os.environ, "IRIS_ENVS_CACHE_DIR": str(work / "cache"), "CI": "true"}
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--iris-env", name]
    try:
        subprocess.run(
            [sys.executable, "-m", "iris_envs", "build", "-e", name],
            cwd=work,
            env=env,
            capture_output=True,
            check=True,
        )
        one = [timed([*pytest, "-k", "test_0"], work, env) for _ in range(args.repeat)]
        four = [timed([*pytest, "-n", "4"], work, env) for _ in range(args.repeat)]
    finally:
        refs = subprocess.run(
            [
                *("docker", "images", "--format", "{{.Repository}}:{{.Tag}}"),
                *("--filter", f"reference=iris-envs/*/{name}"),  # the project's snapshots
            ],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if refs:
            subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    m1, m4 = statistics.median(one), statistics.median(four)
    print(f"stand-in start delay {args.delay:g} s, {args.repeat} runs each (median wall time)")
    print(f"pytest, 1 test, 1 container        {m1:6.2f} s")
    print(f"pytest -n 4, 4 workers/containers  {m4:6.2f} s   ratio {m4 / m1:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
