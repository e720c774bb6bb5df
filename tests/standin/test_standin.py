"""The stand-in IRIS image keeps the real container contract (checked on a real Docker engine)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.standin.build import (
    HASH_LABEL,
    STANDIN_REPO,
    STANDIN_VERSIONS,
    build_dc_variant,
    build_expired_variant,
    build_slow_variant,
    ensure_standin_images,
)
from tests.standin.conftest import Containers, docker, wait_exited, wait_for_log

pytestmark = pytest.mark.docker

NEWEST = STANDIN_VERSIONS[-1]
CPF = "/usr/irissys/iris.cpf"


def superserver_login(name: str, user: str, password: str, namespace: str = "USER") -> str:
    """Speak the stand-in's line protocol on the published 1972 port; returns the answer line."""
    host, port = docker("port", name, "1972/tcp").stdout.splitlines()[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        stream = sock.makefile("rw", encoding="utf-8", newline="\n")
        greeting = stream.readline()
        assert greeting.startswith("IRIS-STANDIN "), greeting
        stream.write(f"LOGIN {user} {password} {namespace}\n")
        stream.flush()
        return stream.readline().strip()


def session(name: str, script: str, *env: str, namespace: str = "%SYS") -> tuple[int, str]:
    """Run a script through `iris session` the way the product does; returns (exit code, stdout)."""
    env_args = [arg for item in env for arg in ("-e", item)]
    proc = docker(
        "exec",
        "-i",
        *env_args,
        "-u",
        "irisowner",
        name,
        "iris",
        "session",
        "IRIS",
        "-U",
        namespace,
        stdin=script,
        check=False,
    )
    return proc.returncode, proc.stdout


def test_content_hash_cache_is_a_no_op_the_second_time(standin_images: dict[str, str]) -> None:
    ids = {
        v: docker("image", "inspect", "-f", "{{.Id}}", t).stdout for v, t in standin_images.items()
    }
    started = time.monotonic()
    again = ensure_standin_images()
    assert time.monotonic() - started < 3
    assert again == standin_images
    assert {
        v: docker("image", "inspect", "-f", "{{.Id}}", t).stdout for v, t in again.items()
    } == ids


@pytest.mark.parametrize("version", STANDIN_VERSIONS)
def test_image_config_matches_the_real_contract(
    standin_images: dict[str, str], version: str
) -> None:
    assert standin_images[version] == f"{STANDIN_REPO}:{version}"
    config = json.loads(
        docker("image", "inspect", "-f", "{{json .Config}}", standin_images[version]).stdout
    )
    assert config["User"] == "51773"
    assert config["WorkingDir"] == "/home/irisowner"
    assert config["Entrypoint"] == ["/tini", "--", "/iris-main"]
    assert set(config["ExposedPorts"]) == {"1972/tcp", "52773/tcp"}
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "/irisHealth.sh"]
    assert not config.get("Volumes")  # so /usr/irissys/mgr is captured by docker commit
    assert config["Labels"]["com.intersystems.ports.default.superserver"] == "1972"
    assert config["Labels"][HASH_LABEL]


def test_versions_report_different_zversion(
    standin_images: dict[str, str], containers: Containers
) -> None:
    seen = {}
    for version, image in standin_images.items():
        name = containers.start(image)
        code, out = session(name, "Write $ZVERSION,!\nHalt\n")
        assert code == 0
        assert f" {version} (Build" in out
        seen[version] = out
        assert docker("exec", name, "iris", "qlist").stdout.startswith(
            f"IRIS^/usr/irissys^{version}."
        )
    assert len(set(seen.values())) == len(STANDIN_VERSIONS)


