/* tests/test_hf_forward.c — `membench forward` prints what the engine computes: the loss, the last
 * position's logits and a Conv1D gradient in the checkpoint's [in, out] layout, each equal (as
 * %.17g text) to an in-process forward and backward on a GPT checkpoint folder; bad token ids and
 * unknown gradient names are refused with exact messages. argv[1]: the membench binary. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/models/hf.h"
#include "check.h"
#include "proc.h"

static char root[] = "/tmp/mbhff.XXXXXX";

/* Appends "%.17g" of each of v[0..n) after `head` into buf: the text the JSON must contain. */
static const char *numbers(char *buf, size_t cap, const char *head, const double *v, int n) {
    size_t k = (size_t)snprintf(buf, cap, "%s", head);
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%.17g", i ? "," : "", v[i]);
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 2) return 1;
    if (!mkdtemp(root)) return 1;
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    char p[400], cmd[1200], want[2048];
    snprintf(p, sizeof p, "%s/config.json", root);
    CHECK(!write_whole(p,
                       "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
                       "\"n_positions\": 32, \"vocab_size\": 256}"),
          "config");
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 9));
    snprintf(p, sizeof p, "%s/model.safetensors", root);
    CHECK_OK(&ctx, mb_model_save(&ctx, &m, p));
    snprintf(p, sizeof p, "%s/tokens.txt", root);
    CHECK(!write_whole(p, "5 17 200 3 3 9 81 0 255\n\n  1 2 3 4 5 6 7 8 9  \n"), "tokens");

    snprintf(cmd, sizeof cmd,
             "%s forward %s --tokens tokens.txt --grads transformer.h.0.attn.c_attn.weight,"
             "ln_f.bias --out out.json",
             argv[1], root);
    out o = run_capture(root, root, cmd);
    CHECK(o.rc == 0, "exit %d: %s", o.rc, o.se);
    drop(&o);
    snprintf(p, sizeof p, "%s/out.json", root);
    char *js = slurp(p);
    CHECK(js != NULL, "no out.json");
    if (!js) return 1;

    /* the same in process: logits, then loss and gradients */
    const int B = 2, T = 8;
    int32_t x[16] = {5, 17, 200, 3, 3, 9, 81, 0, 1, 2, 3, 4, 5, 6, 7, 8},
            y[16] = {17, 200, 3, 3, 9, 81, 0, 255, 2, 3, 4, 5, 6, 7, 8, 9};
    double z[256], loss;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, NULL, B, T, NULL));
    CHECK(strstr(js, "{\"B\":2,\"T\":8,\"vocab\":256,\"last_logits\":[[") == js, "head: %.80s", js);
    CHECK_OK(&ctx, m.fam->logits_row(&ctx, &m, T - 1, z));
    CHECK(strstr(js, numbers(want, sizeof want, "\"last_logits\":[[", z, 256)), "row 0's logits");
    CHECK_OK(&ctx, m.fam->logits_row(&ctx, &m, 2 * T - 1, z));
    CHECK(strstr(js, numbers(want, sizeof want, "],[", z, 256)), "row 1's logits");
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B, T, &loss));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    CHECK(strstr(js, numbers(want, sizeof want, "\"loss\":", &loss, 1)), "loss %.17g", loss);
    mb_param *w = mb_hf_param_of(&m, "h.0.attn.c_attn.weight");
    double *g = malloc(w->numel * sizeof *g), t[4];
    CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, w->id, g));
    for (int c = 0; c < 4; c++)
        t[c] = g[(size_t)c * 64]; /* [in, out] row 0: column 0 of [out, in] */
    CHECK(strstr(js, numbers(want, sizeof want,
                             "\"transformer.h.0.attn.c_attn.weight\":{\"shape\":[64,192],"
                             "\"values\":[",
                             t, 4)),
          "c_attn gradient, transposed");
    free(g);
    CHECK(strstr(js, "\"ln_f.bias\":{\"shape\":[64],\"values\":[") != NULL, "ln_f.bias gradient");
    free(js);

    /* refusals */
    snprintf(p, sizeof p, "%s/bad.txt", root);
    CHECK(!write_whole(p, "1 2 3\n4 300 6\n"), "bad tokens");
    snprintf(cmd, sizeof cmd, "%s forward %s --tokens bad.txt", argv[1], root);
    o = run_capture(root, root, cmd);
    snprintf(want, sizeof want,
             "membench forward: bad.txt:2: expected token ids in [0, 256), got '300'\n");
    CHECK(o.rc == 2, "exit %d", o.rc);
    CHECK_STR(o.se, want);
    drop(&o);
    CHECK(!write_whole(p, "1 2 3\n4 5\n"), "ragged tokens");
    o = run_capture(root, root, cmd);
    CHECK_STR(o.se, "membench forward: bad.txt:2: expected 3 token ids like the first row (at "
                    "least 2), got 2\n");
    drop(&o);
    snprintf(cmd, sizeof cmd, "%s forward %s --tokens tokens.txt --grads nope", argv[1], root);
    o = run_capture(root, root, cmd);
    CHECK(o.rc == 2, "exit %d", o.rc);
    CHECK_STR(o.se, "membench forward: --grads: 'nope' is not a parameter of this GPT\n");
    drop(&o);

    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (mb_check_failures == 0 && system(cmd) != 0) return 1;
    CHECK_DONE();
}
