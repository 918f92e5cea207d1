/* engine/models/hf_config.c — a Hugging Face config.json into a model shape: GPT2Config and
 * LlamaConfig keys, the family from model_type or architectures, and every setting membench does
 * not implement refused by name (rope_scaling, biases, other activations, other epsilons). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../file.h"
#include "../jsonstr.h"
#include "hf.h"

typedef enum vkind { V_NUM, V_STR, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR } vkind;

/* A top-level member; for architectures (an array) str is its first element when a string. */
typedef struct member {
    char *key;
    vkind kind;
    double num;
    char *str;
} member;

typedef struct cfgp {
    mb_ctx *ctx;
    const char *file;
    member *m;
    size_t n;
} cfgp;

static void members_free(cfgp *p) {
    for (size_t k = 0; k < p->n; k++) {
        free(p->m[k].key);
        free(p->m[k].str);
    }
    free(p->m);
}

static const member *get(const cfgp *p, const char *key) {
    for (size_t k = 0; k < p->n; k++)
        if (!strcmp(p->m[k].key, key)) return &p->m[k];
    return NULL;
}

/* What a value is, for "got ..." in messages. */
static const char *got(const member *v, char *buf, size_t cap) {
    static const char *const kinds[] = {"",     "a string",  "true",    "false",
                                        "null", "an object", "an array"};
    if (v->kind == V_NUM)
        snprintf(buf, cap, "%.17g", v->num);
    else
        snprintf(buf, cap, "%s", kinds[v->kind]);
    return buf;
}

static mb_status json_fail(cfgp *p, size_t at, const char *why) {
    return mb_error(p->ctx, MB_EFORMAT, "%s: bad JSON at byte %zu: %s", p->file, at, why);
}

/* One value at s[*i] into v. */
static mb_status read_value(cfgp *p, const unsigned char *s, size_t n, size_t *i, member *v) {
    const char *why;
    unsigned c = *i < n ? s[*i] : 0;
    if (c == '"') {
        (*i)++;
        v->kind = V_STR;
        if (mb_json_str_dup(s, n, i, &v->str, &why)) return json_fail(p, *i, why);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        v->kind = V_NUM;
        if (mb_json_number(s, n, i, &v->num, &why)) return json_fail(p, *i, why);
    } else if (c == '[' && !strcmp(v->key, "architectures")) {
        v->kind = V_ARR;
        int count = 0, r;
        while ((r = mb_json_element(s, n, i, &count, &why)) == 1) {
            if (count == 1 && *i < n && s[*i] == '"') {
                (*i)++;
                if (mb_json_str_dup(s, n, i, &v->str, &why)) return json_fail(p, *i, why);
            } else if (mb_json_skip(s, n, i, &why)) {
                return json_fail(p, *i, why);
            }
        }
        if (r < 0) return json_fail(p, *i, why);
    } else {
        static const char *const lit[] = {"true", "false", "null"};
        static const vkind lk[] = {V_TRUE, V_FALSE, V_NULL};
        v->kind = c == '{' ? V_OBJ : V_ARR;
        for (int k = 0; k < 3; k++)
            if (n - *i >= strlen(lit[k]) && !memcmp(s + *i, lit[k], strlen(lit[k])))
                v->kind = lk[k];
        if (mb_json_skip(s, n, i, &why)) return json_fail(p, *i, why);
    }
    return MB_OK;
}

static mb_status read_members(cfgp *p, const unsigned char *s, size_t n) {
    size_t i = 0, cap = 0;
    int count = 0;
    const char *why;
    for (;;) {
        char *key;
        int r = mb_json_member(s, n, &i, &count, &key, &why);
        if (r < 0) return json_fail(p, i, why);
        if (!r) break;
        if (get(p, key)) {
            mb_status st =
                mb_error(p->ctx, MB_EFORMAT, "%s: \"%.80s\" is given twice", p->file, key);
            free(key);
            return st;
        }
        if (p->n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            member *g = realloc(p->m, nc * sizeof *g);
            if (!g) {
                free(key);
                return mb_error(p->ctx, MB_ENOMEM, "%s: out of memory", p->file);
            }
            p->m = g;
            cap = nc;
        }
        p->m[p->n] = (member){.key = key};
        MB_TRY(read_value(p, s, n, &i, &p->m[p->n++]));
    }
    mb_json_ws(s, n, &i);
    if (i < n) return json_fail(p, i, "text after the object");
    return MB_OK;
}