def test_passwords_expired_until_unexpired_and_created_user_logs_in(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    logs = docker("logs", name).stdout
    assert logs.index("Private webserver started on 52773") < logs.index("Enabling logons")
    assert superserver_login(name, "_SYSTEM", "SYS") == "ERROR Password change required"
    assert superserver_login(name, "nobody", "x") == "ERROR Access Denied"

    code, _ = session(name, 'Do ##class(Security.Users).UnExpireUserPasswords("*")\nHalt\n')
    assert code == 0
    assert superserver_login(name, "_SYSTEM", "SYS", "%SYS") == f"OK {NEWEST} %SYS"
    assert superserver_login(name, "_SYSTEM", "wrong") == "ERROR Access Denied"

    # The product's pattern: secrets come in through the exec environment, never the script text.
    create = (
        'Set u=$system.Util.GetEnviron("IRIS_ENVS_USERNAME"),'
        'p=$system.Util.GetEnviron("IRIS_ENVS_PASSWORD")\n'
        'Set sc=##class(Security.Users).Create(u,"%All",p)\n'
        'If $SYSTEM.Security.Login(u,p) Write "LOGIN-OK-nonce1",!\n'
        'If $SYSTEM.Security.Login(u,"not-it") Write "LOGIN-WRONG-nonce1",!\n'
        "Halt\n"
    )
    code, out = session(name, create, "IRIS_ENVS_USERNAME=tester", "IRIS_ENVS_PASSWORD=s3cret pw")
    assert code == 0
    assert "LOGIN-OK-nonce1" in out
    assert "LOGIN-WRONG-nonce1" not in out
    # A space cannot travel in the one-line protocol, so check the stored hash via a second user.
    assert superserver_login(name, "tester", "s3cret") == "ERROR Access Denied"
    code, _ = session(
        name,
        'Set ok=##class(Security.Users).Exists("tester",.obj) '
        'Set obj.PasswordExternal="newpw",obj.ChangePassword=0\nHalt\n',
    )
    assert code == 0
    assert superserver_login(name, "tester", "newpw") == f"OK {NEWEST} USER"

    # Every script is recorded, numbered, owned by irisowner; secrets stay out of it.
    listing = docker("exec", name, "ls", "-ln", "/usr/irissys/mgr/sessions").stdout
    recorded = [line for line in listing.splitlines() if line.endswith(".script")]
    assert len(recorded) == 3
    assert all(line.split()[2] == "51773" for line in recorded)
    assert "0002-%SYS.script" in listing
    assert (
        "s3cret"
        not in docker("exec", name, "cat", "/usr/irissys/mgr/sessions/0002-%SYS.script").stdout
    )


@pytest.mark.parametrize(
    "trigger",
    ['ZTRAP "ABC"', "Set x=1/0", 'Throw ##class(%Exception.General).%New("boom")'],
)
def test_error_triggers_suppress_the_success_marker(
    standin_images: dict[str, str], containers: Containers, trigger: str
) -> None:
    name = containers.start(standin_images[NEWEST])
    script = (
        'Set $ZERROR=""\n'
        f"{trigger}\n"
        'Write "AFTER-ERROR-STILL-RUNS",!\n'
        'If $ZERROR="" Write "OK-marker",!\n'
        'If $ZERROR\'="" Write "FAILED-marker ",$ZERROR,!\n'
        "Halt\n"
    )
    code, out = session(name, script)
    assert code == 0  # like the real `iris session`: errors do not change the exit code
    assert "AFTER-ERROR-STILL-RUNS" in out
    assert "OK-marker" not in out
    assert "FAILED-marker <" in out

    code, out = session(
        name, f'{trigger}\nIf $ZE\'="" Do ##class(%SYSTEM.Process).Terminate(,1)\nWrite "X",!\n'
    )
    assert code == 1
    assert "\nX" not in out

    # A postconditional Throw on an OK (here: undefined) status does not fire.
    code, out = session(
        name,
        "Throw:$$$ISERR(sc) ##class(%Exception.StatusException).CreateFromStatus(sc)\n"
        'If $ZE="" Write "OK-marker",!\nHalt\n',
    )
    assert (code, "OK-marker" in out) == (0, True)


def test_session_needs_a_running_instance(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    assert docker("exec", name, "/irisHealth.sh", check=False).returncode == 0
    assert docker("exec", name, "iris", "bogus", check=False).returncode == 1
    docker("exec", name, "sh", "-c", "rm /usr/irissys/mgr/.standin/running")
    assert docker("exec", name, "/irisHealth.sh", check=False).returncode == 1
    code, _ = session(name, 'Write "x",!\n')
    assert code == 1


def test_lifecycle_clean_stop_kill_iris_stop_and_commit(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(
        standin_images[NEWEST], "-e", "ISC_CPF_MERGE_FILE=/usr/irissys/standin-version"
    )
    assert "Merging CPF file /usr/irissys/standin-version" in docker("logs", name).stdout
    code, _ = session(
        name,
        'Do ##class(Security.Users).UnExpireUserPasswords("*")\n'
        'Do ##class(Security.Users).Create("kept","%All","kept-pw")\nHalt\n',
    )
    assert code == 0

    # docker stop: SIGTERM through tini becomes a clean shutdown, promptly.
    started = time.monotonic()
    docker("stop", "-t", "10", name)
    assert time.monotonic() - started < 5
    assert wait_exited(name) == 0
    logs = docker("logs", name).stdout
    assert "Shutting down InterSystems IRIS" in logs
    assert "Shutdown complete" in logs

    # A clean stop leaves no abnormal warning on the next start; a kill does.
    docker("start", name)
    wait_for_log(name, "Enabling logons", count=2)
    assert "abnormal" not in docker("logs", name).stdout
    docker("kill", name)
    wait_exited(name)
    docker("start", name)
    logs = wait_for_log(name, "Enabling logons", count=3)
    assert logs.count("Previous system shutdown was abnormal") == 1

    # `iris stop IRIS quietly` takes the instance down and iris-main exits 0 with it.
    stop = docker("exec", name, "iris", "stop", "IRIS", "quietly", check=False)
    assert stop.returncode == 0, stop.stderr
    assert wait_exited(name) == 0
    shutdowns = docker(
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        containers.commit(name),
        "/usr/irissys/mgr/.standin/shutdowns",
    ).stdout
    assert shutdowns.count("clean ") == 2

    # A snapshot of the stopped container keeps users, expiry state and session records.
    snapshot = containers.commit(name)
    clone = containers.start(snapshot)
    assert "abnormal" not in docker("logs", clone).stdout.split("Starting InterSystems IRIS")[-1]
    assert superserver_login(clone, "kept", "kept-pw") == f"OK {NEWEST} USER"
    assert superserver_login(clone, "SuperUser", "SYS") == f"OK {NEWEST} USER"
    assert "0001-%SYS.script" in docker("exec", clone, "ls", "/usr/irissys/mgr/sessions").stdout


def test_slow_variant_can_be_interrupted_during_start(
    standin_images: dict[str, str], containers: Containers
) -> None:
    slow = build_slow_variant(NEWEST, 30)
    assert slow == f"{STANDIN_REPO}:{NEWEST}-slow30"
    assert build_slow_variant(NEWEST, 30) == slow  # cached the second time
    # No STANDIN_START_DELAY override here: the image's own 30 s delay applies.
    name = containers.start(slow, "-e", "STANDIN_START_DELAY=", wait=False)
    wait_for_log(name, "waiting 30s")
    started = time.monotonic()
    docker("stop", "-t", "10", name)
    assert time.monotonic() - started < 5
    assert wait_exited(name) == 0
    assert "Enabling logons" not in docker("logs", name).stdout


MGR = "/usr/irissys/mgr"


@pytest.mark.parametrize("foreground", [False, True], ids=["background", "foreground"])
def test_intersystemsdc_wrapper_exits_143_on_docker_stop(
    standin_images: dict[str, str], containers: Containers, foreground: bool
) -> None:
    # iris-facts.md "Image contract": the exit code says nothing about a clean IRIS stop.
    name = containers.start(build_dc_variant(NEWEST, foreground=foreground))
    wait_for_log(name, "first start initialised")
    assert docker("exec", name, "test", "-f", f"{MGR}/iris.init", check=False).returncode == 0
    docker("stop", "-t", "10", name)
    assert wait_exited(name) == 143
    docker("start", name)
    logs = wait_for_log(name, "Enabling logons", count=2)
    # The background wrapper forwards SIGTERM (clean); the foreground one lets IRIS be killed.
    assert ("shutdown was abnormal" in logs) is foreground
    # Stopping IRIS from inside is clean with either wrapper, and the container ends with it.
    assert docker("exec", name, "iris", "stop", "IRIS", "quietly", check=False).returncode == 0
    wait_exited(name)
    shutdowns = docker(
        "run", "--rm", "--entrypoint", "cat", containers.commit(name), f"{MGR}/.standin/shutdowns"
    ).stdout
    assert shutdowns.strip().splitlines()[-1].startswith("clean")


def test_importddl_is_a_procedure_and_reports_failures_only_in_its_log(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    docker(
        "exec",
        "-u",
        "irisowner",
        name,
        "sh",
        "-c",
        "printf 'CREATE TABLE A (x INT)\\nGO\\nBAD STANDIN-SQL-ERROR\\nGO\\n' > /tmp/d.sql",
    )
    code, out = session(
        name, 'Set sc=$SYSTEM.SQL.Schema.ImportDDL("/tmp/d.sql",,"IRIS")\n', namespace="USER"
    )
    assert "<COMMAND>" in out
    code, out = session(
        name,
        'Do $SYSTEM.SQL.Schema.ImportDDL("/tmp/d.sql","/tmp/e.log","IRIS")\nWrite "CONTINUED"\n',
        namespace="USER",
    )
    assert code == 0 and "CONTINUED" in out and "<COMMAND>" not in out
    assert "SQLCODE = -1" in docker("exec", name, "cat", "/tmp/e.log").stdout
    assert "CREATE TABLE A" in docker("exec", name, "cat", f"{MGR}/.standin/sql-executed").stdout


def test_statuses_caught_errors_and_sys_container(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    # $ZERROR is set by an error that a Try/Catch handled (THROW reference).
    code, out = session(name, 'Try { ZTRAP "X" } Catch { }\nWrite "ZE=",$ZE,!\n')
    assert "ZE=<ZX>" in out
    # An error %Status thrown as a StatusException shows its text.
    code, out = session(
        name,
        'Set sc=$SYSTEM.OBJ.Load("/nope.xml","ck") '
        "Throw:'sc ##class(%Exception.StatusException).CreateFromStatus(sc)\n",
    )
    assert "ERROR #5012: File '/nope.xml' does not exist" in out
    # SYS.Container ends the process with exit 1 unless told to continue (class reference).
    script = 'Do ##class(SYS.Container).PreventJournalRolloverMessage()\nWrite "AFTER",!\n'
    code, out = session(name, script)
    assert code == 1 and "AFTER" not in out
    code, out = session(name, script, "SYS_CONTAINER_CONTINUE_ON_ERROR=1")
    assert code == 0 and "AFTER" in out


def test_config_get_reads_the_instance_s_own_namespaces_and_databases(
    standin_images: dict[str, str], containers: Containers
) -> None:
    # Config.Namespaces.Get / Config.Databases.Get (class reference) on the instance's own
    # entries: %SYS keeps its globals in IRISSYS, which lives in mgr/ itself.
    name = containers.start(standin_images[NEWEST])
    script = (
        'Set sc=##class(Config.Namespaces).Get("%SYS",.n) Write "G=",$Get(n("Globals")),!\n'
        'Set sc=##class(Config.Databases).Get($Get(n("Globals")),.p) '
        'Write "D=",$Get(p("Directory")),!\n'
        'Set sc=##class(Config.Namespaces).Get("user",.u) Write "U=",$Get(u("Globals")),!\n'
        'Set sc=##class(Config.Namespaces).Get("APP",.x) Write "X=",$Get(x("Globals")),!\n'
    )
    code, out = session(name, script)
    assert code == 0, out
    assert "G=IRISSYS" in out and "D=/usr/irissys/mgr/" in out and "U=USER" in out
    assert "X=\n" in out.replace("\r", "")  # a name the instance does not have: nothing


def test_mount_database_needs_an_iris_dat_owned_by_irisowner(
    standin_images: dict[str, str], containers: Containers
) -> None:
    # IRIS cannot open an IRIS.DAT that irisowner does not own (Data Integrity Guide).
    name = containers.start(standin_images[NEWEST])
    mgr = "/usr/irissys/mgr"
    docker(
        "exec",
        "-u",
        "root",
        name,
        "sh",
        "-c",
        f"mkdir -p {mgr}/a {mgr}/b {mgr}/c && "
        f"echo x > {mgr}/a/IRIS.DAT && echo x > {mgr}/b/IRIS.DAT && chown 51773 {mgr}/b/IRIS.DAT",
    )
    script = "".join(
        f'Set sc=##class(SYS.Database).MountDatabase("{mgr}/{d}/") Write "{d}=",sc,!\n'
        for d in "abc"
    )
    code, out = session(name, script)
    assert code == 0, out
    assert "a=0 ERROR (stand-in): cannot open /usr/irissys/mgr/a/IRIS.DAT: it is not owned" in out
    assert "b=1" in out
    assert "c=0 ERROR (stand-in): cannot mount /usr/irissys/mgr/c/:" in out


def test_the_mount_table_stays_consistent_while_sessions_mount_dismount_and_touch_at_once(
    standin_images: dict[str, str], containers: Containers
) -> None:
    # IRIS changes its mount table atomically, and a database dismounted explicitly stays so until
    # it is mounted again (CPF reference, [Databases]; SYS.Database class reference): a session
    # touching it meanwhile gets an error and never mounts it behind the dismount's back, and
    # sessions mounting and dismounting other databases at the same time lose no change. Two
    # stand-in bugs broke this: its two lists were updated in separate steps (a touching session
    # slipped in between and left a database listed as both), and its lock was taken with `:`,
    # a special built-in, whose failed redirection exits the shell (POSIX 2.8.1) instead of
    # waiting, so an update that met the lock was silently dropped. Either left a clone
    # dismounted after its reset, and the next test failed on it.
    name = containers.start(standin_images[NEWEST])
    dbs = [f"{MGR}/toggled{i}/" for i in range(3)]
    made = " && ".join(f"mkdir -p {db} && touch {db}IRIS.DAT" for db in dbs)
    docker("exec", "-u", "irisowner", name, "sh", "-c", made)
    environment = []
    for i, db in enumerate(dbs):
        toggle = (
            f'Set sc=##class(SYS.Database).DismountDatabase("{db}") '
            f'Set o=##class(SYS.Database).%OpenId("{db}") '
            "If 'o.Mounted { Set sc=##class(SYS.Database).MountDatabase(\"" + db + '") } '
            f'Set ^|"^^{db}"|T("toggler")=1 Write "S=",sc,!\n'
        )
        environment += ["-e", f"T{i}={toggle}"]
    # Two sessions touch the first again and again, in every state it passes through.
    touch = f'For i=1:1:20000 {{ Try {{ Set ^|"^^{dbs[0]}"|T($Job)=i }} Catch {{ }} }}\n'
    toggles = (
        "for i in $(seq 15); do printf '%s' \"$1\" | iris session IRIS -U %SYS | grep S=; done"
    )
    script = (
        'printf "%s" "$A" | iris session IRIS -U %SYS >/dev/null & '
        'printf "%s" "$A" | iris session IRIS -U %SYS >/dev/null & '
        + " & ".join(f"sh -c '{toggles}' - \"$T{i}\"" for i in range(len(dbs)))
        + " & wait"
    )
    done = docker(
        "exec", "-u", "irisowner", *environment, "-e", f"A={touch}", name, "sh", "-c", script
    )
    statuses = [line.split("S=", 1)[1] for line in done.stdout.splitlines() if "S=" in line]
    assert statuses == ["1"] * 45, done.stdout
    # Dismounted before anyone touched it: a touch does not mount it.
    fresh = f"{MGR}/untouched/"
    docker(
        "exec", "-u", "irisowner", name, "sh", "-c", f"mkdir -p {fresh} && touch {fresh}IRIS.DAT"
    )
    _code, out = session(
        name,
        f'Set sc=##class(SYS.Database).DismountDatabase("{fresh}")\n'
        f'Set ^|"^^{fresh}"|T=1\n'
        f'Set o=##class(SYS.Database).%OpenId("{fresh}") Write "M=",o.Mounted,!\n',
    )
    assert f"<DIRECTORY> {fresh} is dismounted" in out and "M=0" in out, out


def test_ipm_only_in_its_home_namespace_until_mapped(
    standin_images: dict[str, str], containers: Containers
) -> None:
    plain = containers.start(standin_images[NEWEST])
    _code, out = session(plain, 'Do ##class(%IPM.Main).Shell("install x")\n', namespace="USER")
    assert "<CLASS DOES NOT EXIST>" in out
    dc = containers.start(build_dc_variant(NEWEST))
    exists = 'Write "E=",##class(%Dictionary.CompiledClass).%ExistsId("%IPM.Main"),!\n'
    assert "E=1" in session(dc, exists, namespace="USER")[1]
    assert "E=0" in session(dc, exists, namespace="APP")[1]
    session(dc, 'zpm "enable -map -globally"\n', namespace="USER")
    assert "E=1" in session(dc, exists, namespace="APP")[1]


def test_cpf_merge_changes_iris_cpf_and_always_claims_success(
    standin_images: dict[str, str], containers: Containers
) -> None:
    # Write a merge file into a stopped instance, then start it with ISC_CPF_MERGE_FILE.
    name = containers.start(standin_images[NEWEST])
    merge = "[config]\\nglobals=1,2,3,0,0,0\\n[confg]\\nroutines=9\\n"
    docker("exec", name, "sh", "-c", f"printf '{merge}' > /tmp/m.cpf")
    docker("exec", name, "iris", "stop", "IRIS", "quietly")
    wait_exited(name)
    merged = containers.start(containers.commit(name), "-e", "ISC_CPF_MERGE_FILE=/tmp/m.cpf")
    assert "IRIS Merge completed successfully" in docker("logs", merged).stdout
    cpf = docker("exec", merged, "cat", CPF).stdout
    assert "globals=1,2,3,0,0,0" in cpf
    assert "routines=9" not in cpf  # the misspelt section was ignored, yet "success" was logged
    # The CPF is at the top of the installation directory, none in mgr/ (RACS_cpf).
    assert docker("exec", merged, "test", "-e", f"{MGR}/iris.cpf", check=False).returncode == 1
    # A file that does not exist also "succeeds".
    missing = containers.start(standin_images[NEWEST], "-e", "ISC_CPF_MERGE_FILE=/nope.cpf")
    assert "IRIS Merge completed successfully" in docker("logs", missing).stdout


def test_expired_community_license_stops_the_container(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(build_expired_variant(NEWEST), wait=False)
    assert wait_exited(name) == 1
    assert "Invalid Community Edition license" in docker("logs", name).stdout


def test_merge_actions_create_what_they_name_once(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    merge = (
        "[Actions]\\nCreateDatabase:Name=appdata,Directory=/usr/irissys/mgr/appdata\\n"
        "CreateNamespace:Name=APP,Globals=APPDATA\\n"
        "CreateMapGlobal:Namespace=APP,Name=Orders,Database=APPDATA\\n"
    )
    docker("exec", name, "sh", "-c", f"printf '{merge}' > /tmp/m.cpf")
    docker("exec", name, "iris", "stop", "IRIS", "quietly")
    wait_exited(name)
    merged = containers.start(containers.commit(name), "-e", "ISC_CPF_MERGE_FILE=/tmp/m.cpf")
    cpf = docker("exec", merged, "cat", CPF).stdout
    assert "APPDATA=/usr/irissys/mgr/appdata/" in cpf  # written with the trailing slash
    assert "APP=APPDATA" in cpf and "[Map.APP]" in cpf and "Global_Orders=APPDATA" in cpf
    assert "[Actions]" not in cpf
    assert docker("exec", merged, "test", "-f", f"{MGR}/appdata/IRIS.DAT").returncode == 0


def test_namespaces_see_classes_and_rows_through_defaults_and_mappings(
    standin_images: dict[str, str], containers: Containers
) -> None:
    # A namespace has one default globals and one default routines database; a package mapping
    # brings a fixture's classes, a global mapping its rows (model.awk, with sources).
    name = containers.start(standin_images[NEWEST])
    records = "STANDIN-CLASS Demo.Orders Demo.OrdersD\\nSTANDIN-ROWS Demo.OrdersD 3\\n"
    docker("exec", name, "sh", "-c", f"mkdir -p {MGR}/fx; printf '{records}' > {MGR}/fx/IRIS.DAT")
    count = (
        'Set c=##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM Demo.Orders") '
        'If c.%SQLCODE<0 { Write "ERR ",c.%SQLCODE,! } '
        'Else { Do c.%Next() Write "ROWS ",c.%GetData(1),! }\n'
    )
    setup = (
        'Set p("Directory")="/usr/irissys/mgr/fx/",sc=##class(Config.Databases).Create("FX",.p)\n'
        'Set sc=##class(SYS.Database).MountDatabase("/usr/irissys/mgr/fx/") Write "M1=",sc,!\n'
        'Set sc=##class(SYS.Database).MountDatabase("/usr/irissys/mgr/fx/") Write "M2=",+sc,!\n'
        'Set o=##class(SYS.Database).%OpenId("/usr/irissys/mgr/fx/") Write "MOUNTED=",o.Mounted,!\n'
    )
    code, out = session(name, setup)
    assert code == 0 and "M1=1" in out and "M2=0" in out and "MOUNTED=1" in out, out
    assert "ERR -30" in session(name, count, namespace="USER")[1]  # not reachable yet
    m = 'Set m("Database")="FX",sc=##class(Config.MapPackages).Create("USER","Demo",.m)\n'
    session(name, m)
    # The class is visible, its rows are not: a package mapping maps no data.
    assert "ROWS 0" in session(name, count, namespace="USER")[1]
    g = 'Set m("Database")="FX",sc=##class(Config.MapGlobals).Create("USER","Demo.OrdersD",.m)\n'
    session(name, g)
    assert "ROWS 3" in session(name, count, namespace="USER")[1]
    cpf = docker("exec", name, "cat", CPF).stdout
    assert "Package_Demo=FX" in cpf and "Global_Demo.OrdersD=FX" in cpf
    # Repointing the namespace's defaults at the fixture instead hides the classes loaded before.
    cls = "Class App.Thing Extends %%Persistent {}\\n"
    docker("exec", name, "sh", "-c", f"mkdir -p /tmp/src && printf '{cls}' > /tmp/src/Thing.cls")
    session(name, 'Set sc=$SYSTEM.OBJ.LoadDir("/tmp/src","ck",,1)\n', namespace="USER")
    exists = 'Write "E=",##class(%Dictionary.CompiledClass).%ExistsId("App.Thing"),!\n'
    assert "E=1" in session(name, exists, namespace="USER")[1]
    repoint = 'Set n("Globals")="FX",n("Routines")="FX"\n'
    session(name, repoint + 'Set sc=##class(Config.Namespaces).Modify("USER",.n)\n')
    assert "E=0" in session(name, exists, namespace="USER")[1]


def test_globals_persist_in_the_database_that_holds_them_and_travel_with_its_file(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    session(name, 'Set ^Iso("x")=42\n', namespace="USER")
    assert "V=42" in session(name, 'Write "V=",$Get(^Iso("x")),!\n', namespace="USER")[1]
    copy = f"mkdir -p {MGR}/copy && cp {MGR}/user/IRIS.DAT {MGR}/copy/"
    docker("exec", name, "sh", "-c", copy)
    read = 'Write "C=",$Get(^|"^^/usr/irissys/mgr/copy/"|Iso("x")),!\n'
    assert "C=42" in session(name, read)[1]


def test_directory_listing_shows_data_and_code_globals(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    records = "STANDIN-CLASS Demo.Orders Demo.OrdersD\\nSTANDIN-ROWS Demo.OrdersD 3\\n"
    docker("exec", name, "sh", "-c", f"mkdir -p {MGR}/fx; printf '{records}' > {MGR}/fx/IRIS.DAT")
    script = (
        "Set st=##class(%SQL.Statement).%New()\n"
        'Set sc=st.%PrepareClassQuery("%SYS.GlobalQuery","DirectoryList")\n'
        'Set rs=st.%Execute("/usr/irissys/mgr/fx/","","*",0,,1)\n'
        'While rs.%Next() { Write "G:",rs.%Get("Name"),! }\n'
        'Set e="^^/usr/irissys/mgr/fx/",c=""\n'
        'For { Set c=$Order(^|e|oddDEF(c)) Quit:c=""  Write "C:",c,! }\n'
    )
    out = session(name, script)[1]
    assert "G:Demo.OrdersD" in out and "G:oddDEF" in out and "C:Demo.Orders" in out


def test_the_undocumented_not_startswith_form_is_refused(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    select = "SELECT TABLE_SCHEMA,TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE "
    query = (
        'Set r=##class(%SQL.Statement).%ExecDirect(,"' + select + '{}") Write "C=",r.%SQLCODE,!\n'
    )
    bare = query.format("TABLE_SCHEMA NOT %STARTSWITH '%'")
    documented = query.format("NOT (TABLE_SCHEMA %STARTSWITH '%')")
    assert "C=-1" in session(name, bare, namespace="USER")[1]
    assert "C=0" in session(name, documented, namespace="USER")[1]


def test_logins_are_refused_once_a_freeze_outlasts_its_timeout(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    code, out = session(
        name, 'Set sc=##class(Backup.General).ExternalFreeze(,,,,,,1) Write "F=",sc,!\n'
    )
    assert code == 0 and "F=1" in out, out
    time.sleep(1.5)
    code, out = session(name, 'Write "in",!\n')
    assert code == 1
    # Thawing needs a session that is already logged in (or a freeze that has not timed out).
    docker("exec", name, "rm", f"{MGR}/.standin/frozen")
    assert session(name, 'Write "in",!\n')[0] == 0


def test_zf_100_runs_a_program_and_returns_its_exit_code(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    script = (
        'Set rc=$ZF(-100,"","/bin/sh","-c","echo ran-$X; exit 3") Write "R=",rc,!\n'
        'Set rc=$ZF(-100,"/SHELL","test -n ""$X"" && touch /tmp/zf") Write "S=",rc,!\n'
        'Set rc=$ZF(-100,"/STDOUT=/tmp/zf.out","echo","to","file") Write "F=",rc,!\n'
        'Set rc=$ZF(-100,"","/no/such/program") Write "N=",rc,!\n'
    )
    code, out = session(name, script, "X=from-the-session")
    # The child inherits the session's environment; its output goes to the session's own.
    assert code == 0 and "ran-from-the-session" in out and "R=3" in out, out
    assert "S=0" in out and "F=0" in out and "N=-1" in out, out
    assert docker("exec", name, "cat", "/tmp/zf", "/tmp/zf.out").stdout.strip() == "to file"


def test_ipm_mapped_without_repositories_cannot_install(
    standin_images: dict[str, str], containers: Containers
) -> None:
    dc = containers.start(build_dc_variant(NEWEST))
    session(dc, 'zpm "enable -map -globally"\n', namespace="USER")
    install = 'Set sc=##class(%IPM.Main).Shell("install x") Write "S=",+sc,!\n'
    out = session(dc, install, namespace="APP")[1]
    assert "No repositories are configured and enabled in this namespace." in out and "S=0" in out
    session(dc, 'zpm "enable -map -repos -globally"\n', namespace="USER")
    assert "S=1" in session(dc, install, namespace="APP")[1]


UNIT_TEST_CLASS = """\
/// The stand-in's %UnitTest model runs these (method bodies in the session model's subset).
Class Demo.Tests.Calc Extends %UnitTest.TestCase
{

Method TestLength()
{
    Do $$$AssertEquals($Length("abc"), 3)
    Do $$$AssertTrue("abc"["b", "contains b")
}

Method TestBroken()
{
    Set total="2"
    Do $$$AssertEquals(total, 3, "the total")
    Do $$$AssertSkipped("skipped on purpose")
}

Method TestError()
{
    ZTRAP "BOOM"
    Do $$$AssertSuccess("not reached")
}

Method Helper()
{
    Do $$$AssertFailure("never run: not a Test method")
}

}
"""

RESULT_JOINS = (
    "JOIN %UnitTest_Result.TestCase c ON m.TestCase = c.ID "
    "JOIN %UnitTest_Result.TestSuite s ON c.TestSuite = s.ID WHERE s.Name = ?"
)
ASSERTS_SQL = (
    "SELECT m.Name, a.Counter, a.Status, a.Action, a.Description, a.Location "
    "FROM %UnitTest_Result.TestAssert a "
    "JOIN %UnitTest_Result.TestMethod m ON a.TestMethod = m.ID " + RESULT_JOINS
)
METHODS_SQL = (
    "SELECT c.Name, m.Name, m.Status, m.ErrorAction, m.ErrorDescription "
    "FROM %UnitTest_Result.TestMethod m " + RESULT_JOINS
)
CASES_SQL = (
    "SELECT c.Name, c.Status, c.ErrorAction, c.ErrorDescription "
    "FROM %UnitTest_Result.TestCase c JOIN %UnitTest_Result.TestSuite s ON c.TestSuite = s.ID "
    "WHERE s.Name = ?"
)


def result_rows(name: str, sql: str, suite: str, columns: int) -> list[list[str]]:
    """Rows of a result-table query, each field JSON-escaped as the product reads them."""
    script = (
        f'Set rs=##class(%SQL.Statement).%ExecDirect(,"{sql}","{suite}") '
        'Write "SQLCODE=",rs.%SQLCODE,! '
        f'While rs.%Next() {{ Write "ROW" For i=1:1:{columns} '
        '{ Write $C(9),$ZCVT(rs.%GetData(i),"O","JSON") } Write ! }\n'
    )
    out = session(name, script, namespace="USER")[1]
    assert "SQLCODE=0" in out, out
    return [
        [json.loads(f'"{field}"') for field in line.split("ROW\t", 1)[1].split("\t")]
        for line in out.splitlines()
        if "ROW\t" in line
    ]


def test_unit_test_manager_runs_a_loaded_class_and_records_its_asserts(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    docker("exec", "-u", "irisowner", name, "mkdir", "-p", "/tmp/ut/s1", "/tmp/ut/s2")
    docker(
        "exec", "-i", "-u", "irisowner", name, "sh", "-c", "cat > /tmp/ut/s1/Calc.cls",
        stdin=UNIT_TEST_CLASS,
    )  # fmt: skip
    run = (
        'Set sc=$SYSTEM.OBJ.Load("/tmp/ut/s1/Calc.cls","ck-d") Write "L=",sc,!\n'
        'Set sc=##class(%UnitTest.Manager).DebugRunTestCase("s1","Demo.Tests.Calc","","") '
        'Write "R=",$SYSTEM.Status.GetErrorText(sc),"|",+sc,!\n'
    )
    # ^UnitTestRoot must name an existing directory first (class reference, setup).
    code, out = session(name, run, namespace="USER")
    assert (
        code == 0 and "L=1" in out and "R=ERROR #5001: (stand-in) ^UnitTestRoot must name" in out
    ), out
    code, out = session(name, 'Set ^UnitTestRoot="/tmp/ut/"\n' + run, namespace="USER")
    assert "R=|1" in out and "BOOM" not in out, out  # the method's error stays in the results
    asserts = result_rows(name, ASSERTS_SQL, "s1", 6)
    loc = "^Demo.Tests.Calc.cls"
    assert asserts == [
        ["TestBroken", "1", "0", "AssertEquals", "the total", f"TestBroken+3{loc}"],
        ["TestBroken", "2", "2", "AssertSkipped", "skipped on purpose", f"TestBroken+4{loc}"],
        ["TestLength", "1", "1", "AssertEquals", '$Length("abc")', f"TestLength+2{loc}"],
        ["TestLength", "2", "1", "AssertTrue", "contains b", f"TestLength+3{loc}"],
    ]
    methods = result_rows(name, METHODS_SQL, "s1", 5)
    assert methods == [
        ["Demo.Tests.Calc", "TestBroken", "0", "", ""],
        ["Demo.Tests.Calc", "TestError", "0", "(stand-in) error", "<ZBOOM>^StandIn"],
        ["Demo.Tests.Calc", "TestLength", "1", "", ""],
    ]
    cases = result_rows(name, CASES_SQL, "s1", 4)
    assert cases == [["Demo.Tests.Calc", "0", "", "There are failed TestMethods"]]
    # One method only; another suite name keeps its results apart.
    one = run.replace('"s1","Demo.Tests.Calc","",""', '"s2","Demo.Tests.Calc","","TestLength"')
    session(name, one, namespace="USER")
    assert [row[1] for row in result_rows(name, METHODS_SQL, "s2", 5)] == ["TestLength"]
    assert result_rows(name, CASES_SQL, "s2", 4) == [["Demo.Tests.Calc", "1", "", ""]]
    # A class that is not loaded; macros outside compiled code; another SQL shape.
    other = (
        'Set sc=##class(%UnitTest.Manager).DebugRunTestCase("s1","No.Such","","") '
        'Write "N=",+sc,!\n'
    )
    assert "N=0" in session(name, other, namespace="USER")[1]
    assert "<SYNTAX>" in session(name, "Do $$$AssertTrue(1)\n", namespace="USER")[1]
    bad = (
        'Set rs=##class(%SQL.Statement).%ExecDirect(,"SELECT Name FROM %UnitTest_Result.TestCase") '
        'Write "C=",rs.%SQLCODE,!\n'
    )
    assert "C=-1" in session(name, bad, namespace="USER")[1]


def test_a_class_that_does_not_compile_returns_the_compiler_status(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    broken = UNIT_TEST_CLASS.replace("Method Helper()", "Method Helper() STANDIN-LOAD-ERROR")
    docker(
        "exec", "-i", "-u", "irisowner", name, "sh", "-c", "cat > /tmp/Bad.cls", stdin=broken
    )  # fmt: skip
    script = (
        'Set sc=$SYSTEM.OBJ.Load("/tmp/Bad.cls","ck-d") '
        'Write "T=",$ZCVT($SYSTEM.Status.GetErrorText(sc),"O","JSON"),"|",+sc,!\n'
        'Write "E=",##class(%Dictionary.CompiledClass).%ExistsId("Demo.Tests.Calc"),!\n'
    )
    out = session(name, script, namespace="USER")[1]
    assert "T=ERROR #5475: Error compiling routine: /tmp/Bad.cls|0" in out and "E=0" in out, out


HOOKS_CLASS = """\
Class Demo.Tests.Hooks Extends %UnitTest.TestCase
{

Method OnBeforeAllTests() As %Status
{
    Do $$$AssertTrue(1, "not logged: no current test method")
    Quit $$$ERROR($$$GeneralError, "no fixture")
}

Method TestNeverRuns()
{
    Do $$$AssertSuccess("not reached")
}

}
"""


def test_hook_errors_fail_the_case_with_their_text(
    standin_images: dict[str, str], containers: Containers
) -> None:
    name = containers.start(standin_images[NEWEST])
    after = (
        HOOKS_CLASS.replace("Demo.Tests.Hooks", "Demo.Tests.After")
        .replace("OnBeforeAllTests", "OnAfterAllTests")
        .replace('Quit $$$ERROR($$$GeneralError, "no fixture")', 'ZTRAP "LATE"')
    )
    for cls, text in (("Hooks", HOOKS_CLASS), ("After", after)):
        docker(
            "exec", "-i", "-u", "irisowner", name, "sh", "-c", f"cat > /tmp/{cls}.cls", stdin=text
        )  # fmt: skip
    run = (
        'Set ^UnitTestRoot="/tmp/"\n'
        'Set sc=$SYSTEM.OBJ.Load("/tmp/Hooks.cls","ck-d"),sc=$SYSTEM.OBJ.Load("/tmp/After.cls")\n'
        'Set sc=##class(%UnitTest.Manager).DebugRunTestCase("h1","Demo.Tests.Hooks","","")\n'
        'Set sc=##class(%UnitTest.Manager).DebugRunTestCase("h2","Demo.Tests.After","","")\n'
    )
    session(name, run, namespace="USER")
    # OnBeforeAllTests failed: no method ran, its asserts are not logged, the case has the error.
    assert result_rows(name, METHODS_SQL, "h1", 5) == []
    assert result_rows(name, ASSERTS_SQL, "h1", 6) == []
    assert result_rows(name, CASES_SQL, "h1", 4) == [
        ["Demo.Tests.Hooks", "0", "(stand-in) OnBeforeAllTests", "ERROR #5001: no fixture"]
    ]
    # OnAfterAllTests failed: the methods ran first.
    assert [r[1:3] for r in result_rows(name, METHODS_SQL, "h2", 5)] == [["TestNeverRuns", "1"]]
    assert result_rows(name, CASES_SQL, "h2", 4) == [
        ["Demo.Tests.After", "0", "(stand-in) OnAfterAllTests", "<ZLATE>^StandIn"]
    ]
