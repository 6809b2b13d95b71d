# Top-level entry points: `make demo` and `make test` do all the set-up (see README).
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build demo test asan fuzz-build fuzz fuzz-smoke bench evaluate format format-check clean

all: build

deps:
	@./scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

demo: build
	BUILD=$(BUILD) ./scripts/demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j2

# Sanitizer build of everything, tests run under ASan + UBSan.
asan:
	@./scripts/install-deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DALLOT_SANITIZE=ON
	cmake --build build-asan
	cd build-asan && ctest --output-on-failure -j2

# Fuzzing (docs/fuzzing.md): clang's libFuzzer with ASan + UBSan in build-fuzz. `make fuzz`
# runs every target for FUZZ_SECONDS (the campaign); `make fuzz-smoke` for a short time (CI).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang-14 \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALLOT_FUZZ=ON
	cmake --build $(FUZZ_BUILD) --target fuzzers

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz $(FUZZ_BUILD)

fuzz-smoke: fuzz-build
	FUZZ_SECONDS=15 ./scripts/fuzz $(FUZZ_BUILD)

# Engine benchmark (not a test): an optimised build, pinned to one core.
bench: deps
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build build-release --target bench_sched
	taskset -c 1 ./build-release/bench_sched

# The trace evaluation of docs/evaluation.md (not a test): needs ../shared/traces.
evaluate: deps
	./bench/evaluate.sh

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) build-asan build-release $(FUZZ_BUILD)
