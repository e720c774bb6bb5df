"""Benchmark: warm `iris-envs run -- true` vs `docker run` + the same readiness; CLI start-up."""

# Run from the repository root: `.venv/bin/python benchmarks/run_bench.py [--repeat 5]`. Builds the
# stand-in IRIS image and a snapshot of a stand-in environment first, then measures (a) the wall
# time of `iris-envs run -e ENV -- true` against a baseline of `docker run -d` of the same
# snapshot, the readiness checks of iris_envs/instance/readiness.py done with the docker CLI
# (log line `Enabling logons`, `iris qlist` running, a marker-checked `iris session` round
# trip), `true` and `docker rm -f`; (b) `iris-envs --version` against `python -c pass`.
# Targets (issue 5): ratio <= 1.25; --version < 150 ms. Prints a table; no asserts; cleans up.

from __future__ import annotations

import argparse
import os
import secrets
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

STANDIN_VERSION = "2025.1"
POLL_INTERVAL = 0.2  # the same as iris_envs.instance.readiness.wait_until_ready
READY_TIMEOUT = 120.0


def docker(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False, timeout=120
    )


def console_script() -> str:
    """The venv's ``iris-envs`` next to this interpreter (else whatever PATH has)."""
    candidate = Path(sys.executable).parent / "iris-envs"
    return str(candidate) if candidate.exists() else (shutil.which("iris-envs") or "iris-envs")


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def session_round_trip(container: str) -> bool:
    """A marker-checked ``iris session`` (what readiness.SessionProbe does via the SDK)."""
    nonce = secrets.token_hex(8)
    script = f'Set $ZERROR=""\nIf $ZERROR="" Write !,"IRIS-ENVS-OK-{nonce}",!\nHalt\n'
    done = docker(
        "exec", "-i", "-u", "irisowner", container, "iris", "session", "IRIS", "-U", "%SYS",
        stdin=script,
    )  # fmt: skip
    return done.returncode == 0 and f"IRIS-ENVS-OK-{nonce}" in done.stdout


def qlist_running(container: str) -> bool:
    done = docker("exec", "-u", "irisowner", container, "iris", "qlist")
    fields = done.stdout.strip().split("^")
    return done.returncode == 0 and len(fields) > 3 and fields[3].startswith("running")


def log_ready(container: str) -> bool:
    done = docker("logs", container)
    return "Enabling logons" in done.stdout + done.stderr


def baseline_run(image: str) -> None:
    """docker run + the product's readiness checks (in order, polled) + `true` + docker rm -f."""
    started = docker(
        "run", "-d", "-p", "127.0.0.1::1972", "-p", "127.0.0.1::52773",
        "--label", "org.iris-envs.bench=run_bench", image,
    )  # fmt: skip
    container = started.stdout.strip()
    if started.returncode != 0 or not container:
        raise RuntimeError(f"docker run failed: {started.stderr}")
    try:
        pending: list[Callable[[str], bool]] = [log_ready, qlist_running, session_round_trip]
        deadline = time.monotonic() + READY_TIMEOUT
        while pending:
            while pending and pending[0](container):
                pending.pop(0)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"baseline container not ready: {pending[0].__name__}")
            time.sleep(POLL_INTERVAL)
        subprocess.run(["true"], check=True)
    finally:
        docker("rm", "-f", container)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per warm measurement")
    parser.add_argument("--version-repeat", type=int, default=10, help="runs per start-up timing")
    args = parser.parse_args()

    from tests.standin.build import ensure_standin_images

    base = ensure_standin_images()[STANDIN_VERSION]
    env = f"bench-run-{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="iris-envs-run-bench-"))
    project, cache = workdir / "project", workdir / "cache"
    project.mkdir()
    (project / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{base}"\npassword = "bench{uuid.uuid4().hex[:8]}"\n'
    )
    environ = {**os.environ, "IRIS_ENVS_CACHE_DIR": str(cache)}
    cli = console_script()

    def iris_envs(*cli_args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [cli, *cli_args], cwd=project, env=environ, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"iris-envs {' '.join(cli_args)} failed:\n{done.stderr}")
        return done

    # The project's snapshots: iris-envs/<project id>/<env> (env names here are unique).
    snapshots = ("--filter", f"reference=iris-envs/*/{env}")
    try:
        print(f"building the snapshot of {env} on {base} ...", file=sys.stderr)
        iris_envs("build", "-e", env)
        tags = docker("images", "--format", "{{.Repository}}:{{.Tag}}", *snapshots)
        image = next(t for t in tags.stdout.split() if not t.endswith(":latest"))

        # Warm both paths once (page cache, image layers) before measuring.
        iris_envs("run", "-e", env, "--", "true")
        baseline_run(image)
        run_times = timed(lambda: iris_envs("run", "-e", env, "--", "true"), args.repeat)
        base_times = timed(lambda: baseline_run(image), args.repeat)
        version_times = timed(lambda: iris_envs("--version"), args.version_repeat)
        pass_times = timed(
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
            args.version_repeat,
        )
    finally:
        leftovers = docker("ps", "-aq", "--filter", "label=org.iris-envs.bench=run_bench")
        leftovers_env = docker("ps", "-aq", "--filter", f"label=org.iris-envs.env={env}")
        ids = set(leftovers.stdout.split() + leftovers_env.stdout.split())
        if ids:
            docker("rm", "-f", *ids)
        images = set(docker("images", "-q", *snapshots).stdout.split())
        if images:
            docker("rmi", "-f", *images)
        shutil.rmtree(workdir, ignore_errors=True)

    run_med, base_med = statistics.median(run_times), statistics.median(base_times)
    version_med, pass_med = statistics.median(version_times), statistics.median(pass_times)
    rows = [
        ("iris-envs run -- true", f"{run_med:.3f} s", f"median of {args.repeat}"),
        ("docker run + readiness + true + rm", f"{base_med:.3f} s", f"median of {args.repeat}"),
        ("ratio run / docker run", f"{run_med / base_med:.2f}", "target <= 1.25"),
        ("iris-envs --version", f"{version_med * 1000:.0f} ms", "target < 150 ms"),
        ("python -c pass", f"{pass_med * 1000:.0f} ms", f"median of {args.version_repeat}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>9}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
