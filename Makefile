# The two commands a newcomer needs (both create .venv/ on first use):
#   make demo   - the main job on the shared real data
#   make test   - the whole test suite
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.deepx-installed

.PHONY: demo test venv clean-venv model

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

# -p no:pytest_blender keeps plain pytest working even where pytest-blender is installed.
# bpy can be imported once per process: the Blender tests (tests/blender) run in a pytest process of
# their own; both run, and the target fails if either fails.
test: $(STAMP)
	@$(VENV)/bin/python -m pytest -p no:pytest_blender -q --ignore=tests/blender; a=$$?; \
	$(VENV)/bin/python -m pytest -p no:pytest_blender -q tests/blender; b=$$?; \
	test $$a -eq 0 -a $$b -eq 0

clean-venv:
	rm -rf $(VENV)

# Rebuild the shipped model from synthetic data only (see scripts/make_default_model.sh)
model: $(STAMP)
	scripts/make_default_model.sh
