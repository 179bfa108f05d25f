# netc: a compiler for convolutional networks.
#
#   make            build bin/netc and the training runtime (installs Debian packages it lacks)
#   make run        the main job: the course's three steps, trained on 15-scene (NETS="nets/x.net ..." for others)
#   make test       the CMocka suite, gradient checks and comparisons with PyTorch
#   make bench      netc against PyTorch on the same 2 cores, every shipped net
#   make accuracy   the three steps and the ablation table of docs/results.md
#   make report-check  train briefly, render report.html in headless Chromium and check what it shows
#   make test-asan  the same tests built with AddressSanitizer and UBSan (in build-asan/)
#   make deploy-check  netc --deploy for aarch64 (under qemu-user) and a Cortex-M7; deployed nets against their trainers
#   make bench-deploy  deployed nets' batch-1 latency against PyTorch's, one thread (bench/deploy.md)
#   make fuzz       fuzz the compiler's front end for FUZZ_SECONDS (libFuzzer, ASan, UBSan; in build-fuzz/)
#   make valgrind   a short training run under valgrind: no errors, nothing leaked
#   make install    netc on PATH (PREFIX=/usr/local)
#
# ISA=native|avx2|avx512 (default native) chooses the vector instructions of
# the runtime, the tests and the trainers netc builds; one tree holds several:
# native builds in build/ with bin/netc, any other in build-ISA/ with
# build-ISA/bin/netc, whose trainers are built for that ISA (netc --isa).
#   make ISA=avx2 test     the tests, built for AVX2 (runs on any AVX2 machine)
#   make ISA=avx2 bench    the benchmark with AVX2 trainers (on an AVX-512 machine,
#                          OpenBLAS and PyTorch are held to AVX2 too: see bench/run)
#   make test-aarch64      cross-compiled for 64-bit ARM (NEON), run under qemu-user

PREFIX  ?= /usr/local
CC      ?= cc
ISA     ?= native
ifeq ($(ISA),native)
BUILD   ?= build
NETC    ?= bin/netc
else ifeq ($(ISA),aarch64)
# cross-compiled (make test-aarch64): the host's bin/netc writes the C, for this ISA
BUILD   ?= build-aarch64
NETC    ?= bin/netc
NETC_FLAGS := --isa aarch64
CC      := aarch64-linux-gnu-gcc
CROSS   := 1
else
BUILD   ?= build-$(ISA)
NETC    ?= $(BUILD)/bin/netc
endif
NETS    ?=
TRIPLET := $(if $(CROSS),aarch64-linux-gnu,x86_64-linux-gnu)

# OpenMP owns the threads. We link OpenBLAS's OpenMP build, so a sgemm called
# inside a parallel region runs on its caller's thread, and one called outside
# runs on the same OpenMP pool: never two thread pools fighting for 2 cores.
BLAS_DIR := /usr/lib/$(TRIPLET)/openblas-openmp
BLAS_LIB := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas

DEB_PACKAGES := gcc make flex bison pkg-config libopenblas-openmp-dev libjpeg62-turbo-dev libpng-dev libcmocka-dev
ifdef CROSS # Debian's cross compiler and qemu, and arm64 libraries through multiarch (tools/deps.sh adds the architecture)
DEB_PACKAGES += gcc-aarch64-linux-gnu qemu-user libopenblas-openmp-dev:arm64 libjpeg62-turbo-dev:arm64 libpng-dev:arm64 \
                libcmocka-dev:arm64
endif

