/* Counts heap allocations of a process (malloc, calloc, realloc, aligned_alloc, posix_memalign,
 * memalign: operator new and Asio's aligned frames end in one of them) and prints
 * "MALLOC_CALLS n" on stderr at exit.
 *   gcc -O2 -shared -fPIC -o malloc_count.so bench/tools/malloc_count.c
 *   LD_PRELOAD=$PWD/malloc_count.so engram_loadgen
 * Two runs that differ only in FAKE_DELTAS (or TURNS) give allocations per delta (per turn). */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
static atomic_ulong calls;

static void count(void) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); }

void* malloc(size_t size) { count(); return __libc_malloc(size); }
void* calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void* realloc(void* p, size_t size) { count(); return __libc_realloc(p, size); }
void* memalign(size_t align, size_t size) { count(); return __libc_memalign(align, size); }
void* aligned_alloc(size_t align, size_t size) { count(); return __libc_memalign(align, size); }
int posix_memalign(void** out, size_t align, size_t size) {
    count();
    void* p = __libc_memalign(align, size);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

__attribute__((destructor)) static void report(void) { fprintf(stderr, "MALLOC_CALLS %lu\n", (unsigned long)calls); }
