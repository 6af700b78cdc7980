# One target per habit; CI runs `make check`, the same as a person does.
PYTHON ?= python
PACKAGES = textcnn service training benchmarks

.PHONY: check lint format typecheck test default-model

check: lint typecheck test

lint:
	$(PYTHON) -m ruff check $(PACKAGES) tests
	$(PYTHON) -m ruff format --check $(PACKAGES) tests

format:
	$(PYTHON) -m ruff format $(PACKAGES) tests
	$(PYTHON) -m ruff check --fix $(PACKAGES) tests

typecheck:
	$(PYTHON) -m mypy

test:
	$(PYTHON) -m pytest -q

# Rebuilds the embedded default model: the training defaults, nothing else. The other flags name
# the data, the test split measured once for the card, the model's name, description and examples,
# and one thread: with more, torch's parallel kernels add floats in a varying order and two runs
# drift apart after the first epoch. --overwrite: the folder holds the model it replaces.
DEFAULT_MODEL_DESCRIPTION := A multi-task Kim (2014) CNN trained with textcnn on BBC News articles \
	of 2004-2005: it sorts news into the five BBC News categories (business, entertainment, politics, \
	sport, tech) and picks the sentences of a BBC-style extractive summary. Other kinds of text get an \
	answer all the same, often a confident and wrong one.

default-model:
	$(PYTHON) -m training.train --train data/bbc_news_summary/train.jsonl.gz \
		--dev data/bbc_news_summary/dev.jsonl --test data/bbc_news_summary/test.jsonl \
		--out textcnn/default_model --name bbc-news --description "$(DEFAULT_MODEL_DESCRIPTION)" \
		--examples data/bbc_news_summary/examples.json --threads 1 --overwrite
