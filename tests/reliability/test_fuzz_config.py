"""1,000 generated configurations through the real CLI: only documented exit codes, never a
traceback (issue 14, "faults not tried yet"). Runs in-process and offline: no engine needed."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_envs.cli.main import main
from iris_envs.config.values import ENV_FIELDS
from iris_envs.exit_codes import ExitCode

DOCUMENTED = {int(ExitCode.OK), int(ExitCode.CONFIG_ERROR), int(ExitCode.SELECTION_ERROR)}

# Values a hostile or careless user writes: path escapes, injections, huge and empty strings,
# case twins, registry-looking images, env-variable references, wrong types.
hostile_text = st.sampled_from(
    [
        "",
        " ",
        "../../etc/passwd",
        "/etc/shadow",
        "$HOME",
        "$NOT_SET_ANYWHERE",
        "$$literal",
        "a;rm -rf /",
        "`id`",
        "$(id)",
        "x" * 300,
        "App",
        "app",
        "APP",
        "iris-2025.1",
        "intersystemsdc/iris-community:latest-em",
        "localhost:5000/a/b:1",
        "Bad/Image:1",
        "img@sha256:" + "0" * 64,
        "%SYS",
        "USER",
        "ns with space",
        "é",
        "\x00",
        "linux/arm64",
        "community",
        "enterprise",
        "*",
        "{version}",
        "setup/none.script",
    ]
) | st.text(max_size=20)
scalar = hostile_text | st.integers(-(2**40), 2**40) | st.floats() | st.booleans()
step = st.dictionaries(
    st.sampled_from(
        [
            "objectscript",
            "load",
            "sql",
            "globals",
            "dat",
            "ipm",
            "shell",
            "namespace",
            "flags",
            "recurse",
            "dialect",
            "database",
            "version",
            "user",
            "mount",
            "bogus",
        ]
    ),
    scalar,
    max_size=3,
)
env_body = st.dictionaries(
    st.sampled_from([*ENV_FIELDS, "bogus", "exclude"]),
    scalar
    | st.lists(scalar, max_size=3)
    | st.lists(step, max_size=3)
    | st.dictionaries(hostile_text, scalar, max_size=2),
    max_size=6,
)
env_names = hostile_text | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,70}", fullmatch=True)
documents = st.fixed_dictionaries(
    {},
    optional={
        "env": st.dictionaries(env_names, env_body, max_size=3),
        "matrix": st.dictionaries(
            env_names,
            st.dictionaries(
                st.sampled_from(["version", "image", "exclude", "edition", "variant"]),
                st.lists(scalar, max_size=3)
                | st.lists(
                    st.dictionaries(st.sampled_from(["version", "variant"]), scalar), max_size=3
                )
                | scalar,
                max_size=4,
            ),
            max_size=2,
        ),
        "defaults": env_body,
        "default": st.lists(env_names, max_size=3) | scalar,
    },
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if math.isfinite(value) else "0"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@settings(
    max_examples=1200,  # > 1,000 valid ones once hypothesis filters a few
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(doc=documents, selection=st.none() | env_names)
def test_generated_configurations_give_documented_exit_codes_only(
    doc: dict[str, Any], selection: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "\n".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in doc.items())
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = Path(folder) / "iris-envs.toml"
        path.write_text(text, encoding="utf-8")
        argv = ["list", "--offline", "-c", str(path)]
        if selection is not None:
            argv = ["key", "--offline", "-c", str(path), selection]
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own usage errors (a name like "-c"): exit 2
            code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code in DOCUMENTED, (code, err)
    assert "Traceback" not in err
    if code:
        assert err.startswith(("iris-envs: error: ", "usage: iris-envs")), err
