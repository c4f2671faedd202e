"""Predicted vs true distance, in Blender: render this camera's view, run the detector and the model
on it, compare with the mannequin's exact distance (bpy).

``preview_distance(context_or_scene)`` does the work and returns runtime/preview.py's dict (plus
``render_size``, ``camera``, ``mannequin``, ``note``, timings); the operator ``deepx.preview_distance``
calls it, stores the numbers on ``Scene.deepx_preview`` (the Preview sub-panel shows them) and the
3D viewport draws the detected skeleton and a "pred 7.9 m ±0.4 | true 8.1 m" label over the camera
view (a gpu/blf draw handler, added only when Blender has a UI).

The render: Cycles, a few samples, no denoising, the scene's render size scaled down to at most
``max_size`` pixels on the long side (``Scene.deepx_preview.max_size``), written to a temporary PNG
and read back; every render setting it touches is put back afterwards, even on error. K, R, t come
from Blender's camera at the rendered size (core/cameras.blender_to_opencv); the true distance is
camera centre -> pelvis (mid-point of the hip keypoints of posing.world_keypoints).

Backends (runtime/preview.py): YOLO11n-pose on ONNX Runtime when the bundled onnxruntime imports
and yolo11n-pose.onnx is found, else Ultralytics on torch when installed; the shipped learned model
on ONNX Runtime (else torch), else the Sloth rule. Blender's own Python never needs torch.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

import bpy
import numpy as np
from bpy.props import BoolProperty, FloatProperty, IntProperty, StringProperty
from bpy.types import Operator, PropertyGroup

from ..core.cameras import blender_to_opencv
from ..core.keypoints import SKELETON
from ..runtime import preview as rp
from ..runtime.detector import BackendError, load_detector
from ..runtime.preview import label
from .mannequin import PROP_MARK
from .posing import world_keypoints
from .scene import _ensure_cycles


class PreviewError(RuntimeError):
    """The scene cannot be previewed (no camera, no mannequin, ...): the message says what to do."""


# --------------------------------------------------------------------------------------------------
# scene lookups

def find_mannequin(scene):
    """The panel's mannequin (Scene.deepx.mannequin), else the first DeepX armature in the scene that
    renders; None if there is none."""
    dx = getattr(scene, "deepx", None)
    arm = getattr(dx, "mannequin", None) if dx is not None else None
    if arm is not None and arm.type == 'ARMATURE' and scene.objects.get(arm.name) is not None:
        return arm
    cands = [o for o in scene.objects if o.type == 'ARMATURE' and o.get(PROP_MARK)]
    cands.sort(key=lambda o: (o.hide_render, o.name))
    return cands[0] if cands else None


def check_camera(scene) -> str | None:
    """Why the scene camera cannot be previewed (None when it can)."""
    cam = scene.camera if scene is not None else None
    if cam is None:
        return "The scene has no active camera (add one and make it active)"
    if cam.type != 'CAMERA':
        return f"The scene camera {cam.name!r} is not a camera object"
    if cam.data.type != 'PERSP':
        return f"Camera {cam.name!r} is {cam.data.type.lower()}: the preview needs a perspective camera"
    return None


def check_scene(scene) -> str | None:
    """Why the preview cannot run in this scene (None when it can): a camera and a mannequin."""
    problem = check_camera(scene)
    if problem:
        return problem
    if find_mannequin(scene) is None:
        return "No DeepX mannequin in the scene (DeepX > Mannequin > Create Mannequin)"
    return None


def render_size(scene, max_size: int = 640) -> tuple[int, int]:
    """The scene's output size (resolution x percentage), scaled down to max_size on the long side."""
    r = scene.render
    w = r.resolution_x * r.resolution_percentage / 100.0
    h = r.resolution_y * r.resolution_percentage / 100.0
    s = min(1.0, max_size / max(w, h)) if max_size and max_size > 0 else 1.0
    return max(1, int(round(w * s))), max(1, int(round(h * s)))


def camera_opencv(cam, width: int, height: int):
    """(R, t, K) of Blender camera ``cam`` rendering width x height square pixels (OpenCV axes)."""
    d = cam.data
    return blender_to_opencv(np.array(cam.matrix_world), d.lens, d.sensor_width, d.shift_x, d.shift_y,
                             int(width), int(height), sensor_fit=d.sensor_fit, sensor_height=d.sensor_height)


