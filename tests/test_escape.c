/* tests/test_escape.c — reports/escape.c and the gnuplot quoting, output by output: bad UTF-8 as
 * U+FFFD, code spans no name can close early, XML and HTML entities, gnuplot strings. */
#include <stdlib.h>

#include "../reports/escape.h"
#include "../reports/figures.h"
#include "check.h"
#include "textcheck.h"

typedef void (*esc_fn)(mb_text *b, const char *s);

static void xml(mb_text *b, const char *s) {
    mb_esc_xml(b, s, 0);
}
static void html(mb_text *b, const char *s) {
    mb_esc_xml(b, s, 1);
}
static void gp(mb_text *b, const char *s) {
    mb_rp_gp_quote(b, s, 0);
}
static void gp_tic(mb_text *b, const char *s) {
    mb_rp_gp_quote(b, s, 1);
}

static void expect(esc_fn f, const char *name, const char *in, const char *want, int line) {
    mb_text b = {0};
    f(&b, in);
    CHECK(!b.oom && !strcmp(mb_text_str(&b), want), "line %d: %s: got [%s], expected [%s]", line,
          name, mb_text_str(&b), want);
    mb_text_free(&b);
}
#define EXPECT(f, in, want) expect(f, #f, in, want, __LINE__)

#define FFFD "\xef\xbf\xbd"

int main(void) {
    /* UTF-8: valid text passes; each bad byte is one U+FFFD */
    EXPECT(mb_esc_plain, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    EXPECT(mb_esc_plain,
           "a\xff"
           "b",
           "a" FFFD "b");
    EXPECT(mb_esc_plain, "\xc0\xaf", FFFD FFFD);                   /* overlong '/' */
    EXPECT(mb_esc_plain, "\xe0\x80\xaf", FFFD FFFD FFFD);          /* overlong, 3 bytes */
    EXPECT(mb_esc_plain, "\xed\xa0\x80", FFFD FFFD FFFD);          /* a surrogate */
    EXPECT(mb_esc_plain, "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD); /* past U+10FFFF */
    EXPECT(mb_esc_plain, "\xe2\x82", FFFD FFFD);                   /* cut short at the end */
    EXPECT(mb_esc_plain, "\xe2\x82x", FFFD FFFD "x");
    EXPECT(mb_esc_plain, "\xef\xbf\xbe|\xef\xbf\xbf", FFFD "|" FFFD); /* noncharacters */
    EXPECT(mb_esc_plain, "a\tb\nc\x01\x7f", "a b c  ");

    /* Markdown prose */
    EXPECT(mb_esc_md_text, "a_b*c [x](y) <b> | ~ & # ! \\ `",
           "a\\_b\\*c \\[x\\](y) \\<b\\> \\| \\~ \\& \\# \\! \\\\ \\`");
    EXPECT(mb_esc_md_text, "\xff\n", FFFD " ");

    /* Markdown code spans: one backtick more than the longest run, padded only where CommonMark
     * would otherwise take a backtick or a space of the name for part of the fence */
    EXPECT(mb_esc_md_code, "cpu/gpt-nano", "`cpu/gpt-nano`");
    EXPECT(mb_esc_md_code, "a`b``c", "```a`b``c```");
    EXPECT(mb_esc_md_code, "```````````````<img src=x>",
           "```````````````` ```````````````<img src=x> ````````````````");
    EXPECT(mb_esc_md_code, "x`", "`` x` ``");
    EXPECT(mb_esc_md_code, " x ", "`  x  `");
    EXPECT(mb_esc_md_code, " x", "` x`");
    EXPECT(mb_esc_md_code, "  ", "`  `");
    EXPECT(mb_esc_md_code, "", "` `");
    EXPECT(mb_esc_md_code, "a|b\x01\xff", "`a\\|b " FFFD "`");
    EXPECT(mb_esc_md_code, "\x01x\x01", "`  x  `");
    mb_text b = {0};
    char big[200];
    memset(big, '`', 150);
    strcpy(big + 150, "<script>");
    mb_esc_md_code(&b, big);
    CHECK(!md_raw_html_at(mb_text_str(&b)), "150 backticks close the span: %s", mb_text_str(&b));
    mb_text_free(&b);

    /* XML and HTML */
    EXPECT(xml, "<a href=\"x\">&'</a>", "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
    EXPECT(html, "<a href=\"x\">&'</a>", "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    EXPECT(xml, "a\tb\nc\rd", "a&#9;b&#10;c&#13;d");
    EXPECT(html, "a\tb\nc\rd", "a b c d");
    EXPECT(xml, "\x01\x1b\x7f", "\xe2\x90\x81\xe2\x90\x9b\xe2\x90\xa1");
    EXPECT(xml, "ok\xc3(\xff", "ok" FFFD "(" FFFD);
    EXPECT(html, "\xef\xbf\xbf", FFFD);

    /* gnuplot: double-quoted; '"' and '\' escaped, '`' as \140, '%' doubled only in tic labels */
    EXPECT(gp, "'lead", "\"'lead\"");
    EXPECT(gp, "a''''b", "\"a''''b\"");
    EXPECT(gp, "q\"u\\o`te`", "\"q\\\"u\\\\o\\140te\\140\"");
    EXPECT(gp, "50% @x $y", "\"50% @x $y\"");
    EXPECT(gp_tic, "50%d", "\"50%%d\"");
    EXPECT(gp, "t\tn\n\xff", "\"t n " FFFD "\"");
    CHECK_DONE();
}
