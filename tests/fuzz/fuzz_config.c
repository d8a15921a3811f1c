/* config.json parsing and the checks on the configuration it gives. */
#include <string.h>

#include "fuzz.h"
#include "model/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *json = malloc(size ? size : 1);
    memcpy(json, data, size);
    model_config c;
    char err[512];
    if (model_config_parse(&c, json, size, "fuzz", err, sizeof err) == 0)
        model_config_check(&c, err, sizeof err);
    free(json);
    return 0;
}
