# Both targets create and reuse .venv; torch is pinned to the local CPU wheel and installed first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sharpdim-installed

.PHONY: demo test check lint venv reports data docs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,sweep,audit,integrations,docs]"
	# pyproject's audit-nodeps extra, without dependencies (why: see pyproject.toml)
	$(PY) -m pip install --quiet --no-deps curvlinops-for-pytorch==3.0.1 \
		backpack-for-pytorch==1.7.1 dysts==0.96
	touch $(STAMP)

venv: $(STAMP)

# Main job on the embedded defaults: a small edge-of-stability sweep on scikit-learn's digits
# (full-batch GD, 3 step sizes x 5 seeds) on a local Dask cluster, lambda_max tracked against
# 2/eta, exact SD, and the protocol's comparison sets, controls and verdicts in its report.
# Rerunning resumes: finished runs are never recomputed.
demo: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/sharpdim sweep configs/demo_digits_gd_eos.toml --report

# Fashion-MNIST (the paper's data set) from the Debian package dataset-fashion-mnist, installed
# with apt-get when missing (needs root), then every file checked against the SHA-256 recorded in
# sharpdim.lab.sweeps.data (the one home of those digests).
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
data: $(STAMP)
	@test -f $(FASHION_MNIST) || { \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "dataset-fashion-mnist is missing: run 'sudo apt-get install -y dataset-fashion-mnist'"; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }
	$(PY) -c "from sharpdim.lab.sweeps.data import fashion_mnist_data as f; d = f(); \
	print(f'Fashion-MNIST: {d.n_train} + {d.n_test} images, SHA-256 verified')"

# Unit tests and theory checks; Hypothesis runs its deterministic `ci` profile.
test: $(STAMP)
	OMP_NUM_THREADS=1 HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q -n 2 --doctest-modules sharpdim tests theory_checks

check: $(STAMP)
	$(VENV)/bin/sharpdim check --profile thorough

lint: $(STAMP)
	$(VENV)/bin/ruff check sharpdim tests theory_checks

# Regenerate the committed experiment reports from their sweep files (no training).
reports: $(STAMP)
	$(VENV)/bin/sharpdim report --overview reports/REGIMES.md --claims reports/CLAIMS.md --extra reports/trajectory_lyapunov reports/digits_5x5/sweep.sqlite reports/fashion_mnist_5x5/sweep.sqlite reports/mnist1d_5x5/sweep.sqlite reports/grokking/sweep.sqlite reports/grokking_relu/sweep.sqlite reports/transformer/sweep.sqlite reports/digits_gd_eos/sweep.sqlite reports/fashion_gd_eos/sweep.sqlite reports/fashion_cnn/sweep.sqlite

# The documentation site (MkDocs Material, API reference from the docstrings) into site/; its
# worked examples run during the build (docs/hooks/run_examples.py) and --strict fails it on any
# warning or on an example whose output differs from its page. Open site/index.html.
docs: $(STAMP)
	OMP_NUM_THREADS=1 NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
