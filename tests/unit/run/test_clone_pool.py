"""The clone pool's bookkeeping with a fake engine: claims are exclusive, a claimed clone is never
reset under its test, resets are batched, a kept clone is replaced."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from iris_envs.engine.types import ExecResult
from iris_envs.run.clone_pool import ClonePool

CPF = b"""[Databases]
APP=/usr/irissys/mgr/app/
ORDERS=/usr/irissys/mgr/orders/
IRISLIB=/usr/irissys/mgr/irislib/
[Namespaces]
APP=APP
[Map.APP]
Global_Demo.OrdersD=ORDERS
Package_Ens=IRISLIB
"""
_OK = re.compile(r"IRIS-ENVS-OK-[0-9a-f]+")


class FakeEngine:
    """Answers every session with its own success marker; records what happened to which
    clone directory, and which clones were claimed at that moment."""

    def __init__(self, pool: dict[str, Any]) -> None:
        self.pool = pool
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.numbers = 0  # the clone folders created in the "container"
        self.execs: list[str] = []  # the numbering and creating execs, with their clone counts

    def read_file(self, container_id: str, path: str) -> bytes:
        assert path == "/usr/irissys/iris.cpf"
        return CPF

    def exec(self, container_id: str, command: list[str], **kw: Any) -> ExecResult:
        text = " ".join(command) + (kw.get("stdin") or b"").decode()
        time.sleep(0.01)
        with self.lock:
            if 'echo "$k"' in text:  # number_command: the next free clone folders
                count = int(re.search(r"\$\(seq (\d+)\)", text).group(1))  # type: ignore[union-attr]
                first, self.numbers = self.numbers + 1, self.numbers + count
                self.execs.append(f"numbers {count}")
                return ExecResult(0, "".join(f"{n}\n" for n in range(first, self.numbers + 1)))
            if "Config.Namespaces" in text:
                made = re.findall(r"IRIS_ENVS_NEW\d+_NS", text)
                self.execs.append(f"create {len(made)}")
            if "IRIS_ENVS_RESET" in text or "IRIS_ENVS_DISMOUNT" in text:
                claimed = set(self.pool["claimed"]())
                for number in sorted(set(re.findall(r"iris-envs-clones/(\d+)/", text))):
                    self.events.append(("reset", number))
                    assert f"APP_C{number}" not in claimed, f"APP_C{number} reset while claimed"
            elif "cp " in text:
                self.events.append(("copy", text))
        copied = "IRIS-ENVS-COPY-EXIT=0" if "IRIS_ENVS_RESET" in text else ""
        return ExecResult(0, "\n".join([*_OK.findall(text), copied]))


def make_pool(size: int) -> tuple[ClonePool, FakeEngine]:
    holder: dict[str, Any] = {}
    engine = FakeEngine(holder)
    pool = ClonePool("c", "APP", size, engine_factory=lambda: engine)  # type: ignore[arg-type,return-value]
    holder["claimed"] = lambda: list(pool._claimed)
    return pool, engine


def test_a_pool_is_made_with_the_first_clone_alone_and_the_rest_together() -> None:
    # The first test may be waiting for the first clone; the others cost one exec for their
    # numbers, one for their copies and one session for their namespaces, whatever their number.
    pool, engine = make_pool(6)
    pool.start()
    first = pool.claim(timeout=10)
    pool.wait_ready(5, timeout=10)
    assert first.namespace == "APP_C1"
    assert engine.execs == ["numbers 6", "create 1", "create 5"]
    assert sorted(c.namespace for c in pool._ready) == [f"APP_C{n}" for n in range(2, 7)]
    pool.release(first)
    pool.close()


def test_the_instance_s_own_databases_are_shared_and_the_rest_copied() -> None:
    pool, _engine = make_pool(1)
    pool.start()
    assert pool.source is not None
    assert [d.name for d in pool.source.copied] == ["APP", "ORDERS"]  # IRISLIB is shared
    pool.close()


def test_claims_are_exclusive_and_never_reset_under_their_test() -> None:
    pool, engine = make_pool(2)
    pool.start()
    seen: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                clone = pool.claim(timeout=10)
                seen.append(clone.namespace)
                time.sleep(0.005)
                pool.release(clone)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()
    assert errors == []
    assert len(seen) == 30 and set(seen) <= {"APP_C1", "APP_C2"}
    assert ("reset", "1") in engine.events


def test_released_clones_are_reset_in_one_batch() -> None:
    pool, engine = make_pool(3)
    pool.start()
    clones = [pool.claim(timeout=10) for _ in range(3)]
    for clone in clones:
        pool.release(clone)
    for _ in range(3):
        pool.release(pool.claim(timeout=10))
    pool.close()
    resets = [event for event in engine.events if event[0] == "reset"]
    assert {number for _, number in resets} == {"1", "2", "3"}
    assert len(pool.reset_seconds) < 6  # batched: fewer rounds than releases


def test_a_kept_clone_leaves_the_pool_and_another_takes_its_place() -> None:
    pool, _engine = make_pool(1)
    pool.start()
    kept = pool.claim(timeout=10)
    pool.release(kept, keep=True)
    other = pool.claim(timeout=10)
    assert other.namespace == "APP_C2" and pool.kept == [kept]
    pool.release(other)
    pool.close()


def test_a_failing_copy_is_an_error_naming_it() -> None:
    from iris_envs.run.clone_pool import CloneFailed

    def full(container_id: str, command: list[str], **kw: Any) -> ExecResult:
        return ExecResult(1, "cp: No space left on device")

    # At start (the pristine copies): raised by start, the databases mounted again.
    pool, engine = make_pool(1)
    original = engine.exec
    calls: list[str] = []

    def pristine_fails(container_id: str, command: list[str], **kw: Any) -> ExecResult:
        calls.append(" ".join(command) + (kw.get("stdin") or b"").decode())
        if command[0] == "sh" and "/pristine/" in command[-1]:
            return full(container_id, command)
        return original(container_id, command, **kw)

    engine.exec = pristine_fails  # type: ignore[method-assign]
    with pytest.raises(CloneFailed, match=r"pristine copies of APP's .*No space left"):
        pool.start()
    # One command: the mount session follows the copies whatever they did.
    script = calls[-1]
    assert script.index("cp ") < script.index("MountDatabase")
    assert "copied=$?" in script.split("cp ", 1)[1].split("MountDatabase")[0]
    # In the background (a clone's copy): raised by the next claim.
    pool, engine = make_pool(1)
    original = engine.exec

    def clone_copy_fails(container_id: str, command: list[str], **kw: Any) -> ExecResult:
        if command[0] == "sh" and "iris-envs-clones/1/" in command[-1]:
            return full(container_id, command)
        return original(container_id, command, **kw)

    engine.exec = clone_copy_fails  # type: ignore[method-assign]
    pool.start()
    with pytest.raises(CloneFailed, match="No space left on device"):
        pool.claim(timeout=5)
    pool.close()


def test_clones_released_a_moment_apart_are_reset_together() -> None:
    pool, _engine = make_pool(3)
    pool.start()
    pool.wait_ready(timeout=10)
    clones = [pool.claim(timeout=10) for _ in range(3)]
    for clone in clones:
        pool.release(clone)
        time.sleep(0.002)  # released one after the other, as tests in threads do
    pool.wait_ready(timeout=10)
    pool.close()
    assert pool.batch_sizes[-1] == 3


def test_one_test_after_another_shares_batches_while_half_the_pool_is_ready() -> None:
    # Fast tests one after the other (each claims, writes, releases): the worker gathers the
    # released clones while at least half the pool is ready, so a batch serves several and
    # costs one exec and one session, not one per test.
    pool, _engine = make_pool(8)
    pool.start()
    pool.wait_ready(timeout=10)
    for _ in range(24):
        pool.release(pool.claim(timeout=10))
        time.sleep(0.01)
    pool.wait_ready(timeout=10)
    pool.close()
    resets = [size for size in pool.batch_sizes if size]
    assert sum(resets) == 24
    assert len(resets) <= 8, pool.batch_sizes  # one batch per three tests or better
    assert max(pool.claim_seconds) < 1.0  # and no claim waited for a reset


def test_a_lone_release_is_reset_within_the_gather_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slow tests: nothing else comes to share the batch; the clone is back soon anyway.
    from iris_envs.run import clone_pool

    monkeypatch.setattr(clone_pool, "GATHER_SECONDS", 0.2)
    pool, _engine = make_pool(4)
    pool.start()
    pool.wait_ready(timeout=10)
    pool.release(pool.claim(timeout=10))
    deadline = time.monotonic() + 5
    while len(pool._ready) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(pool._ready) == 4  # no claim or wait_ready asked for it
    pool.close()


def test_a_waiting_claim_does_not_wait_for_more_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    from iris_envs.run import clone_pool

    monkeypatch.setattr(clone_pool, "COALESCE_SECONDS", 30.0)
    monkeypatch.setattr(clone_pool, "GATHER_SECONDS", 30.0)
    pool, _engine = make_pool(2)
    pool.start()
    pool.wait_ready(timeout=10)
    first, second = pool.claim(timeout=10), pool.claim(timeout=10)
    pool.release(first)  # `second` stays out: without a waiting claim the worker would gather
    started = time.monotonic()
    again = pool.claim(timeout=10)
    assert again.namespace == first.namespace
    assert time.monotonic() - started < 10  # not the 30 s the worker would gather releases
    pool.release(again)
    pool.release(second)
    pool.close()


def test_a_reset_whose_copy_fails_mounts_again_and_is_reported() -> None:
    from iris_envs.run.clone_pool import CloneFailed

    pool, engine = make_pool(1)
    original = engine.exec
    scripts: list[str] = []

    def copy_fails(container_id: str, command: list[str], **kw: Any) -> ExecResult:
        result = original(container_id, command, **kw)
        if "IRIS_ENVS_RESET" not in command[-1]:
            return result
        scripts.append(command[-1])
        output = result.output.replace("IRIS-ENVS-COPY-EXIT=0", "cp: write error\n")
        return ExecResult(0, output + "IRIS-ENVS-COPY-EXIT=1")

    engine.exec = copy_fails  # type: ignore[method-assign]
    pool.start()
    pool.release(pool.claim(timeout=10))
    with pytest.raises(CloneFailed, match="resetting APP_C1 failed"):
        pool.claim(timeout=10)
    pool.close()
    # One session: dismount, the copy (its exit code written), then the mount whatever it did.
    script = scripts[0]
    assert script.count("iris session") == 1
    assert script.index("DismountDatabase") < script.index("$ZF(-100")
    assert script.index("$ZF(-100") < script.index("MountDatabase(d)")