# --------------------------------------------------------------------------------------------------
# the quick render

class _Overrides:
    """Set attributes, remembering the old values; restore() puts them back in the same order (so a
    file format is restored before its colour depth)."""

    def __init__(self):
        self.saved = []

    def set(self, owner, attr, value):
        if owner is None or not hasattr(owner, attr):
            return
        old = getattr(owner, attr)
        if old == value:
            return
        self.saved.append((owner, attr, old))
        setattr(owner, attr, value)

    def restore(self) -> list[str]:
        failed = []
        for owner, attr, old in self.saved:
            try:
                setattr(owner, attr, old)
            except Exception as e:      # keep restoring the rest
                failed.append(f"{attr}: {e}")
        self.saved = []
        return failed


def render_rgb(scene, width: int, height: int, samples: int = 4, crop=None) -> np.ndarray:
    """Render the scene camera's view with Cycles at width x height; HxWx3 uint8 RGB (top row first).
    crop: (x0, y0, x1, y1) integer pixels (top-left origin) renders only that region (Blender's
    border + crop), an image of (y1 - y0) x (x1 - x0). The scene's render settings are restored."""
    _ensure_cycles()
    r = scene.render
    ov = _Overrides()
    tmp = tempfile.mkdtemp(prefix="deepx-preview-")
    path = os.path.join(tmp, "preview.png")
    img = None
    try:
        ov.set(r, "engine", "CYCLES")
        ov.set(r, "resolution_x", int(width))
        ov.set(r, "resolution_y", int(height))
        ov.set(r, "resolution_percentage", 100)
        ov.set(r, "pixel_aspect_x", 1.0)
        ov.set(r, "pixel_aspect_y", 1.0)
        ov.set(r, "use_border", crop is not None)
        if crop is not None:
            x0, y0, x1, y1 = (int(v) for v in crop)
            # Blender's border is a fraction of the frame from the bottom-left, truncated to pixels:
            # +0.01 px lands exactly on the wanted pixel boundaries
            ov.set(r, "use_crop_to_border", True)
            ov.set(r, "border_min_x", (x0 + 0.01) / width)
            ov.set(r, "border_max_x", (x1 + 0.01) / width)
            ov.set(r, "border_min_y", (height - y1 + 0.01) / height)
            ov.set(r, "border_max_y", (height - y0 + 0.01) / height)
        ov.set(r, "film_transparent", False)
        ov.set(r, "use_compositing", False)     # a compositor lens distortion would break K
        ov.set(r, "use_sequencer", False)
        ov.set(r, "use_stamp", False)
        ov.set(r, "use_multiview", False)
        ov.set(r, "use_single_layer", True)
        ov.set(r, "use_file_extension", False)
        ov.set(r, "filepath", path)
        ims = r.image_settings
        ov.set(ims, "file_format", "PNG")
        ov.set(ims, "color_mode", "RGB")
        ov.set(ims, "color_depth", "8")
        c = getattr(scene, "cycles", None)
        ov.set(c, "samples", max(1, int(samples)))
        ov.set(c, "use_adaptive_sampling", False)
        ov.set(c, "use_denoising", False)
        ov.set(c, "seed", 0)
        ov.set(c, "use_animated_seed", False)
        result = bpy.ops.render.render(write_still=True, scene=scene.name)
        if result != {'FINISHED'} or not os.path.isfile(path):
            raise PreviewError(f"the preview render failed ({result})")
        img = bpy.data.images.load(path, check_existing=False)
        w, h = img.size
        want = (int(width), int(height)) if crop is None else (x1 - x0, y1 - y0)
        if (w, h) != want:
            raise PreviewError(f"the preview render is {w}x{h}, expected {want[0]}x{want[1]}")
        buf = np.empty(w * h * img.channels, np.float32)
        img.pixels.foreach_get(buf)
        rgb = buf.reshape(h, w, img.channels)[::-1, :, :3]           # Blender stores the bottom row first
        return np.ascontiguousarray(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8))
    finally:
        if img is not None:
            bpy.data.images.remove(img)
        failed = ov.restore()
        shutil.rmtree(tmp, ignore_errors=True)
        if failed:
            print("DeepX preview: could not restore render settings:", "; ".join(failed))