# MPI: trainers link Open MPI (1, the default) and train on several processes
# when started by mpirun; started without it they never call MPI and run as
# alone (runtime/dist.h; README, "Training on several processes and machines"). MPI=0 builds
# a runtime without MPI (for machines without Open MPI), whose trainers refuse
# to run under mpirun. Switching rebuilds what depends on it. A cross build
# (ISA=aarch64) has no MPI: Debian's Open MPI is not co-installable across architectures.
MPI      ?= $(if $(CROSS),0,1)
ifeq ($(MPI),1)
MPI_DIR  := /usr/lib/$(TRIPLET)/openmpi
MPI_CFLAGS := -DNETC_MPI -I$(MPI_DIR)/include
MPI_LIBS := -L$(MPI_DIR)/lib -lmpi
DEB_PACKAGES += libopenmpi-dev openmpi-bin
endif

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
# SANITIZE: instrumentation for every object and link (make test-asan and make fuzz set it)
SANITIZE ?=
CFLAGS   += -std=gnu11 $(WARN) -MMD -MP $(SANITIZE)
# MARCH: the runtime's target, from ISA (x86-64-v3 is AVX2 and FMA, v4 adds AVX-512);
# netc's --isa gives its trainers the same flags (compiler/target.c)
ISA_MARCH_native := -march=native
ISA_MARCH_avx2   := -march=x86-64-v3
ISA_MARCH_avx512 := -march=x86-64-v4
ISA_MARCH_aarch64 := -march=armv8-a
MARCH    ?= $(ISA_MARCH_$(ISA))
ifeq ($(MARCH),)
$(error ISA=$(ISA) is not one of native, avx2, avx512, aarch64)
endif
# An AVX2 build on an AVX-512 machine stands in for an AVX2 machine (make
# ISA=avx2 run, test, profile by hand): the libraries that pick their kernels
# at run time are held to AVX2 too, OpenBLAS to the AVX2 kernels it picks for
# the same vendor's AVX2 CPUs (Zen on AMD, what the team's Zen 3 machines get;
# Haswell on Intel), PyTorch's oneDNN and ATen to AVX2.
HOST_AVX512 := $(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes)
HOST_AVX2_CORE := $(shell grep -qw GenuineIntel /proc/cpuinfo 2>/dev/null && echo Haswell || echo Zen)
ifeq ($(ISA)$(HOST_AVX512),avx2yes)
export OPENBLAS_CORETYPE ?= $(HOST_AVX2_CORE)
export ONEDNN_MAX_CPU_ISA ?= AVX2
export ATEN_CPU_CAPABILITY ?= avx2
endif
RT_FLAGS := -O3 $(MARCH) -fopenmp -fno-math-errno -I/usr/include/$(TRIPLET)/openblas-openmp
LDLIBS   := $(BLAS_LIB) $(MPI_LIBS) -ljpeg -lpng -lm

