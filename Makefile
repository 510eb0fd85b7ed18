# Two entry points for a fresh machine: `make demo` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DS2 := $(VENV)/bin/ds2
DEMO ?= demo
DEMO_HOURS ?= 2
# DEMO_INIT=released (default): fine-tune the shipped ds2_small_en on the demo's corpus;
# DEMO_INIT=scratch: train from random weights (the README gives both figures).
DEMO_INIT ?= released
DEMO_MINUTES ?= $(if $(filter scratch,$(DEMO_INIT)),30,10)
# Measured on 2-core CPUs: more, smaller steps (4000 padded frames) and no SpecAugment learn
# faster in short runs (bench/results/accuracy_merged_natural_bf4k_120.md).
DEMO_TRAIN_FLAGS := --batch-frames 4000 --no-spec-augment \
                    $(if $(filter scratch,$(DEMO_INIT)),,--init-from ds2_small_en)
APT_PACKAGES := espeak-ng flite festival festlex-cmu festvox-kallpc16k festvox-kdlpc16k \
                festvox-us-slt-hts fortunes fortunes-zh libsndfile1 sox pocketsphinx-testdata \
                asterisk-core-sounds-en-g722
REAL_WAVS := /usr/share/pocketsphinx/test/data/librivox

.PHONY: test test-fast demo system-deps natural-voices release-model bench bench-accuracy clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,tts,lm,report]"
	$(PY) -m pip install --quiet --no-deps "pyctcdecode==0.5.*"  # its numpy<2 pin is stale
	touch $@

# Offline TTS engines + text for the synthetic corpus. Installed with apt when running as root;
# otherwise a note says what is missing (the synth tests then skip with that reason).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing:$$missing"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "note: not root, so not installing:$$missing — ds2 synth uses whatever TTS engines are installed"; fi

# Optional, more natural training voices (RHVoice, SVOX Pico, MBROLA) from Debian's contrib and
# non-free sections. Those sections are added from the same mirror apt already uses for this
# release's main section (read from apt's own index targets, so no host is written here).
NATURAL_PACKAGES := rhvoice rhvoice-english libttspico-utils mbrola mbrola-us1 mbrola-us2 \
                    mbrola-us3 mbrola-en1
natural-voices:
	@if [ "$$(id -u)" != 0 ]; then echo "natural-voices: run as root (it installs Debian packages)"; exit 1; fi
	@. /etc/os-release; \
	mirror=$$(apt-get indextargets --format '$$(REPO_URI)' "Release: $$VERSION_CODENAME" \
	          "Component: main" "Identifier: Packages" | head -n 1); \
	if [ -z "$$mirror" ]; then echo "natural-voices: no apt source serves $$VERSION_CODENAME main; run apt-get update first"; exit 1; fi; \
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	    "$$mirror" "$$VERSION_CODENAME" > /etc/apt/sources.list.d/ds2-natural-voices.sources
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NATURAL_PACKAGES) >/dev/null

# The suite runs in one pytest worker per core (at most 4), each test file in one worker (its
# fixtures built once): most tests wait on a `ds2` subprocess's TensorFlow import or on one-core
# work, so one process leaves cores idle (measured in CHANGELOG, session 31).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test: system-deps $(VENV)/.installed
	$(PYTEST)

test-fast: $(VENV)/.installed
	$(PYTEST) -m "not slow"

demo: system-deps $(VENV)/.installed
	@echo "== the released model ds2_small_en on real recordings, before any training:"
	@if ls $(REAL_WAVS)/*.wav >/dev/null 2>&1; then $(DS2) transcribe --model ds2_small_en $(REAL_WAVS)/*.wav; \
	else echo "(apt-get install pocketsphinx-testdata for real recordings)"; fi
	$(DS2) synth --out $(DEMO)/data --hours $(DEMO_HOURS) --augment
	$(DS2) inspect $(DEMO)/data
	$(DS2) train --data $(DEMO)/data --out $(DEMO)/run --preset small --max-minutes $(DEMO_MINUTES) \
	    $(DEMO_TRAIN_FLAGS)
	$(DS2) evaluate --run $(DEMO)/run --data $(DEMO)/data --split test
	$(DS2) lm build --text $(DEMO)/data/lm_text_train.txt --order 4 --out $(DEMO)/lm/train.arpa
	$(DS2) tune-lm --run $(DEMO)/run --data $(DEMO)/data --split dev --lm $(DEMO)/lm/train.arpa \
	    --limit 60 --beam-width 32 --alphas 0.3,0.6,1.0 --betas 0.5,1.5
	$(DS2) evaluate --run $(DEMO)/run --data $(DEMO)/data --split test --decoder lm
	$(DS2) export --run $(DEMO)/run --out $(DEMO)/export --version 1 --overwrite --tflite --int8
	$(PY) -m tfrecords_tools.sample_wav $(DEMO)/data test $(DEMO)/sample.wav
	$(DS2) transcribe $(DEMO)/run $(DEMO)/sample.wav
	$(DS2) report --run $(DEMO)/run --data $(DEMO)/data --export $(DEMO)/export --out $(DEMO)/results.md

# The released model ds2_small_en from nothing (or one more training stage of it): corpora, a
# training stage of RELEASE_MINUTES, and `ds2 release` if it beats the shipped weights on dev.
# Hours of CPU; state in STATE (default ~/.cache/ds2-tf/ds2_small_en). See recipes/ds2_small_en.sh.
RELEASE_MINUTES ?= 120
# Real speech to train on: the Asterisk PBX's Italian and French prompts (asterisk_itfr).
PROMPT_PACKAGES := asterisk-core-sounds-it asterisk-core-sounds-it-g722 asterisk-core-sounds-fr \
                   asterisk-core-sounds-fr-g722
release-model: system-deps natural-voices $(VENV)/.installed
	$(MAKE) system-deps APT_PACKAGES="$(PROMPT_PACKAGES)"
	DS2=$(DS2) recipes/ds2_small_en.sh all $(RELEASE_MINUTES)

# Uses the demo's corpus and run for the bucketing and decoding rows: `make demo` first.
bench: $(VENV)/.installed
	$(PY) bench/data_throughput.py
	$(PY) bench/export_latency.py --preset small
	$(PY) bench/export_latency.py --preset streaming
	$(PY) bench/rnn_loop.py
	$(PY) bench/conv_algorithms.py
	$(PY) bench/train_throughput.py --presets small
	$(PY) bench/train_throughput.py --presets ds2 --batch-frames 6000 --seconds 3 6 --rounds 2
	$(PY) bench/bucketing.py --data $(DEMO)/data
	$(PY) bench/decode_speed.py --run $(DEMO)/run --data $(DEMO)/data --lm $(DEMO)/lm/train.arpa --label demo

# Trains `small` for an hour on 10 h of synthetic speech; real recordings need pocketsphinx-testdata.
bench-accuracy: $(VENV)/.installed
	$(MAKE) system-deps APT_PACKAGES="$(APT_PACKAGES) pocketsphinx pocketsphinx-en-us"
	$(PY) bench/accuracy.py --hours 10 --minutes 60

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
