"""Generator of random but valid mod_rewrite configurations and of the
requests aimed at them, for the differential fuzzer (fuzz-diff).

Everything comes from one random.Random: the same seed gives the same
configurations and requests, byte for byte. Nothing time- or
process-dependent is generated (no TIME variables, no REMOTE_PORT, no
rnd map with several choices, no cookie lifetime).

A configuration is a list of items; an item is a line (str) or a Block
(a section such as <Directory>, with its own items). Reduction (in
fuzz-diff) removes items and flags, so the structure is kept until the
text is rendered.
"""

import random

# ----------------------------------------------------------------------
# configuration structure


class Block:
    """<Head ...> items </Foot>"""

    def __init__(self, head, items):
        self.head = head
        self.items = items

    @property
    def foot(self):
        return "</%s>" % self.head[1:].split()[0].rstrip(">")

    def copy(self):
        return Block(self.head, [i.copy() if isinstance(i, Block) else i
                                 for i in self.items])


def render(items, indent=""):
    out = []
    for it in items:
        if isinstance(it, Block):
            out.append(indent + it.head)
            out.extend(render(it.items, indent + "    "))
            out.append(indent + it.foot)
        else:
            out.append(indent + it)
    return out


def copy_items(items):
    return [i.copy() if isinstance(i, Block) else i for i in items]


class Req:
    """One request: method, target, extra header lines (Host included when
    it replaces the default), protocol. The target is sent verbatim."""

    def __init__(self, method, target, headers=(), proto="HTTP/1.1"):
        self.method = method
        self.target = target
        self.headers = list(headers)
        self.proto = proto

    def copy(self):
        return Req(self.method, self.target, self.headers, self.proto)

    def raw(self):
        """The request in run-diff's RAW form when the target holds bytes
        a simple request line cannot (anything outside printable ASCII or
        a space): escaped as in the case format."""
        if all(32 < ord(ch) < 127 for ch in self.target):
            return None
        t = "".join(ch if 32 < ord(ch) < 127 and ch != "\\" else
                    "\\x%02x" % ord(ch) for ch in self.target)
        hdrs = list(self.headers)
        if not any(h.lower().startswith("host:") for h in hdrs):
            hdrs.insert(0, "Host: @HOST@")
        hdrs.append("Connection: close")
        return "RAW %s %s %s\\r\\n%s\\r\\n" % (
            self.method, t, self.proto, "".join(h + "\\r\\n" for h in hdrs))

    def lines(self):
        raw = self.raw()
        if raw is not None:
            return [raw]
        first = "%s %s" % (self.method, self.target)
        if self.proto != "HTTP/1.1":
            first += " " + self.proto
        return [first] + ["    " + h for h in self.headers]

    def key(self):
        return "\n".join(self.lines())


class FuzzCase:
    """One generated configuration: vhost items, .htaccess items per
    directory, and its requests."""

    def __init__(self, name):
        self.name = name
        self.vhost = []
        self.htaccess = {}         # rel dir ('' = docroot) -> items
        self.requests = []
        self.configtest = False    # an invalid config: only apache2 -t

    def copy(self, name=None):
        c = FuzzCase(name or self.name)
        c.vhost = copy_items(self.vhost)
        c.htaccess = {k: copy_items(v) for k, v in self.htaccess.items()}
        c.requests = [r.copy() for r in self.requests]
        c.configtest = self.configtest
        return c


# ----------------------------------------------------------------------
# the document tree every case gets (besides run-diff's fixtures
# index.html, file.txt, dir/index.html, echo.cgi, dir/echo.cgi)

TREE_FILES = [
    ("a/index.html", "<p>a/index.html</p>"),
    ("a/page.html", "<p>a/page.html</p>"),
    ("a/x.txt", "a/x.txt"),
    ("a/b/c.html", "<p>a/b/c.html</p>"),
    ("a/b/index.html", "<p>a/b/index.html</p>"),
    ("new/file.txt", "new/file.txt"),
    ("new/index.html", "<p>new/index.html</p>"),
    ("empty.txt", ""),
    ("page.shtml", 'S[<!--#include virtual="/inc/x?q=1" -->]'),
    ("a/page.shtml", 'S[<!--#include virtual="b/c.html" -->][<!--#include virtual="/a/old/y" -->]'),
    ("img/logo.png", "PNG"),
    ("api/data.json", '{"k": 1}'),
    ("m.txt", "a /a/b/c.html\nold /new/file.txt\nx /echo.cgi\nfile /file.txt\n"
              "b b/c.html\nnew new/\npage /a/page.html\n"),
    ("r.txt", "a /a/page.html\nold /echo.cgi\nx file.txt\n"),
    ("err.html", "<p>custom error</p>"),
]
TREE_CGI = ["a/echo.cgi", "new/echo.cgi"]
TREE_DIRS = ["sub", "a/empty"]
TREE_LINKS = [("link.html", "file.txt"), ("dlink", "a"), ("broken", "nothere"),
              ("a/up.txt", "../file.txt")]

