PORT ?= 8000
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint worker bench catalogues stack

# The virtual environment, rebuilt when pyproject.toml changes.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/.installed $@

# The subject pages' catalogues (.po, committed) compiled to .mo; pure Python (Babel).
catalogues: $(BIN)/.installed
	$(BIN)/pybabel compile --directory locale --domain django >/dev/null

run: $(BIN)/.installed catalogues
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	@echo
	@echo "  API docs:       http://127.0.0.1:$(PORT)/api/docs/"
	@echo "  Admin:          http://127.0.0.1:$(PORT)/admin/  (demo login above)"
	@echo "  Subject pages:  http://127.0.0.1:$(PORT)/"
	@echo
	PORT=$(PORT) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(BIN)/.installed-dev catalogues
	bash scripts/test.sh

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

worker: $(BIN)/.installed
	$(BIN)/celery -A config worker --loglevel=INFO

# The production topology as processes on this machine (gunicorn, two Celery workers, beat)
# in the foreground until Ctrl-C; see "Running the stack" in README.md.
stack: $(BIN)/.installed catalogues
	PORT=$(PORT) bash scripts/stack.sh run