/* An integer key in [lo, hi]; absent (or null): dflt, or missing when dflt < 0 (`need` lists what
 * the family's config gives). */
static mb_status get_int(cfgp *p, const char *key, int lo, int hi, int dflt, const char *need,
                         int *out) {
    const member *v = get(p, key);
    char b[48];
    if (!v || v->kind == V_NULL) {
        if (dflt < 0)
            return mb_error(p->ctx, MB_EFORMAT, "%s: \"%s\" is missing (%s)", p->file, key, need);
        *out = dflt;
        return MB_OK;
    }
    if (v->kind != V_NUM || v->num != floor(v->num) || v->num < lo || v->num > hi)
        return mb_error(p->ctx, MB_EFORMAT,
                        "%s: \"%s\" must be a whole number from %d to %d, got %s", p->file, key, lo,
                        hi, got(v, b, sizeof b));
    *out = (int)v->num;
    return MB_OK;
}

/* A positive number; absent (or null): dflt. */
static mb_status get_pos(cfgp *p, const char *key, double dflt, double *out) {
    const member *v = get(p, key);
    char b[48];
    if (!v || v->kind == V_NULL) {
        *out = dflt;
        return MB_OK;
    }
    if (v->kind != V_NUM || !(v->num > 0))
        return mb_error(p->ctx, MB_EFORMAT, "%s: \"%s\" must be a number above 0, got %s", p->file,
                        key, got(v, b, sizeof b));
    *out = v->num;
    return MB_OK;
}

/* A boolean key (absent or null: dflt) that must be `want` here: `why` says what membench does. */
static mb_status need_bool(cfgp *p, const char *key, int dflt, int want, const char *why) {
    const member *v = get(p, key);
    char b[48];
    int val = dflt;
    if (v && v->kind != V_NULL) {
        if (v->kind != V_TRUE && v->kind != V_FALSE)
            return mb_error(p->ctx, MB_EFORMAT, "%s: \"%s\" must be true or false, got %s", p->file,
                            key, got(v, b, sizeof b));
        val = v->kind == V_TRUE;
    }
    if (val == want) return MB_OK;
    return mb_error(p->ctx, MB_EUNSUPPORTED, "%s: \"%s\": %s is not supported: %s (%s expected)",
                    p->file, key, val ? "true" : "false", why, want ? "true" : "false");
}

/* A string key (absent or null: accepted) that must be one of ok[0], ok[1] (ok[1] may be NULL). */
static mb_status need_str(cfgp *p, const char *key, const char *const ok[2], const char *why) {
    const member *v = get(p, key);
    char b[48];
    if (!v || v->kind == V_NULL) return MB_OK;
    if (v->kind != V_STR)
        return mb_error(p->ctx, MB_EFORMAT, "%s: \"%s\" must be a string, got %s", p->file, key,
                        got(v, b, sizeof b));
    if (!strcmp(v->str, ok[0]) || (ok[1] && !strcmp(v->str, ok[1]))) return MB_OK;
    return mb_error(p->ctx, MB_EUNSUPPORTED,
                    "%s: \"%s\" \"%.60s\" is not supported: %s (\"%s\" expected)", p->file, key,
                    v->str, why, ok[0]);
}

