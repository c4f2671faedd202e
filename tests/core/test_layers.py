"""The layering rules of the package, read from every module's imports with ast (imports inside
functions included): core <- runtime <- ml <- cli, blender on core and runtime; no cycles."""
from __future__ import annotations

import ast
from pathlib import Path

from deepx_addon.runtime.detector import BACKENDS, OPTIONAL_TORCH_BACKENDS as DET_OPTIONAL
from deepx_addon.runtime.model import OPTIONAL_TORCH_BACKENDS as MODEL_OPTIONAL, RUNNERS

PKG = Path(__file__).resolve().parents[2] / "deepx_addon"
ROOT = "deepx_addon"
TORCH = ("torch", "ultralytics", "safetensors", "torchvision")
# the declared optional torch backends, picked by name from runtime's tables (imported on use only)
OPTIONAL = {f"{ROOT}.{m}" for m in DET_OPTIONAL + MODEL_OPTIONAL}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> every module it imports (ours fully qualified; others by their top name)."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        mod = module_name(f)
        pkg = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                    # "from . import x" may name a submodule
                    found |= {f"{target}.{a.name}" for a in node.names if (PKG.parent / (target + "." + a.name).replace(".", "/")).with_suffix(".py").exists()}
                else:
                    target = node.module or ""
                found.add(target)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        out[mod] = {m if m.startswith(ROOT) else m.split(".")[0] for m in found}
    return out


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "root"


def ours(names) -> set[str]:
    return {m for m in names if m == ROOT or m.startswith(ROOT + ".")}


def test_the_backend_tables_name_only_runtime_or_declared_backends():
    for module, _ in list(BACKENDS.values()) + list(RUNNERS.values()):
        full = f"{ROOT}.{module}"
        assert full.startswith(f"{ROOT}.runtime.") or full in OPTIONAL, full
        assert (PKG.parent / full.replace(".", "/")).with_suffix(".py").is_file(), full


def test_core_imports_nothing_of_ours_outside_core_and_no_bpy_or_torch():
    bad = {m: sorted(n for n in names if (n in ours(names) and layer(n) != "core") or n in ("bpy", "mathutils", "onnxruntime") + TORCH)
           for m, names in imports().items() if layer(m) == "core"}
    assert not {m: b for m, b in bad.items() if b}


def test_runtime_imports_only_core_and_no_torch_or_bpy():
    bad = {m: sorted(n for n in names if (n in ours(names) and layer(n) not in ("core", "runtime")) or n in ("bpy", "mathutils") + TORCH)
           for m, names in imports().items() if layer(m) == "runtime"}
    assert not {m: b for m, b in bad.items() if b}


def test_blender_imports_no_torch_ml_or_cli():
    bad = {m: sorted(n for n in names if n in TORCH or (n in ours(names) and layer(n) in ("ml", "cli")))
           for m, names in imports().items() if layer(m) == "blender"}
    assert not {m: b for m, b in bad.items() if b}


def test_ml_does_not_import_cli_or_blender():
    bad = {m: sorted(n for n in ours(names) if layer(n) in ("cli", "blender"))
           for m, names in imports().items() if layer(m) == "ml"}
    assert not {m: b for m, b in bad.items() if b}


def test_no_import_cycle_between_our_modules():
    graph = {m: {n for n in ours(names) if n != m} for m, names in imports().items()}
    graph = {m: {n for n in deps if n in graph and not m.startswith(n + ".")} for m, deps in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
