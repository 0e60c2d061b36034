#!/usr/bin/env python3
"""Check the layering of src/ (DESIGN.md section 3), as Tor's check-includes does.

Run through scripts/check-layers.sh. Exits 1 when a check fails, naming each fault.

1. Folders. Each folder under src/ has a file src/<folder>/.may_include listing the
   folders its files may include (itself included), one per line, '#' starting a
   comment. A list may only name folders at or below its own in ORDER (DESIGN's
   order, bottom up), so loosening a list can never let an arrow point up. src/main.c
   and src/run.c sit above every folder and are not restricted.

2. No circle between files. A file unit is a .c and its .h (src/route/http.c and
   src/route/http.h are the unit route/http). Unit A depends on unit B when
     - A.c or A.h includes "B.h", or
     - A.c uses a function or variable that B.c defines (not static).
   The second rule sees a header that declares another file's functions: hub_http.c
   including hub.h and hub.c calling what hub.h declares for hub_http.c is a circle
   between hub and hub_http although hub_http.h does not exist. A header's own
   declarations are not uses: tls/tls.h may declare what tls.c, psk.c and crypto.c
   define, and psk.c including it is no circle unless tls.c calls into psk.c. Definitions are found
   in the house style: the name of a function at the start of the line after its
   return type's line; a file-scope variable as a line at column 0 ending in an
   initializer. Every elementary cycle of the graph is printed, as
   "a -> b -> a", starting at its smallest unit. Any cycle fails the check.

3. Libraries: libevent only in core/ev.c, net/dns.c and master/http{,_gate}.c; SQLite only in
   master/store.c; OpenSSL only in tls/; http-parser only in route/http.c.

4. File size: every src file over MAX_LINES lines fails the check (split it at its seams).

5. One prefix per folder: a prefix names one folder's symbols only. The symbols are the
   functions a .c defines (not static) and the typedef names and struct/enum/union tags a
   .h declares; a symbol's prefix is "pn_<word>_" for pn_<word>[_...] and "<word>_" for
   any other <word>_... (tun_, hub_, udp_). A prefix found in two folders fails, naming
   a symbol of each.

Usage: check-layers.py [--root DIR]   (DIR defaults to the checkout)
"""
import os
import re
import sys

ORDER = ["core", "tls", "net", "route", "conf", "relay", "tunnel", "modes", "master"]
MAX_LINES = 800

QUIC_FILES = ["src/tls/quic_priv.h", "src/tls/quic_conn.c", "src/tls/quic_stream.c", "src/tls/quic_dial.c",
              "src/tls/quic_tab.c", "src/tls/quic_tls.c", "src/tls/quic_srv.c", "src/tls/quic_resume.c"]

# (include prefix, name, files allowed to include it: exact paths or folders ending in /)
LIBRARIES = [
    ("event2/", "libevent", ["src/core/ev.c", "src/net/dns.c", "src/master/http.c",
                             "src/master/http_gate.c", "src/master/hclient.c"]),
    ("sqlite3", "SQLite", ["src/master/store.c"]),
    ("openssl/", "OpenSSL", ["src/tls/"]),
    ("http_parser", "http-parser", ["src/route/http.c"]),
    ("wslay/", "wslay", ["src/tls/xprt_ws.c"]),
    ("nghttp2/", "nghttp2", ["src/tls/h2_mux.c", "src/tls/h2_stream.c",
                               "src/tls/h2_priv.h", "src/tls/h2gw.c", "src/tls/h2gw_priv.h",
                               "src/tls/h2gw_resp.c", "src/tls/h2gw_h2c.c", "src/tls/h2_data.h"]),
    ("ngtcp2/", "ngtcp2", QUIC_FILES),
    ("gnutls/", "GnuTLS", QUIC_FILES),
    ("hiredis/", "hiredis", ["src/modes/hub_redis.c", "src/modes/hub_reg_redis.c",
                           "src/modes/hub_reg_rsync.c"]),
]

CYCLE_CAP = 500     # stop enumerating cycles past this many (the graph is then a knot)

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
IDENT_RE = re.compile(r"[A-Za-z_]\w*")
FUNC_RE = re.compile(r"^([A-Za-z_]\w*)\s*\(")
VAR_RE = re.compile(r"^(?!static\b|typedef\b|extern\b)[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*=")
TAG_RE = re.compile(r"^\s*(?:typedef\s+)?(?:struct|enum|union)\s+([A-Za-z_]\w*)\s*\{")
TYPEDEF_RE = re.compile(r"^\s*typedef\b[^;{(]*\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*;")
FNPTR_RE = re.compile(r"^\s*typedef\b[^;{]*?\(\s*\*\s*([A-Za-z_]\w*)\s*\)")
TYPEDEF_END_RE = re.compile(r"^\s*\}\s*([A-Za-z_]\w*)\s*;")
NOT_NAMES = {"if", "for", "while", "switch", "return", "sizeof", "main"}


