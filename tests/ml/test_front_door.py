"""The public names: ``from deepx import DistanceEstimator`` is the documented way in."""
import subprocess
import sys


def test_front_door_names_are_the_working_classes():
    import deepx
    from deepx_addon.ml.api import DistanceEstimator
    from deepx_addon.runtime.model import LearnedEstimator
    assert deepx.DistanceEstimator is DistanceEstimator and deepx.LearnedEstimator is LearnedEstimator
    assert set(deepx.__all__) <= set(dir(deepx)) | set(deepx._LAZY)
    for name in deepx.__all__:
        assert getattr(deepx, name) is not None
    assert "Args:" in DistanceEstimator.__doc__ and "Returns:" in DistanceEstimator.__call__.__doc__


def test_import_deepx_loads_no_torch():
    code = "import sys, deepx; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
