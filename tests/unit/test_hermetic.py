"""The suite's before/after check (tests/hermetic.py) flags exactly what it must."""

from __future__ import annotations

from typing import Any

from tests.hermetic import Inventory, _is_test_container, _is_test_image


def image(image_id: str, tags: list[str], **labels: str) -> dict[str, Any]:
    return {"Id": image_id, "RepoTags": tags, "Config": {"Labels": labels}}


def test_a_removed_image_a_lost_tag_a_removed_container_and_cache_file_are_flagged() -> None:
    before = Inventory(
        {"sha256:" + "a" * 64: {"x:1", "x:2"}, "sha256:" + "b" * 64: {"y:1"}},
        {"c" * 64: "theirs"},
        {"snapshots.json": (10, 1)},
    )
    same = Inventory(
        {"sha256:" + "a" * 64: {"x:1", "x:2", "x:3"}, "sha256:" + "b" * 64: {"y:1"}},
        {"c" * 64: "theirs", "d" * 64: "new"},
        {"snapshots.json": (10, 1)},
    )
    assert before.missing_from(same) == []  # additions by the suite's own tests are fine
    updated = Inventory(same.images, same.containers, {"snapshots.json": (11, 2), "n": (1, 1)})
    assert before.missing_from(updated) == []  # the user's own iris-envs may write meanwhile
    worse = Inventory({"sha256:" + "a" * 64: {"x:1"}}, {}, {"n": (1, 1)})
    problems = before.missing_from(worse)
    assert "image aaaaaaaaaaaa lost its tag(s) x:2" in problems
    assert "image bbbbbbbbbbbb (y:1)" in problems
    assert f"container theirs ({'c' * 12})" in problems
    assert "cache file snapshots.json" in problems and len(problems) == 4


def test_test_artefacts_are_known_by_what_they_are_made_of() -> None:
    standin = image(
        "sha256:s", ["iris-envs-cm/iris-community:2025.1"], **{"org.iris-envs.standin-hash": "h"}
    )
    assert _is_test_image(standin, set())
    assert _is_test_image(image("sha256:b", ["iris-envs-test/standin-base:1234"]), set())
    # Podman lists the same name qualified with its registry.
    assert _is_test_image(image("sha256:p", ["docker.io/iris-envs-test/standin-base:1"]), set())
    assert _is_test_image(image("sha256:q", ["localhost/iris-envs-main/standin-base:1"]), set())
    assert not _is_test_image(image("sha256:r", ["docker.io/library/iris-envs-x/y:1"]), set())
    on_standin = image("sha256:x", [], **{"org.iris-envs.base-image": "sha256:s"})
    assert _is_test_image(on_standin, {"sha256:s"})
    in_tmp = image("sha256:y", [], **{"org.iris-envs.origin-project": "/tmp/pytest-of-u/p/q"})
    assert _is_test_image(in_tmp, set())
    theirs = image(
        "sha256:z",
        ["iris-envs/app-12345678/app:0123456789ab"],
        **{"org.iris-envs.origin-project": "/home/dev/app", "org.iris-envs.base-image": "sha256:r"},
    )
    assert not _is_test_image(theirs, {"sha256:s"})
    assert not _is_test_image(image("sha256:i", ["intersystemsdc/iris-community:latest-em"]), set())
    container = {"Image": "sha256:z", "Config": {"Labels": {"org.iris-envs.project": "/home/dev"}}}
    assert not _is_test_container(container, {"sha256:s"})
    assert _is_test_container({**container, "Image": "sha256:s"}, {"sha256:s"})


def test_an_image_removed_during_the_inventory_hides_no_other(monkeypatch: Any) -> None:
    # `docker image inspect a b c` fails as a whole when b was removed meanwhile (another
    # worker's artefact): a and c must still be in the inventory, or they look removed.
    import json

    from tests import hermetic

    present = {"a": image("a", ["x:1"]), "c": image("c", ["z:1"])}

    def docker(*args: str, tries: int = 1) -> str:
        ids = args[2:]
        if args[:2] != ("image", "inspect") or any(i not in present for i in ids):
            return ""
        return json.dumps([present[i] for i in ids])

    monkeypatch.setattr(hermetic, "_docker", docker)
    assert [i["Id"] for i in hermetic._inspect("image", ["a", "b", "c"])] == ["a", "c"]
