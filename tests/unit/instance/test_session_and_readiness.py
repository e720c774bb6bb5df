"""Unit tests of marker-checked sessions and the readiness poll loop, against a fake engine."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from iris_envs.engine.types import ContainerInfo, ExecResult
from iris_envs.errors import NotReady
from iris_envs.instance.objectscript import (
    ScriptFailed,
    extract_error,
    run_session,
    strip_comment,
    wrap_script,
    written_text,
)
from iris_envs.instance.readiness import LogMessage, QlistRunning, SessionProbe, wait_until_ready


@dataclass
class FakeEngine:
    """Answers exec with a scripted function; logs and state are plain attributes."""

    answer: object = None
    log_text: str = ""
    running: bool = True
    exit_code: int | None = None
    calls: list[dict[str, object]] = field(default_factory=list)

    def exec(self, container_id: str, command: list[str], **kwargs: object) -> ExecResult:
        self.calls.append({"command": command, **kwargs})
        assert callable(self.answer)
        return self.answer(command, kwargs)  # type: ignore[no-any-return]

    def logs(self, container_id: str, tail: int | None = None) -> str:
        lines = self.log_text.splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def inspect_container(self, container_id: str) -> ContainerInfo:
        return ContainerInfo(
            id=container_id,
            name="c",
            image="i",
            status="running" if self.running else "exited",
            running=self.running,
            exit_code=self.exit_code,
            labels={},
            ports={},
            health=None,
        )


def nonce_of(stdin: bytes) -> str:
    match = re.search(rb"IRIS-ENVS-OK-([0-9a-f]+)", stdin)
    assert match
    return match.group(1).decode()


def test_wrapped_script_guards_every_line_and_never_judges_by_zerror() -> None:
    script = wrap_script(["Write 1", "Set x=2"], "abc")
    lines = script.splitlines()
    # $ZERROR is set by errors that library code caught and handled: it must not be the judge.
    assert "$ZERROR" not in script and "$ZE" not in script
    body = [line for line in lines if line.startswith("Try {")]
    assert len(body) == 2
    for line, code in zip(body, ["Write 1", "Set x=2"], strict=True):
        # Skipped once an earlier line failed; its own error text is recorded by the Catch.
        assert line.startswith('Try { Quit:$Get(irisEnvsFailure)\'=""  ' + code + " }")
        assert "Catch irisEnvsCaught { Set irisEnvsFailure=irisEnvsCaught.DisplayString() }" in line
    assert 'If $Get(irisEnvsFailure)="" Write !,"IRIS-ENVS-OK-abc",!' in lines
    assert any("Terminate(,1)" in line and "IRIS-ENVS-FAILED-abc" in line for line in lines)
    assert lines[-1] == "Halt"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("Set x=1 ; a comment", "Set x=1"),
        ('Write "a;b" // trailing', 'Write "a;b"'),
        ('Write "say ""hi;"""  #; note', 'Write "say ""hi;"""'),
        ("; only a comment", ""),
        ("  Do ##class(A.B).C()  ", "Do ##class(A.B).C()"),
    ],
)
def test_comments_are_stripped_so_they_cannot_swallow_the_guard_brace(line: str, code: str) -> None:
    assert strip_comment(line) == code
    script = wrap_script([line], "n")
    assert ("Try {" in script) is bool(code)


def test_session_succeeds_only_with_this_calls_marker() -> None:
    engine = FakeEngine(
        answer=lambda c, kw: ExecResult(0, f"USER>IRIS-ENVS-OK-{nonce_of(kw['stdin'])}")
    )
    result = run_session(engine, "c1", ["Write 1"], namespace="USER", environment={"A": "b"})  # type: ignore[arg-type]
    assert "IRIS-ENVS-OK" not in result.output
    call = engine.calls[0]
    assert call["command"] == ["iris", "session", "IRIS", "-U", "USER"]
    assert call["user"] == "irisowner" and call["environment"] == {"A": "b"}


def test_exit_code_zero_without_marker_is_a_failure_with_the_iris_error() -> None:
    # A marker from another call (a stale transcript) must not count.
    engine = FakeEngine(
        answer=lambda c, kw: ExecResult(0, "<UNDEFINED>zStart+3^Foo *x\nIRIS-ENVS-OK-0000")
    )
    with pytest.raises(ScriptFailed) as caught:
        run_session(engine, "c1", ["Do x"], namespace="USER")  # type: ignore[arg-type]
    assert caught.value.error_text == (
        "<UNDEFINED>zStart+3^Foo *x (the session ended with exit code 0 before the script finished)"
    )


def test_failed_marker_line_gives_the_zerror_text() -> None:
    def answer(command: list[str], kw: dict[str, bytes]) -> ExecResult:
        nonce = nonce_of(kw["stdin"])
        return ExecResult(1, f"noise\nIRIS-ENVS-FAILED-{nonce} <ZBOOM>x^y\n")

    engine = FakeEngine(answer=answer)
    with pytest.raises(ScriptFailed, match="ZBOOM"):
        run_session(engine, "c1", ['ZTRAP "BOOM"'], namespace="USER")  # type: ignore[arg-type]


def test_extract_error_falls_back_to_the_last_lines() -> None:
    assert extract_error("") == "no output (the session did not run)"
    assert extract_error("a\nb\nERROR #5001: bad thing\n") == "ERROR #5001: bad thing"
    assert extract_error("one\ntwo") == "one | two"