# --------------------------------------------------------------------------------------------------
# the preview

def _scene_of(context_or_scene):
    if context_or_scene is None:
        return bpy.context.scene
    if isinstance(context_or_scene, bpy.types.Scene):
        return context_or_scene
    return context_or_scene.scene


def person_crop(true_keypoints, width: int, height: int, pad: float = 0.35, min_side: int = 96):
    """(x0, y0, x1, y1) integer pixels around the mannequin's projected keypoints (17 x [x, y, in]),
    padded by ``pad`` of its larger side (at least 24 px) and at least ``min_side`` pixels, clamped
    to the frame; None when no keypoint is in the frame (then the whole frame is used)."""
    kp = np.asarray(true_keypoints, float)
    on = kp[:, 2] > 0
    if not on.any():
        return None
    lo, hi = kp[on, :2].min(0), kp[on, :2].max(0)
    side = max(float((hi - lo).max()) * (1 + 2 * pad), float((hi - lo).max()) + 48.0, float(min_side))
    c = 0.5 * (lo + hi)
    x0, y0 = np.floor(c - side / 2).astype(int)
    x1, y1 = np.ceil(c + side / 2).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, int(width)), min(y1, int(height))
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def preview_steps(context_or_scene=None, *, armature=None, model=None, detector: str = "auto",
                  model_backend: str = "auto", samples: int | None = None, max_size: int | None = None,
                  store: bool = True, return_image: bool = False):
    """preview_distance in stages, for a modal operator: yields a status text before each slow step
    ("Rendering ...", "Detecting ..."), and finally the result dict (the last item)."""

    t_start = time.perf_counter()
    scene = _scene_of(context_or_scene)
    pv = getattr(scene, "deepx_preview", None)
    samples = int(samples if samples is not None else (pv.samples if pv is not None else 4))
    max_size = int(max_size if max_size is not None else (pv.max_size if pv is not None else 640))
    problem = check_scene(scene) if armature is None else check_camera(scene)
    if problem:
        raise PreviewError(problem)
    arm = armature or find_mannequin(scene)
    cam = scene.camera
    yield "Loading the detector and the model"
    # load the backends first: a missing runtime is reported before a render is spent
    det, det_label = load_detector(detector)
    est, model_label, note = rp.load_distance_model(model, model_backend)
    layer = bpy.context.view_layer if scene == bpy.context.scene else scene.view_layers[0]
    layer.update()
    # the detector sees a crop around the person at the scene's own resolution (a far person stays
    # many pixels tall); only a crop larger than max_size is scaled down
    W, H = render_size(scene, 1 << 16)
    kw = world_keypoints(arm)
    R, t, K = camera_opencv(cam, W, H)
    crop = person_crop(rp.project_true_keypoints(kw, R, t, K, W, H), W, H)
    long_side = max(crop[2] - crop[0], crop[3] - crop[1]) if crop else max(W, H)
    if long_side > max_size:
        W, H = render_size(scene, int(max_size * max(W, H) / long_side))
        R, t, K = camera_opencv(cam, W, H)
        crop = person_crop(rp.project_true_keypoints(kw, R, t, K, W, H), W, H)
    size = (crop[2] - crop[0], crop[3] - crop[1]) if crop else (W, H)
    yield f"Rendering {size[0]}x{size[1]} px ({samples} samples)"
    t0 = time.perf_counter()
    image = render_rgb(scene, W, H, samples, crop)
    t_render = time.perf_counter() - t0
    if crop is not None:                       # the crop is the picture of a camera with a shifted centre
        K = K.copy()
        K[0, 2] -= crop[0]
        K[1, 2] -= crop[1]
    yield "Detecting the person and estimating the distance"
    res = rp.run(image, K, R, t, kw, det, est)
    res["timings_s"]["render"] = round(t_render, 4)
    res["timings_s"]["total"] = round(time.perf_counter() - t_start, 4)
    res.update(render_size=[W, H], crop=list(crop) if crop else None, samples=samples, camera=cam.name,
               mannequin=arm.name, detector=det_label, model=model_label, note=note,
               camera_position=[float(v) for v in cam.matrix_world.translation])
    if return_image:
        res["image"] = image
    if store and pv is not None:
        store_result(pv, res)
    yield res


