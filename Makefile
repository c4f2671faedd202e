# The two commands a newcomer needs (both create .venv/ on first use):
#   make demo   - the main job on the real people in examples/real
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
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/deepx demo

# -p no:pytest_blender keeps plain pytest working even where pytest-blender is installed
test: $(STAMP)
	$(VENV)/bin/python -m pytest -p no:pytest_blender -q

clean-venv:
	rm -rf $(VENV)

# Rebuild the shipped model from synthetic data only (see scripts/make_default_model.sh)
model: $(STAMP)
	scripts/make_default_model.sh
