"""Run one %UnitTest class in a container: copy its files in, load them, run the manager once,
read the results back, all in one marker-checked ``iris session`` as irisowner.

- Load and compile with ``$SYSTEM.OBJ.Load`` ourselves (flags ``ck``, display off, plus
  ``/generatemap`` so assert locations map back to the class source, GUNITTEST_results): its
  %Status is the compiler's message when the class does not compile.
- Run with ``DebugRunTestCase(testsuite, testcase, qspec, testmethod)``: it "does not load any
  classes from any directories nor does it delete any classes" (TUNT_ExecuteDebug; class
  reference %UnitTest.Manager), once per class (one method when only one is wanted).
  ``^UnitTestRoot`` must name a valid directory first (class reference, setup instructions).
- Each run gets a suite name of its own; the rows of that suite are read from the documented
  result tables (class reference %UnitTest.Result.*; child tables carry their parent's ID in the
  column named after it, as intersystems-testingmanager queries them). The manager's %Status is
  not the verdict: failed asserts are results, not errors (IPM counts them from the results).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import PurePosixPath

from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import FileToCopy
from iris_envs.errors import DockerOperationFailed
from iris_envs.instance.objectscript import IRIS_OWNER_UID, ScriptFailed, run_session
from iris_envs.unittest.results import ClassRun, parse_rows
from iris_envs.unittest.source import TestClass

ROOT = PurePosixPath("/tmp/iris-envs-unittest")  # ^UnitTestRoot; every IRIS image has /tmp
LOAD_FLAGS = "ck-d/generatemap"
TIMEOUT = 3600.0
_JOIN = (
    "JOIN %UnitTest_Result.TestCase c ON m.TestCase = c.ID "
    "JOIN %UnitTest_Result.TestSuite s ON c.TestSuite = s.ID WHERE s.Name = ?"
)
QUERIES = {
    "case": "SELECT c.Name, c.Status, c.ErrorAction, c.ErrorDescription "
    "FROM %UnitTest_Result.TestCase c "
    "JOIN %UnitTest_Result.TestSuite s ON c.TestSuite = s.ID WHERE s.Name = ?",
    "method": "SELECT c.Name, m.Name, m.Status, m.Duration, m.ErrorAction, m.ErrorDescription "
    "FROM %UnitTest_Result.TestMethod m " + _JOIN,
    "assert": "SELECT c.Name, m.Name, a.Counter, a.Status, a.Action, a.Description, a.Location "
    "FROM %UnitTest_Result.TestAssert a "
    "JOIN %UnitTest_Result.TestMethod m ON a.TestMethod = m.ID " + _JOIN,
}
_COLUMNS = {"case": 4, "method": 6, "assert": 7}
_EXISTS = "##class(%Dictionary.CompiledClass).%ExistsId"


def _getenv(name: str) -> str:
    return f'$system.Util.GetEnviron("IRIS_ENVS_UT_{name}")'


def session_body() -> list[str]:
    """The ObjectScript lines; every value arrives in the exec environment."""
    out = f"Write {_getenv('MARK')},$C(9),"
    body = [
        f"Set suite={_getenv('SUITE')},cls={_getenv('CLASS')},only={_getenv('METHOD')}",
        f"Set ^UnitTestRoot={_getenv('ROOT')}",
        # Is IPM here (>= 0.9 %IPM.Main, older %ZPM.PackageManager; as the ipm setup step
        # checks)? Asked for an IPM module's tests, whose dependencies IPM installs.
        f'If {_getenv("IPM")} {out}"ipm",$C(9),{_EXISTS}("%IPM.Main"),$C(9),'
        f'{_EXISTS}("%ZPM.PackageManager"),!',
        # The superclasses' files first: a class compiles only once its superclass exists.
        f"Set loaded=1 For i=1:1:{_getenv('FILES')} {{ If loaded Set loaded="
        f'$SYSTEM.OBJ.Load($system.Util.GetEnviron("IRIS_ENVS_UT_FILE"_i),"{LOAD_FLAGS}") }}',
        f'If \'loaded {out}"compile",$C(9),$ZCVT($SYSTEM.Status.GetErrorText(loaded),"O","JSON"),!',
        'If loaded Set ran=##class(%UnitTest.Manager).DebugRunTestCase(suite,cls,"/display=none",'
        "only)",
        f'If loaded,\'ran {out}"status",$C(9),$ZCVT($SYSTEM.Status.GetErrorText(ran),"O","JSON"),!',
    ]
    for kind, columns in _COLUMNS.items():
        body.append(
            f"If loaded Set rs=##class(%SQL.Statement).%ExecDirect(,{_getenv('Q_' + kind.upper())},"
            "suite) Throw:rs.%SQLCODE<0 ##class(%Exception.SQL).CreateFromSQLCODE(rs.%SQLCODE,"
            f'rs.%Message) While rs.%Next() {{ {out}"{kind}" For i=1:1:{columns} '
            '{ Write $C(9),$ZCVT(rs.%GetData(i),"O","JSON") } Write ! }'
        )
    return body


def run_class(
    engine: DockerEngine,
    container: str,
    namespace: str,
    test: TestClass,
    methods: Sequence[str] = (),
    *,
    ask_ipm: bool = False,
) -> ClassRun:
    """Run ``test`` (only ``methods`` when exactly one is named) and return what it recorded.

    Infrastructure failures (the copy, the session) come back as the run's ``run_error``, so a
    test runner fails the class's items with the text instead of crashing. ``ask_ipm``: the run
    also says whether IPM is installed in the namespace (``ClassRun.ipm``).
    """
    suite = f"iris-envs-{secrets.token_hex(6)}"
    files = [*test.needs, test.path]
    names = [f"{suite}/{index}-{path.name}" for index, path in enumerate(files)]
    mark = f"IRIS-ENVS-UT-{secrets.token_hex(4)}"
    environment = {
        "IRIS_ENVS_UT_SUITE": suite,
        "IRIS_ENVS_UT_CLASS": test.name,
        "IRIS_ENVS_UT_METHOD": methods[0] if len(methods) == 1 else "",
        "IRIS_ENVS_UT_ROOT": f"{ROOT}/",
        "IRIS_ENVS_UT_FILES": str(len(files)),
        "IRIS_ENVS_UT_MARK": mark,
        "IRIS_ENVS_UT_IPM": "1" if ask_ipm else "0",
        **{f"IRIS_ENVS_UT_FILE{i + 1}": f"{ROOT}/{name}" for i, name in enumerate(names)},
        **{f"IRIS_ENVS_UT_Q_{kind.upper()}": sql for kind, sql in QUERIES.items()},
    }
    try:
        engine.copy_in(
            container,
            str(ROOT),
            [FileToCopy(path.resolve(), name) for path, name in zip(files, names, strict=True)],
            uid=IRIS_OWNER_UID,
            gid=IRIS_OWNER_UID,
        )
        result = run_session(
            engine,
            container,
            session_body(),
            namespace=namespace,
            environment=environment,
            timeout=TIMEOUT,
            what=f"%UnitTest run of {test.name}",
        )
    except (ScriptFailed, DockerOperationFailed) as failure:
        return ClassRun(test.name, run_error=str(failure))
    return parse_rows(test.name, result.output, mark)