WORDS = ["a", "b", "old", "new", "x", "file", "page", "api", "img", "dir",
         "sub", "index", "echo", "blog", "user", "en", "v1", "foo"]
EXTS = [".html", ".txt", ".cgi", ".php", ".json", ".png", ".shtml", ""]
# paths that exist, for requests and substitutions
EXISTING = ["file.txt", "index.html", "a/", "a/b/c.html", "a/page.html",
            "a/x.txt", "new/file.txt", "new/", "dir/", "echo.cgi",
            "dir/echo.cgi", "a/echo.cgi", "empty.txt", "page.shtml",
            "a/page.shtml", "link.html", "dlink/page.html", "img/logo.png",
            "api/data.json", "sub/", "a/b/", "a/up.txt", "err.html"]

# deterministic variables a condition or substitution may read
VARS = ["REQUEST_URI", "REQUEST_FILENAME", "QUERY_STRING", "HTTP_HOST",
        "HTTP_USER_AGENT", "HTTP_REFERER", "HTTP_COOKIE", "HTTP_ACCEPT",
        "REQUEST_METHOD", "SERVER_NAME", "HTTPS", "THE_REQUEST",
        "REQUEST_SCHEME", "SCRIPT_FILENAME", "PATH_INFO", "DOCUMENT_ROOT",
        "IS_SUBREQ", "SERVER_PROTOCOL", "REMOTE_ADDR", "SERVER_ADDR",
        "CONTEXT_PREFIX", "CONTEXT_DOCUMENT_ROOT", "API_VERSION",
        "HTTP_FORWARDED", "HTTP_PROXY_CONNECTION", "REMOTE_USER",
        "AUTH_TYPE", "REMOTE_IDENT", "SERVER_ADMIN", "HTTP:X-Fz",
        "HTTP:Accept-Language", "HTTP:Host", "ENV:RW_A", "ENV:REDIRECT_STATUS",
        "ENV:RW_B", "SSL:SSL_PROTOCOL", "LA-U:REQUEST_FILENAME",
        "LA-F:REQUEST_FILENAME", "LA-U:REMOTE_USER", "REQUEST_FILENAME"]
VAR_W = [8, 8, 6, 5, 2, 2, 2, 1, 3, 1, 3, 2, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1,
         1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 2, 2, 1, 1, 1, 1, 1, 6]


def wchoice(rng, items, weights):
    return rng.choices(items, weights)[0]


# --avoid-known: steer around the divergence classes already filed (issue
# 12), so that a run finds new ones. Checked on the generated text.
AVOID = False
KNOWN = [
    ("A6/B8 look-ahead in sub-requests", ("LA-U:", "LA-F:", " -U", " -F", "!-U", "!-F")),
    ("A9/A10/B6/B10 T= and H=", ("T=", "H=")),
    ("A11 HTTP:Host", ("HTTP:Host",)),
    ("A12 duplicate cookies", ("CO=",)),
    ("A13/A14 schemes without query", ("ftp://", "gopher://", "news:", "nntp://", "ldap://")),
    ("A15/B7 empty and '&' queries", ("&]", "& ", "?]", "? ")),
    ("B1/B2/F1 [PT]", ("PT",)),
    ("B4 NC string comparisons", ()),
    ("B5 NS", ("NS",)),
    ("F3 END in per-dir", ("END",)),
    ("T-ici IgnoreContextInfo (trace)", ("IgnoreContextInfo",)),
]


def _flags_of(line):
    if line.endswith("]") and " [" in line:
        return line[line.rindex(" [") + 2:-1].split(",")
    return []


def known_hit(line):
    """The known class a generated line would exercise, or None."""
    if not AVOID:
        return None
    padded = line + " "
    flags = _flags_of(line)
    redirect = any(f == "R" or f.startswith("R=") for f in flags)
    if redirect and "C" in flags:
        return "F2 [R] in a chain"
    if redirect and "?%{QUERY_STRING}" in line:
        return "F6 redirect with the request's query"
    for label, needles in KNOWN:
        for n in needles:
            if n in padded:
                return label
    return None


# ----------------------------------------------------------------------
# regex grammar: each atom gives pattern text and a sample that matches


