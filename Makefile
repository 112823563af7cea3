# Set-up and everyday tasks. Every target installs what it needs into .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch: a plain `pip install torch` on Linux pulls a CUDA build of
# several GB. Where the CPU wheel is not on local disk, set e.g.
# TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cpu
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# CompressAI and what it imports, beside the venv, for the compatibility tests only
# (installed without its dependencies: it would pull torchvision and a CUDA torch).
COMPAT := $(VENV)/compat
COMPAT_PACKAGES := compressai==1.2.8 encodec==0.1.1 einops tqdm requests urllib3 idna certifi \
	charset-normalizer pandas python-dateutil torch-geometric xxhash psutil
SAMPLE := tests/fixtures/photos/cups.png
SPEECH := tests/fixtures/audio/speech.flac
DEMO := demo-out

.PHONY: install demo test lint bench bench-image bench-audio clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_INDEX) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps --target $(COMPAT) $(COMPAT_PACKAGES)
	touch $(STAMP)

demo: install
	@mkdir -p $(DEMO)
	$(BIN)/nccli encode $(SAMPLE) -o $(DEMO)/cups.ncc --force
	$(BIN)/nccli info $(DEMO)/cups.ncc
	$(BIN)/nccli decode $(DEMO)/cups.ncc -o $(DEMO)/cups.png --force
	$(BIN)/nccli eval $(SAMPLE) --decoded $(DEMO)/cups.ncc
	$(BIN)/nccli encode $(SAMPLE) -o $(DEMO)/cups-webp.ncc --codec webp --force
	$(BIN)/nccli eval $(SAMPLE) --decoded $(DEMO)/cups-webp.ncc
	$(BIN)/nccli encode $(SPEECH) -o $(DEMO)/speech.ncc --bitrate 16k --force
	$(BIN)/nccli decode $(DEMO)/speech.ncc -o $(DEMO)/speech.wav --force
	$(BIN)/nccli eval $(SPEECH) --decoded $(DEMO)/speech.ncc

test: install lint
	$(BIN)/pytest --cov=nccli --cov-report=term:skip-covered
	$(BIN)/coverage report --include='nccli/container/*' --fail-under=95

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/nccli bench $(SAMPLE) -c jpeg -c webp -c avif -c jpeg2000 -c png --anchor jpeg

bench-image: install
	PYTHONPATH=$(COMPAT):tests/compat/stubs $(BIN)/python scripts/bench_image.py $(SAMPLE)

bench-audio: install
	PYTHONPATH=$(COMPAT):tests/compat/stubs $(BIN)/python scripts/bench_audio.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache .coverage .hypothesis