def preview_distance(context_or_scene=None, **kw) -> dict:
    """Render the scene camera's view, detect the mannequin, predict its distance, compare with truth.

    model: None (the shipped learned model, else Sloth), "sloth"/"bbox"/"shoulder_hip", or a model
    .json path; detector / model_backend: "auto", "onnx" or "torch"; samples / max_size default to
    Scene.deepx_preview's (4 and 640): the render is a crop around the mannequin at the scene's
    resolution, scaled down only when the crop is larger than max_size. Returns runtime.preview.run's
    dict (K of the crop) plus render_size, crop [x0, y0, x1, y1], camera, mannequin, detector, model,
    note, timings_s {render, detect, estimate, total} (and "image", the RGB crop, with
    return_image). Stores it on Scene.deepx_preview when ``store`` and that property exists. Raises
    PreviewError (scene not ready) or BackendError (nothing to run it with).
    """
    res = None
    for res in preview_steps(context_or_scene, **kw):
        pass
    return res


def store_result(pv, res: dict) -> None:
    """Copy a preview result onto Scene.deepx_preview (the panel and the overlay read it)."""
    nan = float("nan")
    num = lambda v: nan if v is None else float(v)
    pv.has_result = True
    pv.ok = bool(res.get("ok"))
    pv.predicted_m = num(res.get("predicted_m"))
    pv.sigma_m = num(res.get("sigma_m"))
    pv.true_m = num(res.get("true_m"))
    pv.error_m = num(res.get("error_m"))
    pv.status = str(res.get("status", ""))
    pv.message = "; ".join(m for m in (res.get("message"), res.get("note")) if m)
    pv.detector = str(res.get("detector", ""))
    pv.model = str(res.get("model", ""))
    pv.wall_s = float(res.get("timings_s", {}).get("total", 0.0))
    pv.keypoints_json = json.dumps(res.get("keypoints"))
    pv.result_json = json.dumps({k: v for k, v in res.items() if k != "image"})


def store_error(pv, message: str) -> None:
    pv.has_result = True
    pv.ok = False
    pv.status = "error"
    pv.message = message
    pv.predicted_m = pv.sigma_m = pv.error_m = float("nan")
    pv.result_json = ""
    pv.keypoints_json = ""


# --------------------------------------------------------------------------------------------------
# the viewport overlay

KP_MIN_CONF = 0.3


def overlay_geometry(res: dict, kp_min_conf: float = KP_MIN_CONF) -> dict | None:
    """World-space points of the overlay: the detected keypoints (conf >= kp_min_conf) back-projected
    from the preview's camera at the true pelvis depth (seen through that camera they land on the
    detected pixels), the skeleton's segments as index pairs into them, the label and its anchor
    (above the box's top-left corner)."""
    if not res or res.get("keypoints") is None:
        return None
    K, R, t = (np.asarray(res[k], float) for k in ("K", "R", "t"))
    depth = res.get("true_depth_m") or res.get("depth_m") or 5.0
    kp = np.asarray(res["keypoints"], float)
    keep = kp[:, 2] >= kp_min_conf
    uv = kp[:, :2]
    bb = res.get("bbox")
    anchor_uv = np.array([[bb[0], bb[1]]]) if bb else uv[keep][:1]
    pts = _backproject(np.vstack([uv, anchor_uv]), K, R, t, depth)
    idx = {int(i): n for n, i in enumerate(np.flatnonzero(keep))}
    segs = [(idx[a], idx[b]) for a, b in SKELETON if a in idx and b in idx]
    return {"points": pts[:-1][keep], "segments": segs, "anchor": pts[-1], "label": label(res),
            "camera": res.get("camera"), "ok": bool(res.get("ok"))}


def _backproject(uv, K, R, t, depth: float) -> np.ndarray:
    uv = np.asarray(uv, float).reshape(-1, 2)
    rays = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(K).T          # z = 1
    pc = rays * float(depth)
    return (pc - t) @ R                                                # x_w = R^T (x_c - t)


