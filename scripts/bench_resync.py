"""What single changes between two renders cost Cycles (persistent data) in the batch scene.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_resync.py                  # 160x160, 4 samples, 2 threads
    PYTHONPATH=$PWD .venv/bin/python scripts/bench_resync.py --rounds 40 --only nothing,sun,ground_rgb
    PYTHONPATH=$PWD .venv/bin/python scripts/bench_resync.py --probe          # ground colour routes compared
    PYTHONPATH=$PWD .venv/bin/python scripts/bench_resync.py --probe --check  # which routes reach the render

Not a test; prints numbers. Builds the real batch scene (deepx_addon.blender.batch.BatchJob: plain
scene unless --realistic, mannequin, occluders, ground, sun, world) and renders its first sample.
A "change" toggles one thing between two nearly equal values (x 1.0 / 0.999, or 1 mm), so the
picture, and with it the pure render time, stays the same: what the render costs more is re-sync.

Default changes, on the batch's own objects: ``ground_rgb`` (scene.set_ground_rgb: what the batch
does per sample), ``ground_material_socket`` (the ground material's colour socket: what it did
before 2 Dec 2026), ``occluder_rgb`` / ``occluder_move`` (an occluder standing far away),
``seat_hide_again`` / ``pass_index_again`` (the seat's visibility, the mannequin meshes' pass
index, set to the values they have), ``sun``, ``world`` (the sky colour), ``camera``, ``pose`` (a
new pose: RenderContext.set_pose between two pose seeds, its Python time reported apart; same
camera) and ``pose_with_old_resets`` (a pose change plus the seat and pass-index sets that
set_pose made on every pose before 2 Dec 2026), ``lighting`` (scene.set_lighting as the batch
calls it per sample, two fixed draws alternating) and ``lighting_old_route`` (the same plus the
ground material's socket set to that albedo, as before), ``nothing``.

``--probe``: the ground gets a probe material whose colour is a product of factors, one per route,
each 1.0: ``ground_socket`` (a node socket), ``ground_image`` (a 1x1 float image's pixels),
``ground_scene_attr`` / ``ground_world_attr`` (an Attribute node of type View Layer reading a
custom property of the scene / of the world, the ID tagged), ``ground_object_attr`` (type Object:
the ground object's custom property), ``ground_mesh_attr`` (a colour attribute of the ground
mesh), ``ground_swap_material`` (two copies of the material, swapped). ``--check`` sets each route
to a clearly different colour and back: does the render change (the route reaches Cycles), does it
come back byte-identical, and are its pixels those of the socket route at the same colour?

Timing: rounds x changes, in a shuffled order each round, each change timed as "render after the
change" next to "render with nothing changed" right before it (interleaved: load changes hit
both). Reported: the median of the bare renders, the median of each change's renders minus it, and
the median of the per-pair differences (ms; the steadier figure on a shared machine); the load.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE = "DeepX_GroundProbe"
PROP = "deepx_ground_probe"
PROP_W = "deepx_ground_probe_world"     # on the world: a "View Layer" attribute looks there after the scene


def build_probe(rig):
    """Ground material: Diffuse(colour = socket * image * scene attr * object attr * mesh colour)."""
    import bpy

    from deepx_addon.blender.scene import diffuse_material
    img = bpy.data.images.get(PROBE) or bpy.data.images.new(PROBE, 1, 1, alpha=True, float_buffer=True)
    img.colorspace_settings.name = "Linear Rec.709"
    img.pixels.foreach_set([1.0, 1.0, 1.0, 1.0])
    img.update()
    mat = diffuse_material(PROBE, (1.0, 1.0, 1.0))      # its colour input is linked below
    nt = mat.node_tree
    bsdf = nt.nodes["Diffuse BSDF"]
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image, tex.interpolation, tex.extension = img, "Closest", "EXTEND"
    a_scene = nt.nodes.new("ShaderNodeAttribute")
    a_scene.attribute_type, a_scene.attribute_name = "VIEW_LAYER", PROP
    a_world = nt.nodes.new("ShaderNodeAttribute")
    a_world.attribute_type, a_world.attribute_name = "VIEW_LAYER", PROP_W
    a_obj = nt.nodes.new("ShaderNodeAttribute")
    a_obj.attribute_type, a_obj.attribute_name = "OBJECT", PROP
    a_mesh = nt.nodes.new("ShaderNodeAttribute")
    a_mesh.attribute_type, a_mesh.attribute_name = "GEOMETRY", PROP
    cur = None
    for src in (tex.outputs["Color"], a_scene.outputs["Color"], a_world.outputs["Color"], a_obj.outputs["Color"], a_mesh.outputs["Color"]):
        m = nt.nodes.new("ShaderNodeMix")
        m.data_type, m.blend_type = "RGBA", "MULTIPLY"
        m.inputs["Factor"].default_value = 1.0
        if cur is None:
            m.name = "socket"
            m.inputs["A"].default_value = (0.3, 0.3, 0.3, 1.0)
        else:
            nt.links.new(cur.outputs["Result"], m.inputs["A"])
        nt.links.new(src, m.inputs["B"])
        cur = m
    nt.links.new(cur.outputs["Result"], bsdf.inputs["Color"])
    me = rig.ground.data
    ca = me.color_attributes.get(PROP) or me.color_attributes.new(PROP, "FLOAT_COLOR", "CORNER")
    ca.data.foreach_set("color", [1.0] * 4 * len(ca.data))
    bpy.context.scene[PROP] = (1.0, 1.0, 1.0)
    rig.world[PROP_W] = (1.0, 1.0, 1.0)
    bpy.context.scene.update_tag()      # custom properties reach the render only with their ID tagged
    rig.world.update_tag()
    rig.ground[PROP] = (1.0, 1.0, 1.0)
    mat2 = mat.copy()
    mat2.name = PROBE + "_B"
    rig.ground.data.materials[0] = mat
    me.update()
    return mat, mat2, img


def routes(rig, mat, mat2, img):
    """name -> set(rgb) for the ground colour routes (the probe material); rgb multiplies the grey 0.3."""
    import bpy

    def socket(c):
        for m in (mat, mat2):
            m.node_tree.nodes["socket"].inputs["A"].default_value = (*(0.3 * x for x in c), 1.0)

    def image(c):
        img.pixels.foreach_set([*c, 1.0])
        img.update()
        img.update_tag()

    def scene_attr(c):
        bpy.context.scene[PROP] = tuple(c)
        bpy.context.scene.update_tag()

    def world_attr(c):
        rig.world[PROP_W] = tuple(c)
        rig.world.update_tag()

    def object_attr(c):
        rig.ground[PROP] = tuple(c)
        rig.ground.update_tag()

    def mesh_attr(c):
        ca = rig.ground.data.color_attributes[PROP]
        ca.data.foreach_set("color", [*c, 1.0] * len(ca.data))
        rig.ground.data.update()

    def swap(c):        # which material: only the toggle matters here (both have the same nodes)
        rig.ground.data.materials[0] = mat2 if rig.ground.data.materials[0] == mat else mat

    return {"ground_socket": socket, "ground_image": image, "ground_scene_attr": scene_attr,
            "ground_world_attr": world_attr, "ground_object_attr": object_attr,
            "ground_mesh_attr": mesh_attr, "ground_swap_material": swap}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--res", type=int, default=160)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--only", help="comma-separated change names")
    p.add_argument("--check", action="store_true", help="which routes reach the render, pixels vs the socket")
    p.add_argument("--realistic", action="store_true", help="SceneSettings.realistic (default: the plain scene)")
    p.add_argument("--probe", action="store_true",
                   help="compare ground colour routes on a probe material (else: the batch's own materials)")
    a = p.parse_args(argv)

    import bpy
    import numpy as np

    from deepx_addon.blender.batch import BatchJob
    from deepx_addon.blender.render import _quiet_stdout, read_png
    from deepx_addon.core.settings import GeneratorSettings

    bpy.ops.wm.read_factory_settings(use_empty=True)
    s = GeneratorSettings(seed=1, count=4, cameras_per_pose=16)
    s.render.engine, s.render.samples = "CYCLES", a.samples
    s.render.resolution = s.camera.image_size = (a.res, a.res)
    s.camera.distance_m = (2.0, 30.0)
    s.camera.p_occluder = 0.2
    s.scene.realistic = a.realistic
    tmp = tempfile.TemporaryDirectory(prefix="deepx-resync-")
    d = Path(tmp.name)
    job = BatchJob(s, d / "run", threads=a.threads)
    job.step()
    ctx, rig, scene = job.ctx, job.ctx.rig, bpy.context.scene
    scene.render.filepath = str(d / "r.png")

    def render(path=None) -> float:
        if path:
            scene.render.filepath = str(path)
        with _quiet_stdout():
            t = time.perf_counter()
            bpy.ops.render.render(write_still=True)
            dt = time.perf_counter() - t
        scene.render.filepath = str(d / "r.png")
        return dt

    if a.probe:
        mat, mat2, img = build_probe(rig)
        ground = routes(rig, mat, mat2, img)
    else:           # the batch's own ground: its route (scene.set_ground_rgb) and the material's socket
        from deepx_addon.blender import occlusion
        from deepx_addon.blender.scene import GROUND_RGB_PROP, set_ground_rgb, set_rgb
        gm = rig.ground.data.materials[0]
        c0 = tuple(rig.world[GROUND_RGB_PROP])
        occ = ctx.occluders[0]
        occlusion.place_occluder(occ, "box", (40.0, 40.0), (1.0, 1.0, 1.0), 0.0, (0.4, 0.4, 0.4))
        ground = {"ground_rgb": lambda c: set_ground_rgb(rig, tuple(x * y for x, y in zip(c0, c))),
                  "ground_material_socket": lambda c: set_rgb(gm, tuple(x * y for x, y in zip(c0, c))),
                  "occluder_rgb": lambda c: set_rgb(occ.material_slots[0].material, tuple(0.4 * x for x in c)),
                  "occluder_move": lambda c: setattr(occ, "location", (40.0 + 1.0 - c[0], 40.0, 0.0)),
                  # what set_pose re-sets on every pose to the same values: are those free?
                  "seat_hide_again": lambda c: setattr(ctx._support, "hide_viewport", True),
                  "pass_index_again": lambda c: [setattr(m, "pass_index", m.pass_index) for m in ctx.meshes]}
    for _ in range(3):
        render()

    if a.check and not a.probe:
        p.error("--check compares the probe's routes: add --probe")
    if a.check:
        one, other = (1.0, 1.0, 1.0), (0.4, 1.6, 0.9)
        ref = {}
        for name, f in ground.items():
            if name == "ground_swap_material":
                continue
            render(d / "a.png")
            f(other)
            render(d / "b.png")
            pa, pb = read_png(d / "a.png"), read_png(d / "b.png")
            ref[name] = pb
            f(one)
            render(d / "c.png")
            pc = read_png(d / "c.png")
            print(f"{name:<28} changes the render: {bool((pa != pb).any())!s:<5}  back equal: "
                  f"{bool((pa == pc).all())}", flush=True)
        base = ref["ground_socket"]
        for name, px in ref.items():
            diff = np.abs(px - base)
            print(f"{name:<28} vs socket at the same colour: max |diff| {diff.max():.0f}, pixels differing "
                  f"{int((diff > 0).any(-1).sum())}", flush=True)
        job.close()
        return 0

    flip = {"v": False}

    def toggled(scale=0.999):
        flip["v"] = not flip["v"]
        return scale if flip["v"] else 1.0

    M0 = rig.camera.matrix_world.copy()
    sun_e = rig.sun.data.energy
    bg = rig.world.node_tree.nodes["Background"].inputs["Color"]
    bg0 = tuple(bg.default_value)
    seeds = [job.plans[0].pose_seed, job.plans[0].pose_seed + 1]
    pose_py: list[float] = []

    def pose():
        t = time.perf_counter()
        ctx.set_pose(seeds[1] if ctx.state.pose_seed == seeds[0] else seeds[0])
        pose_py.append(time.perf_counter() - t)

    def camera():
        M = M0.copy()
        M[0][3] += 1.0 - toggled()          # 1 mm sideways, and back
        rig.camera.matrix_world = M

    def pose_resets():       # a pose change plus what set_pose did on every pose before 2 Dec 2026
        pose()
        ctx._support.hide_render = ctx._support.hide_viewport = True
        for m in ctx.meshes:
            m.pass_index = m.pass_index

    from deepx_addon.blender.scene import set_lighting, set_rgb as _set_rgb

    def lighting(old_route=False):      # the whole per-sample lighting, two fixed draws alternating
        toggled()
        light = set_lighting(rig, np.random.default_rng(int(flip["v"])))
        if old_route:                   # what set_lighting did before: the ground material's socket
            _set_rgb(rig.ground.data.materials[0], light["ground_rgb"])

    changes = {f"{k}": (lambda f=f: f((toggled(),) * 3)) for k, f in ground.items()}
    changes.update({
        "nothing": lambda: None,
        "sun": lambda: setattr(rig.sun.data, "energy", sun_e * toggled()),
        "world": lambda: setattr(bg, "default_value", (*(x * toggled() for x in bg0[:3]), 1.0)),
        "camera": camera,
        "pose": pose,
        "pose_with_old_resets": pose_resets,
        "lighting": lighting,
        "lighting_old_route": lambda: lighting(True),
    })
    if a.probe:
        changes.pop("lighting"), changes.pop("lighting_old_route")
    if a.only:
        changes = {k: changes[k] for k in a.only.split(",")}
    rnd = random.Random(0)
    bare, changed = [], {k: [] for k in changes}
    diffs = {k: [] for k in changes}
    for _ in range(a.rounds):
        order = list(changes)
        rnd.shuffle(order)
        for k in order:
            b = render()
            changes[k]()
            c = render()
            bare.append(b)
            changed[k].append(c)
            diffs[k].append(c - b)
    load = os.getloadavg()
    mb = statistics.median(bare)
    print(f"{a.res}x{a.res}, {a.samples} samples, {a.threads} threads, {a.rounds} rounds; "
          f"bare render median {1e3 * mb:.1f} ms; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'change':<28} {'render ms':>10} {'- bare':>8} {'pair diff':>10}")
    for k in changes:
        mc = statistics.median(changed[k])
        print(f"{k:<28} {1e3 * mc:>10.1f} {1e3 * (mc - mb):>8.1f} {1e3 * statistics.median(diffs[k]):>10.1f}")
    if pose_py:
        print(f"pose: RenderContext.set_pose (Python, before the render) median {1e3 * statistics.median(pose_py):.1f} ms")
    job.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
