"""The Blender layer (bpy only). Everything it computes comes from deepx_addon.core.

Registration order matters: properties first (operators and panels use Scene.deepx), then the
preset menu and operators, panels last; unregistration runs in reverse. A registration that fails
half-way unregisters what it had registered, so a retry starts clean. On Blender 4.2+ the batch is
also a Blender command: `blender --command deepx generate ...` (batch.cli_command).
"""
_MODULE_NAMES = ("props", "preset_menu", "operators", "preview", "panel")
_cli_handle = None


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
    _register_cli()


def _register_cli():
    global _cli_handle
    import bpy
    if _cli_handle is None and hasattr(bpy.utils, "register_cli_command"):
        from .batch import cli_command
        _cli_handle = bpy.utils.register_cli_command("deepx", cli_command)


def unregister():
    global _cli_handle
    if _cli_handle is not None:
        import bpy
        bpy.utils.unregister_cli_command(_cli_handle)
        _cli_handle = None
    for m in reversed(_modules()):
        m.unregister()
