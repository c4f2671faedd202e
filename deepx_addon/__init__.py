"""DeepX: how far is this person from the camera?

Blender extension entry points. ``import deepx_addon`` in plain Python imports nothing heavy (no
bpy); register() loads the Blender layer.
"""
__version__ = "0.1.0"


def register():
    from .blender import register as _register
    _register()


def unregister():
    from .blender import unregister as _unregister
    _unregister()