def _atom(rng, words):
    k = rng.random()
    w = rng.choice(WORDS)
    if k < 0.35:
        words.append(w)
        return w, w
    if k < 0.47:
        return "(.*)", rng.choice(["", w, w + "/" + rng.choice(WORDS), w + ".html"])
    if k < 0.55:
        return "(.+)", rng.choice([w, w + ".txt", "a/b"])
    if k < 0.65:
        return "([^/]+)", rng.choice([w, w + ".html"])
    if k < 0.70:
        return "([a-z]+)", w.rstrip("0123456789") or "x"
    if k < 0.75:
        return r"(\d+)", str(rng.choice([0, 7, 42, 123]))
    if k < 0.81:
        v = rng.choice(WORDS)
        words.extend([w, v])
        return "(%s|%s)" % (w, v), rng.choice([w, v])
    if k < 0.85:
        e = rng.choice([".html", ".txt", ".cgi", ".php"])
        return "\\" + e, e
    if k < 0.89:
        e1, e2 = rng.sample(["html", "txt", "cgi", "php", "json"], 2)
        return r"\.(%s|%s)" % (e1, e2), "." + e1
    if k < 0.92:
        return w + "?", rng.choice([w, w[:-1]])
    if k < 0.95:
        return "[^/]*", rng.choice(["", w])
    if k < 0.97:
        return ".*", rng.choice(["", w + "/" + w])
    return "(?:%s)+" % w, w * rng.choice([1, 2])


def gen_pattern(rng, ctx, words):
    """(pattern, sample path relative to the context) for a rule."""
    if rng.random() < 0.06:
        return rng.choice(["^", "^$", ".", "(.*)", "^(.*)$", "^/?$", "^/"]), ""
    pat = []
    sample = ""
    anchor = rng.random() < 0.8
    if anchor:
        pat.append("^")
    if ctx == "server":
        if anchor or rng.random() < 0.5:
            pat.append("/" if rng.random() < 0.9 else "/?")
    elif rng.random() < 0.08:
        pat.append("/?")
    n = rng.choice([1, 1, 2, 2, 2, 3])
    for i in range(n):
        a, s = _atom(rng, words)
        if i and not (a.startswith("\\.") or a.startswith("\\")) and rng.random() < 0.7:
            pat.append("/")
            sample += "/"
        pat.append(a)
        sample += s
    if rng.random() < 0.1:
        pat.append("/?")
    if rng.random() < 0.5:
        pat.append("$")
    p = "".join(pat)
    if rng.random() < 0.07:
        p = "!" + p
    return p, sample


# ----------------------------------------------------------------------
# substitutions


def gen_var(rng):
    return wchoice(rng, VARS, VAR_W)


def gen_piece(rng, ncap, ctx):
    k = rng.random()
    if k < 0.45 and ncap:
        return "$%d" % rng.randint(0 if rng.random() < 0.1 else 1, ncap)
    if k < 0.55:
        return "%%%d" % rng.randint(0, 2)
    if k < 0.78:
        return "%%{%s}" % gen_var(rng)
    if k < 0.92:
        m = rng.choice(["m", "m", "up", "low", "esc", "unesc", "r", "d"])
        key = rng.choice(["$1", "x", "old", "a", "%{QUERY_STRING}", "zz"]) if ncap \
            else rng.choice(["x", "old", "a", "zz", "%{QUERY_STRING}"])
        if rng.random() < 0.5 and m in ("m", "r", "d"):
            return "${%s:%s|%s}" % (m, key, rng.choice(["/file.txt", "dflt", "", "$0"]))
        return "${%s:%s}" % (m, key)
    return rng.choice(WORDS)


def gen_subst(rng, ctx, ncap):
    k = rng.random()
    if k < 0.14:
        return "-"
    if k < 0.24:
        host = rng.choice(["@HOST@", "@HOST@", "other.example", "127.0.0.1:@PORT@",
                           "@HOST@:@PORT@"])
        scheme = wchoice(rng, ["http", "https", "ftp", "ws", "mailto", "ldap",
                               "gopher", "news", "nntp", "fcgi"],
                         [12, 6, 1, 1, 1, 1, 1, 1, 1, 1])
        if scheme in ("mailto", "news"):
            base = "%s:%s" % (scheme, rng.choice(["u@x.example", "p"]))
        else:
            base = "%s://%s/" % (scheme, host)
        path = rng.choice(["", "file.txt", "x/", "$1", "a/b?c=d", "%{REQUEST_URI}"])
        if "$1" in path and not ncap:
            path = "y"
        s = base + path
    else:
        target = rng.choice(EXISTING + ["missing.html", "echo.cgi/", "a/", "x/y",
                                        "echo.cgi", "echo.cgi", "echo.cgi"])
        pieces = []
        if rng.random() < 0.35:
            pieces.append(gen_piece(rng, ncap, ctx))
        if target.endswith("echo.cgi") and rng.random() < 0.4:
            target += "/" + gen_piece(rng, ncap, ctx)
        elif pieces and rng.random() < 0.5:
            target = target.rstrip("/") + "/" + pieces.pop()
        s = target if (ctx == "dir" and rng.random() < 0.45) else "/" + target
        if pieces:
            s = pieces[0] + ("" if pieces[0].startswith("$") else "/") + s.lstrip("/") \
                if rng.random() < 0.3 else s
    if rng.random() < 0.35 and not s.startswith(("mailto", "-")):
        q = rng.choice(["a=$1", "x=1", "%{QUERY_STRING}", "%{QUERY_STRING}", "", "a=1&", "p=%1",
                        "k=${m:$1|none}", "q=%{ENV:RW_A}", "a=b&c=d", "s=%{HTTP:X-Fz}"])
        if "$1" in q and not ncap:
            q = "x=2"
        s += "?" + q
    if s.startswith("?"):
        s = "/echo.cgi" + s
    return s


