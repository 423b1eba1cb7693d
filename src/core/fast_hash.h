/*
 * fast_hash.h — XXH3 for anvil's content hashes and checksums. On x86-64 libxxhash's runtime
 * dispatch is used (AVX2 / AVX-512 where the CPU has them: about twice as fast as the baseline
 * SSE2 build on large weights); the values are the same on every path.
 */
#ifndef ANVIL_FAST_HASH_H
#define ANVIL_FAST_HASH_H

#include <xxhash.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <xxh_x86dispatch.h> /* replaces XXH3_64bits & co. with their dispatching versions */
#endif

#endif /* ANVIL_FAST_HASH_H */
