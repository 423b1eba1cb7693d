/*
 * backend.c — the registry of backends built into this library (backend.h). The CPU backend
 * (oneDNN + reference kernels) is always built; CUDA is reported as not built.
 */
#include "backend/backend.h"

#include "backend/cpu/cpu_internal.h"

anvil_status anvil__backend_get(anvil_backend kind, const anvil__backend **out) {
    if (!out) return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "backend_get: NULL out");
    *out = NULL;
    switch (kind) {
    case ANVIL_BACKEND_CPU:
        return anvil__cpu_backend_get(out);
    case ANVIL_BACKEND_CUDA:
        return anvil__error(ANVIL_STATUS_UNSUPPORTED,
                            "backend 'cuda' is not available: anvil was not built with CUDA");
    default:
        return anvil__error(ANVIL_STATUS_INVALID_ARGUMENT, "unknown backend %d", (int)kind);
    }
}