# ----------------------------------------------------------------------
# flags

FLAGS = [
    ("L", 30), ("END", 6), ("N=4", 1), ("C", 5), ("S=1", 2), ("R", 6), ("R=301", 8),
    ("R=302", 3), ("R=303", 1), ("R=307", 1), ("R=308", 1), ("R=410", 1),
    ("R=404", 1), ("R=500", 1), ("R=400", 1), ("F", 4), ("G", 2), ("NC", 8),
    ("QSA", 8), ("QSD", 3), ("QSL", 1), ("NE", 4), ("B", 3), ("B=/?&", 1),
    ("BNP", 1), ("BCTLS", 1), ("BNE=&", 1), ("PT", 4), ("DPI", 2),
    ("E=RW_A:1", 4), ("E=RW_B:$1", 2), ("E=!RW_A", 1), ("E=RW_C:%{REQUEST_URI}", 1),
    ("CO=fz:v:.example.com", 1), ("CO=fz2:$1:@HOST@:0:/:secure:httponly", 1),
    ("T=text/x-fuzz", 2), ("T=application/x-httpd-cgi", 1), ("H=cgi-script", 1),
    ("H=default-handler", 1), ("NS", 2), ("P", 1), ("UnsafeAllow3F", 1),
    ("UnsafePrefixStat", 1), ("N=3", 1), ("S=2", 1), ("E=RW_D", 1),
    ("nocase", 1), ("last", 1), ("qsappend", 1), ("R=permanent", 1), ("T=", 0),
]
FLAG_NAMES = [f for f, w in FLAGS]
FLAG_W = [w for f, w in FLAGS]


def gen_flags(rng, subst):
    n = wchoice(rng, [0, 1, 2, 3, 4], [22, 38, 26, 10, 4])
    flags = []
    for _ in range(n):
        f = wchoice(rng, FLAG_NAMES, FLAG_W)
        if f == "P":
            if not subst.startswith("http://127.0.0.1:@PORT@"):
                continue
        # [N] is always bounded (N=n): a bare N loops up to 10000 times on
        # a substitution that matches again, growing the URI each round
        if f not in flags:
            flags.append(f)
    return flags


# ----------------------------------------------------------------------
# conditions

COND_OPS_STR = ["=", "<", ">", "<=", ">="]
COND_OPS_INT = ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"]
FILE_TESTS = ["-d", "-f", "-s", "-l", "-L", "-h", "-F", "-U", "-x"]


def gen_cond(rng, ncap):
    k = rng.random()
    test = "%%{%s}" % gen_var(rng)
    if rng.random() < 0.12 and ncap:
        test = "$1"
    if rng.random() < 0.05:
        test = "%{REQUEST_FILENAME}.html"
    if k < 0.42:
        p = rng.choice(["^/" + rng.choice(WORDS), rng.choice(WORDS), "^$", ".",
                        "(.+)", "^(.*)$", "on", "^" + rng.choice(WORDS) + "=(\\w+)",
                        "\\.(html|txt)$", "^@HOST@$", "^www\\.", "^(GET|HEAD)$",
                        "curl|wget", "^127\\.0\\.0\\.1$"])
        if rng.random() < 0.25:
            p = "!" + p
    elif k < 0.70:
        if rng.random() < 0.5:
            test = "%{REQUEST_FILENAME}"
        p = rng.choice(FILE_TESTS)
        if rng.random() < 0.4:
            p = "!" + p
    elif k < 0.82:
        p = rng.choice(COND_OPS_STR) + rng.choice(["", "a", "m", "/a", "on", "GET", "zz",
                                                  "@HOST@", "/file.txt"])
        if rng.random() < 0.2:
            p = "!" + p
    elif k < 0.92:
        test = rng.choice(["%{QUERY_STRING}", "$1", "%{HTTP:X-Fz}", "%{IS_SUBREQ}",
                           "%{REQUEST_URI}", "%{SERVER_PORT}"]) if ncap else \
            rng.choice(["%{QUERY_STRING}", "%{HTTP:X-Fz}", "%{SERVER_PORT}"])
        p = "%s %s" % (rng.choice(COND_OPS_INT), rng.choice(["0", "1", "5", "42", "-1"]))
        if rng.random() < 0.15:
            p = "!" + p
    else:
        test = "expr"
        p = rng.choice(['"%{REQUEST_URI} =~ m#^/a#"', '"%{QUERY_STRING} == \'x\'"',
                        '"-f %{REQUEST_FILENAME}"', '"%{HTTP_HOST} =~ /test$/"',
                        '"true"', '"%{REQUEST_METHOD} in {\'GET\', \'POST\'}"'])
        test, p = p, "expr"
        line = "RewriteCond %s %s" % (test, p)
        flags = []
        if rng.random() < 0.1:
            flags.append("OR")
        return line + (" [%s]" % ",".join(flags) if flags else "")
    flags = []
    if rng.random() < 0.18:
        flags.append("NC")
    if rng.random() < 0.12:
        flags.append("OR")
    if rng.random() < 0.04:
        flags.append("NV")
    if " " in test or " " in p:
        pass
    if " " in p:
        p = '"%s"' % p
    return "RewriteCond %s %s%s" % (test, p, " [%s]" % ",".join(flags) if flags else "")


