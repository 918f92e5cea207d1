/* tests/test_hf_config.c — config.json to a shape (mb_hf_config_parse): GPT-2's and a GQA LLaMA's
 * published configs give the expected shapes, the family comes from model_type or architectures,
 * and every refused setting has its exact message. */
#include "../engine/models/hf.h"
#include "check.h"

static const char gpt2[] =
    "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"],"
    " \"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256,"
    " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\","
    " \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12, \"n_layer\": 12, \"n_positions\": 1024,"
    " \"resid_pdrop\": 0.1, \"summary_activation\": null, \"summary_first_dropout\": 0.1,"
    " \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}},"
    " \"vocab_size\": 50257, \"n_inner\": null}";

static const char llama[] =
    "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"attention_bias\": false,\n"
    "  \"bos_token_id\": 1,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": 4096,\n"
    "  \"intermediate_size\": 14336,\n  \"max_position_embeddings\": 8192,\n"
    "  \"model_type\": \"llama\",\n  \"num_attention_heads\": 32,\n  \"num_hidden_layers\": 32,\n"
    "  \"num_key_value_heads\": 8,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_scaling\": null,\n"
    "  \"rope_theta\": 500000.0,\n  \"tie_word_embeddings\": false,\n"
    "  \"torch_dtype\": \"bfloat16\",\n  \"vocab_size\": 128256,\n  \"head_dim\": 128\n}\n";

static mb_status parse(mb_ctx *ctx, const char *text, mb_model_config *c) {
    return mb_hf_config_parse(ctx, "config.json", (const unsigned char *)text, strlen(text), c);
}

/* `base` with its last '}' replaced by `more` (", key: value}"): one setting added. */
static const char *with(char *buf, size_t cap, const char *base, const char *more) {
    size_t n = strrchr(base, '}') - base;
    snprintf(buf, cap, "%.*s%s", (int)n, base, more);
    return buf;
}

