/* Compiles the public header as strict C11 (-std=c11 -pedantic -Werror) and links it. */
#include "anvil.h"

#include <stdio.h>
#include <string.h>

int main(void) {
    if (strcmp(anvil_version(), ANVIL_VERSION_STRING) != 0) return 1;
    if (strcmp(anvil_status_string(ANVIL_STATUS_OK), "ok") != 0) return 1;
    if (anvil_dtype_size(ANVIL_DTYPE_BF16) != 2) return 1;
    printf("anvil %s (C11)\n", anvil_version());
    return 0;
}
