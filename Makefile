# netc: a compiler for convolutional networks.
#
#   make            build bin/netc and the training runtime (installs Debian packages it lacks)
#   make run        the main job: train nets/simplenet.net on 15-scene (NET=nets/other.net)
#   make test       the CMocka suite (and the gradient and PyTorch checks)
#   make install    netc on PATH (PREFIX=/usr/local)

PREFIX  ?= /usr/local
CC      ?= cc
BUILD   := build
NET     ?= nets/simplenet.net

# OpenMP owns the threads. We link OpenBLAS's OpenMP build, so a sgemm called
# inside a parallel region runs on its caller's thread, and one called outside
# runs on the same OpenMP pool: never two thread pools fighting for 2 cores.
BLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
BLAS_LIB := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas

DEB_PACKAGES := gcc make flex bison pkg-config libopenblas-openmp-dev libjpeg62-turbo-dev libcmocka-dev

WARN     := -Wall -Wextra -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -MMD -MP
RT_FLAGS := -O3 -march=native -fopenmp -fno-math-errno -I/usr/include/x86_64-linux-gnu/openblas-openmp
LDLIBS   := $(BLAS_LIB) -ljpeg -lm

RT_SRC   := $(filter-out runtime/trainer_main.c,$(wildcard runtime/*.c))
RT_OBJ   := $(RT_SRC:%.c=$(BUILD)/%.o)
CC_SRC   := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
CC_OBJ   := $(CC_SRC:%.c=$(BUILD)/%.o) $(BUILD)/compiler/lexer.o $(BUILD)/compiler/parser.o

.PHONY: all deps run test install clean
all: deps bin/netc $(BUILD)/libnetcrt.a

deps: $(BUILD)/.deps
$(BUILD)/.deps: tools/deps.sh
	@mkdir -p $(BUILD)
	tools/deps.sh $(DEB_PACKAGES)
	@touch $@

# --- runtime: one static library every trainer links -------------------------
$(BUILD)/runtime/%.o: runtime/%.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -c $< -o $@

$(BUILD)/libnetcrt.a: $(RT_OBJ)
	ar rcs $@ $^

# --- compiler ------------------------------------------------------------------
$(BUILD)/compiler/parser.c $(BUILD)/compiler/parser.h: compiler/parser.y | $(BUILD)/.deps
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
	$(CC) $(CFLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler -DNETC_HOME='"$(CURDIR)"' -c $< -o $@

$(BUILD)/libnetcc.a: $(CC_OBJ)
	ar rcs $@ $^

bin/netc: $(BUILD)/compiler/main.o $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p bin
	$(CC) $(CFLAGS) -fopenmp $^ -o $@ $(LDLIBS)

# --- tests: every tests/test_*.c is one CMocka program ---------------------------
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

$(BUILD)/tests/%: tests/%.c $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RT_FLAGS) -Icompiler -Iruntime -I$(BUILD)/compiler -Itests $< \
	    $(filter-out tests/%.c,$(filter %.c,$^)) $(BUILD)/libnetcc.a $(BUILD)/libnetcrt.a -o $@ $(LDLIBS) -lcmocka

test: all $(TESTS)
	@tests/run_all.sh $(TESTS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 bin/netc $(DESTDIR)$(PREFIX)/bin/netc

clean:
	rm -rf $(BUILD) bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
