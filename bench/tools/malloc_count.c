/* Counts malloc() calls of a process and prints "MALLOC_CALLS n" on stderr at exit.
 *   gcc -O2 -shared -fPIC -o malloc_count.so bench/tools/malloc_count.c
 *   LD_PRELOAD=$PWD/malloc_count.so engram_loadgen
 * Two runs that differ only in FAKE_DELTAS (or TURNS) give allocations per delta (per turn). */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);
static atomic_ulong calls;

void* malloc(size_t size) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

__attribute__((destructor)) static void report(void) { fprintf(stderr, "MALLOC_CALLS %lu\n", (unsigned long)calls); }
