# ftpsfs — see README.md. `make demo` shows it working; `make test` runs every test.
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
BIN     := bin/ftpsfs
DEMO    := $(CURDIR)/.demo

.PHONY: all build install uninstall deps demo-deps test vet demo demo-stop clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ftpsfs

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ftpsfs

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ftpsfs

# The Debian packages each target needs, as PACKAGE=COMMAND pairs (COMMAND
# on PATH or a path): the demo only mounts (fuse3); the tests also run vsftpd
# and rsync. Installing vsftpd starts an FTP server on port 21 on a machine
# with systemd, so only the tests install it.
DEMO_PKGS := fuse3=fusermount3
TEST_PKGS := fuse3=fusermount3 vsftpd=/usr/sbin/vsftpd rsync=rsync

# need-pkgs installs the missing packages of $(1) as root, or says what to run.
define need-pkgs
	@missing=""; \
	for p in $(1); do \
	  cmd=$${p#*=}; { [ -x "$$cmd" ] || command -v "$$cmd" >/dev/null 2>&1; } || missing="$$missing $${p%%=*}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing:$$missing — run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi
	@[ -e /dev/fuse ] || { echo "/dev/fuse is missing: load the fuse kernel module (modprobe fuse)" >&2; exit 1; }
endef

demo-deps:
	$(call need-pkgs,$(DEMO_PKGS))

# deps is what the tests (and make bench) need.
deps:
	$(call need-pkgs,$(TEST_PKGS))
	@# Unprivileged mounts (fusermount3) open /dev/fuse as the user; Debian's udev makes it 0666,
	@# some containers leave it 0600.
	@if [ "$$(stat -c %a /dev/fuse)" != 666 ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "chmod 0666 /dev/fuse (Debian's default)"; chmod 0666 /dev/fuse; \
	  else echo "/dev/fuse is not usable by normal users: run sudo chmod 0666 /dev/fuse" >&2; fi; \
	fi

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt would change: $$out" >&2; exit 1; }

# The e2e tests run vsftpd and mount FUSE filesystems: they need root.
test: deps vet
	$(GO) test -race -count=1 -timeout 15m ./...

demo: demo-deps build
	@$(MAKE) --no-print-directory demo-stop >/dev/null 2>&1 || true
	@mkdir -p $(DEMO)/mnt
	$(GO) build -o $(DEMO)/ftpsfs-testserver ./e2e/testserver/cmd/ftpsfs-testserver
	@rm -f $(DEMO)/ready
	@$(DEMO)/ftpsfs-testserver -root $(DEMO)/root -sample -listen 127.0.0.1:2121 \
	  -password-file $(DEMO)/password -ready-file $(DEMO)/ready >$(DEMO)/server.log 2>&1 & echo $$! >$(DEMO)/server.pid
	@for i in $$(seq 100); do [ -s $(DEMO)/ready ] && break; sleep 0.1; done; \
	  [ -s $(DEMO)/ready ] || { echo "the demo server did not start:"; cat $(DEMO)/server.log; exit 1; }
	@set -e; url=$$(cut -d' ' -f1 $(DEMO)/ready); fp=$$(cut -d' ' -f2 $(DEMO)/ready); \
	  echo "\$$ ftpsfs $$url $(DEMO)/mnt -o password_file=$(DEMO)/password,fingerprint=$$fp"; \
	  $(BIN) "$$url" $(DEMO)/mnt -o password_file=$(DEMO)/password,fingerprint=$$fp; \
	  echo "\$$ ls -la $(DEMO)/mnt"; ls -la $(DEMO)/mnt; \
	  echo "\$$ cat $(DEMO)/mnt/README.txt"; cat $(DEMO)/mnt/README.txt; \
	  echo; echo "Mounted at $(DEMO)/mnt. Explore it with any program; when done: make demo-stop"

demo-stop:
	-@mountpoint -q $(DEMO)/mnt && umount $(DEMO)/mnt || fusermount3 -u $(DEMO)/mnt 2>/dev/null || true
	-@[ -f $(DEMO)/server.pid ] && kill $$(cat $(DEMO)/server.pid) 2>/dev/null; rm -f $(DEMO)/server.pid
	@echo "demo stopped"

clean:
	rm -rf bin $(DEMO)

# bench measures ftpsfs against curl, lftp and rclone mount on vsftpd and the
# embedded server, on loopback and at 20 ms RTT, and prints the ratios (as root;
# installs lftp and rclone if missing; see e2e/bench). Takes long: for a quick
# sanity run, make bench BENCH_FLAGS=-quick; all flags: bin/ftpsfs-bench -h.
.PHONY: bench
bench: deps build
	$(GO) build -o bin/ftpsfs-bench ./e2e/bench
	bin/ftpsfs-bench -ftpsfs $(BIN) $(BENCH_FLAGS)
