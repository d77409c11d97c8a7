"""Calvin's benchmark: synthetic resource trees, a plain `docker build` baseline, and the runner.

    make bench                         # everything (BENCH_SIZES=10,50 for a short run)
    python -m bench.generate --help    # one synthetic project
    bench/baseline.sh PROJECT NS       # the baseline: docker build in topological order
"""
