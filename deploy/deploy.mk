# Builds predict, the command line over $NET.c (written by netc --deploy from netc's deploy/deploy.mk).
#
#   make                predict, for this machine (needs libjpeg and libpng: Debian's libjpeg62-turbo-dev, libpng-dev)
#   make THREADS=4      on 4 threads (OpenMP)
#   make CC=aarch64-linux-gnu-gcc CFLAGS=-O3 LDFLAGS=-static   for another machine
#
# $NET.c itself needs nothing but a C99 compiler and libm: add it (and $NET.h) to your own build.
CC      ?= cc
CFLAGS  ?= -O3 -march=native
LDFLAGS ?=
THREADS ?= 1
WARN    := -std=c99 -Wall -Wextra -pedantic
OPENMP  := $(if $(filter-out 1,$(THREADS)),-fopenmp -D$UNET_THREADS=$(THREADS))

predict: predict.c $NET.c $NET.h
	$(CC) $(WARN) $(CFLAGS) $(OPENMP) predict.c $NET.c -o $@ $(LDFLAGS) -ljpeg -lpng -lz -lm

# $NET.c alone, as a library object (no libjpeg, no libpng)
$NET.o: $NET.c $NET.h
	$(CC) $(WARN) $(CFLAGS) $(OPENMP) -c $NET.c -o $@

clean:
	rm -f predict $NET.o

.PHONY: clean
