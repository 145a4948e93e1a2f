# Thin wrapper over CMake for the README commands. `make` builds build/r1c.
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test test-asan test-aarch64 fuzz bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The main job on the model that ships in the repo.
run: build
	@bash scripts/run_default.sh

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DR1C_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

# The unit tests cross-built for 64-bit ARM (NEON, dotprod) and run under qemu-user
# (scripts/deps_aarch64.sh installs Debian's cross compiler, qemu and the arm64 libraries).
test-aarch64: deps
	@bash scripts/deps_aarch64.sh
	@cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-aarch64 -j $(JOBS)
	@cd build-aarch64 && OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DR1C_FUZZ=ON -DR1C_OPENMP=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_safetensors fuzz_hf_config fuzz_tokenizer_json fuzz_tokenize fuzz_jinja fuzz_gguf fuzz_oai fuzz_countdown fuzz_shard fuzz_rules
	@bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	@bash bench/bench_model.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
