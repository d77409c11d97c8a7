"""Calvin's benchmark: synthetic resource trees, a plain `docker build` baseline, and the runner.

    make bench                         # everything (BENCH_SIZES=10,50 for a short run)
    python -m bench.generate --help    # one synthetic project
    bench/baseline.sh PROJECT NS       # the baseline: docker build in topological order

run.py starts a run; measure.py times one process and counts its builds from the engine
(engine.py); scenarios.py is what is asked per configuration, profile.py digests the no-op's
cProfile; findings.py and report.py turn bench/results.json into BENCHMARKS.md. registry.py
is the throw-away registry the benchmark and the tests share.
"""
