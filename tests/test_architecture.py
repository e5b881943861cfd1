"""The layers of ARCHITECTURE.md, enforced: every module of ``unrolled_lrp`` imports only its own layer and the
layers below it, and the LRP core needs nothing but the standard library, torch and torchvision."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "unrolled_lrp"

#: Layer -> the other layers it may import (ARCHITECTURE.md): the layers below it that it needs, no more, so a new
#: dependency is a decision recorded here. "" is the package's own __init__.
ALLOWED: dict[str, set[str]] = {
    "": {"lrp"},
    "lrp": set(),
    "models": {"lrp"},
    "data": set(),
    "evaluation": {"models", "data"},
    "visualisation": {"data"},
    "training": {"models", "data", "evaluation"},
    "runs": {"lrp", "models", "data", "evaluation", "training"},
    "experiments": {"lrp", "models", "data", "visualisation", "training", "runs"},
    "cli": {"lrp", "data", "training", "runs", "experiments"},
}
#: What the LRP core may import besides the standard library.
CORE_THIRD_PARTY = {"torch", "torchvision"}


def layer_of(module: str) -> str:
    """``unrolled_lrp.data.voc`` -> ``data``; ``unrolled_lrp.runs`` -> ``runs``; ``unrolled_lrp`` and the names it
    re-exports (``unrolled_lrp.unroll``) -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else ""


def module_name(path: Path, root: Path) -> str:
    relative = path.relative_to(root.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool) -> list[str]:
    """The absolute names of everything ``source`` imports (relative imports resolved; ``from M import x`` gives
    ``M.x``, which names the submodule when x is one)."""
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module_from = ".".join([*base, node.module] if node.module else base)
            else:
                module_from = node.module or ""
            names += [f"{module_from}.{alias.name}" for alias in node.names]
    return names


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """``module -> (source, is_package)`` to one line per import that breaks the layers."""
    found = []
    for module, (source, is_package) in sorted(sources.items()):
        layer = layer_of(module)
        for name in imports(source, module, is_package):
            top = name.split(".")[0]
            if top == "unrolled_lrp":
                target = layer_of(name)
                target = target or "lrp"  # the package's root re-exports the LRP core
                if target != layer and target not in ALLOWED[layer]:
                    found.append(f"{module} imports {name}: layer {layer or 'unrolled_lrp'} may not import {target}")
            elif layer == "lrp" and top not in sys.stdlib_module_names and top not in CORE_THIRD_PARTY:
                found.append(f"{module} imports {name}: the LRP core depends on torch and torchvision only")
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path, PACKAGE): (path.read_text(), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_every_module_imports_only_its_layer_and_the_layers_below():
    sources = package_sources()
    assert {layer_of(module) for module in sources} <= ALLOWED.keys(), "a new layer: add it to ARCHITECTURE.md"
    assert violations(sources) == []


@pytest.mark.parametrize(
    ("module", "source", "is_package"),
    [
        ("unrolled_lrp.experiments.grid", "from unrolled_lrp.cli import train", False),
        ("unrolled_lrp.models.unet", "from ..training import trainer", False),
        ("unrolled_lrp.lrp", "import numpy", True),
        ("unrolled_lrp.data.voc", "import unrolled_lrp.runs", False),
        ("unrolled_lrp.training.trainer", "from unrolled_lrp import runs", False),
        ("unrolled_lrp.data.pipeline", "from unrolled_lrp.models import build_classifier", False),
        ("unrolled_lrp.cli.train", "from unrolled_lrp.models import list_models", False),
    ],
)
def test_the_check_catches_an_upward_import(module, source, is_package):
    assert len(violations({module: (source, is_package)})) == 1


def test_relative_imports_resolve_to_their_package():
    assert imports("from .voc import load_voc\nfrom . import sampler", "unrolled_lrp.data.pipeline", False) == [
        "unrolled_lrp.data.voc.load_voc",
        "unrolled_lrp.data.sampler",
    ]
    assert imports("from ..lrp import unroll", "unrolled_lrp.models", True) == ["unrolled_lrp.lrp.unroll"]
    assert layer_of("unrolled_lrp.runs") == "runs" and layer_of("unrolled_lrp.unroll") == ""
