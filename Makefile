# ftpsfs — see README.md. `make demo` shows it working; `make test` runs every test.
PREFIX  ?= /usr/local
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
GO      ?= go
BINDIR  ?= bin
BIN     := $(BINDIR)/ftpsfs
MAN     := $(BINDIR)/ftpsfs.1
COMPLETION := $(BINDIR)/ftpsfs.bash
DEBDIR  ?= .
DEMO    := $(CURDIR)/.demo
# The man page's date and the package's file times and changelog date: the last commit's.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
# The package's Maintainer: Debian's DEBFULLNAME and DEBEMAIL, else git's user.
DEB_MAINTAINER ?= $(or $(DEBFULLNAME),$(shell git config user.name)) <$(or $(DEBEMAIL),$(shell git config user.email))>

# Real file targets: bin/ftpsfs is rebuilt only when a Go source changed, so
# sudo make install after make copies files and needs no Go on root's PATH.
SRC        := $(shell find cmd/ftpsfs mountopts fusefs pool cache -name '*.go' ! -name '*_test.go') go.mod go.sum
GENDOC_SRC := $(shell find cmd/ftpsfs-gendoc mountopts -name '*.go' ! -name '*_test.go') go.mod go.sum
STAMP      := $(BINDIR)/.version
BIN_VERSION = $$($(BIN) --version | sed -n '1s/^ftpsfs //p')
NEED_GO = @command -v $(GO) >/dev/null || { echo "$@ is out of date (its sources or the version changed) and $(GO) is not on PATH: run make as yourself first (see README: Install)" >&2; exit 1; }

.PHONY: all build install uninstall deb deps demo-deps test vet demo demo-stop clean FORCE

all: $(BIN) $(MAN) $(COMPLETION)

build: $(BIN)

# $(STAMP) is the version bin/ftpsfs is built with; it changes, and bin/ftpsfs
# is rebuilt, only when git describes another one, so the binary, its man page
# and its package never claim different versions. Where git cannot tell (no
# repository; root in a user's checkout under sudo) it is left alone.
$(STAMP): FORCE
	@mkdir -p $(@D); v='$(VERSION)'; \
	if [ -z "$$v" ]; then [ -f $@ ] || echo dev >$@; \
	elif [ "$$(cat $@ 2>/dev/null)" != "$$v" ]; then echo "$$v" >$@; fi

# Static (CGO_ENABLED=0): the package then needs no libc of a given version;
# stripped (-s -w), as Debian ships binaries; -trimpath keeps build paths out.
$(BIN): $(SRC) $(STAMP)
	$(NEED_GO)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$$(cat $(STAMP))" -o $@ ./cmd/ftpsfs

# Generated from the option table in mountopts, with the binary's version.
$(MAN): $(GENDOC_SRC) $(BIN)
	$(NEED_GO)
	$(GO) run ./cmd/ftpsfs-gendoc -man $@ -version "$(BIN_VERSION)" -date $$(date -u -d @$(SOURCE_DATE_EPOCH) +%F)

$(COMPLETION): $(GENDOC_SRC)
	$(NEED_GO)
	@mkdir -p $(@D)
	$(GO) run ./cmd/ftpsfs-gendoc -completion $@

install: $(BIN) $(MAN) $(COMPLETION)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ftpsfs
	install -D -m 0644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man1/ftpsfs.1
	install -D -m 0644 $(COMPLETION) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ftpsfs

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ftpsfs $(DESTDIR)$(PREFIX)/share/man/man1/ftpsfs.1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ftpsfs

# deb writes $(DEBDIR)/ftpsfs_VERSION_ARCH.deb with dpkg-deb (packaging files:
# cmd/ftpsfs/debian). Install it with: sudo apt install ./ftpsfs_*.deb
deb: $(BIN) $(MAN) $(COMPLETION)
	@SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) DEB_MAINTAINER='$(DEB_MAINTAINER)' \
	  sh cmd/ftpsfs/debian/mkdeb $(BIN) $(MAN) $(COMPLETION) $(DEBDIR)

# The Debian packages each target needs, as PACKAGE=COMMAND pairs (COMMAND
# on PATH or a path): the demo only mounts (fuse3); the tests also run vsftpd
# and rsync, and man-db for the man page tests. Installing vsftpd starts an
# FTP server on port 21 on a machine with systemd, so only the tests install it.
DEMO_PKGS := fuse3=fusermount3
TEST_PKGS := fuse3=fusermount3 vsftpd=/usr/sbin/vsftpd rsync=rsync man-db=man

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
	rm -rf bin $(DEMO) ftpsfs_*.deb

# bench measures ftpsfs against curl, lftp and rclone mount on vsftpd and the
# embedded server, on loopback and at 20 ms RTT, and prints the ratios (as root;
# installs lftp and rclone if missing; see e2e/bench). Takes long: for a quick
# sanity run, make bench BENCH_FLAGS=-quick; all flags: bin/ftpsfs-bench -h.
.PHONY: bench
bench: deps build
	$(GO) build -o bin/ftpsfs-bench ./e2e/bench
	bin/ftpsfs-bench -ftpsfs $(BIN) $(BENCH_FLAGS)