_draw_handle = None
_geo_cache: dict = {}


def _draw_overlay():
    """SpaceView3D POST_PIXEL callback: only when looking through the camera that was previewed."""
    try:
        ctx = bpy.context
        scene, region, rv3d = ctx.scene, ctx.region, ctx.region_data
        pv = getattr(scene, "deepx_preview", None)
        if pv is None or not pv.show_overlay or not pv.result_json or rv3d is None:
            return
        if rv3d.view_perspective != 'CAMERA':
            return
        key = pv.result_json
        if _geo_cache.get("key") != key:
            _geo_cache.clear()
            _geo_cache.update(key=key, geo=overlay_geometry(json.loads(key)))
        geo = _geo_cache["geo"]
        if geo is None or scene.camera is None or scene.camera.name != geo["camera"]:
            return
        import blf
        import gpu
        from bpy_extras.view3d_utils import location_3d_to_region_2d
        from gpu_extras.batch import batch_for_shader
        from mathutils import Vector

        to2d = lambda p: location_3d_to_region_2d(region, rv3d, Vector(tuple(p)))
        pts = [to2d(p) for p in geo["points"]]
        shader = gpu.shader.from_builtin('UNIFORM_COLOR')
        gpu.state.blend_set('ALPHA')
        lines = [tuple(pts[i]) for a, b in geo["segments"] for i in (a, b) if pts[a] is not None and pts[b] is not None]
        if lines:
            gpu.state.line_width_set(2.0)
            batch = batch_for_shader(shader, 'LINES', {"pos": lines})
            shader.uniform_float("color", (0.15, 0.85, 1.0, 0.9))
            batch.draw(shader)
        dots = [tuple(p) for p in pts if p is not None]
        if dots:
            gpu.state.point_size_set(7.0)
            batch = batch_for_shader(shader, 'POINTS', {"pos": dots})
            shader.uniform_float("color", (1.0, 0.85, 0.1, 1.0))
            batch.draw(shader)
        gpu.state.line_width_set(1.0)
        gpu.state.point_size_set(1.0)
        gpu.state.blend_set('NONE')
        anchor = to2d(geo["anchor"])
        if anchor is not None:
            scale = ctx.preferences.system.ui_scale
            font = 0
            blf.size(font, 15 * scale)
            text = geo["label"]
            x, y = anchor.x, anchor.y + 8 * scale
            blf.enable(font, blf.SHADOW)
            blf.shadow(font, 3, 0.0, 0.0, 0.0, 0.9)
            blf.shadow_offset(font, 1, -1)
            blf.color(font, *((1.0, 1.0, 1.0, 1.0) if geo["ok"] else (1.0, 0.5, 0.4, 1.0)))
            blf.position(font, x, y, 0)
            blf.draw(font, text)
            blf.disable(font, blf.SHADOW)
    except Exception as e:     # a draw callback must never raise into Blender's UI loop
        if not _geo_cache.get("warned"):
            _geo_cache["warned"] = True
            print(f"DeepX preview overlay: {e}")


def _tag_redraw(context=None) -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for win in (wm.windows if wm else []):
        for area in win.screen.areas:
            if area.type == 'VIEW_3D':
                area.tag_redraw()


def _overlay_update(self, context):
    _tag_redraw(context)


# --------------------------------------------------------------------------------------------------
# properties, operator

