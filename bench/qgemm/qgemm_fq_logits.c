/* emo teacher-logits over a copy of the engine whose linear layers run on the int8 grid
 * (bench/qgemm/qgemm_fakequant.h; EMO_FQ = float | w7 | a7 | s8), for bench/qgemm/qgemm-accuracy.sh.
 * The wrappers are defined before the engine's files are read, so their gemm calls take
 * them (nn/gemm.h is already included, its prototypes untouched); the tool's main comes
 * after.  The packed GEMM calls are in model_infer.c; the engine's other files come too, so
 * that none of its objects is taken from the library. */
#include "qgemm_fakequant.h"

#include "../../lib/model/model.c"
#include "../../lib/model/model_act.c"
#include "../../lib/model/model_infer.c"
#include "../../lib/model/model_mlm.c"

#include "../../tools/teacher-logits.c"
