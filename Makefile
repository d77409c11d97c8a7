# Calvin's entry points, for a developer's shell and for CI alike.
# Every target is idempotent: it installs what is missing and starts what is not running.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help setup engine tools registry build release test test-unit typecheck list bench bench-compare vms

help:
	@echo "make build   set everything up, then run doit (validate, build, test, release)"
	@echo "make test    set everything up, then run the test suite against the real engine"
	@echo "make setup   virtualenv with Calvin and its test tools"
	@echo "make engine  make sure a Docker engine is installed and running"
	@echo "make registry  a local Docker registry on 127.0.0.1:5000 (the artefact repository)"
	@echo "make release   make build, releasing to that registry"
	@echo "make tools   host tools: mmdebstrap (the debian rootfs), busybox-static (test images), docker-compose (system test), docker-registry and htpasswd (test registries), graphviz (doit graph), packer and qemu (VM images), iproute2 and iptables (the two-node swarm test)"
	@echo "make vms     build, boot-test and release the VM catalogue (vms/): qcow2 disks by mmdebstrap and Packer"
	@echo "make bench   Calvin against plain docker build on synthetic trees: BENCHMARKS.md (BENCH_SIZES=10,50 for a short run)"
	@echo "make bench-compare BEFORE=<commit>  the no-op run of this checkout against an earlier commit's (BENCH_SIZES=50,500)"

$(BIN)/doit: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/doit

engine:
	@scripts/engine.sh

tools:
	@scripts/apt-ensure.sh mmdebstrap:mmdebstrap busybox:busybox-static docker-compose:docker-compose \
	  docker-registry:docker-registry htpasswd:apache2-utils dot:graphviz \
	  packer:packer qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
	  ip:iproute2 iptables:iptables ssh:openssh-client git:git mkfs.ext4:e2fsprogs

build: setup engine tools
	$(BIN)/doit

registry:
	@scripts/registry.sh

release: setup engine tools registry
	CALVIN_REGISTRY=127.0.0.1:5000 $(BIN)/doit

vms: setup engine tools
	cd vms && ../$(BIN)/doit

list: setup
	$(BIN)/doit list

test: setup engine tools typecheck
	$(BIN)/pytest

typecheck: setup
	$(BIN)/mypy

test-unit: setup
	$(BIN)/pytest -m "not engine"

bench: setup engine tools
	$(BIN)/python -m bench.run

bench-compare: setup engine tools
	@test -n "$(BEFORE)" || { echo "name the commit to compare with: make bench-compare BEFORE=<commit>"; exit 2; }
	$(BIN)/python -m bench.compare $(BEFORE)
