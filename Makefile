# Build the softmax_c C library without Python or NumPy.
#
#   make lib       build/c/libsoftmax_c.a and build/c/libsoftmax_c.so
#   make example   also the example programs in build/c/
#   make check     build everything and run the examples (exit 0 = pass)
#   make clean     remove build/c/
#
# Flags are the ones setup.py gives the Python extension, so the library
# holds the same code as a wheel: every file with the common flags, and on
# x86-64 one extra object per ISA variant with that variant's flags only
# (the rest stays baseline, so the library runs on any x86-64 CPU and picks
# the fastest variant at run time).  Override CC, BUILD or EXTRA_CFLAGS on
# the command line, e.g. `make lib CC=clang`.

CC ?= cc
BUILD ?= build/c
EXTRA_CFLAGS ?=

COMMON_FLAGS := -O3 -std=c11 -ffp-contract=off -fno-strict-aliasing -fPIC
CPPFLAGS := -Isrc/include -Isrc
LIBS := -lm -lpthread

# Is the compiler's target x86-64?  (Asks the compiler, not the host, so a
# cross compiler gets the right variant list.)
TARGET := $(shell $(CC) -dumpmachine 2>/dev/null)
ifneq ($(filter x86_64% amd64%,$(TARGET)),)
ISA_OBJECTS := $(BUILD)/obj/kernels_avx2.o $(BUILD)/obj/kernels_avx512.o
endif

CORE_SOURCES := $(sort $(wildcard src/core/*.c))
BASE_OBJECTS := $(patsubst src/core/%.c,$(BUILD)/obj/%.o,$(CORE_SOURCES)) \
                $(BUILD)/obj/kernels.o
OBJECTS := $(BASE_OBJECTS) $(ISA_OBJECTS)
HEADERS := $(wildcard src/include/*.h src/core/*.h src/simd/*.h src/kernels/*.h) \
           src/kernels/kernels.c

STATIC_LIB := $(BUILD)/libsoftmax_c.a
SHARED_LIB := $(BUILD)/libsoftmax_c.so
EXAMPLES := $(BUILD)/softmax_example $(BUILD)/softmax_example_shared $(BUILD)/api_errors

.PHONY: all lib example check clean
all: lib
lib: $(STATIC_LIB) $(SHARED_LIB)
example: $(EXAMPLES)

# Object rules: baseline flags for everything, ISA flags on their own objects.
$(BUILD)/obj/%.o: src/core/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(COMMON_FLAGS) $(EXTRA_CFLAGS) $(CPPFLAGS) -c $< -o $@
$(BUILD)/obj/kernels.o: src/kernels/kernels.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(COMMON_FLAGS) $(EXTRA_CFLAGS) $(CPPFLAGS) -c $< -o $@
$(BUILD)/obj/kernels_avx2.o: src/kernels/kernels_avx2.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(COMMON_FLAGS) -mavx2 -mfma $(EXTRA_CFLAGS) $(CPPFLAGS) -c $< -o $@
$(BUILD)/obj/kernels_avx512.o: src/kernels/kernels_avx512.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(COMMON_FLAGS) -mavx512f -mfma $(EXTRA_CFLAGS) $(CPPFLAGS) -c $< -o $@

$(STATIC_LIB): $(OBJECTS)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED_LIB): $(OBJECTS)
	$(CC) -shared -o $@ $^ $(LIBS)

# Examples use only the public header: -Isrc/include, as a user would.
$(BUILD)/softmax_example: examples/softmax_example.c $(STATIC_LIB)
	$(CC) -O2 -std=c11 $(EXTRA_CFLAGS) -Isrc/include $< $(STATIC_LIB) $(LIBS) -o $@
$(BUILD)/api_errors: examples/api_errors.c $(STATIC_LIB)
	$(CC) -O2 -std=c11 $(EXTRA_CFLAGS) -Isrc/include $< $(STATIC_LIB) $(LIBS) -o $@
# The same example linked against the shared library (found via rpath).
$(BUILD)/softmax_example_shared: examples/softmax_example.c $(SHARED_LIB)
	$(CC) -O2 -std=c11 $(EXTRA_CFLAGS) -Isrc/include $< -L$(BUILD) -lsoftmax_c \
	    -Wl,-rpath,'$$ORIGIN' $(LIBS) -o $@

check: $(EXAMPLES)
	$(BUILD)/softmax_example
	$(BUILD)/softmax_example_shared
	$(BUILD)/api_errors

clean:
	rm -rf $(BUILD)
