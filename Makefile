# The two quick-start commands of the README. Both set up .venv first.
.PHONY: setup demo test bench

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/kopilka demo

test: setup
	@bash scripts/test.sh

bench: setup
	.venv/bin/python benchmarks/bench_engine.py
