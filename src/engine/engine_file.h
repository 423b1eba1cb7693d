/*
 * engine_file.h — what engine save and load share: the META section's version and the
 * includes both need. The container itself is file_format.h; the graph encoding is
 * serialize_graph.h.
 */
#ifndef ANVIL_ENGINE_FILE_H
#define ANVIL_ENGINE_FILE_H

#include "engine/engine_internal.h"
#include "engine/file_format.h"
#include "engine/serialize_graph.h"

/* Version of the META and PLAN section encodings (inside format version 1). */
#define ANVIL_ENGINE_META_VERSION 1u

#endif /* ANVIL_ENGINE_FILE_H */
