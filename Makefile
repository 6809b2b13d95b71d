# Top-level entry points: `make demo` and `make test` do all the set-up (see README).
BUILD ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps build demo test asan bench evaluate format format-check clean

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
	rm -rf $(BUILD) build-asan build-release
