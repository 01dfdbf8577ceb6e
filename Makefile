# berth — one-command entry points. Run as root on Debian 12 (or a container-capable host).
#   make run    install what is needed, build, start berthd, run a busybox container with berth
#   make test   install what the tests need, build once, run every test
#   make bench  benchmarks (hyperfine, side by side with the peers)

SHELL := /bin/bash
CARGO ?= cargo
# Debian packages: build (libseccomp), test fixtures (busybox-static), registry and network
# tests, the peers for interop tests and benchmarks.
PKGS_BUILD := build-essential pkg-config libseccomp-dev
PKGS_TEST := busybox-static iproute2 iptables containernetworking-plugins docker-registry \
	runc crun docker.io docker-compose containerd podman skopeo apache2-utils openssl tmux time procps util-linux python3 python3-docker python3-venv git
PKGS_BENCH := hyperfine
# testcontainers-python (not packaged by Debian) for the client-compatibility test, pinned, in
# a virtualenv of the tests' own under target/.
TC_VENV := $(CURDIR)/target/py-testcontainers
TC_PIP := testcontainers==4.15.0

# berth-runtime starts once per container, so it is also built fully static (non-PIE, glibc and
# libseccomp linked in): no dynamic loader, no relocations at start, ~0.8 MiB less peak RSS.
# It gets a target dir of its own so the workspace's ordinary (dynamic) build stays cached.
RUNTIME_STATIC := target/static/release/berth-runtime
RUNTIME_STATIC_ENV := CARGO_TARGET_DIR=target/static LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu

.PHONY: deps deps-test build runtime-static shim-static release-bins run run-runtime test bench clean

deps:
	@missing=""; for p in $(PKGS_BUILD) busybox-static; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

deps-test:
	@missing=""; for p in $(PKGS_BUILD) $(PKGS_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@$(TC_VENV)/bin/python -c 'import testcontainers' 2>/dev/null || \
		{ /usr/bin/python3 -m venv $(TC_VENV) && $(TC_VENV)/bin/pip install -q $(TC_PIP); } || \
		{ rm -rf $(TC_VENV); echo "warning: $(TC_PIP) could not be installed from PyPI; its test is skipped" >&2; }

build: deps runtime-static shim-static
	$(CARGO) build --release

# berth-shim runs once per container for the container's whole life: static non-PIE like
# the runtime (faster start, ~60 KiB less private memory per container). berthd uses it when
# daemon.toml names it (`shim-binary`), as benches/lib.sh does.
shim-static: deps
	$(RUNTIME_STATIC_ENV) $(CARGO) rustc --release -p berth-shim --bin berth-shim -- \
		-C target-feature=+crt-static -C relocation-model=static

# What the daemon benches run: release berthd and the static shim.
release-bins: shim-static
	$(CARGO) build --release -p berthd -p berth-shim -p berth

runtime-static: deps
	$(RUNTIME_STATIC_ENV) $(CARGO) rustc --release -p berth-runtime --bin berth-runtime -- \
		-C target-feature=+crt-static -C relocation-model=static

# A busybox-static root filesystem becomes an image (`berth import`); `berth` starts berthd
# (default roots /var/lib/berth and /run/berth) when none answers, and runs the container:
# an interactive shell when this terminal is one.
run: build
	@set -e; d=$${DEMO:-/tmp/berth-demo}; rm -rf $$d; mkdir -p $$d; \
	cp "$$(command -v busybox)" $$d/busybox; \
	printf '%s\n' 'FROM scratch' 'COPY busybox /bin/busybox' \
		'RUN ["/bin/busybox", "--install", "-s", "/bin"]' \
		"RUN mkdir -p /etc /root && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group" \
		'CMD ["sh"]' > $$d/Dockerfile; \
	berth=$(CURDIR)/target/release/berth; \
	echo "berth build -t berth-demo:busybox $$d"; \
	$$berth build --network none -t berth-demo:busybox $$d; \
	echo "berth run --rm -it berth-demo:busybox sh"; \
	if [ -t 0 ]; then $$berth run --rm -it berth-demo:busybox sh; \
	else $$berth run --rm berth-demo:busybox sh -c 'echo hello from $$(hostname): $$(id); ip -4 addr show eth0 | grep inet'; fi

# The runtime alone, as runc: `berth-runtime spec` + the busybox root filesystem.
run-runtime: runtime-static
	@set -e; b=$${BUNDLE:-/tmp/berth-demo-runtime}; rm -rf $$b; mkdir -p $$b/rootfs/bin $$b/rootfs/etc $$b/rootfs/root; \
	cp "$$(command -v busybox)" $$b/rootfs/bin/busybox; \
	for a in $$($$b/rootfs/bin/busybox --list); do [ "$$a" = busybox ] || ln -s busybox $$b/rootfs/bin/$$a; done; \
	echo 'root:x:0:0:root:/root:/bin/sh' > $$b/rootfs/etc/passwd; \
	cd $$b && $(CURDIR)/$(RUNTIME_STATIC) spec; \
	if [ -t 0 ]; then term=true; args='["sh"]'; else term=false; args='["sh","-c","echo hello from $$(hostname): $$(id); cat /proc/self/cgroup | head -3"]'; fi; \
	python3 -c "import json,sys; c=json.load(open('config.json')); c['process']['terminal']=sys.argv[1]=='true'; c['process']['args']=json.loads(sys.argv[2]); json.dump(c,open('config.json','w'),indent=1)" "$$term" "$$args"; \
	echo "berth-runtime run demo-$$$$ (bundle $$b)"; \
	$(CURDIR)/$(RUNTIME_STATIC) run demo-$$$$

test: deps-test
	$(CARGO) build --workspace --all-targets
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc
	tests/v2-vm.sh

bench: build
	@command -v hyperfine >/dev/null || (apt-get update -qq && apt-get install -y -qq $(PKGS_BENCH))
	benches/runtime.sh $(RUNTIME_STATIC)
	SKIP_BUILD=1 benches/daemon.sh
	SKIP_BUILD=1 benches/density.sh
	SKIP_BUILD=1 benches/attach.sh

clean:
	$(CARGO) clean
