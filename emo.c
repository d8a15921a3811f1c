/* emo: runs "emo NAME ARGS..." as "emo-NAME ARGS...", looking first beside its own
 * executable, then on PATH, with OPENBLAS_CORETYPE set to SkylakeX on an AVX-512 CPU when
 * it is unset.  "emo --help" lists the tools it can find. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cli.h"
#include "util/util.h"

static const struct { const char *name, *what; } known[] = {
    { "predict",         "classify new text with a trained checkpoint (lines, CSV, JSONL)" },
    { "clean",           "read corpora (CSV, TSV, text;label) into {id,text,label} records" },
    { "tokenize",        "BERT WordPiece (or SentencePiece) token ids" },
    { "split",           "stratified train/val/test split" },
    { "augment",         "paraphrase minority-class training records with a command" },
    { "pretrain",        "masked-LM pretraining on unlabelled token records" },
    { "teacher-train",   "fine-tune or train the teacher (focal loss, AdamW)" },
    { "teacher-logits",  "run a checkpoint: logits, embeddings, shard cache" },
    { "student-distill", "distil a DistilBERT/ALBERT student from the teacher" },
    { "eval",            "accuracy, classification report, PR curves, length analysis" },
    { "confusion",       "confusion matrix and most-confused pairs" },
    { "tsne",            "Barnes-Hut t-SNE of embeddings" },
    { "cache",           "verify a teacher shard cache, or fetch targets by id" },
    { "ckpt",            "inspect, initialise or convert checkpoints (HF layout)" },
    { "pack",            "JSON Lines to a record stream" },
    { "dump",            "a record stream to JSON Lines" },
};

static char selfdir[PATH_MAX];

static int is_exec(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* OpenBLAS picks its kernels by CPU model, and 0.3.21 (Debian 12) does not know the newer
 * Intel ones (family 6 model 207): it falls back to a kernel about half as fast as its
 * AVX-512 sgemm.  So where OPENBLAS_CORETYPE is unset and the CPU, and the OS (libgcc's
 * check includes XCR0), have AVX-512 F, BW, DQ and VL, the tool gets SkylakeX.  A value
 * already set, even empty, is kept. */
static void openblas_coretype(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (getenv("OPENBLAS_CORETYPE"))
        return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
#endif
}

static const cli_help help = { NULL, "usage: emo [--help | --version] TOOL [ARG...]\n", "" };

static void usage(FILE *f)
{
    fprintf(f, "%s\nRuns emo-TOOL.  Tools:\n", help.usage);
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof p, "%s/emo-%s", selfdir, known[i].name);
        int here = is_exec(p);
        fprintf(f, "  %-16s %s%s\n", known[i].name, known[i].what, here ? "" : " (not installed)");
    }
    fprintf(f, "\nOptions:\n"
               "  -h, --help              print this help and exit\n"
               "      --version           print the version and exit\n"
               "\nSee emo(1), emo(7) for the pipeline and emo-records(5) for the stream format.\n");
}

int main(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        snprintf(selfdir, sizeof selfdir, "%s", dirname(self));
    } else {
        snprintf(selfdir, sizeof selfdir, "%s", EMO_LIBEXEC);
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        out_close();
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        cli_version(&help);
    if (argv[1][0] == '-' || strchr(argv[1], '/')) {
        warnx("unknown option or tool name '%s'", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    char tool[PATH_MAX + 64];
    snprintf(tool, sizeof tool, "emo-%s", argv[1]);
    char path[PATH_MAX * 3];
    snprintf(path, sizeof path, "%s/%s", selfdir, tool);
    argv[1] = tool;
    openblas_coretype();
    if (is_exec(path))
        execv(path, argv + 1);
    execvp(tool, argv + 1);
    if (errno == ENOENT)
        errx(EXIT_USAGE, "no such tool '%s' (emo --help lists them)", tool + 4);
    err(EXIT_DATA, "%s", tool);
}
