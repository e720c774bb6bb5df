"""``iris-envs matrix``: the selected environments as a CI matrix (GitHub Actions or plain JSON)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from iris_envs.cli._common import add_config_option, add_selection_options

if TYPE_CHECKING:
    from iris_envs.config.spec import EnvSpec
    from iris_envs.engine.adapter import DockerEngine

HELP = "print the selected environments as a CI matrix (GitHub Actions strategy.matrix or JSON)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``matrix``."""
    add_config_option(parser)
    add_selection_options(parser)
    parser.add_argument(
        "--format",
        choices=("github", "json"),
        default="github",
        help='github: one line {"include": [...]} for fromJSON() in strategy.matrix; '
        "json: an indented list (default: github)",
    )


def image_version(image: str) -> str:
    """The tag of an image reference (``iris-community:2025.1`` -> ``2025.1``), or ``latest``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def matrix_entry(spec: EnvSpec, engine: DockerEngine | None) -> dict[str, Any]:
    """One ``include`` entry: strings only, so every value works in ``${{ matrix.x }}``."""
    from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image

    base = resolve_base_image(engine, spec.image)
    key = compute_key(spec, base, effective_platform(spec, engine)).key
    return {
        "env": spec.name,
        "image": spec.image,
        "version": image_version(spec.image),
        "edition": spec.edition.value,
        "key": key,
        # keyed by image ID when the engine has the image, else by tag (see docs/ci.md)
        "key-source": "tag" if base.image_id is None else "image-id",
        "tags": ",".join(spec.tags),
    }


def execute(args: argparse.Namespace) -> int:
    """Print the matrix (nothing else on stdout, so ``$(iris-envs matrix)`` is the JSON)."""
    from iris_envs.cli._common import engine_or_none, load_selected

    _project, envs = load_selected(args)
    engine = engine_or_none(args)
    include = [matrix_entry(spec, engine) for spec in envs]
    if args.format == "github":
        print(json.dumps({"include": include}, separators=(",", ":")))
    else:
        print(json.dumps(include, indent=2))
    return 0
