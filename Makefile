# anvil — thin wrapper over CMake. `make demo` and `make test` are all a newcomer needs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 600

.PHONY: all deps build test demo asan fuzz format clean help

all: build

help:
	@echo "make demo    install missing Debian packages (as root), build, run the demo"
	@echo "make test    build and run every test through ctest"
	@echo "make asan    build with ASan+UBSan in $(ASAN_BUILD) and run the tests"
	@echo "make fuzz    build the libFuzzer targets and run each for FUZZ_SECONDS=$(FUZZ_SECONDS)"
	@echo "make bench   anvil vs ONNX Runtime on ../shared/models (installs onnxruntime-node with npm)"
	@echo "make clean   remove build folders"

deps:
	@sh scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	@sh scripts/demo.sh $(BUILD)/anvil

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DANVIL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DANVIL_FUZZ=ON -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@for f in tests/fuzz/fuzz_*.c; do n=$$(basename $$f .c); c=$${n#fuzz_}; \
	  mkdir -p $(FUZZ_BUILD)/corpus_$$c; \
	  echo "== $$n for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$n $(FUZZ_BUILD)/corpus_$$c tests/fuzz/corpus_$$c \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
	    || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# `make bench`: anvil vs ONNX Runtime vs the interpreter on ../shared/models (bench/run.sh).
.PHONY: bench
bench: build
	@sh bench/run.sh $(BUILD)
