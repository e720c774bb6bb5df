"""Run ObjectScript through ``iris session`` and judge success by a per-call nonce marker.

``iris session`` exits 0 even when the script fails ("Syntax errors or ObjectScript functions
failing does not alter the exit code", ADOCK), so every script is wrapped. Each body line runs in
a one-line Try whose Catch records the error's text; once one line failed the others are skipped,
and at the end a failure forces a non-zero exit with ``%SYSTEM.Process.Terminate(,1)`` while
success writes a random marker. ``$ZERROR`` is NOT the judge: every error sets it, also one that
library code (ours, IRIS's, IPM's) catches and handles (THROW reference; iris-facts.md).
Values (user names, passwords, paths) travel in the exec environment and are read with
``$system.Util.GetEnviron``, never spliced into the text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError

IRIS_OWNER = "irisowner"
IRIS_OWNER_UID = 51773
INSTANCE = "IRIS"

# ObjectScript error lines look like "<UNDEFINED>zStart+3^Foo *x" or "ERROR #5001: ...".
_ERROR_LINE = re.compile(r"(<[A-Z][A-Z0-9 ]*>.*|ERROR #\d+:.*)")


class ScriptFailed(IrisEnvsError):
    """An ``iris session`` script reported an error (or never wrote its success marker)."""

    def __init__(self, message: str, *, output: str, error_text: str) -> None:
        super().__init__(message)
        self.output = output
        self.error_text = error_text


@dataclass(frozen=True)
class SessionResult:
    """Output of a successful session: the transcript (the marker line removed) and, when the
    session was run with ``capture=True``, only what the body's lines wrote."""

    output: str
    written: str = ""


def throw_on_error(status_var: str) -> str:
    """ObjectScript that turns an error %Status in ``status_var`` into a thrown exception."""
    return f"Throw:'{status_var} ##class(%Exception.StatusException).CreateFromStatus({status_var})"


# The variables the wrapper uses; odd names so they do not meet a step's own variables.
FAILURE_VAR = "irisEnvsFailure"
CAUGHT_VAR = "irisEnvsCaught"


def strip_comment(line: str) -> str:
    """The code of a direct-mode line without its trailing comment (``;``, ``//``, ``#;``).

    Inside the guard's braces a comment would swallow the closing ``}``. ``;`` and ``//`` are no
    ObjectScript operators, so outside a string literal they can only start a comment.
    """
    in_string = False
    for index, char in enumerate(line):
        if char == '"':
            in_string = not in_string  # a doubled "" inside a string toggles twice: no change
        elif not in_string and (
            char == ";" or line.startswith("//", index) or line.startswith("#;", index)
        ):
            return line[:index].rstrip()
    return line.strip()


def guard_line(line: str, capture: str = "") -> str:
    """One body line in a one-line Try: it runs only while nothing failed, and its own error
    (not a stale ``$ZERROR``) is recorded with the text ``DisplayString()`` gives.

    The two spaces after the argumentless ``Quit`` are ObjectScript syntax; ``$Get`` keeps the
    check working after a step's argumentless ``Kill``. With ``capture`` (a nonce) the line's
    output is bracketed by markers written on the same input line, so no prompt (printed when
    the session reads the next line) and no banner falls between them: see ``written_text``.
    """
    begin = end = ""
    if capture:
        marks = _out_marks(capture)
        begin, end = f'Write "{marks[0]}" ', f' Write "{marks[1]}"'
    return (
        f'Try {{ Quit:$Get({FAILURE_VAR})\'=""  {begin}{line} }} '
        f"Catch {CAUGHT_VAR} {{ Set {FAILURE_VAR}={CAUGHT_VAR}.DisplayString() }}{end}"
    )


def _out_marks(nonce: str) -> tuple[str, str]:
    return f"IRIS-ENVS-OUT-{nonce}<", f">IRIS-ENVS-OUT-{nonce}"


