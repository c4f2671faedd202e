"""The render scene around the mannequin: ground, sun, world, camera and engine settings (bpy).

``setup_scene(settings)`` creates (or finds again: it is idempotent, objects are looked up by name)
a ground plane, a sun, a world colour and a camera in a "DeepX" collection of the scene and sets the
render engine for fast synthetic data (see ``configure_engine``). ``set_lighting(rig, rng)`` varies
the sun's direction/strength, the ambient world light and the ground colour per sample and returns
those parameters for the label (the ground's albedo goes through a custom property of the world,
``set_ground_rgb``: changing the material would cost Cycles a re-sync every sample).
``set_camera(cam, K, R, t, width, height)`` makes Blender's camera reproduce an OpenCV camera
exactly (K with the principal point anywhere, R|t world -> camera), via core/cameras.py's
``blender_camera_params`` / ``opencv_to_blender_world_matrix``.

Engine ids: "CYCLES", "BLENDER_WORKBENCH" and "EEVEE"; the last is 'BLENDER_EEVEE_NEXT' in Blender
4.2-4.5 and 'BLENDER_EEVEE' in 5.0 (``eevee_engine_id`` finds out). Workbench and EEVEE need an
OpenGL/EGL context: headless without one Blender aborts the whole process, so test them in a
subprocess.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.cameras import blender_camera_params, opencv_to_blender_world_matrix
from ..core.settings import GeneratorSettings, RenderSettings, SettingsError

COLLECTION = "DeepX"
GROUND, SUN, CAMERA, WORLD = "DeepX_Ground", "DeepX_Sun", "DeepX_Camera", "DeepX_World"
GROUND_MATERIAL = "DeepX_Ground"
GROUND_RGB_PROP = "deepx_ground_rgb"   # the world's custom property the ground reads (Cycles, ground_material)
GROUND_RGB_NODE = "DeepX_GroundRGB"
GROUND_SIZE_M = 4000.0      # far enough that its edge sits on the horizon for cameras up to ~10 m high

# Per-sample lighting variation (uniform ranges).
SUN_ELEVATION_DEG = (15.0, 85.0)
SUN_STRENGTH = (1.5, 5.0)            # W/m^2 (Blender's sun "strength")
WORLD_STRENGTH = (0.25, 1.0)
GROUND_VALUE = (0.08, 0.55)          # ground albedo (grey level before the tint)


@dataclass
class SceneRig:
    """The objects setup_scene() made; render and batch code pass this around."""
    scene: "bpy.types.Scene"
    collection: "bpy.types.Collection"
    camera: "bpy.types.Object"
    sun: "bpy.types.Object"
    ground: "bpy.types.Object"
    world: "bpy.types.World"
    engine: str


# ------------------------------------------------------------------------------------------------
# engines

def eevee_engine_id() -> str:
    """'BLENDER_EEVEE_NEXT' (Blender 4.2-4.5) or 'BLENDER_EEVEE' (5.0+)."""
    return "BLENDER_EEVEE_NEXT" if bpy.app.version < (5, 0, 0) else "BLENDER_EEVEE"


def engine_id(name: str) -> str:
    """Our engine name (CYCLES | BLENDER_WORKBENCH | EEVEE, or a Blender id) -> Blender's id."""
    name = name.upper()
    if name in ("EEVEE", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"):
        return eevee_engine_id()
    if name in ("WORKBENCH", "BLENDER_WORKBENCH"):
        return "BLENDER_WORKBENCH"
    if name == "CYCLES":
        return "CYCLES"
    raise ValueError(f"unknown render engine {name!r}; expected CYCLES, BLENDER_WORKBENCH or EEVEE")


def _ensure_cycles() -> None:
    if not hasattr(bpy.types.Scene, "cycles") or not hasattr(bpy.context.scene, "cycles"):
        import addon_utils
        addon_utils.enable("cycles", default_set=True)


def oidn_available() -> bool:
    """Whether this Blender's Cycles was built with OpenImageDenoise (the bpy wheel: yes; Debian's 4.3: no)."""
    _ensure_cycles()
    import _cycles
    return bool(getattr(_cycles, "with_openimagedenoise", False))


def cycles_denoiser(denoise: str, engine: str = "CYCLES") -> str | None:
    """The Cycles denoiser a RenderSettings.denoise mode gives in this Blender: "OPENIMAGEDENOISE" or
    None (off, another engine, or "auto" without OIDN). "oidn" without OIDN is an error, not a quiet
    fallback: the renders would be noisier than asked."""
    if engine_id(engine) != "CYCLES" or denoise == "off":
        return None
    if oidn_available():
        return "OPENIMAGEDENOISE"
    if denoise == "oidn":
        raise SettingsError(f"RenderSettings.denoise 'oidn': this Blender ({bpy.app.version_string}) has no "
                            "OpenImageDenoise; use 'auto' (denoise where available) or 'off'")
    return None


def configure_engine(scene, engine: str = "CYCLES", samples: int = 4, *, max_bounces: int = 0,
                     threads: int | None = None, denoise: str = "off") -> str:
    """Render settings tuned for many small, fast images. Returns Blender's engine id.

    Cycles: CPU, ``samples`` paths/pixel, no adaptive sampling, denoising per ``denoise``
    (``cycles_denoiser``: OpenImageDenoise on colour + albedo + normal, or none), persistent data (the
    BVH survives between renders when only the camera/lights move), one tile, no light tree, and by
    default no indirect bounces (``max_bounces`` 0: direct sun + sky light, sampled as lights, which
    looked the same as 1 bounce on the mannequin and renders ~20 % faster at 640x640).
    Workbench: studio light, material colours, anti-aliasing passes ~ ``samples`` (1: FXAA only).
    EEVEE: ``samples`` TAA samples.
    """
    eid = engine_id(engine)
    r = scene.render
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.use_border = False
    r.film_transparent = False
    r.use_sequencer = False
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGB"
    r.image_settings.color_depth = "8"
    r.image_settings.compression = 15
    r.use_file_extension = False
    # no metadata in the PNGs (dates, render times, host name): same sample -> same bytes
    for name in ("time", "date", "frame", "frame_range", "camera", "lens", "scene", "note", "marker",
                 "filename", "sequencer_strip", "render_time", "memory", "hostname"):
        if hasattr(r, f"use_stamp_{name}"):
            setattr(r, f"use_stamp_{name}", False)
    r.use_stamp = False
    r.use_persistent_data = False
    if threads:
        r.threads_mode, r.threads = "FIXED", int(threads)
    else:
        r.threads_mode = "AUTO"
    scene.view_settings.view_transform = "Standard"    # plain sRGB: what photos look like to a detector
    scene.view_settings.look = "None"
    if eid == "CYCLES":
        _ensure_cycles()
        r.engine = "CYCLES"
        c = scene.cycles
        c.device = "CPU"
        if hasattr(c, "feature_set"):           # gone in Blender 5.0
            c.feature_set = "SUPPORTED"
        c.samples = max(1, int(samples))
        c.use_adaptive_sampling = False
        denoiser = cycles_denoiser(denoise, eid)
        c.use_denoising = denoiser is not None
        if denoiser:
            c.denoiser = denoiser
            c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
            c.denoising_prefilter = "ACCURATE"
            if hasattr(c, "denoising_use_gpu"):
                c.denoising_use_gpu = False
        c.seed = 0
        c.use_animated_seed = False
        c.max_bounces = max_bounces
        c.diffuse_bounces = min(max_bounces, 1)
        c.glossy_bounces = min(max_bounces, 1)
        c.transmission_bounces = 0
        c.volume_bounces = 0
        c.transparent_max_bounces = 2
        c.caustics_reflective = c.caustics_refractive = False
        c.use_auto_tile = False
        c.pixel_filter_type = "BLACKMAN_HARRIS"
        if hasattr(c, "use_light_tree"):
            c.use_light_tree = False
        # With persistent data Cycles keeps its session between renders and ignores some changed
        # settings (the sample count, for one): switching it off frees that session.
        r.use_persistent_data = False
        r.use_persistent_data = True
    elif eid == "BLENDER_WORKBENCH":
        r.engine = eid
        sh = scene.display.shading
        sh.light = "STUDIO"
        sh.color_type = "MATERIAL"
        sh.show_shadows = True
        sh.show_cavity = False
        # anti-aliasing passes from the sample count (software GL pays for every pass)
        n = int(samples)
        scene.display.render_aa = "FXAA" if n <= 1 else "5" if n <= 5 else "8" if n <= 8 else "11" if n <= 11 else "16"
    else:
        r.engine = eid
        ee = scene.eevee
        ee.taa_render_samples = max(1, int(samples))
    return eid


# ------------------------------------------------------------------------------------------------
# scene objects

def _collection(scene) -> "bpy.types.Collection":
    col = bpy.data.collections.get(COLLECTION)
    if col is None:
        col = bpy.data.collections.new(COLLECTION)
    if col.name not in scene.collection.children:
        scene.collection.children.link(col)
    return col


def _link(obj, col) -> None:
    if obj.name not in col.objects:
        col.objects.link(obj)


def diffuse_material(name: str, rgb) -> "bpy.types.Material":
    """A plain Diffuse BSDF material (cheaper to shade than Principled); colour via set_rgb()."""
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    if "Diffuse BSDF" not in nt.nodes:
        for n in list(nt.nodes):
            nt.nodes.remove(n)
        out = nt.nodes.new("ShaderNodeOutputMaterial")
        bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
        nt.links.new(bsdf.outputs["BSDF"], out.inputs["Surface"])
    set_rgb(mat, rgb)
    return mat


def set_rgb(mat, rgb) -> None:
    """Base colour of a DeepX material (Diffuse or Principled), for Cycles/EEVEE and Workbench."""
    nt = mat.node_tree
    node = nt.nodes.get("Diffuse BSDF") or nt.nodes.get("Principled BSDF") if nt else None
    if node is not None:
        node.inputs["Color" if node.type == "BSDF_DIFFUSE" else "Base Color"].default_value = (*rgb, 1.0)
    mat.diffuse_color = (*rgb, 1.0)     # Workbench (color_type MATERIAL) and the viewport


def _ground(col) -> "bpy.types.Object":
    obj = bpy.data.objects.get(GROUND)
    if obj is None:
        h = GROUND_SIZE_M / 2
        me = bpy.data.meshes.new(GROUND)
        me.from_pydata([(-h, -h, 0), (h, -h, 0), (h, h, 0), (-h, h, 0)], [], [(0, 1, 2, 3)])
        me.update()
        obj = bpy.data.objects.new(GROUND, me)
        obj.data.materials.append(diffuse_material(GROUND_MATERIAL, (0.3, 0.3, 0.3)))
    _link(obj, col)
    return obj


def ground_material(engine: str) -> "bpy.types.Material":
    """The plain ground's Diffuse material, wired for ``engine`` (Blender's id).

    Cycles: the Diffuse colour is an Attribute node of type View Layer reading the world's custom
    property GROUND_RGB_PROP (``set_ground_rgb`` writes it). Cycles looks such attributes up again
    whenever the world (or scene, or camera) changed, which the plain scene's world does every
    sample anyway, so a new albedo per sample costs nothing measurable; any change to the material
    itself (a socket, its viewport colour) costs Cycles a re-sync: ~10 ms a sample at 160x160 on a
    quiet machine, a fifth of the render (scripts/bench_resync.py). The pixels are the same.
    Other engines: the socket (set_rgb), as before; Workbench reads the material's viewport colour.
    """
    mat = diffuse_material(GROUND_MATERIAL, (0.3, 0.3, 0.3))
    nt = mat.node_tree
    attr = nt.nodes.get(GROUND_RGB_NODE)
    if attr is None:
        attr = nt.nodes.new("ShaderNodeAttribute")
        attr.name = GROUND_RGB_NODE
        attr.attribute_type, attr.attribute_name = "VIEW_LAYER", GROUND_RGB_PROP
    colour = nt.nodes["Diffuse BSDF"].inputs["Color"]
    linked = any(lk.from_node == attr for lk in colour.links)
    if engine == "CYCLES" and not linked:
        nt.links.new(attr.outputs["Color"], colour)
    elif engine != "CYCLES" and linked:
        for lk in list(colour.links):
            nt.links.remove(lk)
    return mat


def set_ground_rgb(rig: "SceneRig", rgb) -> None:
    """The plain ground's albedo (linear RGB): the world's GROUND_RGB_PROP (tagged, so that the
    render sees it) for Cycles, the material's colour for the other engines (see ground_material)."""
    rgb = tuple(float(x) for x in rgb)
    rig.world[GROUND_RGB_PROP] = rgb
    rig.world.update_tag()
    if rig.engine != "CYCLES":
        set_rgb(rig.ground.data.materials[0], rgb)


def _sun(col) -> "bpy.types.Object":
    obj = bpy.data.objects.get(SUN)
    if obj is None:
        light = bpy.data.lights.new(SUN, "SUN")
        light.energy = 3.0
        light.angle = math.radians(3.0)      # slightly soft shadows
        obj = bpy.data.objects.new(SUN, light)
        obj.rotation_euler = (math.radians(40), 0.0, math.radians(30))
    _link(obj, col)
    return obj


def _camera(col) -> "bpy.types.Object":
    obj = bpy.data.objects.get(CAMERA)
    if obj is None:
        cam = bpy.data.cameras.new(CAMERA)
        cam.clip_start, cam.clip_end = 0.05, 2 * GROUND_SIZE_M
        obj = bpy.data.objects.new(CAMERA, cam)
    _link(obj, col)
    return obj


def _world(scene) -> "bpy.types.World":
    world = bpy.data.worlds.get(WORLD) or bpy.data.worlds.new(WORLD)
    world.use_nodes = True
    if hasattr(world, "cycles"):
        world.cycles.sampling_method = "AUTOMATIC"   # the sky is sampled as a light (bounces are off)
    scene.world = world
    return world


# ------------------------------------------------------------------------------------------------
# realistic surroundings (SceneSettings.realistic): HDRI world, textured ground

HDRI_NAMES = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
HDRI_WEIGHTS = {"city": 3.0, "courtyard": 3.0, "forest": 2.0, "interior": 1.5, "night": 0.5, "studio": 0.5,
                "sunrise": 1.0, "sunset": 1.0}
HDRI_INDOOR = ("interior", "studio", "courtyard")
# ground looks: (name, weight, colour A, colour B (linear RGB), brick?); colours jittered per sample
GROUND_LOOKS = (
    ("asphalt", 3.0, (0.05, 0.05, 0.05), (0.16, 0.155, 0.15), False),
    ("paving", 2.0, (0.22, 0.20, 0.18), (0.40, 0.37, 0.33), True),
    ("grass", 1.5, (0.03, 0.08, 0.015), (0.10, 0.18, 0.04), False),
    ("dirt", 1.0, (0.12, 0.08, 0.05), (0.26, 0.19, 0.12), False),
    ("concrete", 1.5, (0.25, 0.25, 0.24), (0.45, 0.44, 0.42), False),
)
INDOOR_FLOORS = (("tiles", 1.0, (0.35, 0.33, 0.30), (0.65, 0.62, 0.58), True),
                 ("wood", 1.0, (0.18, 0.09, 0.04), (0.35, 0.20, 0.09), True),
                 ("carpet", 1.0, (0.10, 0.10, 0.12), (0.25, 0.22, 0.20), False))


def hdri_dir():
    """Blender's bundled studio-light worlds (inside the bpy wheel / Blender install)."""
    from pathlib import Path
    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


def _mix_rgb(nt, name: str):
    """A colour Mix node named ``name`` (looked up by name when parameters are set per sample)."""
    node = nt.nodes.new("ShaderNodeMix")
    node.data_type = "RGBA"
    node.name = name
    return node


def textured_material(name: str) -> "bpy.types.Material":
    """Diffuse material: noise between two colours, optionally mixed with a brick pattern
    (paving, tiles, facades); parameters set per sample by ``set_texture``. Object coordinates,
    so the pattern keeps its size in metres on scaled objects only if scale is given too."""
    mat = bpy.data.materials.get(name)
    if mat is not None and mat.node_tree and "DeepX_Noise" in mat.node_tree.nodes:
        return mat
    mat = mat or bpy.data.materials.new(name)
    mat.use_nodes = True
    nt = mat.node_tree
    for n in list(nt.nodes):
        nt.nodes.remove(n)
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    bsdf = nt.nodes.new("ShaderNodeBsdfDiffuse")
    bsdf.name = "Diffuse BSDF"
    tc = nt.nodes.new("ShaderNodeTexCoord")
    mp = nt.nodes.new("ShaderNodeMapping")
    mp.name = "DeepX_Mapping"
    noise = nt.nodes.new("ShaderNodeTexNoise")
    noise.name = "DeepX_Noise"
    noise.inputs["Detail"].default_value = 3.0
    mixn = _mix_rgb(nt, "DeepX_NoiseMix")
    brick = nt.nodes.new("ShaderNodeTexBrick")
    brick.name = "DeepX_Brick"
    mixb = _mix_rgb(nt, "DeepX_BrickMix")
    L = nt.links.new
    L(tc.outputs["Object"], mp.inputs["Vector"])
    L(mp.outputs["Vector"], noise.inputs["Vector"])
    L(mp.outputs["Vector"], brick.inputs["Vector"])
    L(noise.outputs["Fac"], mixn.inputs["Factor"])
    L(mixn.outputs["Result"], brick.inputs["Color1"])
    L(mixn.outputs["Result"], mixb.inputs["A"])
    L(brick.outputs["Color"], mixb.inputs["B"])
    L(mixb.outputs["Result"], bsdf.inputs["Color"])
    L(bsdf.outputs["BSDF"], out.inputs["Surface"])
    set_texture(mat, {"a": (0.3, 0.3, 0.3), "b": (0.4, 0.4, 0.4), "noise_scale": 1.0, "brick": False})
    return mat


def set_texture(mat, p: dict) -> None:
    """Colours/scales of a ``textured_material``: a, b (noise colours), noise_scale (per metre),
    brick (bool), brick_rgb, mortar_rgb, brick_size_m (width of one brick/tile), mapping_scale
    (the object's scale, so that patterns are sized in metres on scaled unit objects)."""
    nt = mat.node_tree
    nt.nodes["DeepX_Mapping"].inputs["Scale"].default_value = tuple(p.get("mapping_scale", (1.0, 1.0, 1.0)))
    nt.nodes["DeepX_NoiseMix"].inputs["A"].default_value = (*p["a"], 1.0)
    nt.nodes["DeepX_NoiseMix"].inputs["B"].default_value = (*p["b"], 1.0)
    nt.nodes["DeepX_Noise"].inputs["Scale"].default_value = float(p["noise_scale"])
    br = nt.nodes["DeepX_Brick"]
    size = float(p.get("brick_size_m", 0.3))
    br.inputs["Scale"].default_value = 1.0 / max(size, 1e-3)
    br.inputs["Color2"].default_value = (*p.get("brick_rgb", p["b"]), 1.0)
    br.inputs["Mortar"].default_value = (*p.get("mortar_rgb", (0.2, 0.2, 0.2)), 1.0)
    br.inputs["Mortar Size"].default_value = 0.02
    nt.nodes["DeepX_BrickMix"].inputs["Factor"].default_value = 1.0 if p.get("brick") else 0.0
    mat.diffuse_color = (*p["a"], 1.0)


def sample_texture(rng, looks) -> dict:
    """A texture parameter set from one of ``looks`` (GROUND_LOOKS-like tuples), colours jittered."""
    w = np.array([lk[1] for lk in looks], float)
    i = int(np.searchsorted(np.cumsum(w) / w.sum(), rng.random(), side="right"))
    name, _w, a, b, brick = looks[min(i, len(looks) - 1)]
    gain = rng.uniform(0.5, 1.1)
    tint = np.clip(1.0 + rng.normal(0, 0.12, 3), 0.7, 1.3)
    ca = np.clip(np.array(a) * gain * tint, 0.005, 0.9)
    cb = np.clip(np.array(b) * gain * tint, 0.005, 0.9)
    return {"look": name, "a": tuple(map(float, ca)), "b": tuple(map(float, cb)),
            "noise_scale": float(rng.uniform(0.3, 3.0)), "brick": bool(brick),
            "brick_rgb": tuple(map(float, np.clip(cb * rng.uniform(0.7, 1.2), 0.005, 0.9))),
            "mortar_rgb": tuple(map(float, np.clip(ca * rng.uniform(0.4, 1.0), 0.005, 0.9))),
            "brick_size_m": float(rng.uniform(0.15, 0.6))}


def _world_nodes(world) -> None:
    """Background = mix(sky colour, environment texture); the HDRI images are loaded once."""
    nt = world.node_tree
    if "DeepX_Env" in nt.nodes:
        return
    bg = nt.nodes.get("Background") or nt.nodes.new("ShaderNodeBackground")
    out = nt.nodes.get("World Output") or nt.nodes.new("ShaderNodeOutputWorld")
    tc = nt.nodes.new("ShaderNodeTexCoord")
    mp = nt.nodes.new("ShaderNodeMapping")
    mp.name = "DeepX_EnvMapping"
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.name = "DeepX_Env"
    mix = _mix_rgb(nt, "DeepX_EnvMix")
    # camera rays see the HDRI; lighting rays see its mean colour: the same light level without the
    # sampling noise a 4-sample render of a high-contrast HDRI has on every diffuse surface
    lp = nt.nodes.new("ShaderNodeLightPath")
    cam = _mix_rgb(nt, "DeepX_EnvCamera")
    nt.links.new(tc.outputs["Generated"], mp.inputs["Vector"])
    nt.links.new(mp.outputs["Vector"], env.inputs["Vector"])
    nt.links.new(env.outputs["Color"], mix.inputs["B"])
    nt.links.new(lp.outputs["Is Camera Ray"], cam.inputs["Factor"])
    nt.links.new(mix.outputs["Result"], cam.inputs["B"])
    nt.links.new(cam.outputs["Result"], bg.inputs["Color"])
    nt.links.new(bg.outputs["Background"], out.inputs["Surface"])
    mix.inputs["Factor"].default_value = 0.0


def _hdri_image(name: str):
    """The bundled HDRI ``name`` (loaded once) and its mean colour (the ambient light it gives)."""
    key = f"DeepX_HDRI_{name}"
    img = bpy.data.images.get(key)
    if img is None:
        path = hdri_dir() / f"{name}.exr"
        if not path.is_file():
            return None, None
        img = bpy.data.images.load(str(path), check_existing=True)
        img.name = key
    if "deepx_mean_rgb" not in img:
        px = np.empty(len(img.pixels), np.float32)
        img.pixels.foreach_get(px)
        px = px.reshape(-1, img.channels)[:, :3]
        h = img.size[1]
        # weight rows by cos(latitude): an equirectangular image over-represents the poles
        w = np.repeat(np.cos((np.arange(h) + 0.5) / h * np.pi - np.pi / 2), img.size[0])
        img["deepx_mean_rgb"] = [float(v) for v in (px * w[:, None]).sum(0) / w.sum()]
    return img, tuple(img["deepx_mean_rgb"])


def set_surroundings(rig: "SceneRig", rng, scene_settings, indoor: bool = False) -> dict:
    """World (an HDRI at a random rotation and strength, or a sky colour) and the ground's
    texture for one sample (SceneSettings.realistic). Returns the parameters for the label."""
    world = rig.world
    _world_nodes(world)
    nt = world.node_tree
    u_hdri, u_name, u_rot, u_str, u_ground = rng.random(5)
    names = HDRI_INDOOR if indoor else HDRI_NAMES
    w = np.array([HDRI_WEIGHTS[n] for n in names])
    name = names[min(int(np.searchsorted(np.cumsum(w) / w.sum(), u_name, side="right")), len(names) - 1)]
    img, mean_rgb = _hdri_image(name) if u_hdri < scene_settings.p_hdri else (None, None)
    out = {"hdri": None}
    if img is not None:
        nt.nodes["DeepX_Env"].image = img
        nt.nodes["DeepX_EnvCamera"].inputs["A"].default_value = (*mean_rgb, 1.0)
        nt.nodes["DeepX_EnvMapping"].inputs["Rotation"].default_value = (0.0, 0.0, float(u_rot) * 2 * math.pi)
        nt.nodes["DeepX_EnvMix"].inputs["Factor"].default_value = 1.0
        strength = 0.3 + 0.8 * float(u_str)
        nt.nodes["Background"].inputs["Strength"].default_value = strength
        out = {"hdri": name, "hdri_rotation_deg": float(u_rot) * 360.0, "world_strength": strength}
    else:
        sky = tuple(float(x) for x in np.clip(np.array([0.55, 0.62, 0.75]) * (0.5 + u_str), 0.05, 1))
        nt.nodes["DeepX_EnvMix"].inputs["Factor"].default_value = 0.0
        nt.nodes["DeepX_EnvMix"].inputs["A"].default_value = (*sky, 1.0)
        nt.nodes["DeepX_EnvCamera"].inputs["A"].default_value = (*sky, 1.0)
        nt.nodes["Background"].inputs["Strength"].default_value = 0.6
        out.update(world_rgb=list(sky), world_strength=0.6)
    gmat = rig.ground.data.materials[0]
    if u_ground < scene_settings.p_textured_ground:
        if gmat.name != "DeepX_GroundTex":
            rig.ground.data.materials[0] = gmat = textured_material("DeepX_GroundTex")
        tex = sample_texture(rng, INDOOR_FLOORS if indoor else GROUND_LOOKS)
        set_texture(gmat, tex)
        out["ground"] = tex
    else:
        if gmat.name != GROUND_MATERIAL:
            rig.ground.data.materials[0] = ground_material(rig.engine)
        set_ground_rgb(rig, (0.3, 0.3, 0.3))
        out["ground"] = {"look": "plain"}
    return out


def setup_scene(settings=None, scene=None) -> SceneRig:
    """Create (or find) ground, sun, world and camera; set the engine from ``settings``.

    settings: a GeneratorSettings, a RenderSettings or None (defaults). The scene's active camera
    becomes the DeepX camera; the render resolution is set by set_camera().
    """
    scene = scene or bpy.context.scene
    if settings is None:
        rs = RenderSettings()
    elif isinstance(settings, GeneratorSettings):
        rs = settings.render
    else:
        rs = settings
    col = _collection(scene)
    ground, sun, cam = _ground(col), _sun(col), _camera(col)
    world = _world(scene)
    scene.camera = cam
    eid = configure_engine(scene, rs.engine, rs.samples, denoise=rs.denoise)
    if ground.data.materials[0].name == GROUND_MATERIAL:
        ground_material(eid)
    rig = SceneRig(scene, col, cam, sun, ground, world, eid)
    set_lighting(rig, None)
    return rig


def set_lighting(rig: SceneRig, rng=None, plain: bool = True) -> dict:
    """Sun direction/strength, ambient world colour/strength and ground albedo for one sample.

    rng None gives a fixed, neutral setting (sun 50 deg high from the front-left). Returns the
    parameters (JSON-ready) for the label. ``plain`` False: the world and ground are left alone
    (``set_surroundings`` sets them, once per pose: any change to a world with an environment
    texture costs Cycles ~1.5 s of re-sync, whatever the change).
    """
    if rng is None:
        elev, azim, strength, wstrength = 50.0, 210.0, 3.0, 0.6
        sky = (0.55, 0.62, 0.75)
        ground_rgb = (0.3, 0.3, 0.3)
    else:
        elev = float(rng.uniform(*SUN_ELEVATION_DEG))
        azim = float(rng.uniform(0.0, 360.0))
        strength = float(rng.uniform(*SUN_STRENGTH))
        wstrength = float(rng.uniform(*WORLD_STRENGTH))
        sky = tuple(float(x) for x in np.clip(np.array([0.55, 0.62, 0.75]) + rng.normal(0, 0.08, 3), 0.05, 1))
        g = float(rng.uniform(*GROUND_VALUE))
        tint = np.clip(1.0 + rng.normal(0, 0.15, 3), 0.6, 1.4)
        ground_rgb = tuple(float(x) for x in np.clip(g * tint, 0.02, 0.9))
    # A sun light shines along its local -Z; point it down at `elev` from the azimuth `azim`
    # (azimuth 0 = light coming from +Y, measured towards +X).
    rig.sun.rotation_mode = "XYZ"
    rig.sun.rotation_euler = (math.radians(90.0 - elev), 0.0, math.radians(180.0 - azim))
    rig.sun.data.energy = strength
    gm = rig.ground.data.materials[0]
    if plain:
        bg = rig.world.node_tree.nodes.get("Background")
        if bg is not None:
            bg.inputs["Color"].default_value = (*sky, 1.0)
            bg.inputs["Strength"].default_value = wstrength
        rig.world.color = sky
        if gm.name != GROUND_MATERIAL:       # a realistic sample before: back to the plain ground
            rig.ground.data.materials[0] = gm = ground_material(rig.engine)
        nodes = rig.world.node_tree.nodes
        if "DeepX_EnvMix" in nodes:         # a realistic sample before: the sky colour again
            nodes["DeepX_EnvMix"].inputs["Factor"].default_value = 0.0
            nodes["DeepX_EnvMix"].inputs["A"].default_value = (*sky, 1.0)
            nodes["DeepX_EnvCamera"].inputs["A"].default_value = (*sky, 1.0)
        set_ground_rgb(rig, ground_rgb)
    return {"sun_elevation_deg": elev, "sun_azimuth_deg": azim, "sun_strength": strength,
            "world_strength": wstrength, "world_rgb": list(sky), "ground_rgb": list(ground_rgb)}


# ------------------------------------------------------------------------------------------------
# camera

def _camera_params(K, width: int, height: int) -> dict:
    p = blender_camera_params(np.asarray(K, float), int(width), int(height))
    if isinstance(p, dict):
        return p
    if hasattr(p, "_asdict"):
        return p._asdict()
    if hasattr(p, "__dataclass_fields__"):
        from dataclasses import asdict
        return asdict(p)
    lens, sensor, fit, sx, sy = p
    return {"lens_mm": lens, "sensor_width_mm": sensor, "sensor_fit": fit, "shift_x": sx, "shift_y": sy}


def set_camera(cam, K, R, t, width: int, height: int, scene=None) -> dict:
    """Make Blender's camera ``cam`` the OpenCV camera (K, R, t) rendering width x height pixels.

    R, t map world to camera coordinates (x_cam = R @ x_world + t, OpenCV axes). Sets the scene's
    render resolution too. Returns the Blender camera parameters used (for the label).
    """
    scene = scene or bpy.context.scene
    K = np.asarray(K, float)
    if abs(K[0, 0] - K[1, 1]) > 1e-6 * K[0, 0]:
        raise ValueError(f"Blender renders square pixels only: fx {K[0, 0]} != fy {K[1, 1]}")
    p = _camera_params(K, width, height)
    r = scene.render
    r.resolution_x, r.resolution_y = int(width), int(height)
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    data = cam.data
    data.type = "PERSP"
    data.lens_unit = "MILLIMETERS"
    data.sensor_fit = p["sensor_fit"]
    data.sensor_width = p["sensor_width_mm"]
    data.sensor_height = p.get("sensor_height_mm", p["sensor_width_mm"])
    data.lens = p["lens_mm"]
    data.shift_x, data.shift_y = p["shift_x"], p["shift_y"]
    R, t = np.asarray(R, float).reshape(3, 3), np.asarray(t, float).reshape(3)
    M = np.asarray(opencv_to_blender_world_matrix(R, t), float).reshape(4, 4)
    from mathutils import Matrix
    cam.matrix_world = Matrix(M.tolist())       # Matrix(rows); a bare nested list would be read as columns
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in p.items()}


def project_with_blender(cam, points_world, scene=None) -> np.ndarray:
    """(N, 3) world points -> (N, 2) pixels (continuous, top-left origin) via Blender's own
    bpy_extras.object_utils.world_to_camera_view: the reference that set_camera must match."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    scene = scene or bpy.context.scene
    bpy.context.view_layer.update()
    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = []
    for p in np.asarray(points_world, float).reshape(-1, 3):
        q = world_to_camera_view(scene, cam, Vector(p))
        out.append((q.x * w, (1.0 - q.y) * h))
    return np.array(out, float)