# ----------------------------------------------------------------------
# rule sets


def count_caps(pat):
    n = 0
    i = 0
    while i < len(pat):
        if pat[i] == "\\":
            i += 2
            continue
        if pat[i] == "(" and not pat.startswith("(?", i):
            n += 1
        i += 1
    return 0 if pat.startswith("!") else n


def gen_rules(rng, ctx, words, samples, nrules=None):
    """A list of RewriteCond/RewriteRule lines; samples collects paths that
    the patterns match (relative to the context)."""
    out = []
    nrules = nrules or wchoice(rng, [1, 2, 3, 4, 5], [30, 30, 20, 12, 8])
    for _ in range(nrules):
        pat, sample = gen_pattern(rng, ctx, words)
        samples.append(sample)
        ncap = count_caps(pat)
        ncond = wchoice(rng, [0, 1, 2, 3], [55, 30, 11, 4])
        for _ in range(ncond):
            cond = gen_cond(rng, ncap)
            if AVOID and (known_hit(cond) or (" [NC" in cond and cond.split()[2].lstrip('!"')[:1] in "<>=")):
                cond = "RewriteCond %{REQUEST_URI} !^/zzz"
            out.append(cond)
        sub = gen_subst(rng, ctx, ncap)
        flags = gen_flags(rng, sub)
        if sub == "-" and not flags and rng.random() < 0.7:
            flags = ["E=RW_A:%s" % ("$1" if ncap else "hit")]
        line = "RewriteRule %s %s" % (pat, sub)
        if flags:
            line += " [%s]" % ",".join(flags)
        if known_hit(line):
            del out[len(out) - ncond:]
            continue
        out.append(line)
    return out


OPTIONS = ["Inherit", "InheritBefore", "InheritDown", "InheritDownBefore",
           "IgnoreInherit", "AllowNoSlash", "AllowAnyURI", "MergeBase",
           "IgnoreContextInfo", "LegacyPrefixDocRoot"]


def engine_line(rng):
    # --avoid-known: no "off" (<Location> RewriteEngine off is issue 12's
    # A1 tail and B9)
    return wchoice(rng, ["RewriteEngine On", "RewriteEngine on", "RewriteEngine off",
                         "RewriteEngine Off"], [10, 10, 0 if AVOID else 1, 0 if AVOID else 1])


def gen_dir_ruleset(rng, words, samples, avoid_a1, engine_inherited):
    items = []
    if not engine_inherited or avoid_a1 or rng.random() < 0.8:
        items.append(engine_line(rng))
    if rng.random() < 0.3:
        items.append("RewriteBase " + rng.choice(["/", "/a/", "/new", "/x/", "/a/b/"]))
    if rng.random() < 0.1:
        opt = rng.choice(OPTIONS)
        if not (AVOID and opt.startswith("Inherit")):      # F4
            items.append("RewriteOptions " + opt)
    items.extend(gen_rules(rng, "dir", words, samples))
    return items


# ----------------------------------------------------------------------
# whole configurations

SERVER_PREAMBLE = [
    'LoadModule include_module "/usr/lib/apache2/modules/mod_include.so"',
    "AddType text/html .shtml",
    "AddOutputFilter INCLUDES .shtml",
    '<Directory "@HTDOCS@">',
    "    Options +Includes",
    "</Directory>",
]


