/* libFuzzer entry for fuzz_hresp() (fuzz/harness.h). */
#include "fuzz/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_hresp(data, size);
}
