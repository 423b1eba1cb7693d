// Compiles the public header as C++ (-pedantic -Werror) and links it: extern "C" works.
#include "anvil.h"

#include <cstdio>
#include <cstring>

int main() {
    anvil_model *model = nullptr;
    anvil_status s = anvil_model_load("/nonexistent/model.onnx", &model);
    if (s == ANVIL_OK || model != nullptr) return 1;
    if (std::strlen(anvil_last_error()) == 0) return 1;
    anvil_model_destroy(nullptr);
    std::printf("anvil %s (C++)\n", anvil_version());
    return 0;
}
