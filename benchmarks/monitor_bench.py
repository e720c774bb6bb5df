"""Benchmark: what sampling IRIS during a command costs the command (issue 27, item 4).

Run from the repository root: `.venv/bin/python benchmarks/monitor_bench.py [--repeat 5]`.
On the stand-in image and the real engine, `iris-envs run` runs the same command with and
without `--monitor` (interval 1 s), interleaved: the command does host CPU work and 2,000
global sets in the container through `iris session`, for about 10 s. The command's own wall
time comes from the JSON report (`seconds.command`). Target: monitored / plain <= 1.05.
Prints the medians and the ratio; no asserts; removes what it made.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests.standin.build import ensure_standin_images

VERSION = "2025.1"
WORK = """
set -e
python3 -c 'import hashlib,time
t=time.monotonic()
while time.monotonic()-t<9: hashlib.sha256(b"x"*4096).digest()'
docker exec -i -u irisowner "$IRIS_ENVS_CONTAINER" iris session IRIS -U USER <<'EOF'
For i=1:1:2000 Set ^Bench(i)=i
Halt
EOF
"""


def _run(root: Path, env: str, monitor: bool) -> float:
    flags = ["--monitor"] if monitor else []
    command = ["--report", "r.json", *flags, "--", "sh", "-c", WORK]
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "run", "-e", env, *command],
        cwd=root,
        env={**os.environ, "CI": "true", "IRIS_ENVS_CACHE_DIR": str(root / "cache")},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run failed: {done.stdout}{done.stderr}")
    [entry] = json.loads((root / "r.json").read_text())["environments"]
    if monitor and not entry["monitoring"]["samples"]:
        raise SystemExit(f"no samples: {entry['monitoring']}")
    return float(entry["seconds"]["command"])


def _images(env: str) -> list[str]:
    out = subprocess.run(
        ["docker", "images", "-q", f"iris-envs/{env}"], capture_output=True, text=True, check=False
    )
    return sorted(set(out.stdout.split()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    image = ensure_standin_images()[VERSION]
    env = f"bench-mon-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="iris-envs-monitor-bench-") as tmp:
        root = Path(tmp)
        (root / "iris-envs.toml").write_text(
            f'[env.{env}]\nimage = "{image}"\npassword = "Pw{uuid.uuid4().hex}"\n'
            "monitor_interval = 1\n",
            encoding="utf-8",
        )
        try:
            _run(root, env, False)  # builds the snapshot
            plain, monitored = [], []
            for _ in range(args.repeat):
                plain.append(_run(root, env, False))
                monitored.append(_run(root, env, True))
        finally:
            subprocess.run(
                ["docker", "image", "rm", "-f", *_images(env)], capture_output=True, check=False
            )
    p, m = statistics.median(plain), statistics.median(monitored)
    print(f"without monitoring: median {p:.2f} s ({', '.join(f'{v:.2f}' for v in plain)})")
    print(f"with --monitor, 1 s: median {m:.2f} s ({', '.join(f'{v:.2f}' for v in monitored)})")
    print(f"ratio monitored / plain: {m / p:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
