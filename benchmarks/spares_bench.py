"""Benchmark: warm spares and parallel starts on a stand-in whose start takes several seconds.

Run from the repository root: ``python benchmarks/spares_bench.py [--delay 5] [--repeat 3]``.
Prints, with baselines measured in the same run:

- ``iris-envs run -- true`` that claims a warm spare vs one that starts its own container
  (target: at most 0.2);
- ``run -p 4`` over four environments vs one environment's run (target: at most 1.5).

Snapshots are built first and not timed. Needs a Docker engine; removes what it made. No asserts.
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


def cli(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``python -m iris_envs ARGS``; return its wall time (fail loudly on an error)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"iris-envs {' '.join(args)} failed:\n{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=5, help="stand-in start delay (seconds)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--version", default="2025.1", help="stand-in IRIS version")
    args = parser.parse_args()

    from tests.standin.build import build_slow_variant

    image = build_slow_variant(args.version, args.delay)
    work = Path(tempfile.mkdtemp(prefix="iris-envs-spares-bench-"))
    tag = uuid.uuid4().hex[:6]
    envs = [f"bench-{tag}-{i}" for i in range(4)]
    (work / "iris-envs.toml").write_text(
        "".join(f'[env."{e}"]\nimage = "{image}"\npassword = "Pw-{tag}"\n' for e in envs)
    )
    env = {
        **os.environ,
        "IRIS_ENVS_CACHE_DIR": str(work / "cache"),
        "CI": "true",
        "PYTHONPATH": str(ROOT),
    }
    one = envs[0]
    try:
        cli(["build", "-e", ",".join(envs)], work, env)
        fresh, spare = [], []
        for _ in range(args.repeat):
            fresh.append(cli(["run", "-e", one, "--spares", "0", "--", "true"], work, env))
        cli(["run", "-e", one, "--spares", "1", "--", "true"], work, env)  # leaves one spare
        for _ in range(args.repeat):
            time.sleep(args.delay + 1)  # let the replenished spare finish starting
            spare.append(cli(["run", "-e", one, "--spares", "1", "--", "true"], work, env))
        cli(["down", "--spares"], work, env)
        single, parallel = [], []
        for _ in range(args.repeat):
            single.append(cli(["run", "-e", one, "--spares", "0", "--", "true"], work, env))
            parallel.append(
                cli(
                    ["run", "-e", ",".join(envs), "-p", "4", "--spares", "0", "--", "true"],
                    work,
                    env,
                )
            )
    finally:
        subprocess.run(
            [sys.executable, "-m", "iris_envs", "down", "--spares"],
            cwd=work,
            env=env,
            capture_output=True,
            check=False,
        )
        for name in envs:
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

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"stand-in start delay {args.delay:g} s, {args.repeat} runs each (median wall time)")
    print(f"run without a spare      {med(fresh):6.2f} s")
    print(
        f"run claiming a spare     {med(spare):6.2f} s   ratio {med(spare) / med(fresh):.2f}"
        "  (target <= 0.2)"
    )
    print(f"run -p 1, one env        {med(single):6.2f} s")
    print(
        f"run -p 4, four envs      {med(parallel):6.2f} s   ratio {med(parallel) / med(single):.2f}"
        "  (target <= 1.5)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
