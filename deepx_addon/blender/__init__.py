"""The Blender layer (bpy only). Everything it computes comes from deepx_addon.core.

Registration order matters: properties first (operators and panels use Scene.deepx), then the
preset menu and operators, panels last; unregistration runs in reverse. A registration that fails
half-way unregisters what it had registered, so a retry starts clean.
"""
_MODULE_NAMES = ("props", "preset_menu", "operators", "preview", "panel")


def _modules():
    import importlib
    return [importlib.import_module(f".{name}", __package__) for name in _MODULE_NAMES]


def register():
    done = []
    try:
        for m in _modules():
            m.register()
            done.append(m)
    except Exception:
        for m in reversed(done):
            try:
                m.unregister()
            except Exception:
                pass
        raise


def unregister():
    for m in reversed(_modules()):
        m.unregister()
