"""The comparison tests/docs_pages.py makes between a page's shown output and the real one:
values that differ per run or machine match by kind, everything else still has to match."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_pages import matches, normalize, page_steps

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        ("app: verify snapshot done in 2.1 s", "app: verify snapshot done in 13.7 s"),
        ("1 passed in 3.06s", "1 passed in 0.41s"),
        (
            "start container ... log line 'Enabling logons' (2 s)",
            "start container ... log line 'Enabling logons' (17 s)",
        ),
        (
            "OK (snapshot built 5.89 + start 1.76 + command 4.57 = 12.22 s)",
            "OK (snapshot built 41.02 + start 9.80 + command 12.00 = 62.82 s)",
        ),
        ("built (6.1 kB on top of the base image)", "built (123.4 MB on top of the base image)"),
        ("copied 75 bytes (0 s)", "copied 1,204,311 bytes (3 s)"),
        (
            "snapshot iris-envs/myproject-b0fcc4c4/app:f2040be8addd built",
            "snapshot iris-envs/myproject-97c27c78/app:8c1d33491d38 built",
        ),
        ("is cached (built 2026-12-04T15:54:31+00:00)", "is cached (built 2025-01-30T08:01:02Z)"),
        (
            "PASS engine: Docker 27.5.1 at unix:///run/user/1000/docker.sock (DOCKER_HOST), "
            "storage driver overlay2",
            "PASS engine: Docker 20.10.24+dfsg1 at unix:///tmp/iet-0eae9050/d.sock (DOCKER_HOST), "
            "storage driver overlay2",
        ),
        (
            "PASS cache folder: /home/you/.cache/iris-envs is writable",
            "PASS cache folder: /root/.cache/iris-envs is writable",
        ),
        ("PASS cpu count: 8 CPUs", "PASS cpu count: 2 CPUs"),
        (
            "platform linux -- Python 3.11.7, pytest-9.2.0, pluggy-1.7.0",
            "platform linux -- Python 3.12.1, pytest-8.3.4, pluggy-1.5.0",
        ),
        ("run (127.0.0.1:32771, snapshot x)", "run (10.0.0.5:49153, snapshot x)"),
        ("===== 1 passed in 0.82s =====", "==== 1 passed in 10.82s ===="),
        (
            "nox > Session tests(iris-2025.1) was successful in 14 seconds.",
            "nox > Session tests(iris-2025.1) was successful in 1 minute.",
        ),
    ],
)
def test_a_value_that_differs_per_run_matches_one_of_its_kind(shown: str, printed: str) -> None:
    assert matches((shown,), printed + "\n")


@pytest.mark.parametrize(
    ("shown", "printed"),
    [
        # A renamed step, a changed word next to a variable value.
        ("app: verify snapshot done in 2.1 s", "app: check snapshot done in 2.1 s"),
        ("app: verify snapshot done in 2.1 s", "app: verify snapshot failed after 2.1 s"),
        ("built (6.1 kB on top of the base image)", "built (6.1 kB on top of the old image)"),
        ("is cached (built 2026-12-04T15:54:31+00:00)", "is missing (built 2026-12-04T15:54:31)"),
        # Counts, versions in names and the unit of a value are not variable.
        ("1 passed in 3.06s", "2 passed in 3.06s"),
        ("1 passed in 3.06s", "1 failed in 3.06s"),
        ("iris-2024.1: OK", "iris-2025.1: OK"),
        (
            "image intersystemsdc/iris-community:2025.1",
            "image intersystemsdc/iris-community:2024.1",
        ),
        (
            "iris-envs/myproject-b0fcc4c4/app:f2040be8addd",
            "iris-envs/yourproject-b0fcc4c4/app:f2040be8addd",
        ),
        ("load src/ done in 0.2 s", "load lib/ done in 0.2 s"),
        ("PASS cpu count: 8 CPUs", "WARN cpu count: 8 CPUs"),
        ("===== 1 passed in 0.82s =====", "===== 1 failed in 0.82s ====="),
        # `...` inside a line is the product's own text, not a wildcard.
        ("app: start container ...", "app: start container done in 1.8 s"),
    ],
)
def test_a_different_word_does_not_match(shown: str, printed: str) -> None:
    assert not matches((shown,), printed + "\n")


def test_every_line_is_compared() -> None:
    shown = ("a: one 1.0 s", "a: two", "a: three")
    assert matches(shown, "a: one 3.2 s\na: two\na: three\n")
    assert not matches(shown, "a: one 3.2 s\na: three\n"), "a line went missing"
    assert not matches(shown, "a: one 3.2 s\na: two\na: two and a half\na: three\n")
    assert not matches(shown, "a: two\na: one 3.2 s\na: three\n"), "out of order"


def test_a_line_of_only_dots_stands_for_any_lines() -> None:
    assert matches(("x", "...", "z"), "x\nb\nc\nz\n")
    assert matches(("x", "...", "z"), "x\nz\n")
    assert not matches(("x", "...", "z"), "x\nb\n")


PARALLEL = (
    "b: start ...",
    "a: start ...",
    "a: start done in 1.0 s",
    "b: start done in 1.2 s",
    "===== b: output =====",
    "1 passed in 0.5s",
    "===== a: output =====",
    "2 passed in 0.7s",
    "  a: OK",
    "  b: OK",
    "  all environments passed",
)


def test_parallel_environments_may_interleave_in_any_order() -> None:
    other_order = (
        "a: start ...\nb: start ...\nb: start done in 1.1 s\na: start done in 2.0 s\n"
        "===== a: output =====\n2 passed in 0.1s\n===== b: output =====\n1 passed in 0.2s\n"
        "  a: OK\n  b: OK\n  all environments passed\n"
    )
    assert matches(PARALLEL, other_order)


def test_each_parallel_environment_keeps_its_own_lines_and_their_order() -> None:
    printed = "\n".join(PARALLEL) + "\n"
    assert matches(PARALLEL, printed)
    swapped = printed.replace(
        "a: start ...\na: start done in 1.0 s", "a: start done in 1.0 s\na: start ..."
    )
    assert "a: start done in 1.0 s\na: start ..." in swapped
    assert not matches(PARALLEL, swapped)
    assert not matches(PARALLEL, printed.replace("b: start done in 1.2 s\n", ""))
    # Each output section stays with its environment: a's test count is not b's.
    assert not matches(PARALLEL, printed.replace("2 passed", "1 passed"))
    assert not matches(PARALLEL, printed.replace("  a: OK\n  b: OK", "  b: OK\n  a: OK"))


def test_normalizing_names_the_kind_of_each_value() -> None:
    assert (
        normalize("x  done in 1.9 s (2.3 kB)  at /tmp/a")
        == "x done in <duration> (<size>) at <path>"
    )


def test_the_quickstart_shows_every_line_of_its_outputs() -> None:
    """No output on the quickstart is elided: a reader sees each line the command prints."""
    steps = page_steps((DOCS / "quickstart.md").read_text(encoding="utf-8"))
    elided = [s.command for s in steps if s.command and "..." in map(str.strip, s.expected)]
    assert elided == []
    assert all(s.expected for s in steps if s.command), "a command shows no output"


HEARTBEAT_PAGE = (
    "default: start build container ...",
    "default: start build container ... log line 'Enabling logons' (2 s)",
    "default: start build container done in 1.9 s (iris session answers)",
)


@pytest.mark.parametrize("beats", [0, 1, 3])
def test_a_heartbeat_the_page_shows_matches_as_many_as_a_machine_prints(beats: int) -> None:
    printed = ["default: start build container ..."]
    printed += [f"default: start build container ... waiting ({5 * i + 2} s)" for i in range(beats)]
    printed += ["default: start build container done in 17.0 s (iris session answers)"]
    assert matches(HEARTBEAT_PAGE, "\n".join(printed) + "\n")


def test_a_heartbeat_of_another_step_or_environment_does_not_match() -> None:
    for stranger in (
        "default: prepare users ... waiting (5 s)",
        "other: start build container ... waiting (5 s)",
        "default: start build container ... waiting",
    ):
        printed = [HEARTBEAT_PAGE[0], stranger, HEARTBEAT_PAGE[2]]
        assert not matches(HEARTBEAT_PAGE, "\n".join(printed) + "\n"), stranger