def test_ready_when_all_checks_pass_in_order() -> None:
    def answer(command: list[str], kw: dict[str, bytes]) -> ExecResult:
        if command[:2] == ["iris", "qlist"]:
            return ExecResult(0, "IRIS^/usr/irissys^2025.1^running, since x^iris.cpf^1972")
        return ExecResult(0, f"IRIS-ENVS-OK-{nonce_of(kw['stdin'])}")

    engine = FakeEngine(answer=answer, log_text="Enabling logons\n")
    seen: list[str] = []
    wait_until_ready(engine, "c", timeout=5, on_progress=seen.append)  # type: ignore[arg-type]
    assert seen == [
        LogMessage().description,
        QlistRunning().description,
        SessionProbe().description,
    ]


def test_timeout_names_the_pending_check_and_shows_the_log_tail() -> None:
    engine = FakeEngine(answer=lambda c, kw: ExecResult(0, ""), log_text="starting\nstill starting")
    with pytest.raises(NotReady) as caught:
        wait_until_ready(engine, "c", timeout=0.3, interval=0.05)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "'Enabling logons'" in message and "still starting" in message


def test_exited_container_fails_at_once_with_its_exit_code() -> None:
    engine = FakeEngine(answer=lambda c, kw: ExecResult(0, ""), running=False, exit_code=3)
    with pytest.raises(NotReady, match="exited with code 3"):
        wait_until_ready(engine, "c", timeout=60)  # type: ignore[arg-type]


@pytest.mark.parametrize("running", [True, False], ids=["still-up", "already-exited"])
def test_community_license_failure_is_explained_expiry_first(running: bool) -> None:
    # IRIS shuts down after this line and the container exits: the explanation must survive it.
    engine = FakeEngine(
        answer=lambda c, kw: ExecResult(0, ""),
        log_text="Invalid Community Edition license, may have exceeded core limit",
        running=running,
        exit_code=None if running else 1,
    )
    with pytest.raises(NotReady) as caught:
        wait_until_ready(engine, "c", timeout=60)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "13 months" in message and "20-core" in message
    assert message.index("13 months") < message.index("20-core")  # the usual cause first


def test_community_image_age_warning() -> None:
    import datetime as dt

    from iris_envs.build.image_age import community_license_warning, image_age_days

    now = dt.datetime(2026, 11, 22, tzinfo=dt.timezone.utc)
    # The engine's Created has nanoseconds and a Z.
    assert image_age_days("2026-11-21T00:00:00.123456789Z", now) == pytest.approx(1.0, abs=0.01)
    assert community_license_warning("img:new", "2026-06-01T00:00:00Z", now) == ""
    soon = community_license_warning("img:old", "2025-11-01T00:00:00Z", now)
    assert "img:old" in soon and "expires soon" in soon
    gone = community_license_warning("img:older", "2025-01-01T00:00:00.5Z", now)
    assert "has probably expired" in gone and "every snapshot" in gone
    assert community_license_warning("img", "not a date", now) == ""


def test_captured_output_is_what_the_lines_wrote_whatever_the_prompts() -> None:
    """Issue 23 item 4: run_objectscript's text has no banner and no prompts, whether the
    session puts a prompt on a new line (the stand-in) or right after the output."""
    script = wrap_script(['Write "a"', "Set x=1", 'Write "b",!,"c"'], "n1", capture=True)
    guarded = [line for line in script.splitlines() if line.startswith("Try {")]
    # The end marker follows the Catch: also written when a line quits or skips its rest.
    assert all(line.endswith(' Write ">IRIS-ENVS-OUT-n1"') for line in guarded)
    transcripts = [
        "\nNode: abc, Instance: IRIS\n\nUSER>IRIS-ENVS-OUT-n1<a>IRIS-ENVS-OUT-n1\n"
        "USER>IRIS-ENVS-OUT-n1<>IRIS-ENVS-OUT-n1\nUSER>IRIS-ENVS-OUT-n1<b\r\nc>IRIS-ENVS-OUT-n1\n"
        "USER>\nIRIS-ENVS-OK-n1\n",
        "Node: abc, Instance: IRIS\nUSER>IRIS-ENVS-OUT-n1<a>IRIS-ENVS-OUT-n1USER>"
        ">IRIS-ENVS-OUT-n1USER>IRIS-ENVS-OUT-n1<b\nc>IRIS-ENVS-OUT-n1USER>",
    ]
    for transcript in transcripts:
        assert written_text(transcript, "n1") == "ab\nc"
    assert written_text(transcripts[0], "other") == ""  # another call's markers do not count


def test_run_session_with_capture_returns_the_written_text() -> None:
    def answer(command: object, kw: dict[str, object]) -> ExecResult:
        nonce = nonce_of(kw["stdin"])  # type: ignore[arg-type]
        return ExecResult(
            0,
            f"\nNode: x, Instance: IRIS\n\nUSER>IRIS-ENVS-OUT-{nonce}<hello>IRIS-ENVS-OUT-{nonce}"
            f"\nUSER>\nIRIS-ENVS-OK-{nonce}\n",
        )

    engine = FakeEngine(answer=answer)
    result = run_session(engine, "c1", ['Write "hello"'], namespace="USER", capture=True)  # type: ignore[arg-type]
    assert result.written == "hello"
    assert "Node:" in result.output  # the transcript is still there for diagnostics
