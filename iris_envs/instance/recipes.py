"""The ObjectScript a snapshot build runs around the user's steps: prepare, freeze and verify.

Every value comes from the exec environment (``$system.Util.GetEnviron``), never from the script
text, so no name or password is spliced into code or recorded in a transcript.
"""

from __future__ import annotations

from iris_envs.instance.objectscript import throw_on_error

ENV_USERNAME = "IRIS_ENVS_USERNAME"
ENV_PASSWORD = "IRIS_ENVS_PASSWORD"
ENV_NAMESPACE = "IRIS_ENVS_NAMESPACE"
ENV_PATH = "IRIS_ENVS_PATH"
ENV_DATABASE = "IRIS_ENVS_DATABASE"
ENV_FLAGS = "IRIS_ENVS_FLAGS"
ENV_ARGUMENT = "IRIS_ENVS_ARGUMENT"
ENV_LOG = "IRIS_ENVS_LOG"


def _getenv(variable: str, name: str) -> str:
    return f'Set {variable}=$system.Util.GetEnviron("{name}")'


def prepare_users() -> list[str]:
    """Run in %SYS: clear first-login password expiry, then create/update the test user.

    Predefined accounts must change password ``SYS`` at first login; UnExpireUserPasswords clears
    that (iris-facts.md). The test user gets never-expire settings because a snapshot may be
    reused for months and accounts otherwise expire in images older than 90 days.
    """
    return [
        'Do ##class(Security.Users).UnExpireUserPasswords("*")',
        _getenv("user", ENV_USERNAME),
        _getenv("pw", ENV_PASSWORD),
        "If '##class(Security.Users).Exists(user) "
        'Set sc=##class(Security.Users).Create(user,"%All",pw) ' + throw_on_error("sc"),
        # Exists() returns a boolean and the reason in its third argument: throw THAT status
        # (CreateFromStatus of the boolean would report nothing useful).
        "Set ok=##class(Security.Users).Exists(user,.u,.sc) "
        "Throw:'ok ##class(%Exception.StatusException).CreateFromStatus(sc)",
        # PasswordExternal takes the clear-text password and stores its hash (Security.Users);
        # which property array key Modify() expects is unverified, the object API is not.
        "Set u.PasswordExternal=pw,u.ChangePassword=0,u.PasswordNeverExpires=1,"
        "u.AccountNeverExpires=1,u.Enabled=1",
        "Set sc=u.%Save() " + throw_on_error("sc"),
    ]


def create_namespace() -> list[str]:
    """Run in %SYS: create namespace $IRIS_ENVS_NAMESPACE with a database of the same name."""
    create = " ".join(
        [
            "If '##class(Config.Namespaces).Exists(ns)",
            'Set dir=##class(%File).NormalizeDirectory($ZCONVERT(ns,"L"),'
            "$system.Util.ManagerDirectory())",
            "Do ##class(%File).CreateDirectoryChain(dir)",
            "Set sc=##class(SYS.Database).CreateDatabase(dir) " + throw_on_error("sc"),
            'Set p("Directory")=dir,sc=##class(Config.Databases).Create(ns,.p) '
            + throw_on_error("sc"),
            'Set n("Globals")=ns,n("Routines")=ns,sc=##class(Config.Namespaces).Create(ns,.n) '
            + throw_on_error("sc"),
        ]
    )
    return [_getenv("ns", ENV_NAMESPACE), create]


def clear_password_expiry() -> list[str]:
    """Run in %SYS: clear first-login expiry for every account, and for the user in
    $IRIS_ENVS_USERNAME set never-expire (what a connection refused with "password change
    required" needs; iris-facts.md, "Passwords and users")."""
    return [
        'Do ##class(Security.Users).UnExpireUserPasswords("*")',
        _getenv("user", ENV_USERNAME),
        "Set ok=##class(Security.Users).Exists(user,.u,.sc) "
        "Throw:'ok ##class(%Exception.StatusException).CreateFromStatus(sc)",
        "Set u.ChangePassword=0,u.PasswordNeverExpires=1,u.AccountNeverExpires=1",
        "Set sc=u.%Save() " + throw_on_error("sc"),
    ]


def verify_login() -> list[str]:
    """Run in %SYS in a container of the snapshot: the test user's credentials are accepted."""
    return [
        _getenv("user", ENV_USERNAME),
        _getenv("pw", ENV_PASSWORD),
        'If \'$SYSTEM.Security.Login(user,pw) ZTRAP "LOGN"',
    ]