def written_text(output: str, nonce: str) -> str:
    """What the body's lines wrote, from a transcript of a ``capture`` script: the text between
    each line's markers, joined; line ends as ``\\n``; leading and trailing blank space removed.

    The end marker is written after the line's Catch, so also after an argumentless ``Quit`` or
    a false legacy ``If`` that skips the rest of the line's block.
    """
    begin, end = _out_marks(nonce)
    pieces = re.findall(re.escape(begin) + "(.*?)" + re.escape(end), output, re.DOTALL)
    return "".join(pieces).replace("\r\n", "\n").strip()


def wrap_script(body: Sequence[str], nonce: str, *, capture: bool = False) -> str:
    """Wrap direct-mode lines so that success is provable by the marker ``IRIS-ENVS-OK-<nonce>``
    (and, with ``capture``, each line's output can be told from prompts: ``written_text``).

    Each line stays one logical statement: multi-line blocks are unreliable in a terminal session.
    """
    failed = f'$Get({FAILURE_VAR})\'=""'
    mark = nonce if capture else ""
    lines = [
        f'Set {FAILURE_VAR}=""',
        *(guard_line(code, mark) for code in map(strip_comment, body) if code),
        f'If {failed} Write !,"IRIS-ENVS-FAILED-{nonce} ",{FAILURE_VAR},! '
        "Do ##class(%SYSTEM.Process).Terminate(,1)",
        f'If $Get({FAILURE_VAR})="" Write !,"IRIS-ENVS-OK-{nonce}",!',
        "Halt",
    ]
    return "\n".join(lines) + "\n"


def wrapped(body: Sequence[str]) -> tuple[str, str]:
    """``body`` wrapped for an ``iris session`` the caller runs itself (several in one exec),
    with the marker that proves it succeeded."""
    nonce = secrets.token_hex(8)
    return wrap_script(body, nonce), f"IRIS-ENVS-OK-{nonce}"


def run_session(
    engine: DockerEngine,
    container_id: str,
    body: Sequence[str],
    *,
    namespace: str,
    environment: Mapping[str, str] | None = None,
    timeout: float = 3600,
    what: str = "script",
    capture: bool = False,
) -> SessionResult:
    """Run ``body`` in ``iris session IRIS -U namespace`` as irisowner; raise ScriptFailed.

    With ``capture`` the result's ``written`` holds what the body wrote (``written_text``).
    """
    nonce = secrets.token_hex(8)
    script = wrap_script(body, nonce, capture=capture)
    result = engine.exec(
        container_id,
        ["iris", "session", INSTANCE, "-U", namespace],
        user=IRIS_OWNER,
        environment=environment,
        stdin=script.encode(),
        timeout=timeout,
    )
    ok_marker = f"IRIS-ENVS-OK-{nonce}"
    if result.exit_code == 0 and ok_marker in result.output:
        written = written_text(result.output, nonce) if capture else ""
        return SessionResult(result.output.replace(ok_marker, "").strip(), written)
    error_text = extract_error(result.output, nonce)
    if f"IRIS-ENVS-FAILED-{nonce}" not in result.output:
        # Not our own failure exit: something ended the process mid-script (a SYS.Container
        # method on error, a Halt, the instance going down), or it never started.
        error_text += (
            f" (the session ended with exit code {result.exit_code} before the script finished)"
        )
    raise ScriptFailed(
        f"{what} failed in namespace {namespace} (iris session exit code {result.exit_code}): "
        f"{error_text}",
        output=result.output,
        error_text=error_text,
    )


def extract_error(output: str, nonce: str = "") -> str:
    """Pick the most telling IRIS error text out of a session transcript."""
    if nonce:
        for line in output.splitlines():
            if f"IRIS-ENVS-FAILED-{nonce}" in line:
                detail = line.split(f"IRIS-ENVS-FAILED-{nonce}", 1)[1].strip()
                if detail:
                    return detail
    errors = [m.group(1).strip() for m in map(_ERROR_LINE.search, output.splitlines()) if m]
    if errors:
        return errors[0]
    tail = [line for line in output.strip().splitlines() if line.strip()][-5:]
    return " | ".join(tail) if tail else "no output (the session did not run)"
