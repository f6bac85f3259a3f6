/* libFuzzer entry for fuzz_sig() (fuzz/harness.h). */
#include "fuzz/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sig(data, size);
}
