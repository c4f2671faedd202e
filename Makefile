# The two commands a newcomer needs (both create .venv/ on first use):
#   make demo   - the main job on the real people in examples/real
#   make test   - the whole test suite
#   make test-blender - the Blender-side tests (tests/blender/) inside a real Blender >= 4.2, installed
#                  by scripts/install_blender.sh from Debian's archive (needs root or sudo; cached in .blender/)
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.deepx-installed

.PHONY: demo test test-blender blender venv clean-venv model

$(STAMP): requirements.lock pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@# the any-size pose graph: `deepx estimate` then starts without torch (runs/onnx/, cached; ~15 s once)
	@$(VENV)/bin/python scripts/export_onnx.py --dynamic >/dev/null 2>&1 || \
		echo "note: no ONNX pose export (deepx estimate will use torch + Ultralytics)"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepx demo

# pytest-blender is off by default (pyproject's addopts: -p no:pytest-blender; the underscore spelling
# -p no:pytest_blender does not block it). bpy can be imported once per process: the Blender tests
# (tests/blender) run in a pytest process of their own; both run, and the target fails if either fails.
test: $(STAMP)
	@$(VENV)/bin/python -m pytest -q --ignore=tests/blender; a=$$?; \
	$(VENV)/bin/python -m pytest -q tests/blender; b=$$?; \
	test $$a -eq 0 -a $$b -eq 0

blender:
	scripts/install_blender.sh

# test-blender: the same tests/blender inside a real Blender (pytest-blender re-runs pytest there).
# (-W: pytest-blender 3.0.8 reads config.inicfg, which pytest 9 reports as deprecated, in the host process)
test-blender: $(STAMP) blender
	BLENDER_USER_RESOURCES=$$(mktemp -d /tmp/deepx-blender-user-XXXXXX) $(VENV)/bin/python -W ignore::DeprecationWarning \
	  -m pytest -p pytest-blender --blender-executable scripts/blender -q tests/blender

clean-venv:
	rm -rf $(VENV)

# Rebuild the shipped model from synthetic data only (see scripts/make_default_model.sh)
model: $(STAMP)
	scripts/make_default_model.sh
