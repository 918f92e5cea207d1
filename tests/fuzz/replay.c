/* tests/fuzz/replay.c — runs a fuzz target once on each file named on the command line (the seed
 * corpus and the inputs that once crashed), so ordinary builds and CI keep them as regression tests
 * without libFuzzer. Exit 0 when every input ran through. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int main(int argc, char **argv) {
    int ran = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
        size_t got = buf ? fread(buf, 1, (size_t)(n > 0 ? n : 0), f) : 0;
        fclose(f);
        if (!buf) return 1;
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        ran++;
    }
    printf("replayed %d inputs\n", ran);
    return ran > 0 ? 0 : 1;
}