def gen_server(rng, avoid_a1):
    """Main-server lines of one batch (shared by all its configurations):
    rewrite directives outside any vhost, and sections for a directory
    every case has."""
    items = []
    k = rng.random()
    if k < 0.55:
        return items
    if not avoid_a1 or rng.random() < 0.3:
        if rng.random() < 0.6:
            items.append(engine_line(rng))
    if rng.random() < 0.4 and not avoid_a1:
        items.append("RewriteOptions " + rng.choice(["InheritDown", "InheritDownBefore",
                                                     "Inherit"]))
    if rng.random() < 0.5:
        w, s = [], []
        items.extend(gen_rules(rng, "server", w, s, rng.choice([1, 2])))
    if rng.random() < 0.3:
        w, s = [], []
        b = Block('<DirectoryMatch "^@HTDOCS@/[^/]+/srvd">',
                  ["RewriteEngine on"] + gen_rules(rng, "dir", w, s, 2))
        items.append(b)
    return items


def gen_case(rng, name, avoid_a1=False, server_engine=False):
    c = FuzzCase(name)
    words = []
    samples = []          # (prefix, sample path)
    vh = c.vhost
    maps = ["RewriteMap m txt:@DOCROOT@/m.txt", "RewriteMap up int:toupper",
            "RewriteMap low int:tolower", "RewriteMap esc int:escape",
            "RewriteMap unesc int:unescape", "RewriteMap r rnd:@DOCROOT@/r.txt",
            "RewriteMap d dbm=sdbm:@DOCROOT@/m.dbm"]
    vh.extend(maps)
    if rng.random() < 0.12:
        vh.append("ErrorDocument 404 " + rng.choice(["/err.html", "/a/old/e", "/echo.cgi?e=404",
                                                     "/x/err"]))
    if rng.random() < 0.06:
        vh.append("ErrorDocument 403 " + rng.choice(["/err.html", "/echo.cgi?e=403"]))
    if rng.random() < 0.1:
        vh.append("DirectoryIndex " + rng.choice(["index.html echo.cgi", "page.shtml index.html",
                                                  "missing.html index.html", "old.html"]))
    if rng.random() < 0.08:
        vh.append("Alias /al @DOCROOT@/a")
    vhost_engine = False
    layout = wchoice(rng, ["vhost", "htroot", "dir", "htdeep", "loc", "if", "mixed"],
                     [30, 20, 15, 10, 8, 5, 12])
    parts = [layout] if layout != "mixed" else \
        rng.sample(["vhost", "htroot", "dir", "htdeep", "loc", "if"], rng.choice([2, 2, 3]))
    if "vhost" in parts or rng.random() < 0.35:
        vhost_engine = True
        vh.append(engine_line(rng))
        if rng.random() < 0.12:
            vh.append("RewriteOptions " + rng.choice(OPTIONS))
    if "vhost" in parts:
        vh.extend(gen_rules(rng, "server", words, samples_tagged(samples, "")))
    inherited = vhost_engine or server_engine
    if "dir" in parts:
        d = rng.choice(["", "a", "a/b", "new", "srvd"])
        items = gen_dir_ruleset(rng, words, samples_tagged(samples, d), avoid_a1, inherited)
        if rng.random() < 0.15:
            items.insert(0, "Options " + rng.choice(["-FollowSymLinks", "+SymLinksIfOwnerMatch",
                                                     "+Indexes", "-ExecCGI"]))
        if rng.random() < 0.15:
            items.insert(0, "AllowOverride None")
        vh.append(Block('<Directory "@DOCROOT@%s">' % ("/" + d if d else ""), items))
    if "loc" in parts:
        loc = rng.choice(["/", "/a", "/x", "/new", "/a/b"])
        items = gen_dir_ruleset(rng, words, samples_tagged(samples, loc.strip("/")),
                                avoid_a1, inherited)
        vh.append(Block('<Location "%s">' % loc, items))
    if "if" in parts:
        expr = rng.choice(['"%{QUERY_STRING} =~ /x/"', '"true"', '"%{HTTP:X-Fz} == \'on\'"',
                           '"%{REQUEST_URI} =~ m#^/a#"', '"-f %{REQUEST_FILENAME}"'])
        inner = gen_dir_ruleset(rng, words, samples_tagged(samples, ""), avoid_a1, inherited)
        blk = Block("<If %s>" % expr, inner)
        if rng.random() < 0.5 or AVOID:      # F8: vhost-level <If>
            vh.append(Block('<Directory "@DOCROOT@">', [blk]))
        else:
            vh.append(blk)
    for d in (["", ] if "htroot" in parts else []) + \
            ([rng.choice(["a", "a/b", "new", "dir", "sub"])] if "htdeep" in parts else []):
        c.htaccess[d] = gen_dir_ruleset(rng, words, samples_tagged(samples, d), avoid_a1,
                                        inherited)
        if d and rng.random() < 0.3 and "" not in c.htaccess:
            c.htaccess[""] = gen_dir_ruleset(rng, words, samples_tagged(samples, ""),
                                             avoid_a1, inherited)
    c.requests = gen_requests(rng, samples, words, rng.choice([4, 5, 6, 8]))
    return c