def strip_c(text):
    """The text with comments, string and character literals blanked (lines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Tree:
    def __init__(self, root):
        self.root = root
        self.src = os.path.join(root, "src")
        self.files = []             # paths relative to root, sorted
        for d, dirs, names in os.walk(self.src):
            dirs.sort()
            for name in sorted(names):
                if name.endswith((".c", ".h")):
                    self.files.append(os.path.relpath(os.path.join(d, name), root))
        self.text = {}
        self.code = {}
        for f in self.files:
            with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
                self.text[f] = fh.read()
            self.code[f] = strip_c(self.text[f])

    @staticmethod
    def unit(path):
        """src/route/http.c -> route/http"""
        return os.path.splitext(os.path.relpath(path, "src"))[0]

    @staticmethod
    def folder(path):
        parts = os.path.relpath(path, "src").split(os.sep)
        return parts[0] if len(parts) > 1 else None

    def includes(self, f):
        """(line number, '<' or '"', target) for each #include of <f>."""
        for no, line in enumerate(self.text[f].split("\n"), 1):
            m = INCLUDE_RE.match(line)
            if m:
                yield no, m.group(1), m.group(2)


def check_folders(t, errors):
    rank = {name: i for i, name in enumerate(ORDER)}
    allow = {}
    folders = sorted({t.folder(f) for f in t.files if t.folder(f) is not None})
    for folder in folders:
        if folder not in rank:
            errors.append(f"src/{folder}/: not a layer of DESIGN.md; add it to ORDER in {sys.argv[0]}")
            continue
        path = os.path.join(t.src, folder, ".may_include")
        if not os.path.exists(path):
            errors.append(f"src/{folder}/.may_include: missing (the folders src/{folder}/ may include)")
            continue
        allow[folder] = set()
        with open(path, encoding="utf-8") as fh:
            for no, line in enumerate(fh, 1):
                name = line.split("#", 1)[0].strip()
                if not name:
                    continue
                if name not in rank:
                    errors.append(f"src/{folder}/.may_include:{no}: unknown folder {name}")
                elif rank[name] > rank[folder]:
                    errors.append(f"src/{folder}/.may_include:{no}: {name} is above {folder} "
                                  f"(layers point down: {' < '.join(ORDER)})")
                else:
                    allow[folder].add(name)
    for f in t.files:
        folder = t.folder(f)
        if folder not in allow:
            continue
        for no, kind, target in t.includes(f):
            if kind != '"' or "/" not in target:
                continue
            dep = target.split("/", 1)[0]
            if dep not in allow[folder]:
                errors.append(f"{f}:{no}: {folder} may not include {target} "
                              f"(src/{folder}/.may_include)")


def build_graph(t):
    """unit -> {unit it depends on: reason}"""
    units = {t.unit(f) for f in t.files}
    defined = {}        # symbol -> units defining it
    for f in t.files:
        if not f.endswith(".c"):
            continue
        lines = t.code[f].split("\n")
        for k, line in enumerate(lines):
            m = FUNC_RE.match(line)
            if m and m.group(1) not in NOT_NAMES and k > 0:
                prev = lines[k - 1].strip()
                if prev and not prev.startswith("static") and not prev.endswith((";", "}", "{")) \
                        and not prev.startswith("#"):
                    defined.setdefault(m.group(1), set()).add(t.unit(f))
                continue
            m = VAR_RE.match(line)
            if m and not line.startswith((" ", "\t", "}", "#")):
                defined.setdefault(m.group(1), set()).add(t.unit(f))
    graph = {u: {} for u in sorted(units)}
    for f in t.files:
        u = t.unit(f)
        for no, kind, target in t.includes(f):
            if kind != '"':
                continue
            v = os.path.splitext(target)[0]
            if v != u and v in units and v not in graph[u]:
                graph[u][v] = f"{f}:{no} includes \"{target}\""
        if not f.endswith(".c"):
            continue        # a header declares; only a .c uses
        for no, line in enumerate(t.code[f].split("\n"), 1):
            for name in IDENT_RE.findall(line):
                for v in defined.get(name, ()):
                    if v != u and v not in graph[u]:
                        graph[u][v] = f"{f}:{no} uses {name} (src/{v}.c)"
    return graph


