/* datasets/spam.h — the SpamAssassin public corpus (ham and spam e-mail, fetched) as a labelled set
 * for the classification task. */
#ifndef MB_SPAM_H
#define MB_SPAM_H

#include "corpus.h"

/* Tokens kept per message: the first this many of its subject and body. */
#define MB_SPAM_MAX_TOKENS 1024
/* Bytes of a body read: the rest (long attachments) is cut at the last line end before this. */
#define MB_SPAM_MAX_BODY 65536

/* Label of each group of the corpus: easy-ham-1, easy-ham-2, hard-ham-1 are ham (0); spam-1 and
 * spam-2 are spam (1). */
enum { MB_SPAM_HAM = 0, MB_SPAM_SPAM = 1 };

/* The text a message is classified by: "Subject: S\n\n" (S unfolded, when the message has one)
 * followed by the body, the part after the first empty line, cut at MB_SPAM_MAX_BODY. Other
 * headers (routes, dates, the spam filters' own verdicts) are dropped so that the model reads what
 * a person would. *out is malloc'd. */
mb_status mb_spam_text(mb_ctx *ctx, const char *msg, size_t len, char **out, size_t *outlen);

/* Loads every message of the fetched corpus (in manifest order), tokenized with `tok` (GPT-2 BPE,
 * pad <|endoftext|> 50256; or bytes, pad 0), into a labelled set with a stratified split:
 * val_fraction of the ham and of the spam, spread through each group. Not fetched: MB_ENOTFOUND
 * with the command that fetches it. */
mb_status mb_data_spam(mb_ctx *ctx, mb_dataset *d, mb_tokenizer tok, double val_fraction);

#endif
