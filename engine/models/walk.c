/* engine/models/walk.c — the activation walk: a training step's ACTIVATIONS peak replayed from a
 * family's shape (mb_act_shape) and the changes methods make (per-layer modes, owned sites). */
#include "model.h"

void mb_walk_own(mb_act_walk *w, mb_site site, size_t keep, size_t fwd, size_t bwd) {
    if ((unsigned)site >= MB_SITE_N) return;
    w->site[site] = (mb_walk_site){.owned = 1, .keep = keep, .fwd = fwd, .bwd = bwd};
}

static size_t max_sz(size_t a, size_t b) {
    return a > b ? a : b;
}

size_t mb_act_walk_peak(const mb_act_shape *s, int layers, const mb_act_walk *w) {
    const size_t L = (size_t)layers;
    const mb_walk_site *at = &w->site[MB_SITE_ATTENTION], *lo = &w->site[MB_SITE_LOSS],
                       *cd = &w->site[MB_SITE_CODEC];
    /* an owned attention allocates no probabilities; it holds A from its forward on */
    const size_t probs = at->owned ? s->probs : 0;
    const size_t A = at->owned ? at->keep : 0, Ab = at->owned ? at->bwd : 0;
    const size_t I = s->inside - probs;
    const size_t logits = lo->owned ? 0 : s->logits;
    size_t gone = 0, peak = 0;
    if (w->lean) {
        /* each block's output and inside while it runs beside the previous output */
        size_t cur = s->stem;
        for (size_t l = 0; l < L; l++) {
            peak = max_sz(peak, cur + s->block_out + I + A);
            cur = s->stem + s->block_out; /* this block's output replaces the previous one */
        }
        cur += s->head + logits;
        return max_sz(peak, cur + (lo->owned ? lo->keep + lo->fwd : 0));
    }
    /* forward: after the stem, each block holds its output and its inside while it runs; then a
     * recomputed block frees its inside and a custom one saves it in its own form */
    size_t cur = s->stem;
    for (size_t l = 0; l < L; l++) {
        int mode = w->mode ? w->mode[l] : MB_ACT_KEEP;
        peak = max_sz(peak, cur += s->block_out + I + A);
        if (mode == MB_ACT_RECOMPUTE) cur -= I, gone += I;
        if (mode == MB_ACT_CUSTOM) {
            peak = max_sz(peak, cur + cd->fwd);
            cur = cur - I + cd->keep, gone += I - cd->keep;
        }
    }
    /* the end of forward: the head (and the logits, unless a method owns the loss: its forward
     * holds keep + fwd instead) */
    cur = s->stem + L * (s->block_out + I + A) - gone + s->head + logits;
    if (lo->owned) peak = max_sz(peak, cur + lo->keep + lo->fwd);
    /* backward: its first scratch through the loss, then the logits freed and the rest taken (no
     * attention rows with an owned attention); a recomputed block's inside comes back while it
     * runs, a custom block's replaces what it kept, a kept one's goes */
    peak = max_sz(peak, cur + s->bwd_first + (lo->owned ? lo->keep + lo->bwd : 0));
    cur = cur - logits + s->bwd_first + s->bwd_rest + (at->owned ? 0 : s->attn_rows);
    peak = max_sz(peak, cur);
    for (size_t l = L; l-- > (size_t)(w->lowest > 0 ? w->lowest : 0);) {
        int mode = w->mode ? w->mode[l] : MB_ACT_KEEP;
        if (mode == MB_ACT_RECOMPUTE)
            peak = max_sz(peak, cur + I + Ab);
        else if (mode == MB_ACT_CUSTOM)
            peak = max_sz(peak, cur - cd->keep + I + cd->bwd), cur -= cd->keep;
        else
            peak = max_sz(peak, cur + Ab), cur -= I;
        cur -= A;
    }
    return peak;
}

size_t mb_model_act_walk(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld,
                         const mb_act_walk *w) {
    const mb_model_family *f = mb_model_family_of(cfg->arch);
    mb_act_shape s = {0};
    f->act_shape(cfg, B, T, es, ss, ld, &s);
    return mb_act_walk_peak(&s, cfg->layers, w);
}
