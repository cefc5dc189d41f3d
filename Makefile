# otel-agent build: bpf/*.bpf.c -> .output/*.bpf.o -> .output/*.skel.h -> user objects -> ./otel-agent
# SANITIZE=1 builds the agent and the unit tests with ASan and UBSan into
# .output/sanitize/ (the agent as .output/sanitize/otel-agent), apart from
# the plain build, and `make test SANITIZE=1` runs the tests with them.
ifeq ($(SANITIZE),1)
OUTPUT     := .output/sanitize
AGENT      := $(OUTPUT)/otel-agent
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
OUTPUT     := .output
AGENT      := otel-agent
SAN_FLAGS  :=
endif
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
VMLINUX    := vmlinux/$(ARCH)/vmlinux.h
CLANG      ?= clang
BPFTOOL    ?= bpftool
CC         ?= gcc
PKGS       := libbpf libelf zlib libmicrohttpd libseccomp libcap-ng yaml-0.1 libxcrypt ncursesw
JOBS       ?= $(shell nproc)
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)

CFLAGS     ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) $(SAN_FLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -I$(OUTPUT) \
	      $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS     := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -Ivmlinux/$(ARCH) -Wall -Werror

# The BPF compilation units, linked into the one object the skeleton is made
# from; each depends on every header (explicit: no pattern wildcards). The
# maps' definitions come first: bpftool 7.1's linker gives a map or variable
# declared extern before its definition offset 0, and the skeleton then fails.
# compat.bpf.c builds the others again for older kernels (bpf/variant.bpf.h).
BPF_SRCS   := bpf/maps.bpf.c bpf/http.bpf.c bpf/targets.bpf.c bpf/frame.bpf.c bpf/conn.bpf.c \
	      bpf/series.bpf.c bpf/compat.bpf.c
BPF_OBJS   := $(patsubst bpf/%.c,$(OUTPUT)/bpf/%.o,$(BPF_SRCS))
BPF_HDRS   := include/otel_agent.h include/http_parse.h include/http_frame.h bpf/maps.bpf.h bpf/counters.bpf.h \
	      bpf/map_insert.bpf.h bpf/sock.bpf.h bpf/targets.bpf.h bpf/conn.bpf.h \
	      bpf/frame.bpf.h bpf/variant.bpf.h $(VMLINUX)
# src/ is grouped by pipeline stage (docs/architecture.md); tests/unit/ mirrors it.
AGENT_SRCS := $(wildcard src/*.c src/*/*.c)
AGENT_OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(AGENT_SRCS))
UNIT_SRCS  := $(wildcard tests/unit/test_*.c tests/unit/*/test_*.c)
UNIT_TESTS := $(addprefix $(OUTPUT)/tests/,$(basename $(notdir $(UNIT_SRCS))))
LIB_OBJS   := $(filter-out $(OUTPUT)/src/main.o,$(AGENT_OBJS))

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

FORMAT_SRCS = $(wildcard bpf/*.c bpf/*.h src/*.[ch] src/*/*.[ch] include/*.h tests/unit/*.c \
	      tests/unit/*/*.c tests/servers/*.c tests/soak/*.c tests/fuzz/*.c)

.PHONY: all deps check-deps test smoke vmlinux clean format check-format bench fuzz FORCE \
	image deploy-deps test-deploy vmtest vmtest-deps
all: $(AGENT)

$(AGENT): $(AGENT_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/bpf/compat.bpf.o: bpf/http.bpf.c bpf/targets.bpf.c bpf/frame.bpf.c bpf/conn.bpf.c bpf/series.bpf.c

$(OUTPUT)/http.bpf.o: $(BPF_OBJS) | $(OUTPUT)
	$(call msg,BPF-LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/http.skel.h: $(OUTPUT)/http.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# The version, rewritten only when it changes, so that what includes it is
# rebuilt whenever the commit (or the dirty state) does, and only then.
$(OUTPUT)/version.h: FORCE | $(OUTPUT)
	$(Q)echo '#define OA_VERSION "$(VERSION)"' >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(OUTPUT)/src/cli.o $(OUTPUT)/src/main.o: $(OUTPUT)/version.h
FORCE:

# Every user object may include the skeleton; build it first.
$(OUTPUT)/src/%.o: src/%.c $(OUTPUT)/http.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

vpath test_%.c $(sort $(dir $(UNIT_SRCS)))
$(OUTPUT)/tests/test_%: test_%.c $(LIB_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP $< $(LIB_OBJS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/tests/c_server: tests/servers/c_server.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< -o $@

$(OUTPUT) $(OUTPUT)/tests:
	$(Q)mkdir -p $@

-include $(AGENT_OBJS:.o=.d) $(UNIT_TESTS:=.d)

# A missing library is named before anything compiles (make deps installs
# them); goals that only install, clean, format or run a sub-make need none.
NO_LIB_GOALS := deps check-deps clean format check-format vmlinux smoke test bench \
		image deploy-deps test-deploy vmtest vmtest-deps
ifneq ($(filter-out $(NO_LIB_GOALS),$(or $(MAKECMDGOALS),all)),)
ifeq ($(shell command -v pkg-config),)
$(error missing pkg-config; run make deps)
endif
NEED_PKGS := $(PKGS) $(if $(filter $(OUTPUT)/tests/test_%,$(MAKECMDGOALS)),cmocka)
MISSING_PKGS := $(strip $(foreach p,$(NEED_PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(p))))
ifneq ($(MISSING_PKGS),)
$(error missing $(MISSING_PKGS) (pkg-config); run make deps)
endif
endif

# make deps installs what a fresh machine lacks (apt-get, once); check-deps
# only says what is missing.
deps:
	$(Q)sh deploy/install-deps.sh

check-deps:
	$(Q)sh deploy/install-deps.sh --check

# Builds in a sub-make, so that the pkg-config flags are read once the
# packages are known to be there; JOBS tests run at once.
test: check-deps
	$(Q)$(MAKE) --no-print-directory $(AGENT) $(UNIT_TESTS) $(OUTPUT)/tests/c_server
	$(Q)OTEL_AGENT=$(abspath $(AGENT)) C_SERVER=$(abspath $(OUTPUT)/tests/c_server) OA_UNIT_DIR=$(OUTPUT)/tests \
		python3 tests/run_tests.py --jobs $(JOBS)

# smoke works on a fresh machine: it installs first, then builds with the
# pkg-config flags that only exist once the packages do.
smoke:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory otel-agent
	$(Q)bash tests/smoke.sh

# The container image (docs/deploy.md, Container): deploy/Dockerfile built
# from the sources, by podman (ENGINE=docker works too), tagged IMAGE.
# BUILD_BASE and RUNTIME_BASE replace the Dockerfile's debian:12 and
# debian:12-slim (local images where no registry can be reached). Podman
# reads deploy/containers.conf (runc, no default ulimits: what this kind
# of machine needs; CONTAINERS_CONF=... for another) and builds in docker
# format, as OCI images have no HEALTHCHECK.
ENGINE	      ?= podman
IMAGE	      ?= otel-agent
BUILD_BASE    ?=
RUNTIME_BASE  ?=
IMAGE_FLAGS   := $(if $(filter podman,$(notdir $(ENGINE))),--format docker) \
		 $(if $(BUILD_BASE),--build-arg BUILD_BASE=$(BUILD_BASE)) \
		 $(if $(RUNTIME_BASE),--build-arg RUNTIME_BASE=$(RUNTIME_BASE))
image: export CONTAINERS_CONF ?= $(abspath deploy/containers.conf)
image:
	$(Q)$(ENGINE) build $(IMAGE_FLAGS) --build-arg VERSION=$(VERSION) -f deploy/Dockerfile -t $(IMAGE) .

# make test-deploy (root, not part of make test): make image on a local
# Debian base, then the image against a Node core on the host, privileged
# and with capabilities (tests/deploy/). deploy-deps installs what it needs
# (with Recommends, as podman was installed when tried on the test machine).
DEPLOY_PKGS   := podman runc mmdebstrap bpftool nodejs
deploy-deps:
	$(Q)missing=; for p in $(DEPLOY_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || \
		{ [ $$p = nodejs ] && command -v node >/dev/null; } || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deploy-deps: all installed"; \
	elif [ "$$(id -u)" -ne 0 ]; then echo "deploy-deps: missing:$$missing; run 'sudo make deploy-deps'" >&2; exit 1; \
	else echo "deploy-deps: installing$$missing"; DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

test-deploy:
	$(Q)if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory deploy-deps; fi
	$(Q)python3 tests/deploy/run.py

# make vmtest [KERNELS="bullseye bookworm bookworm-backports"] (root): boots each
# Debian kernel package in qemu (TCG) and checks the agent's exact counts on
# a Python and a Node server there; one line per kernel, then "N passed, M
# failed" (tests/vmtest/run.sh). KERNELS are suites, 5.10/6.1/6.12,
# SUITE:PACKAGE or .deb paths. Downloads are cached in .output/vmtest/.
KERNELS ?= bullseye bookworm bookworm-backports
vmtest:
	$(Q)$(MAKE) --no-print-directory vmtest-deps
	$(Q)$(MAKE) --no-print-directory $(AGENT)
	$(Q)bash tests/vmtest/run.sh $(AGENT) $(KERNELS)

# What vmtest needs beyond deps (qemu, busybox-static, cpio, zstd); not in deps.
vmtest-deps:
	$(Q)sh tests/vmtest/deps.sh

vmlinux:
	$(Q)mkdir -p vmlinux/$(ARCH)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp && mv $(VMLINUX).tmp $(VMLINUX)
	@echo "regenerated $(VMLINUX) from $$(uname -r)"

# make fuzz [FUZZ_SECONDS=N]: each libFuzzer harness tests/fuzz/fuzz_NAME.c
# runs N seconds from its committed seeds (tests/fuzz/corpus/NAME/); what it
# finds new goes to $(OUTPUT)/fuzz/corpus/NAME/, a crash to $(OUTPUT)/fuzz/.
# A harness names the sources it links in one line, FUZZ_SRCS_fuzz_NAME.
# Not part of make test.
FUZZ_SECONDS	      ?= 60
FUZZ_CFLAGS	      := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc -I$(OUTPUT) \
			 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_HARNESSES	      := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SRCS_fuzz_http_parse := src/metrics/route.c
FUZZ_SRCS_fuzz_route  := src/metrics/route.c src/metrics/route_memo.c src/metrics/hash_table.c
FUZZ_SRCS_fuzz_config := src/config.c src/cli.c src/feature_flag.c src/array.c \
			 src/metrics/buckets.c src/metrics/route.c src/server/web_config.c
FUZZ_LIBS_fuzz_config := -lyaml -lcrypt
FUZZ_SRCS_fuzz_labels := src/expose/labels.c src/expose/text_out.c src/expose/number.c \
			 src/metrics/series.c
FUZZ_SRCS_fuzz_frame  :=

fuzz: $(addprefix $(OUTPUT)/fuzz/,$(FUZZ_HARNESSES))
	$(Q)set -e; for h in $(FUZZ_HARNESSES); do \
		name=$${h#fuzz_}; mkdir -p $(OUTPUT)/fuzz/corpus/$$name; \
		echo "  FUZZ     $$h ($(FUZZ_SECONDS)s)"; \
		$(OUTPUT)/fuzz/$$h -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(OUTPUT)/fuzz/$$h- \
			$(OUTPUT)/fuzz/corpus/$$name tests/fuzz/corpus/$$name; \
	done

# Every harness is rebuilt when any header changes (cli.c includes version.h).
.SECONDEXPANSION:
$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_fuzz_$$*) $(wildcard include/*.h src/*.h src/*/*.h) \
		       $(OUTPUT)/version.h
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(FUZZ_SRCS_fuzz_$*) $(FUZZ_LIBS_fuzz_$*) -o $@

# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]: the agent,
# its man page (help2man, from --help), the systemd unit with ExecStart's and
# the configuration's paths set from PREFIX and SYSCONFDIR, and, where none
# is there yet, the example configuration and /etc/default/otel-agent (the
# unit's options); the example also goes to the doc directory. It enables
# nothing (docs/deploy.md, Host).
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/otel-agent
UNITDIR    ?= $(PREFIX)/lib/systemd/system

.PHONY: install
install: $(AGENT)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	$(Q)install -m 0755 $(AGENT) $(DESTDIR)$(BINDIR)/otel-agent
	$(Q)help2man --no-info --section 8 --name 'HTTP RED metrics of a running server, from eBPF' \
		--output $(DESTDIR)$(MANDIR)/man8/otel-agent.8 $(abspath $(AGENT))
	$(Q)sed -e 's|/usr/local/bin/otel-agent|$(BINDIR)/otel-agent|' -e 's|/etc/|$(SYSCONFDIR)/|g' \
		deploy/systemd/otel-agent.service >$(DESTDIR)$(UNITDIR)/otel-agent.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/otel-agent.service
	$(Q)install -m 0644 deploy/systemd/otel-agent.conf $(DESTDIR)$(DOCDIR)/otel-agent.conf.example
	$(Q)test -e $(DESTDIR)$(SYSCONFDIR)/otel-agent.conf || \
		install -m 0644 deploy/systemd/otel-agent.conf $(DESTDIR)$(SYSCONFDIR)/otel-agent.conf
	$(Q)test -e $(DESTDIR)$(SYSCONFDIR)/default/otel-agent || \
		install -m 0644 deploy/systemd/otel-agent.default $(DESTDIR)$(SYSCONFDIR)/default/otel-agent

format:
	$(Q)clang-format -i $(FORMAT_SRCS)

check-format:
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)

clean:
	$(Q)rm -rf .output otel-agent

bench:
	$(Q)bash bench/run.sh
