# The two commands a new user types are `make run` and `make test`.
#   make run             install deps, build Release, start nimbusd on 127.0.0.1:50051
#   make test            install deps, build, run every test through CTest
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench           build Release and run the Google Benchmark suites
#   make fuzz            build the fuzz targets with clang + libFuzzer, run each 30 s
.PHONY: all deps build run test bench fuzz format clean

JOBS      ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_GEN := -G Ninja

ifeq ($(SANITIZE),1)
TEST_DIR  := build-asan
TEST_ARGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMBUS_SANITIZE=ON
else
TEST_DIR  := build
TEST_ARGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif
RELEASE_DIR := build-release
FUZZ_DIR    := build-fuzz

all: build

deps:
	@tools/install-deps.sh

build: deps
	cmake -S . -B $(TEST_DIR) $(CMAKE_GEN) $(TEST_ARGS)
	cmake --build $(TEST_DIR) -j $(JOBS)

test: build
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS)

release: deps
	cmake -S . -B $(RELEASE_DIR) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_DIR) -j $(JOBS)

# Starts nimbusd on 127.0.0.1:50051 with its data in ./nimbus-data.
# NIMBUSD_FLAGS adds flags, e.g. NIMBUSD_FLAGS='--sync=power'.
run: release
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
	rm -rf build build-asan build-release build-fuzz