int main(void) {
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_model_config c;
    CHECK_OK(&ctx, parse(&ctx, gpt2, &c));
    CHECK(c.arch == MB_ARCH_GPT && c.layers == 12 && c.d_model == 768 && c.heads == 12 &&
              c.kv_heads == 12 && c.d_ff == 3072 && c.seq_len == 1024 && c.vocab == 50257 &&
              c.tie == 1,
          "GPT-2 shape: layers %d d_model %d heads %d seq_len %d vocab %d", c.layers, c.d_model,
          c.heads, c.seq_len, c.vocab);
    mb_model_config want;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt2-124m", &want));
    CHECK(mb_model_num_params(&c) == mb_model_num_params(&want), "GPT-2's parameter count");
    CHECK_OK(&ctx, parse(&ctx, llama, &c));
    CHECK(c.arch == MB_ARCH_LLAMA && c.layers == 32 && c.d_model == 4096 && c.heads == 32 &&
              c.kv_heads == 8 && c.d_ff == 14336 && c.seq_len == 8192 && c.vocab == 128256 &&
              c.tie == -1 && c.rope_theta == 500000.0 && c.norm_eps == 1e-5,
          "LLaMA shape: layers %d d_model %d heads %d kv %d d_ff %d seq_len %d vocab %d tie %d "
          "theta %g eps %g",
          c.layers, c.d_model, c.heads, c.kv_heads, c.d_ff, c.seq_len, c.vocab, c.tie, c.rope_theta,
          c.norm_eps);
    CHECK(mb_model_num_params(&c) == 8030261248ull, "Llama-3-8B's parameter count: %zu",
          mb_model_num_params(&c));
    /* defaults: kv heads = heads, theta 10000, eps 1e-6, untied; the family from architectures */
    CHECK_OK(&ctx, parse(&ctx,
                         "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, "
                         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                         "\"intermediate_size\": 176, \"max_position_embeddings\": 32, "
                         "\"vocab_size\": 256, \"tie_word_embeddings\": true}",
                         &c));
    CHECK(c.arch == MB_ARCH_LLAMA && c.kv_heads == 4 && c.rope_theta == 10000.0 &&
              c.norm_eps == 1e-6 && c.tie == 1,
          "LLaMA defaults: kv %d theta %g eps %g tie %d", c.kv_heads, c.rope_theta, c.norm_eps,
          c.tie);
    CHECK_OK(&ctx, parse(&ctx,
                         "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 64, \"n_layer\": "
                         "2, \"n_head\": 4, \"n_ctx\": 32, \"vocab_size\": 256}",
                         &c));
    CHECK(c.arch == MB_ARCH_GPT && c.seq_len == 32, "GPT-2 from architectures, n_ctx: %d",
          c.seq_len);

    char b[4096];
    static const struct {
        int fam; /* 0: added to gpt2, 1: to llama, 2: the text alone */
        const char *more, *want;
        mb_status code;
    } bad[] = {
        {1, ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}",
         "\"rope_scaling\" is given twice", MB_EFORMAT},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"intermediate_size\": 176, \"max_position_embeddings\": 32, "
         "\"vocab_size\": 256, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
         "\"rope_scaling\" is not supported: membench's rotary embedding has no scaling (null "
         "expected, got an object)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"intermediate_size\": 176, \"max_position_embeddings\": 32, "
         "\"vocab_size\": 256, \"attention_bias\": true}",
         "\"attention_bias\": true is not supported: membench's LLaMA attention has no biases "
         "(false expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"intermediate_size\": 176, \"max_position_embeddings\": 32, "
         "\"vocab_size\": 256, \"mlp_bias\": true}",
         "\"mlp_bias\": true is not supported: membench's LLaMA MLP has no biases (false "
         "expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"intermediate_size\": 176, \"max_position_embeddings\": 32, "
         "\"vocab_size\": 256, \"hidden_act\": \"gelu\"}",
         "\"hidden_act\" \"gelu\" is not supported: membench's LLaMA MLP is SwiGLU (\"silu\" "
         "expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"intermediate_size\": 176, \"max_position_embeddings\": 32, "
         "\"vocab_size\": 256, \"head_dim\": 32}",
         "\"head_dim\" 32 is not supported: membench's head size is hidden_size / "
         "num_attention_heads = 64 / 4",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"intermediate_size\": 176, "
         "\"max_position_embeddings\": 32, \"vocab_size\": 256}",
         "kv_heads 3 must divide heads 4", MB_EINVAL},
        {2,
         "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"max_position_embeddings\": 32, \"vocab_size\": 256}",
         "\"intermediate_size\" is missing (a LLaMA config gives hidden_size, num_hidden_layers, "
         "num_attention_heads, intermediate_size, max_position_embeddings and vocab_size)",
         MB_EFORMAT},
        {0, ", \"activation_function\": \"relu\"}", "\"activation_function\" is given twice",
         MB_EFORMAT},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256, \"activation_function\": \"relu\"}",
         "\"activation_function\" \"relu\" is not supported: membench's GPT-2 MLP uses the tanh "
         "GELU (\"gelu_new\" expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256, \"layer_norm_epsilon\": 1e-6}",
         "\"layer_norm_epsilon\" 1e-06 is not supported: membench's GPT-2 LayerNorm uses 1e-05",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256, \"tie_word_embeddings\": false}",
         "\"tie_word_embeddings\": false is not supported: membench's GPT-2 head is the token "
         "embedding (true expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256, \"n_inner\": 100}",
         "\"n_inner\" 100 is not supported: membench's GPT-2 MLP is 4 x n_embd = 256 wide (null "
         "expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256, \"scale_attn_by_inverse_layer_idx\": true}",
         "\"scale_attn_by_inverse_layer_idx\": true is not supported: membench does not scale "
         "attention by the layer index (false expected)",
         MB_EUNSUPPORTED},
        {2,
         "{\"model_type\": \"gpt2\", \"n_layer\": 2, \"n_head\": 4, \"n_positions\": 32, "
         "\"vocab_size\": 256}",
         "\"n_embd\" is missing (a GPT-2 config gives n_embd, n_layer, n_head, n_positions and "
         "vocab_size)",
         MB_EFORMAT},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": \"64\", \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256}",
         "\"n_embd\" must be a whole number from 1 to 65536, got a string", MB_EFORMAT},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 64.5, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256}",
         "\"n_embd\" must be a whole number from 1 to 65536, got 64.5", MB_EFORMAT},
        {2,
         "{\"model_type\": \"gpt2\", \"n_embd\": 66, \"n_layer\": 2, \"n_head\": 4, "
         "\"n_positions\": 32, \"vocab_size\": 256}",
         "d_model 66 is not divisible by heads 4", MB_EINVAL},
        {2, "{\"model_type\": \"mistral\"}",
         "model_type \"mistral\" is not supported (gpt2 or llama expected)", MB_EUNSUPPORTED},
        {2, "{\"architectures\": [\"BertModel\"]}",
         "architectures[0] \"BertModel\" is not supported (GPT2LMHeadModel or LlamaForCausalLM "
         "expected)",
         MB_EUNSUPPORTED},
        {2, "{\"model_type\": \"llama\", \"architectures\": [\"GPT2LMHeadModel\"]}",
         "model_type \"llama\" and architectures[0] \"GPT2LMHeadModel\" disagree", MB_EFORMAT},
        {2, "{\"n_embd\": 64}",
         "neither \"model_type\" nor \"architectures\" names the model family (gpt2 or llama "
         "expected)",
         MB_EFORMAT},
        {2, "{\"model_type\": \"gpt2\", \"n_embd\": 01}",
         "bad JSON at byte 33: a number with a leading zero", MB_EFORMAT},
        {2, "{\"model_type\": \"gpt2\",}", "bad JSON at byte 22: expected a member name (a string)",
         MB_EFORMAT},
        {2, "[1]", "bad JSON at byte 0: expected '{'", MB_EFORMAT},
        {2, "{\"model_type\": \"gpt2\"} x", "bad JSON at byte 23: text after the object",
         MB_EFORMAT},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *text = bad[k].fam == 2
                               ? bad[k].more
                               : with(b, sizeof b, bad[k].fam ? llama : gpt2, bad[k].more);
        mb_status s = parse(&ctx, text, &c);
        CHECK(s == bad[k].code, "case %zu: %s, expected %s (%s)", k, mb_status_name(s),
              mb_status_name(bad[k].code), ctx.err);
        char want[1024];
        snprintf(want, sizeof want, "config.json: %s", bad[k].want);
        CHECK_STR(ctx.err, want);
    }
    mb_ctx_fini(&ctx);
    CHECK_DONE();
}