def samples_tagged(samples, prefix):
    """A list proxy: what the rule generator appends is stored with the
    context's URL prefix."""
    class _L(list):
        def append(self, s):
            samples.append((prefix, s))
    return _L()


# ----------------------------------------------------------------------
# requests

ENCODED = ["%2F", "%3F", "%25", "%00", "%0A", "%20", "%C3%A9", "%2e", "%41", "+", "%26"]
HEADERS = [("X-Fz: on", 5), ("X-Fz: 42", 2), ("User-Agent: curl/8.0", 2),
           ("Referer: http://other.example/", 1), ("Cookie: fz=1", 1),
           ("Accept: text/html", 1), ("Accept-Language: en", 1),
           ("Host: @HOST@:@PORT@", 2), ("Host: WWW.@HOST@", 0),
           ("X-Fz: a b", 1), ("Content-Length: 0", 0)]


def gen_target(rng, samples, words):
    k = rng.random()
    if samples and k < 0.65:
        prefix, s = rng.choice(samples)
        path = "/" + (prefix + "/" if prefix else "") + s.lstrip("/")
        path = path.replace("//", "/") if rng.random() < 0.9 else path
    elif k < 0.85:
        path = "/" + rng.choice(EXISTING)
    else:
        path = "/" + "/".join(rng.choice(WORDS + words) for _ in range(rng.randint(1, 3)))
        path += rng.choice(EXTS)
    m = rng.random()
    if m < 0.08:
        i = rng.randint(1, len(path))
        path = path[:i] + rng.choice(ENCODED) + path[i:]
    elif m < 0.12:
        path = path.replace("/", "//", 1)
    elif m < 0.15:
        path = "/x/.." + path
    elif m < 0.17:
        path = path + "/./"
    elif m < 0.20 and path.endswith("/") and len(path) > 1:
        path = path[:-1]
    elif m < 0.23:
        i = rng.randint(1, len(path))
        path = path[:i] + rng.choice(["\u00e9", "\u00c3\u00a9", " ", "\t", "\x01", "\x7f"]) \
            + path[i:]
    q = rng.random()
    if q < 0.25:
        path += "?" + rng.choice(["x=1", "a=b&c=d", "", "q=%2F%26", "x", "p=a+b", "old=1",
                                  "k=%C3%A9"])
    return path


def gen_requests(rng, samples, words, n):
    reqs = []
    for _ in range(n):
        target = gen_target(rng, samples, words)
        method = wchoice(rng, ["GET", "HEAD", "POST", "OPTIONS", "PUT"], [80, 8, 8, 2, 2])
        headers = []
        if method in ("POST", "PUT"):
            headers.append("Content-Length: 0")
        for h, w in HEADERS:
            if w and rng.random() < w / 40.0:
                if h.startswith("Host:") and any(x.startswith("Host:") for x in headers):
                    continue
                headers.append(h)
        if rng.random() < 0.03:
            target = "http://@HOST@" + target
        proto = "HTTP/1.0" if rng.random() < 0.03 else "HTTP/1.1"
        reqs.append(Req(method, target, headers, proto))
    return reqs


# ----------------------------------------------------------------------
# invalid (or borderline) configurations for apache2 -t