class DEEPX_PG_preview(PropertyGroup):
    samples: IntProperty(name="Samples", default=4, min=1, max=256,
                         description="Cycles samples of the preview render (few: the detector needs no clean image)")
    max_size: IntProperty(name="Max Size", default=640, min=64, max=4096, subtype='PIXEL',
                          description="The preview renders a crop around the mannequin at the scene's output "
                                      "size; a crop longer than this many pixels is scaled down")
    show_overlay: BoolProperty(name="Show Overlay", default=True, update=_overlay_update,
                               description="Draw the detected skeleton and the distances in the 3D viewport "
                                           "(when looking through the camera)")
    has_result: BoolProperty(default=False)
    running: BoolProperty(default=False, options={'SKIP_SAVE'})
    progress_text: StringProperty(default="", options={'SKIP_SAVE'})
    ok: BoolProperty(default=False)
    predicted_m: FloatProperty(name="Predicted", default=float("nan"), unit='LENGTH')
    sigma_m: FloatProperty(name="Sigma", default=float("nan"), unit='LENGTH')
    true_m: FloatProperty(name="True", default=float("nan"), unit='LENGTH')
    error_m: FloatProperty(name="Error", default=float("nan"), unit='LENGTH')
    status: StringProperty(name="Status", default="")
    message: StringProperty(name="Message", default="")
    detector: StringProperty(name="Detector", default="")
    model: StringProperty(name="Model", default="")
    wall_s: FloatProperty(name="Time", default=0.0, unit='TIME_ABSOLUTE')
    keypoints_json: StringProperty(name="Keypoints", default="",
                                   description="Detected keypoints (17 x [x, y, conf]) as JSON")
    result_json: StringProperty(name="Result", default="", description="The whole preview result as JSON")


def _poll(cls, context) -> bool:
    problem = check_scene(context.scene)
    if problem:
        cls.poll_message_set(problem)
        return False
    return True


class DEEPX_OT_preview_distance(Operator):
    """Render this camera's view, detect the mannequin and compare the model's distance with the true one"""
    bl_idname = "deepx.preview_distance"
    bl_label = "Preview Distance"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context):
        return _poll(cls, context)

    _timer = None
    _steps = None

    def _report(self, res) -> None:
        text = label(res)
        if res["ok"]:
            err = res["error_m"]
            self.report({'INFO'}, f"{text} (error {err:+.2f} m, {100 * res['rel_error']:+.1f} %)")
        else:
            self.report({'WARNING'}, f"{text}: {res['message']}")

    def _fail(self, context, e) -> set:
        pv = getattr(context.scene, "deepx_preview", None)
        if pv is not None:
            store_error(pv, str(e))
            pv.running, pv.progress_text = False, ""
        self.report({'ERROR'}, str(e))
        _tag_redraw(context)
        return {'CANCELLED'}

    def execute(self, context):
        """Synchronous (scripts, background)."""
        try:
            res = preview_distance(context)
        except (PreviewError, BackendError) as e:
            return self._fail(context, e)
        _tag_redraw(context)
        self._report(res)
        return {'FINISHED'}

    def invoke(self, context, event):
        """With a UI: one stage per timer tick, the status line in the panel says which; Esc cancels."""
        if context.window is None or bpy.app.background:
            return self.execute(context)
        pv = context.scene.deepx_preview
        self._steps = preview_steps(context.scene)
        pv.running, pv.progress_text = True, "Starting"
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.05, window=context.window)
        wm.modal_handler_add(self)
        _tag_redraw(context)
        return {'RUNNING_MODAL'}

    def _end(self, context):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        self._steps = None
        pv = context.scene.deepx_preview
        pv.running, pv.progress_text = False, ""
        _tag_redraw(context)

    def modal(self, context, event):
        if event.type == 'ESC':
            self._end(context)
            self.report({'WARNING'}, "Preview cancelled")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        try:
            item = next(self._steps)
        except (PreviewError, BackendError) as e:
            self._end(context)
            return self._fail(context, e)
        except StopIteration:
            self._end(context)
            return {'FINISHED'}
        if isinstance(item, dict):
            self._end(context)
            self._report(item)
            return {'FINISHED'}
        context.scene.deepx_preview.progress_text = item + " ..."
        _tag_redraw(context)
        return {'RUNNING_MODAL'}


classes = (DEEPX_PG_preview, DEEPX_OT_preview_distance)

_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    global _draw_handle
    _register()
    bpy.types.Scene.deepx_preview = bpy.props.PointerProperty(type=DEEPX_PG_preview)
    if not bpy.app.background and _draw_handle is None:
        _draw_handle = bpy.types.SpaceView3D.draw_handler_add(_draw_overlay, (), 'WINDOW', 'POST_PIXEL')


def unregister():
    global _draw_handle
    if _draw_handle is not None:
        bpy.types.SpaceView3D.draw_handler_remove(_draw_handle, 'WINDOW')
        _draw_handle = None
    _geo_cache.clear()
    del bpy.types.Scene.deepx_preview
    _unregister()