static mb_status gpt_config(cfgp *p, mb_model_config *c) {
    static const char need[] =
        "a GPT-2 config gives n_embd, n_layer, n_head, n_positions and vocab_size";
    static const char *const gelu[2] = {"gelu_new", "gelu_pytorch_tanh"};
    c->arch = MB_ARCH_GPT;
    MB_TRY(get_int(p, "n_embd", 1, 65536, -1, need, &c->d_model));
    MB_TRY(get_int(p, "n_layer", 1, 1024, -1, need, &c->layers));
    MB_TRY(get_int(p, "n_head", 1, 1024, -1, need, &c->heads));
    int ctx_len = -1;
    MB_TRY(get_int(p, "n_ctx", 1, 1 << 20, 0, need, &ctx_len)); /* older configs' name for it */
    MB_TRY(get_int(p, "n_positions", 1, 1 << 20, ctx_len ? ctx_len : -1, need, &c->seq_len));
    MB_TRY(get_int(p, "vocab_size", 1, 1 << 24, -1, need, &c->vocab));
    double eps;
    MB_TRY(get_pos(p, "layer_norm_epsilon", 1e-5, &eps));
    if (eps != 1e-5)
        return mb_error(p->ctx, MB_EUNSUPPORTED,
                        "%s: \"layer_norm_epsilon\" %g is not supported: membench's GPT-2 "
                        "LayerNorm uses 1e-05",
                        p->file, eps);
    int inner = 0;
    MB_TRY(get_int(p, "n_inner", 1, 1 << 22, 0, need, &inner));
    if (inner && inner != 4 * c->d_model)
        return mb_error(p->ctx, MB_EUNSUPPORTED,
                        "%s: \"n_inner\" %d is not supported: membench's GPT-2 MLP is 4 x n_embd "
                        "= %d wide (null expected)",
                        p->file, inner, 4 * c->d_model);
    MB_TRY(need_str(p, "activation_function", gelu, "membench's GPT-2 MLP uses the tanh GELU"));
    MB_TRY(
        need_bool(p, "tie_word_embeddings", 1, 1, "membench's GPT-2 head is the token embedding"));
    MB_TRY(need_bool(p, "scale_attn_weights", 1, 1,
                     "membench scales attention scores by 1/sqrt(head size)"));
    MB_TRY(need_bool(p, "scale_attn_by_inverse_layer_idx", 0, 0,
                     "membench does not scale attention by the layer index"));
    MB_TRY(need_bool(p, "add_cross_attention", 0, 0, "membench's GPT-2 has no cross-attention"));
    c->tie = 1;
    return MB_OK;
}

static mb_status llama_config(cfgp *p, mb_model_config *c) {
    static const char need[] = "a LLaMA config gives hidden_size, num_hidden_layers, "
                               "num_attention_heads, intermediate_size, max_position_embeddings "
                               "and vocab_size";
    static const char *const silu[2] = {"silu", NULL};
    char b[48];
    c->arch = MB_ARCH_LLAMA;
    MB_TRY(get_int(p, "hidden_size", 1, 65536, -1, need, &c->d_model));
    MB_TRY(get_int(p, "num_hidden_layers", 1, 1024, -1, need, &c->layers));
    MB_TRY(get_int(p, "num_attention_heads", 1, 1024, -1, need, &c->heads));
    MB_TRY(get_int(p, "num_key_value_heads", 1, 1024, c->heads, need, &c->kv_heads));
    MB_TRY(get_int(p, "intermediate_size", 1, 1 << 20, -1, need, &c->d_ff));
    MB_TRY(get_int(p, "max_position_embeddings", 1, 1 << 20, -1, need, &c->seq_len));
    MB_TRY(get_int(p, "vocab_size", 1, 1 << 24, -1, need, &c->vocab));
    MB_TRY(get_pos(p, "rms_norm_eps", 1e-6, &c->norm_eps));
    MB_TRY(get_pos(p, "rope_theta", 10000.0, &c->rope_theta));
    const member *v = get(p, "rope_scaling");
    if (v && v->kind != V_NULL)
        return mb_error(p->ctx, MB_EUNSUPPORTED,
                        "%s: \"rope_scaling\" is not supported: membench's rotary embedding has no "
                        "scaling (null expected, got %s)",
                        p->file, got(v, b, sizeof b));
    int hd = 0;
    MB_TRY(get_int(p, "head_dim", 1, 65536, 0, need, &hd));
    if (hd && hd * c->heads != c->d_model)
        return mb_error(p->ctx, MB_EUNSUPPORTED,
                        "%s: \"head_dim\" %d is not supported: membench's head size is "
                        "hidden_size / num_attention_heads = %d / %d",
                        p->file, hd, c->d_model, c->heads);
    MB_TRY(need_str(p, "hidden_act", silu, "membench's LLaMA MLP is SwiGLU"));
    MB_TRY(need_bool(p, "attention_bias", 0, 0, "membench's LLaMA attention has no biases"));
    MB_TRY(need_bool(p, "mlp_bias", 0, 0, "membench's LLaMA MLP has no biases"));
    int tie = 0;
    v = get(p, "tie_word_embeddings");
    if (v && v->kind != V_NULL && v->kind != V_TRUE && v->kind != V_FALSE)
        return mb_error(p->ctx, MB_EFORMAT,
                        "%s: \"tie_word_embeddings\" must be true or false, got %s", p->file,
                        got(v, b, sizeof b));
    tie = v && v->kind == V_TRUE;
    c->tie = tie ? 1 : -1;
    return MB_OK;
}