BAD_LINES = [
    "RewriteRule ^/a$ /b [XYZ]", "RewriteRule ^/a$ /b [R=299]", "RewriteRule ^/a$ /b [R=600]",
    "RewriteRule ^/a$ /b [R=399]", "RewriteRule ^/a$ /b [R=200]", "RewriteRule ^/(a$ /b",
    "RewriteRule ^/a$", "RewriteRule ^/a$ /b [L] extra", "RewriteRule ^/a$ /b [L",
    "RewriteRule ^/a$ /b L]", "RewriteRule ^/a$ /b [S=x]", "RewriteRule ^/a$ /b [N=x]",
    "RewriteRule ^/a$ /b [E=]", "RewriteRule ^/a$ /b [CO=x]", "RewriteRule ^/a$ /b [CO=x:y]",
    "RewriteRule ^/a$ /b [B=]", "RewriteRule ^/a$ /b [T]", "RewriteRule ^/a$ /b [H]",
    "RewriteRule ^/a$ /b [,]", "RewriteRule ^/a$ /b []", "RewriteRule ^/a$ /b [L,,NC]",
    "RewriteRule ^/a$ /b [l,nc,r=301]", "RewriteRule ^/a$ /b [R=3xx]",
    "RewriteRule ^/a$ /b [S=-1]", "RewriteRule ^/a$ /b [N=0]", "RewriteRule ^/a$ /b [N=32001]",
    "RewriteRule ^/a$ /b [BNP=x]", "RewriteRule ^/a$ /b [QSA=1]", "RewriteRule ^/a$ /b [G=1]",
    "RewriteRule ^/a$ /b [ L ]", "RewriteRule ^/a$ /b [Last]", "RewriteRule ^/a$ /b [endx]",
    "RewriteRule ^/a$ ${nomap:x}", "RewriteRule ^/a$ /b [UnsafeAllow3F=1]",
    "RewriteRule ^/a{2,1}$ /b", "RewriteRule (?<n>a) /b", "RewriteRule ^/a$ /b [P,R]",
    "RewriteCond %{X} ^a", "RewriteCond %{REQUEST_URI} ^(a [NC]",
    "RewriteCond %{REQUEST_URI} ^a [XX]", "RewriteCond %{REQUEST_URI}",
    "RewriteCond %{REQUEST_URI} -z", "RewriteCond %{REQUEST_URI} -eq x",
    "RewriteCond expr \"%{REQUEST_URI} =~\" expr", "RewriteCond %{REQUEST_URI} ^a [NC,OR,NV]",
    "RewriteCond %{REQUEST_URI} ^a [or]", "RewriteCond %{REQUEST_URI} ^a [ornext,nocase]",
    "RewriteCond %{REQUEST_URI} ^a [NC] x", "RewriteCond %{HTTP:} ^a",
    "RewriteCond %{REQUEST_URI ^a", "RewriteCond %{ENV:} ^a",
    "RewriteEngine maybe", "RewriteEngine", "RewriteEngine on off",
    "RewriteOptions Bogus", "RewriteOptions", "RewriteOptions MaxRedirects=5",
    "RewriteOptions inherit", "RewriteOptions Inherit InheritBefore",
    "RewriteBase /a", "RewriteBase", "RewriteMap", "RewriteMap m", "RewriteMap m bogus:/x",
    "RewriteMap m txt:", "RewriteMap m txt:@DOCROOT@/nonexistent.txt",
    "RewriteMap m rnd:@DOCROOT@/nonexistent.txt", "RewriteMap m int:nosuch",
    "RewriteMap m int:toupper extra", "RewriteMap m dbm=nosuch:@DOCROOT@/m.dbm",
    "RewriteMap m prg:/nonexistent/prog", "RewriteMap m dbd:SELECT 1",
    "RewriteMap m fastdbd:SELECT 1", "RewriteMap m:x int:toupper",
    "RewriteMap m txt:@DOCROOT@/m.txt\nRewriteMap m int:tolower",
    "RewriteLock /tmp/x", "RewriteLog /tmp/x", "RewriteLogLevel 3",
    "RewriteRule ^/a$ /b [L]\nRewriteCond %{REQUEST_URI} ^x",
    "<Directory @DOCROOT@>\nRewriteMap m int:toupper\n</Directory>",
    "<Directory @DOCROOT@>\nRewriteBase a\n</Directory>",
    "<Directory @DOCROOT@>\nRewriteBase /a/\nRewriteRule a b\n</Directory>",
    "<Location />\nRewriteBase /x\n</Location>",
    "RewriteRule \"^/a b$\" /c", "RewriteRule '^/a$' /c", "RewriteRule ^/a$ \"/b c\" [L]",
    "RewriteRule ^/a$ /b [L,NC,QSA,R=302,NE,E=A:b,CO=a:b:c,T=x/y,H=z,S=1]",
    "RewriteRule ^/a$ /b [E=A:b:c]", "RewriteRule ^/a$ /b [CO=a:b:c:d:e:f:g:h:i]",
    "RewriteRule ^/a$ /b [CO=a:b:c:-1]", "RewriteRule ^/a$ /b [CO=a;b:c:d]",
]


def gen_configtest(rng, name, bad=None):
    c = FuzzCase(name)
    c.configtest = True
    base = gen_rules(rng, "server", [], [], rng.choice([0, 1]))
    bad = (bad or rng.choice(BAD_LINES)).split("\n")
    blocks = []
    i = 0
    while i < len(bad):
        if bad[i].startswith("<"):
            j = bad.index("</%s>" % bad[i][1:].split()[0].rstrip(">"), i)
            blocks.append(Block(bad[i], bad[i + 1:j]))
            i = j + 1
        else:
            blocks.append(bad[i])
            i += 1
    c.vhost = ["RewriteEngine on"] + base + blocks
    return c
