"""Benchmark: what `run --monitor` costs the command (issue 27 item 4).

Run from the repository root: ``python benchmarks/monitor_bench.py [--seconds 10] [--repeat 3]``.
Prints the command's own wall time (the report's ``seconds.command``) with monitoring at a
1 s interval against the same command without it, alternating the two; target: a ratio of at
most 1.05. The command does CPU work and logs in over the superserver, as tests do. Runs on the
stand-in (a reading is an ``iris session`` exec, as on a real IRIS). The snapshot is built
first and not timed. Needs a Docker engine; removes what it made. No asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

# CPU work for about SECONDS seconds, with a superserver login every 0.5 s.
WORK = textwrap.dedent(
    """
    import hashlib, os, socket, sys, time

    end, next_login, n = time.monotonic() + float(sys.argv[1]), 0.0, 0
    while time.monotonic() < end:
        hashlib.sha256(b"x" * 65536).digest()
        if time.monotonic() >= next_login:
            address = (os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]))
            with socket.create_connection(address, timeout=10) as sock:
                stream = sock.makefile("rw")
                stream.readline()
                user, pw = os.environ["IRIS_USERNAME"], os.environ["IRIS_PASSWORD"]
                stream.write(f"LOGIN {user} {pw}\\n")
                stream.flush()
                stream.readline()
            next_login = time.monotonic() + 0.5
            n += 1
    """
)


def command_seconds(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, dict]:
    """Run ``iris-envs run ARGS --report``; return the command's seconds and its metrics."""
    report = cwd / f"r-{uuid.uuid4().hex[:6]}.json"
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "run", "--report", str(report), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"iris-envs run failed:\n{done.stdout}\n{done.stderr}")
    [entry] = json.loads(report.read_text())["environments"]
    return entry["seconds"]["command"], entry["metrics"] or {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="the command's length")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per variant")
    parser.add_argument("--version", default="2025.1", help="stand-in IRIS version")
    args = parser.parse_args()

    from tests.standin.build import ensure_standin_images

    image = ensure_standin_images()[args.version]
    work = Path(tempfile.mkdtemp(prefix="iris-envs-monitor-bench-"))
    name = f"bench-{uuid.uuid4().hex[:6]}"
    (work / "iris-envs.toml").write_text(f'[env."{name}"]\nimage = "{image}"\n')
    (work / "work.py").write_text(WORK)
    env = {**os.environ, "IRIS_ENVS_CACHE_DIR": str(work / "cache"), "CI": "true"}
    env["PYTHONPATH"] = str(ROOT)
    command = ["--", sys.executable, "work.py", str(args.seconds)]
    plain: list[float] = []
    watched: list[float] = []
    readings: list[int] = []
    notes: list[str] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "iris_envs", "build", "-e", name],
            cwd=work, env=env, capture_output=True, check=True,
        )  # fmt: skip
        for _ in range(args.repeat):
            plain.append(command_seconds(command, work, env)[0])
            took, metrics = command_seconds(["--monitor-interval", "1", *command], work, env)
            watched.append(took)
            readings.append(len(metrics.get("samples", [])))
            notes += metrics.get("notes", [])
    finally:
        refs = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", f"iris-envs/{name}"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        if refs:
            subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)

    base, mon = statistics.median(plain), statistics.median(watched)
    print(f"command of {args.seconds:g} s of CPU work and logins, {args.repeat} runs each")
    print(f"without --monitor            {base:6.2f} s")
    print(f"with --monitor-interval 1    {mon:6.2f} s   ratio {mon / base:.3f}  (target <= 1.05)")
    print(f"readings per monitored run   {statistics.median(readings):g}")
    for note in sorted(set(notes)):
        print(f"  monitor note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
