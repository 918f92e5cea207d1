#!/bin/sh
# scripts/check-includes.sh — every quoted #include in engine/ methods/ harness/ datasets/
# reports/ tests/ must go down the layers in RULES below, and no top-level directories may include
# each other in a cycle. Prints FILE:LINE and the rule broken; exit 1 when something is.
#
# usage: scripts/check-includes.sh [--root DIR] [--allow FROM->TO]...
#   --root DIR          the tree to check (default: this script's repository)
#   --allow FROM->TO    accept includes from FROM/ into TO/ for now: each is still listed, as an
#                       allowed exception, and the edge is left out of the cycle check
#
# An include resolves like the compiler's: next to the including file, else from the root (the
# build puts the repository root on the include path). One that resolves to no file (a generated
# header such as mb_version.h) is not checked. <angle> includes are never checked.

# A file in the directory before ':' may include files of its own directory and of those after it.
RULES='
engine:
methods: engine
datasets: engine
reports: engine
harness: engine methods datasets reports
tests: engine methods datasets reports harness
'

usage() {
    echo "usage: $0 [--root DIR] [--allow FROM->TO]..." >&2
    exit 2
}

root=$(cd "$(dirname "$0")/.." && pwd)
allow=
while [ $# -gt 0 ]; do
    case $1 in
    --root)
        [ $# -ge 2 ] || usage
        root=$2
        shift 2
        ;;
    --allow)
        [ $# -ge 2 ] || usage
        case $2 in
        ?*-\>?*) allow="$allow $2" ;;
        *)
            echo "$0: --allow takes FROM->TO (e.g. engine->methods), not '$2'" >&2
            exit 2
            ;;
        esac
        shift 2
        ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
cd "$root" || exit 2

dirs=
for d in engine methods harness datasets reports tests; do
    [ -d "$d" ] && dirs="$dirs $d"
done
[ -n "$dirs" ] || {
    echo "$0: none of engine/ methods/ harness/ datasets/ reports/ tests/ is in $root" >&2
    exit 2
}

# shellcheck disable=SC2086 # $dirs is a list of plain names
find $dirs -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) |
    LC_ALL=C sort |
    LC_ALL=C awk -v rules="$(printf '%s' "$RULES" | tr '\n' ';')" -v allow="$allow" '
# The top-level directory of a path from the root ("." for a file at the root).
function top(p) { return index(p, "/") ? substr(p, 1, index(p, "/") - 1) : "." }

# "a/b/../c/./d" -> "a/c/d"; "" when it climbs out of the root.
function normalize(p,   n, part, i, out, k) {
    n = split(p, part, "/")
    k = 0
    for (i = 1; i <= n; i++) {
        if (part[i] == "" || part[i] == ".") continue
        if (part[i] == "..") {
            if (k == 0) return ""
            k--
        } else
            out[++k] = part[i]
    }
    p = ""
    for (i = 1; i <= k; i++) p = p (i > 1 ? "/" : "") out[i]
    return p
}

function exists(p,   r, line) {
    if (p == "") return 0
    r = (getline line < p)
    if (r >= 0) close(p)
    return r >= 0
}

function add_node(d) {
    if (!(d in isnode)) {
        isnode[d] = 1
        node[++nnodes] = d
    }
}

# Every elementary cycle once, from its smallest directory s: the paths from s through
# directories after s that come back to s.
function walk(s, u,   i, v, k, text, wit) {
    onpath[u] = 1
    walked[++sp] = u
    for (i = 1; i <= nnodes; i++) {
        v = node[i]
        if (v < s || !((u SUBSEP v) in edge) || ((u "->" v) in allowed)) continue
        if (v == s) {
            text = ""
            wit = ""
            for (k = 1; k <= sp; k++) {
                text = text walked[k] " -> "
                wit = wit (k > 1 ? ", " : "") edge[walked[k], k < sp ? walked[k + 1] : s]
            }
            print "cycle between top-level directories: " text s " (" wit ")"
            ncycles++
        } else if (!onpath[v])
            walk(s, v)
    }
    sp--
    onpath[u] = 0
}

BEGIN {
    n = split(rules, rule, ";")
    for (i = 1; i <= n; i++) {
        if (rule[i] !~ /:/) continue
        d = substr(rule[i], 1, index(rule[i], ":") - 1)
        may[d, d] = 1
        list[d] = d
        m = split(substr(rule[i], index(rule[i], ":") + 1), below, " ")
        for (k = 1; k <= m; k++) {
            may[d, below[k]] = 1
            list[d] = list[d] ", " below[k]
        }
    }
    nallow = split(allow, exception, " ")
    for (k = 1; k <= nallow; k++) {
        allowed[exception[k]] = 1
        used[exception[k]] = 0
    }
}

{
    file = $0
    from = top(file)
    dir = file
    sub(/\/[^\/]*$/, "", dir)
    nfiles++
    ln = 0
    while ((getline text < file) > 0) {
        ln++
        if (text !~ /^[ \t]*#[ \t]*include[ \t]*"/) continue
        inc = text
        sub(/^[^"]*"/, "", inc)
        sub(/".*$/, "", inc)
        nincludes++
        path = normalize(dir "/" inc)
        if (!exists(path)) {
            path = normalize(inc)
            if (!exists(path)) continue
        }
        to = top(path)
        if (to == from) continue
        where = file ":" ln
        if (!((from SUBSEP to) in edge)) edge[from, to] = where
        add_node(from)
        add_node(to)
        if ((from SUBSEP to) in may) continue
        if ((from "->" to) in allowed) {
            used[from "->" to]++
            print where ": allowed exception (" from " -> " to "): \"" inc "\""
            continue
        }
        printf "%s: upward include of \"%s\" (%s -> %s); rule: %s may include %s\n", where,
               inc, from, to, from, (from in list) ? list[from] : from
        nupward++
    }
    close(file)
}

END {
    # directories in name order, so the cycles and their messages do not depend on file order
    for (i = 2; i <= nnodes; i++)
        for (j = i; j > 1 && node[j] < node[j - 1]; j--) {
            t = node[j]
            node[j] = node[j - 1]
            node[j - 1] = t
        }
    for (i = 1; i <= nnodes; i++) walk(node[i], node[i])
    for (k = 1; k <= nallow; k++)
        if (!used[exception[k]])
            print "note: the exception " exception[k] " matched no include: drop it"
    if (nupward || ncycles) {
        printf "check-includes: %d upward include%s, %d cycle%s\n", nupward,
               nupward == 1 ? "" : "s", ncycles, ncycles == 1 ? "" : "s"
        exit 1
    }
    printf "check-includes: ok (%d files, %d quoted includes)\n", nfiles, nincludes
}
'
