# The two commands a new user types are `make run` and `make test`.
#   make run             install deps, build nimbusd (Release), start it on 127.0.0.1:50051
#   make test            install deps, build, run every test through CTest
#   make test-asan       the same under AddressSanitizer + UndefinedBehaviorSanitizer
#                        (also spelled `make test SANITIZE=1`)
#   make tsa             compile the whole tree with clang, -Werror=thread-safety
#   make ci              what CI runs (.ci/run): test, tsa, test-asan
#   make bench           build Release and run the Google Benchmark suites
#   make fuzz            build the fuzz targets with clang + libFuzzer, run each 30 s
.PHONY: all deps build release-configure release run test test-asan tsa ci bench fuzz format clean

JOBS      ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_GEN := -G Ninja

# Sanitizer runtime options for `make test-asan`; set them in the environment
# to override. Leaks fail a test; a UBSan finding prints its stack and stops.
ASAN_OPTIONS  ?= detect_leaks=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

ifeq ($(SANITIZE),1)
TEST_DIR  := build-asan
# No benchmarks here: they are not tests, and they would double the build.
TEST_ARGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMBUS_SANITIZE=ON -DNIMBUS_BUILD_BENCH=OFF
TEST_ENV  := ASAN_OPTIONS='$(ASAN_OPTIONS)' UBSAN_OPTIONS='$(UBSAN_OPTIONS)'
else
TEST_DIR  := build
TEST_ARGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo
TEST_ENV  :=
endif
RELEASE_DIR := build-release
FUZZ_DIR    := build-fuzz
TSA_DIR     := build-tsa
# What `make run` builds: the server (and the CLI, once there is one).
RUN_TARGETS := nimbusd

all: build

deps:
	@tools/install-deps.sh

build: deps
	cmake -S . -B $(TEST_DIR) $(CMAKE_GEN) $(TEST_ARGS)
	cmake --build $(TEST_DIR) -j $(JOBS)

test: build
	cd $(TEST_DIR) && $(TEST_ENV) ctest --output-on-failure -j $(JOBS)

test-asan:
	@$(MAKE) --no-print-directory test SANITIZE=1

# Thread-safety analysis is a compiler check: compile every source with clang
# (no optimisation, no debug info) and link nothing. -k 0 goes on past a
# failing file, so that one run lists every finding.
tsa:
	@tools/install-deps.sh --clang
	CXX=clang++ cmake -S . -B $(TSA_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DNIMBUS_THREAD_SAFETY_ERRORS=ON
	ninja -C $(TSA_DIR) -j $(JOBS) -k 0 $$(ninja -C $(TSA_DIR) -t targets all | sed -n 's/\.o: .*/.o/p')

ci:
	.ci/run

release-configure: deps
	cmake -S . -B $(RELEASE_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release

release: release-configure
	cmake --build $(RELEASE_DIR) -j $(JOBS)

# Starts nimbusd on 127.0.0.1:50051 with its data in ./nimbus-data.
# NIMBUSD_FLAGS adds flags, e.g. NIMBUSD_FLAGS='--sync=power'.
run: release-configure
	cmake --build $(RELEASE_DIR) -j $(JOBS) --target $(RUN_TARGETS)
	$(RELEASE_DIR)/tools/nimbusd --listen=127.0.0.1:50051 --data_dir=./nimbus-data $(NIMBUSD_FLAGS)

bench: release
	$(RELEASE_DIR)/bench/chunk_codec_bench --benchmark_counters_tabular=true

fuzz:
	@tools/install-deps.sh --fuzz
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMBUS_FUZZ=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target nimbus_fuzz_targets
	@set -e; for t in $(FUZZ_DIR)/tests/fuzz/*_fuzz; do \
	  name=$$(basename $$t); mkdir -p fuzz-corpus/$$name; \
	  echo "== $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz-corpus/$$name tests/fuzz/seeds/$$name; \
	done

format:
	find engine storage rpc alarms bench tests tools -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build build-asan build-release build-fuzz build-tsa