def sccs(graph):
    """Strongly connected components (iterative Tarjan), each sorted."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def cycles(graph):
    """Every elementary cycle (as a list of units, smallest first), up to CYCLE_CAP;
    and whether the cap was hit. Each cycle is found from its smallest unit, walking
    only through larger units, so each is listed once."""
    found = []
    for comp in sccs(graph):
        if len(comp) < 2:
            continue
        members = set(comp)
        for start in comp:
            path, seen = [start], {start}
            work = [iter(sorted(w for w in graph[start] if w in members and w >= start))]
            while work:
                w = next(work[-1], None)
                if w is None:
                    work.pop()
                    seen.discard(path.pop())
                    continue
                if w == start:
                    found.append(path + [start])
                    if len(found) >= CYCLE_CAP:
                        return found, True
                elif w not in seen:
                    path.append(w)
                    seen.add(w)
                    work.append(iter(sorted(x for x in graph[w] if x in members and x >= start)))
    return found, False


def check_cycles(t, errors):
    graph = build_graph(t)
    found, capped = cycles(graph)
    for c in found:
        why = "; ".join(graph[a][b] for a, b in zip(c, c[1:]))
        errors.append(f"cycle: {' -> '.join(c)}\n    {why}")
    if capped:
        errors.append(f"cycles: more than {CYCLE_CAP}; the first are listed")


def check_libraries(t, errors):
    for f in t.files:
        for no, kind, target in t.includes(f):
            if kind != "<":
                continue
            for prefix, name, allowed in LIBRARIES:
                if target.startswith(prefix) and not any(
                        f == a or (a.endswith("/") and f.startswith(a)) for a in allowed):
                    errors.append(f"{f}:{no}: only {', '.join(allowed)} may include {name}")


def check_size(t, errors):
    for f in t.files:
        n = t.text[f].count("\n")
        if n > MAX_LINES:
            errors.append(f"{f}: {n} lines (over {MAX_LINES}; split it at its seams)")


def prefix_of(name):
    """pn_route_spec_t -> pn_route_; pn_sniff -> pn_sniff_; tun_sess_t -> tun_; else None."""
    parts = name.split("_")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    if parts[0] == "pn":
        return f"pn_{parts[1]}_"
    return f"{parts[0]}_"


def folder_symbols(t):
    """(folder, symbol, file) for every symbol a folder exports (see rule 5)."""
    for f in t.files:
        folder = t.folder(f)
        if folder is None:
            continue
        lines = t.code[f].split("\n")
        for k, line in enumerate(lines):
            if f.endswith(".c"):
                m = FUNC_RE.match(line)
                if m and m.group(1) not in NOT_NAMES and k > 0:
                    prev = lines[k - 1].strip()
                    if prev and not prev.startswith("static") and not prev.endswith((";", "}", "{")) \
                            and not prev.startswith("#"):
                        yield folder, m.group(1), f
                continue
            for rx in (TAG_RE, TYPEDEF_END_RE):
                m = rx.match(line)
                if m:
                    yield folder, m.group(1), f
            if "{" not in line:
                m = FNPTR_RE.match(line) or TYPEDEF_RE.match(line)
                if m:
                    yield folder, m.group(1), f


def check_prefixes(t, errors):
    where = {}          # prefix -> folder -> first (symbol, file)
    for folder, name, f in folder_symbols(t):
        p = prefix_of(name)
        if p is not None:
            where.setdefault(p, {}).setdefault(folder, (name, f))
    for p in sorted(where):
        if len(where[p]) > 1:
            seen = ", ".join(f"{folder} ({name} in {f})" for folder, (name, f) in sorted(where[p].items()))
            errors.append(f"prefix {p} used in {len(where[p])} folders: {seen}")


def main(argv):
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--root" and args:
            root = args.pop(0)
        else:
            print(__doc__.strip().split("\n")[-1], file=sys.stderr)
            return 2
    os.chdir(root)
    t = Tree(".")
    errors = []
    check_folders(t, errors)
    check_cycles(t, errors)
    check_libraries(t, errors)
    check_size(t, errors)
    check_prefixes(t, errors)
    for e in errors:
        print(f"layers: {e}")
    if errors:
        print(f"layers: {len(errors)} fault(s)")
        return 1
    print(f"layers: ok ({len(t.files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