/* The family: model_type, else architectures[0]; both given must agree. 0 gpt, 1 llama. */
static mb_status family(cfgp *p, int *out) {
    static const char *const types[2] = {"gpt2", "llama"};
    static const char *const archs[2][2] = {{"GPT2LMHeadModel", "GPT2Model"},
                                            {"LlamaForCausalLM", "LlamaModel"}};
    const member *t = get(p, "model_type"), *a = get(p, "architectures");
    char b[48];
    int ft = -1, fa = -1;
    if (t && t->kind != V_NULL) {
        if (t->kind != V_STR)
            return mb_error(p->ctx, MB_EFORMAT, "%s: \"model_type\" must be a string, got %s",
                            p->file, got(t, b, sizeof b));
        for (int k = 0; k < 2; k++)
            if (!strcmp(t->str, types[k])) ft = k;
        if (ft < 0)
            return mb_error(p->ctx, MB_EUNSUPPORTED,
                            "%s: model_type \"%.60s\" is not supported (gpt2 or llama expected)",
                            p->file, t->str);
    }
    if (a && a->kind != V_NULL) {
        if (a->kind != V_ARR || !a->str)
            return mb_error(p->ctx, MB_EFORMAT,
                            "%s: \"architectures\" must be a list of class names, got %s", p->file,
                            a->kind == V_ARR ? "a list not starting with a string"
                                             : got(a, b, sizeof b));
        for (int k = 0; k < 2; k++)
            if (!strcmp(a->str, archs[k][0]) || !strcmp(a->str, archs[k][1])) fa = k;
        if (fa < 0)
            return mb_error(p->ctx, MB_EUNSUPPORTED,
                            "%s: architectures[0] \"%.60s\" is not supported (GPT2LMHeadModel or "
                            "LlamaForCausalLM expected)",
                            p->file, a->str);
    }
    if (ft < 0 && fa < 0)
        return mb_error(p->ctx, MB_EFORMAT,
                        "%s: neither \"model_type\" nor \"architectures\" names the model family "
                        "(gpt2 or llama expected)",
                        p->file);
    if (ft >= 0 && fa >= 0 && ft != fa)
        return mb_error(p->ctx, MB_EFORMAT,
                        "%s: model_type \"%s\" and architectures[0] \"%s\" disagree", p->file,
                        t->str, a->str);
    *out = ft >= 0 ? ft : fa;
    return MB_OK;
}

mb_status mb_hf_config_parse(mb_ctx *ctx, const char *file, const unsigned char *text, size_t len,
                             mb_model_config *out) {
    cfgp p = {.ctx = ctx, .file = file};
    mb_model_config c = {0};
    int fam = 0;
    mb_status st = read_members(&p, text, len);
    if (st == MB_OK) st = family(&p, &fam);
    if (st == MB_OK) st = fam ? llama_config(&p, &c) : gpt_config(&p, &c);
    members_free(&p);
    if (st == MB_OK && (st = mb_model_config_check(ctx, &c)) != MB_OK)
        return mb_error_prefix(ctx, st, "%s", file);
    if (st == MB_OK) *out = c;
    return st;
}

mb_status mb_hf_config_read(mb_ctx *ctx, const char *dir, mb_model_config *out) {
    char path[MB_FILE_PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, MB_HF_CONFIG) >= sizeof path)
        return mb_error(ctx, MB_EINVAL, "%s: path too long", dir);
    char *text;
    size_t size;
    MB_TRY(mb_file_read_all(ctx, path, MB_HF_CONFIG, MB_HF_JSON_MAX, &text, &size));
    mb_status st = mb_hf_config_parse(ctx, path, (const unsigned char *)text, size, out);
    free(text);
    return st;
}
