"""Selecting environments by name, comma lists, tags and the default list."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.config.selection import select_envs, select_one, split_names
from iris_envs.config.spec import EnvSpec, Project
from iris_envs.errors import UnknownEnvironment


def make(default: tuple[str, ...] = ()) -> Project:
    envs = {
        "iris-2024.1": EnvSpec("iris-2024.1", tags=("old",)),
        "iris-2025.1": EnvSpec("iris-2025.1", tags=("new", "fast")),
        "app": EnvSpec("app", tags=("fast",)),
    }
    return Project(root=Path("/p"), config_file=None, envs=envs, default=default)


def names(specs: list[EnvSpec]) -> list[str]:
    return [s.name for s in specs]


def test_split_names() -> None:
    assert split_names(["a,b", " c ", "a", ",,"]) == ["a", "b", "c"]
    assert split_names(None) == []


def test_names_in_given_order() -> None:
    assert names(select_envs(make(), ["app,iris-2024.1"], None)) == ["app", "iris-2024.1"]


def test_tags_union_with_names_in_project_order() -> None:
    assert names(select_envs(make(), None, ["fast"])) == ["iris-2025.1", "app"]
    assert names(select_envs(make(), ["app"], ["old"])) == ["app", "iris-2024.1"]


def test_default_list_then_all() -> None:
    assert names(select_envs(make(("app",)), None, None)) == ["app"]
    assert names(select_envs(make(), None, None)) == ["iris-2024.1", "iris-2025.1", "app"]


def test_unknown_name_lists_known_and_closest() -> None:
    with pytest.raises(UnknownEnvironment) as info:
        select_envs(make(), ["iris-2025.2"], None)
    text = str(info.value)
    assert "iris-2024.1, iris-2025.1, app" in text and "did you mean 'iris-2025.1'" in text
    assert info.value.exit_code == 3


def test_unknown_tag() -> None:
    with pytest.raises(UnknownEnvironment, match=r"unknown tag 'slow'.*fast"):
        select_envs(make(), None, ["slow"])


def test_select_one() -> None:
    assert select_one(make(), "app").name == "app"
    assert select_one(make(("app",)), None).name == "app"
    with pytest.raises(UnknownEnvironment, match="default selection has 3"):
        select_one(make(), None)
    with pytest.raises(UnknownEnvironment, match="exactly one"):
        select_one(make(), "a,b")
