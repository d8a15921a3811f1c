/* Shared by the libFuzzer targets (one tests/fuzz/fuzz_<name>.c each, built by
 * `make fuzz` with clang -fsanitize=fuzzer,address,undefined) and by their replay driver
 * (replay.c, built by gcc for `make check`, which runs every target over its committed
 * seeds and reproducers in tests/fuzz/corpus/<name>/).  A target must not exit, leak or
 * keep state between inputs beyond what LLVMFuzzerInitialize sets up. */
#ifndef EMO_FUZZ_H
#define EMO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a file for readers that open a path: an anonymous memory file, named
 * through /proc.  Returns its descriptor (close it after) and the name in path. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = (int)syscall(SYS_memfd_create, "fuzz", 1u /* MFD_CLOEXEC */);
    if (fd < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
