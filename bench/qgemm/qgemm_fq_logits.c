/* emo teacher-logits over a copy of the engine whose linear layers run on the int8 grid
 * (bench/qgemm/qgemm_fakequant.h; EMO_FQ = float | w7 | a7 | s8), for bench/qgemm/qgemm-accuracy.sh.
 * The wrappers are defined before model.c is read, so its gemm calls take them (nn/gemm.h
 * is already included, its prototypes untouched); the tool's main comes after. */
#include "qgemm_fakequant.h"

#include "../../lib/model/model.c"

#include "../../tools/teacher-logits.c"