RT_SRC   := $(filter-out runtime/trainer_main.c,$(wildcard runtime/*.c))
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/%.o)
CC_SRC   := $(filter-out compiler/main.c,$(wildcard compiler/*.c)) $(wildcard compiler/kinds/*.c)
CC_OBJ   := $(CC_SRC:%.c=$(BUILD)/%.o) $(BUILD)/compiler/lexer.o $(BUILD)/compiler/parser.o

.PHONY: all deps run test bench accuracy data install clean
ifdef CROSS # the host's netc writes the C (make test-aarch64 builds it first)
all: deps $(BUILD)/libnetcrt.a $(BUILD)/libnetcrt.libs
else
all: deps $(NETC) $(BUILD)/libnetcrt.a $(BUILD)/libnetcrt.libs
endif

deps: $(BUILD)/.deps
$(BUILD)/.deps: tools/deps.sh Makefile
	@mkdir -p $(BUILD)
	tools/deps.sh $(DEB_PACKAGES)
	@touch $@

# --- runtime: one static library every trainer links -------------------------
$(BUILD)/runtime/%.o: runtime/%.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -c $< -o $@

$(BUILD)/libnetcrt.a: $(RT_OBJ)
	ar rcs $@ $^

# libnetcrt.libs: the libraries a trainer linking this runtime needs besides
# OpenBLAS, libjpeg and libpng (netc reads it: MPI's, or none with MPI=0)
$(BUILD)/runtime/dist.o: CFLAGS += $(MPI_CFLAGS)
$(BUILD)/runtime/dist.o: $(BUILD)/mpi.flag
$(BUILD)/libnetcrt.libs: $(BUILD)/mpi.flag
	echo '$(MPI_LIBS)' > $@
$(BUILD)/mpi.flag: FORCE
	@mkdir -p $(BUILD)
	@echo '$(MPI)' | cmp -s - $@ || echo '$(MPI)' > $@
.PHONY: FORCE

# --- compiler ------------------------------------------------------------------
$(BUILD)/compiler/parser.c $(BUILD)/compiler/parser.h &: compiler/parser.y | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	bison -Wall -Werror --defines=$(BUILD)/compiler/parser.h -o $(BUILD)/compiler/parser.c $<

$(BUILD)/compiler/lexer.c: compiler/lexer.l $(BUILD)/compiler/parser.h
	@mkdir -p $(dir $@)
	flex -o $@ $<

$(BUILD)/compiler/lexer.o $(BUILD)/compiler/parser.o: CFLAGS += -Wno-unused-function -Wno-sign-compare
$(BUILD)/compiler/%.o: $(BUILD)/compiler/%.c
	$(CC) $(CFLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler -c $< -o $@

$(BUILD)/compiler/%.o: compiler/%.c $(BUILD)/compiler/parser.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler -c $< -o $@
$(BUILD)/compiler/main.o: CFLAGS += -DNETC_ISA='"$(ISA)"'

# netc --deploy copies these into what it writes; they are built into netc,
# so an installed netc needs no source tree
EMBEDDED := deploy/nn.c deploy/nnq.c deploy/calibrate.c deploy/predict.c deploy/deploy.mk runtime/preprocess.h runtime/preprocess.c runtime/jpeg.h runtime/jpeg.c \
            runtime/pngread.h runtime/pngread.c
$(BUILD)/compiler/embedded.c: tools/embed.sh $(EMBEDDED) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	tools/embed.sh $@ $(EMBEDDED)
CC_OBJ += $(BUILD)/compiler/embedded.o

$(BUILD)/libnetcc.a: $(CC_OBJ)
	ar rcs $@ $^

ifndef CROSS # a cross build uses the host's netc
$(NETC): $(BUILD)/compiler/main.o $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fopenmp $^ -o $@ $(LDLIBS)
endif

# --- tests: every tests/test_*.c is one CMocka program ---------------------------
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

$(BUILD)/tests/%: tests/%.c $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler -Itests $< \
	    $(filter-out tests/%.c,$(filter %.c,$^)) $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka

# deploy/nn.c's kernels (test_deploy_kernels.c) again at AVX2's 8 lanes, as
# plain C99 without vectors (a Cortex-M's build), and on two OpenMP threads
KERNEL_TESTS := $(addprefix $(BUILD)/tests/test_deploy_kernels_,$(if $(CROSS),,avx2) scalar threads)
$(BUILD)/tests/test_deploy_kernels_avx2: KERNEL_FLAGS := -mno-avx512f
$(BUILD)/tests/test_deploy_kernels_scalar: KERNEL_FLAGS := -DNN_NO_VECTORS
$(BUILD)/tests/test_deploy_kernels_threads: KERNEL_FLAGS := -DNN_THREADS=2
$(KERNEL_TESTS): $(BUILD)/tests/test_deploy_kernels_%: tests/test_deploy_kernels.c $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) $(KERNEL_FLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler $< $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a \
	    -o $@ $(LDLIBS) -lcmocka
TESTS += $(KERNEL_TESTS)
# deploy/nnq.c's int8 kernels (test_deploy_int8.c) the same ways: VNNI where the
# CPU has it, AVX2's vpmaddwd (not in a cross build), plain C, two threads
INT8_TESTS := $(addprefix $(BUILD)/tests/test_deploy_int8_,$(if $(CROSS),,avx2) scalar threads)
$(BUILD)/tests/test_deploy_int8_avx2: KERNEL_FLAGS := -mno-avx512f
$(BUILD)/tests/test_deploy_int8_scalar: KERNEL_FLAGS := -DNN_NO_VECTORS
$(BUILD)/tests/test_deploy_int8_threads: KERNEL_FLAGS := -DNN_THREADS=2
$(INT8_TESTS): $(BUILD)/tests/test_deploy_int8_%: tests/test_deploy_int8.c $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) $(KERNEL_FLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler $< $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a \
	    -o $@ $(LDLIBS) -lcmocka
TESTS += $(INT8_TESTS)

# --- generated-code tests: gradient checks and PyTorch comparisons -------------------
# Every tests/nets/*.net (small nets that together cover every layer kind and
# variant) and every net with a committed reference tests/ref/<net>.safetensors
# is compiled by bin/netc into $(BUILD)/tests/gen/<net>.c, built with
# -DNETC_NO_MAIN and linked into one program per net and check:
#   gradcheck_<net>  tests/test_gradcheck.c: backward against finite differences
#   torchref_<net>   tests/test_torchref.c: forward, backward and evaluation against PyTorch
# `make refs` remakes the references with PyTorch (tools/torch_ref.py); only it
# needs torch, so CI compares against the committed files.
TORCH_PYTHON ?= /usr/bin/python3
GEN_DIR      := $(BUILD)/tests/gen
GRADCHECKS   := $(patsubst tests/nets/%.net,$(BUILD)/tests/gradcheck_%,$(wildcard tests/nets/*.net))
TORCHREFS    := $(patsubst tests/ref/%.safetensors,$(BUILD)/tests/torchref_%,$(wildcard tests/ref/*.safetensors))
TESTS        := $(filter-out $(BUILD)/tests/test_gradcheck $(BUILD)/tests/test_torchref,$(TESTS)) $(GRADCHECKS) $(TORCHREFS)
.PRECIOUS: $(GEN_DIR)/%.c $(GEN_DIR)/%.o

$(GEN_DIR)/%.c: tests/nets/%.net $(NETC)
	@mkdir -p $(GEN_DIR)
	$(NETC) $(NETC_FLAGS) -q -S --out-dir $(GEN_DIR) $<
$(GEN_DIR)/%.c: nets/%.net $(NETC)
	@mkdir -p $(GEN_DIR)
	$(NETC) $(NETC_FLAGS) -q -S --out-dir $(GEN_DIR) $<
$(GEN_DIR)/%.c: tests/torchvision/%.net $(NETC)
	@mkdir -p $(GEN_DIR)
	$(NETC) $(NETC_FLAGS) -q -S --out-dir $(GEN_DIR) $<
$(GEN_DIR)/%.o: $(GEN_DIR)/%.c
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -DNETC_NO_MAIN -c $< -o $@

$(BUILD)/tests/gradcheck_%: tests/test_gradcheck.c $(GEN_DIR)/%.o $(BUILD)/libnetcrt.a
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -Itests -DNET=netc_$* -DGEN_SRC='"$(GEN_DIR)/$*.c"' $< $(GEN_DIR)/$*.o \
	    $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka
$(BUILD)/tests/torchref_%: tests/test_torchref.c $(GEN_DIR)/%.o $(BUILD)/libnetcrt.a
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -Itests -DNET=netc_$* $< $(GEN_DIR)/$*.o $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka

# --- deployed nets against PyTorch (netc --deploy) ------------------------------------
# For each net with a reference: tests/deploy/state.c (linked with its generated
# trainer code) writes the state the reference evaluated it in, bin/netc --deploy
# writes $(DEPLOY_DIR)/<net>/ from it (with --weights-file for nets of megabytes),
# the deployed <net>.c is compiled as a user would, warnings as errors, and
# tests/test_deploy_ref.c compares its logits with PyTorch's.
DEPLOY_DIR    := $(BUILD)/tests/deploy
DEPLOY_BIG    := deepernet squeezenet_ft squeezenet_tv alexnet_ft resnet18
DEPLOY_CFLAGS := -std=c99 -Wall -Wextra -pedantic -Werror -O2 $(MARCH) $(SANITIZE)
DEPLOYREFS    := $(patsubst tests/ref/%.safetensors,$(BUILD)/tests/deployref_%,$(wildcard tests/ref/*.safetensors))
TESTS         := $(filter-out $(BUILD)/tests/test_deploy_ref,$(TESTS)) $(DEPLOYREFS)
.PRECIOUS: $(DEPLOY_DIR)/%.safetensors $(DEPLOY_DIR)/%.stamp $(DEPLOY_DIR)/%.o

$(DEPLOY_DIR)/state_%: tests/deploy/state.c $(GEN_DIR)/%.o $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -Itests -DNET=netc_$* $< $(GEN_DIR)/$*.o $(BUILD)/libnetcrt.a -o $@ $(LDLIBS)
$(DEPLOY_DIR)/%.safetensors: $(DEPLOY_DIR)/state_% tests/ref/%.safetensors
	$(RUNNER) $< $@
.SECONDEXPANSION:
$(DEPLOY_DIR)/%.stamp: $(DEPLOY_DIR)/%.safetensors $$(firstword $$(wildcard tests/nets/$$*.net nets/$$*.net tests/torchvision/$$*.net)) $(NETC)
	$(NETC) -q --deploy $< $(if $(filter $*,$(DEPLOY_BIG)),--weights-file) --out-dir $(DEPLOY_DIR)/$* $(word 2,$^)
	@touch $@
$(DEPLOY_DIR)/%.o: $(DEPLOY_DIR)/%.stamp
	$(CC) $(DEPLOY_CFLAGS) -c $(DEPLOY_DIR)/$*/$*.c -o $@
$(BUILD)/tests/deployref_%: tests/test_deploy_ref.c $(DEPLOY_DIR)/%.o $(BUILD)/libnetcrt.a
	$(CC) $(CFLAGS) $(RT_FLAGS) -I. -Iruntime -DNET=$* -DUNET=$(shell echo $* | tr a-z A-Z) -DDEPLOY_H='"$(DEPLOY_DIR)/$*/$*.h"' \
	    -DSTATE='"$(DEPLOY_DIR)/$*.safetensors"' $(if $(filter $*,$(DEPLOY_BIG)),-DWEIGHTS_FILE='"$(DEPLOY_DIR)/$*/$*.weights"') \
	    $< $(DEPLOY_DIR)/$*.o $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka

# References: the test nets at batch 4; the shipped nets at batch 2 with sampled
# gradients and weights of Kaiming's scale, so deep gradients do not vanish
# into float32 noise (AlexNet, and tests/torchvision/squeezenet_tv.net and
# resnet18.net, through torchvision's own models; the shipped SqueezeNet, whose head differs, through
# the generic graph).
# A float32 forward can fall on the other side of a relu or max-pool kink than
# PyTorch's float64 one; deepernet's seed 1 did after the channel-major layout
# changed rounding (5e-3 below one flipped unit), seeds 2 and 3 do not.
.PHONY: refs
refs: $(NETC)
	@mkdir -p tests/ref
	for f in tests/nets/*.net; do $(TORCH_PYTHON) tools/torch_ref.py $$f || exit 1; done
	$(TORCH_PYTHON) tools/torch_ref.py nets/simplenet.net --batch 4
	$(TORCH_PYTHON) tools/torch_ref.py nets/deepernet.net --batch 4 --sample 4096 --seed 2
	$(TORCH_PYTHON) tools/torch_ref.py nets/squeezenet_ft.net --batch 2 --sample 4096 --gain 2.449 --grad-tol 2e-2
	$(TORCH_PYTHON) tools/torch_ref.py tests/torchvision/squeezenet_tv.net --batch 2 --sample 4096 --gain 2.449 --grad-tol 2e-2 --torchvision squeezenet1_0
	$(TORCH_PYTHON) tools/torch_ref.py nets/alexnet_ft.net --batch 2 --sample 4096 --gain 2.449 --torchvision alexnet
	$(TORCH_PYTHON) tools/torch_ref.py tests/torchvision/resnet18.net --batch 2 --sample 4096 --gain 2.449 --grad-metric l2 --grad-tol 5e-2 --torchvision resnet18

# --- report, checkpoint and predict tests ------------------------------------------------
# tests/report/tiny.net is compiled by bin/netc into $(BUILD)/tests/report/tiny.c and
# linked, without its main, into test_report_html, test_resume, test_predict, test_diverge,
# test_run_index, test_mpi and test_deploy: they run netc_main (train, predict) in forked
# children on a generated set of small JPEGs (test_mpi under mpirun: 2 processes over TCP;
# it says it skipped where mpirun is missing).
REPORT_GEN   := $(BUILD)/tests/report
REPORT_TESTS := $(BUILD)/tests/test_report_html $(BUILD)/tests/test_resume $(BUILD)/tests/test_predict $(BUILD)/tests/test_diverge \
                $(BUILD)/tests/test_run_index $(BUILD)/tests/test_mpi $(BUILD)/tests/test_deploy
$(REPORT_GEN)/tiny.c: tests/report/tiny.net $(NETC)
	@mkdir -p $(REPORT_GEN)
	$(NETC) $(NETC_FLAGS) -q -S --out-dir $(REPORT_GEN) $<
$(REPORT_GEN)/tiny.o: $(REPORT_GEN)/tiny.c
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -DNETC_NO_MAIN -c $< -o $@
$(REPORT_TESTS): $(BUILD)/tests/%: tests/%.c tests/report/harness.h tests/report/xml.h $(REPORT_GEN)/tiny.o $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -Iruntime -Itests $< $(REPORT_GEN)/tiny.o $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka

# report.html as a person sees it: a short real run rendered by headless Chromium
# (installed if missing), screenshot and DOM checked. Not part of `make test`.
.PHONY: report-check
report-check: all
	tools/report_check.sh

ifdef CROSS # no MPI in a cross build (see MPI above)
TESTS := $(filter-out $(BUILD)/tests/test_mpi,$(TESTS))
endif
test: all $(TESTS)
	@NETC_BIN=$(NETC) RUNNER="$(RUNNER)" tests/run_all.sh $(TESTS)

# make test-aarch64: the same tests cross-compiled for 64-bit ARM (NEON, the
# runtime's 4-float vectors) by Debian's gcc-aarch64-linux-gnu against arm64
# OpenBLAS (its OpenMP build), libjpeg and CMocka (multiarch: tools/deps.sh adds
# the architecture and installs them), in build-aarch64/, and run under
# qemu-aarch64: gradient checks, PyTorch comparisons and the rest. Correctness
# only: emulated timings mean nothing. Not part of make test or CI: about 13
# minutes on a busy 2-core machine, build included (7.5 CPU minutes).
.PHONY: test-aarch64
test-aarch64: $(NETC)
	$(MAKE) ISA=aarch64 NETC=$(NETC) RUNNER=qemu-aarch64 test

# --- sanitizers, fuzzing, valgrind ---------------------------------------------------
# make test-asan: every test program, the generated nets' included, built in
# build-asan/ with AddressSanitizer and UBSan (any report aborts the program),
# netc itself as build-asan/bin/netc. CI runs it after make test.
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
.PHONY: test-asan
test-asan:
	$(MAKE) BUILD=$(BUILD)-asan NETC=$(BUILD)-asan/bin/netc SANITIZE="$(ASAN_SAN)" test

# make fuzz: fuzz/fuzz_netc.c through clang's libFuzzer, with ASan and UBSan,
# for FUZZ_SECONDS under nice, seeded with every .net we ship or test and the
# inputs of tests/fuzz_regress/. What it learns stays in build-fuzz/corpus for
# the next run; a crash, leak, hang or UBSan report stops it and is saved as
# build-fuzz/crash-*, leak-*, timeout-* (replay: build-fuzz/fuzz_netc FILE).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_FLAGS   ?= -max_len=8192 -timeout=10 -rss_limit_mb=2048
FUZZ_SEEDS   := nets nets/ablation tests/nets tests/report tests/torchvision tests/fuzz_regress
FUZZ_RT      := $(addprefix $(BUILD)/runtime/,config.o util.o safetensors.o json.o preprocess.o weights_meta.o)
.PHONY: fuzz fuzz-build
fuzz-build:
	tools/deps.sh clang libclang-rt-14-dev
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) SANITIZE="$(ASAN_SAN) -fsanitize=fuzzer-no-link" build-fuzz/fuzz_netc build-fuzz/netc.dict
$(BUILD)/fuzz_netc: fuzz/fuzz_netc.c $(BUILD)/libnetcc.a $(FUZZ_RT)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Icompiler -Iruntime -I$(BUILD)/compiler $< $(BUILD)/libnetcc.a $(FUZZ_RT) -o $@ -lm
# the dictionary: fuzz/netc.dict, then every layer kind, option and setting from netc's tables (fuzz/dict.c)
$(BUILD)/fuzz_dict: fuzz/dict.c $(BUILD)/libnetcc.a $(FUZZ_RT)
	$(CC) $(CFLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler $< $(BUILD)/libnetcc.a $(FUZZ_RT) -o $@ -lm
$(BUILD)/netc.dict: fuzz/netc.dict $(BUILD)/fuzz_dict
	cat fuzz/netc.dict >$@.tmp && $(BUILD)/fuzz_dict >>$@.tmp && mv $@.tmp $@
fuzz: fuzz-build
	@mkdir -p build-fuzz/corpus
	nice -n 19 build-fuzz/fuzz_netc -max_total_time=$(FUZZ_SECONDS) -dict=build-fuzz/netc.dict $(FUZZ_FLAGS) \
	    -artifact_prefix=build-fuzz/ -print_final_stats=1 build-fuzz/corpus $(FUZZ_SEEDS)

# make valgrind: netc on every shipped, test and regression net, then a short
# real training run (simplenet on 4 images per class of 15-scene, plus an
# empty and a mislabelled file), a resume, test and predict, all under
# valgrind's memcheck: any error or a definite leak fails. Built in
# build-valgrind/ for AVX2 (valgrind cannot run AVX-512; OpenBLAS is told the
# same). Several minutes; not part of make test.
.PHONY: valgrind
valgrind:
	tools/deps.sh valgrind
	$(MAKE) ISA=avx2 BUILD=build-valgrind NETC=build-valgrind/bin/netc build-valgrind/bin/netc build-valgrind/libnetcrt.a
	data/get_15scene.sh
	nice -n 19 tools/valgrind.sh build-valgrind

# make deploy-check: netc --deploy beyond this machine: SimpleNet deployed and run
# for aarch64 under qemu-user (the same correct test images as on x86) and built
# for a Cortex-M7 (flash and RAM from arm-none-eabi-size); installs the cross
# compilers, qemu and arm64 libjpeg/libpng. DEPLOY_CHECK_NETS adds trained nets.
.PHONY: deploy-check
deploy-check: all
	NETC_BIN=$(NETC) tools/deploy_check.sh

# make bench-deploy: the trained SimpleNet, DeeperNet and SqueezeNet-FT (runs/<net>/) deployed,
# their batch-1 latency against PyTorch's eval on one thread; writes bench/deploy.md.
.PHONY: bench-deploy
bench-deploy: all
	NETC_BIN=$(NETC) bench/deploy

# --- the main job, the benchmark, the accuracy runs ------------------------------------
data:
	data/get_15scene.sh
	data/get_weights.sh || echo "netc: no SqueezeNet weights; nets/squeezenet_ft.net will say where to get them"

# the scripts compile with $$NETC_BIN (this ISA's netc)
run: all data
	NETC_BIN=$(NETC) tools/course.sh $(NETS)

bench: all
	NETC_BIN=$(NETC) bench/run --isa $(ISA) $(NETS)

accuracy: all data
	NETC_BIN=$(NETC) tools/course.sh
	NETC_BIN=$(NETC) tools/ablation.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/netc $(DESTDIR)$(PREFIX)/lib/netc
	install -m 755 bin/netc $(DESTDIR)$(PREFIX)/bin/netc
	install -m 644 runtime/*.h $(DESTDIR)$(PREFIX)/include/netc
	install -m 644 $(BUILD)/libnetcrt.a $(BUILD)/libnetcrt.libs $(DESTDIR)$(PREFIX)/lib/netc

clean:
	rm -rf build build-* bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
