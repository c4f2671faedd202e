"""The Blender layer (bpy only). Everything it computes comes from deepx_addon.core."""
_modules = []


def register():
    for m in _modules:
        m.register()


def unregister():
    for m in reversed(_modules):
        m.unregister()
