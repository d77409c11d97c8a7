#!/usr/bin/env bash
# The baseline: what a user without Calvin writes. `docker build` of every resource in
# topological order (parents first), the parent passed as --build-arg BASE_IMAGE=<its tag>,
# relying on the engine's layer cache to skip what did not change. No fingerprints, no
# database, no tests, no release: every run asks the engine to build every resource.
#
#   bench/baseline.sh PROJECT NAMESPACE [JOBS]
#
# PROJECT/bench-order.txt lists "name parent depth" per line, parents first (bench/generate.py).
# JOBS > 1 builds the resources of one depth level in parallel (xargs -P), level after level.
set -euo pipefail
project="$1"
namespace="$2"
jobs="${3:-1}"
cd "$project"

build_one() {  # name parent
  local name="$1" parent="$2"
  local args=()
  if [ "$parent" != "-" ]; then
    args=(--build-arg "BASE_IMAGE=$namespace/$parent:latest")
  fi
  docker build --network host "${args[@]}" -t "$namespace/$name:latest" "resources/$name" >/dev/null
}

if [ "$jobs" -le 1 ]; then
  while read -r name parent _depth; do
    build_one "$name" "$parent"
  done <bench-order.txt
else
  export -f build_one
  export namespace
  for depth in $(cut -d' ' -f3 bench-order.txt | sort -n -u); do
    awk -v d="$depth" '$3 == d {print $1, $2}' bench-order.txt \
      | xargs -P "$jobs" -L 1 bash -c 'build_one "$0" "$1"'
  done
fi
