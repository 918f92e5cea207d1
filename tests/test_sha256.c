/* tests/test_sha256.c — SHA-256 against the NIST example vectors, padding boundaries (lengths
 * 55/56/63/64/65/119/120, values from Python's hashlib), and streaming in odd chunks = one shot. */
#include <stdlib.h>

#include "../datasets/sha256.h"
#include "check.h"

static void hex(const uint8_t d[32], char out[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[64] = 0;
}

/* Hashes `n` bytes of `p` fed in chunks of the given sizes, cycling through them. */
static void chunked(const char *p, size_t n, const size_t *sizes, int nsizes, char out[65]) {
    mb_sha256 s;
    uint8_t d[32];
    mb_sha256_init(&s);
    for (size_t off = 0, k = 0; off < n; k++) {
        size_t c = sizes[k % (size_t)nsizes];
        if (c > n - off) c = n - off;
        mb_sha256_update(&s, p + off, c);
        off += c;
    }
    mb_sha256_update(&s, NULL, 0); /* an empty update changes nothing */
    mb_sha256_final(&s, d);
    hex(d, out);
}

int main(void) {
    static const struct {
        const char *text, *hex;
    } vec[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
         "klmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char got[65];
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        mb_sha256_hex(vec[i].text, got);
        CHECK_STR(got, vec[i].hex);
    }

    /* Lengths around the padding boundary: 55 fits the length in the same block, 56..63 do not. */
    static const struct {
        size_t n;
        const char *hex;
    } edge[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char as[121];
    memset(as, 'a', 120);
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        as[edge[i].n] = 0;
        mb_sha256_hex(as, got);
        CHECK(!strcmp(got, edge[i].hex), "%zu x 'a': got %s, expected %s", edge[i].n, got,
              edge[i].hex);
        as[edge[i].n] = 'a';
    }

    /* One million 'a': one shot, and streamed in odd chunk sizes that straddle block edges. */
    const size_t million = 1000000;
    char *m = malloc(million + 1);
    CHECK(m != NULL, "malloc");
    if (!m) return 1;
    memset(m, 'a', million);
    m[million] = 0;
    const char *mhex = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    mb_sha256_hex(m, got);
    CHECK_STR(got, mhex);
    static const size_t odd[] = {1, 63, 7, 64, 129, 3, 1000, 55, 56, 17};
    chunked(m, million, odd, (int)(sizeof odd / sizeof odd[0]), got);
    CHECK_STR(got, mhex);
    static const size_t one[] = {1};
    chunked(m, million, one, 1, got);
    CHECK_STR(got, mhex);

    /* Streaming equals one shot on varied data, for every split point of a 200-byte input. */
    char text[201];
    for (int i = 0; i < 200; i++) text[i] = (char)(' ' + (i * 37 + i / 7) % 95);
    text[200] = 0;
    char whole[65];
    mb_sha256_hex(text, whole);
    for (size_t cut = 0; cut <= 200; cut++) {
        size_t sizes[2] = {cut ? cut : 200, 200};
        chunked(text, 200, sizes, 2, got);
        CHECK(!strcmp(got, whole), "split at %zu: %s != %s", cut, got, whole);
    }
    free(m);
    CHECK_DONE();
}
