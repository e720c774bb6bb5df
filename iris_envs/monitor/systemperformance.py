"""A ^SystemPerformance profile around the command, its HTML report copied out at the end.

Sources (InterSystems, "Monitoring Performance Using ^SystemPerformance", GCM_systemperf,
https://docs.intersystems.com/irislatest/csp/docbook/DocBook.UI.Page.cls?KEY=GCM_systemperf,
read through its published translations; every call runs in %SYS):
- ``$$addprofile^SystemPerformance(name, description, interval, count)``: interval in seconds,
  1 to 300, "a 1-second interval is allowed only if the profile duration is one hour or less";
  returns 1 or ``0^reason``. ``$$delprofile^SystemPerformance(name)`` removes it again.
- ``$$run^SystemPerformance(profile)`` starts it and returns the runid, 0 on failure.
- ``$$Stop^SystemPerformance(runid, 0)`` stops the collection early, keeps the .log files and
  generates the HTML report from them (``1:2:3:4_1:2:3:4`` on success, ``0^reason``).
- ``$$getlogdir^SystemPerformance()`` is the output folder (install-dir/mgr by default); the
  report is named ``<host>_<instance>_<runid>.html`` there (observed in InterSystems' tools;
  not in the documentation, so a missing file is reported, never fatal).
- ``run`` and ``waittime`` change the current device: ``$IO`` is saved and restored.
A profile collects for its whole length unless stopped: a profile sized to one hour is started
and stopped when the command ends, which also ends it when the run is cut short.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.instance.objectscript import IRIS_OWNER, run_session

PROFILE_SECONDS = 3600  # the longest profile a 1 s interval allows
REPORT_WAIT = 120.0  # seconds to wait for the report after Stop (it is written by a job)
_RUNID = re.compile(r"IRIS-ENVS-SP\|([^|]*)\|([^|]*)\|")


def profile(interval: float) -> tuple[str, int, int]:
    """A unique profile name, its interval (whole seconds, 1 to 300) and its sample count."""
    seconds = min(max(round(interval), 1), 300)
    return f"irisenvs{secrets.token_hex(3)}", seconds, max(PROFILE_SECONDS // seconds, 1)


def start_body(name: str, interval: int, count: int) -> list[str]:
    """ObjectScript that adds the profile and starts it, writing ``IRIS-ENVS-SP|runid|dir|``."""
    return [
        f'Set rc=$$addprofile^SystemPerformance("{name}","iris-envs run",{interval},{count})',
        'If \'rc Throw ##class(%Exception.General).%New("addprofile",,,$Piece(rc,"^",2))',
        f'Set io=$IO,runid=$$run^SystemPerformance("{name}") Use io',
        'If \'runid Throw ##class(%Exception.General).%New("run^SystemPerformance failed")',
        'Write "IRIS-ENVS-SP|",runid,"|",$$getlogdir^SystemPerformance(),"|",!',
    ]


def stop_body(name: str, runid: str) -> list[str]:
    """ObjectScript that stops the run (keeping its logs: the report is generated from them)
    and removes the profile; writes ``IRIS-ENVS-SP|<Stop's answer>|<delprofile's>|``."""
    return [
        f'Set io=$IO,x=$$Stop^SystemPerformance("{runid}",0) Use io',
        f'Set d=$$delprofile^SystemPerformance("{name}")',
        'Write "IRIS-ENVS-SP|",x,"|",d,"|",!',
    ]


def parse_answer(written: str) -> tuple[str, str] | None:
    """The two fields of an ``IRIS-ENVS-SP|a|b|`` line, or None."""
    found = _RUNID.search(written)
    return (found.group(1), found.group(2)) if found else None


class Profile:
    """One ^SystemPerformance run of a command: ``start()``, then ``finish(folder)``."""

    def __init__(self, engine: DockerEngine, container_id: str, interval: float) -> None:
        self._engine, self._container_id = engine, container_id
        self.name, self.interval, self.count = profile(interval)
        self.runid = ""
        self.log_dir = ""
        self.report: str | None = None
        self.problem = ""

    def start(self) -> None:
        try:
            result = self._session(start_body(self.name, self.interval, self.count), "start")
        except IrisEnvsError as error:
            self.problem = f"could not start ^SystemPerformance: {error}"
            return
        answer = parse_answer(result)
        if answer is None:
            self.problem = "^SystemPerformance did not say its runid"
            return
        self.runid, self.log_dir = answer

    def finish(self, folder: Path | None) -> None:
        """Stop the run and copy its HTML report to ``folder`` (None: stop only, as after
        Ctrl-C); problems are recorded, never raised."""
        if not self.runid:
            return
        try:
            answer = parse_answer(self._session(stop_body(self.name, self.runid), "stop"))
        except IrisEnvsError as error:
            self.problem = f"could not stop ^SystemPerformance run {self.runid}: {error}"
            return
        if answer is None or answer[0].startswith("0"):
            reason = answer[0] if answer else "no answer"
            self.problem = f"Stop^SystemPerformance({self.runid}) failed: {reason}"
            return
        if folder is not None:
            try:
                self._copy_report(folder)
            except (IrisEnvsError, OSError) as error:
                self.problem = f"could not copy the ^SystemPerformance report: {error}"

    def _copy_report(self, folder: Path) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.runid):
            self.problem = f"unexpected runid {self.runid!r}"
            return
        directory = self.log_dir.rstrip("/")
        pattern = f"{directory}/*_{self.runid}.html"
        # The report is written by a job after Stop: wait until it exists and its size holds.
        script = (
            f'for f in "{directory}"/*_{self.runid}.html; do '
            '[ -f "$f" ] && stat -c \'%s %n\' "$f"; done | head -n 1'
        )
        deadline, last = time.monotonic() + REPORT_WAIT, ""
        while True:
            seen = self._engine.exec(
                self._container_id, ["sh", "-c", script], user=IRIS_OWNER, timeout=30
            ).output.strip()
            if (seen and seen == last) or time.monotonic() > deadline:
                break
            last = seen
            time.sleep(1)
        found = seen.split(None, 1)[1] if seen and seen == last and " " in seen else ""
        if not found:
            self.problem = f"no report {pattern} appeared within {REPORT_WAIT:.0f} s"
            return
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / Path(found).name
        target.write_bytes(self._engine.read_file(self._container_id, found))
        self.report = str(target)

    def _session(self, body: list[str], what: str) -> str:
        return run_session(
            self._engine,
            self._container_id,
            body,
            namespace="%SYS",
            timeout=120,
            what=f"^SystemPerformance {what}",
            capture=True,
        ).written
