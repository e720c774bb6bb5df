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
    """Output of a successful session (the marker line removed)."""

    output: str


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


def guard_line(line: str) -> str:
    """One body line in a one-line Try: it runs only while nothing failed, and its own error
    (not a stale ``$ZERROR``) is recorded with the text ``DisplayString()`` gives.

    The two spaces after the argumentless ``Quit`` are ObjectScript syntax; ``$Get`` keeps the
    check working after a step's argumentless ``Kill``.
    """
    return (
        f'Try {{ Quit:$Get({FAILURE_VAR})\'=""  {line} }} '
        f"Catch {CAUGHT_VAR} {{ Set {FAILURE_VAR}={CAUGHT_VAR}.DisplayString() }}"
    )


def wrap_script(body: Sequence[str], nonce: str) -> str:
    """Wrap direct-mode lines so that success is provable by the marker ``IRIS-ENVS-OK-<nonce>``.

    Each line stays one logical statement: multi-line blocks are unreliable in a terminal session.
    """
    failed = f'$Get({FAILURE_VAR})\'=""'
    lines = [
        f'Set {FAILURE_VAR}=""',
        *(guard_line(code) for code in map(strip_comment, body) if code),
        f'If {failed} Write !,"IRIS-ENVS-FAILED-{nonce} ",{FAILURE_VAR},! '
        "Do ##class(%SYSTEM.Process).Terminate(,1)",
        f'If $Get({FAILURE_VAR})="" Write !,"IRIS-ENVS-OK-{nonce}",!',
        "Halt",
    ]
    return "\n".join(lines) + "\n"


def run_session(
    engine: DockerEngine,
    container_id: str,
    body: Sequence[str],
    *,
    namespace: str,
    environment: Mapping[str, str] | None = None,
    timeout: float = 3600,
    what: str = "script",
) -> SessionResult:
    """Run ``body`` in ``iris session IRIS -U namespace`` as irisowner; raise ScriptFailed."""
    nonce = secrets.token_hex(8)
    script = wrap_script(body, nonce)
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
        return SessionResult(result.output.replace(ok_marker, "").strip())
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
