# rewrite-test: show, step by step, what mod_rewrite does with a request,
# by running the rules in a private Apache with the real module and reading
# its trace log.  `rewrite-test --help` is the manual; tools/rewrite-test is
# the executable, the servers are rwharness.py's (beside this file).
# Python 3 standard library only (Debian 12's /usr/bin/python3 is enough).

import difflib
import fnmatch
import ipaddress
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

VERSION = "1.0"
PROG = "rewrite-test"

import rwharness as rh

HTTPD = rh.HTTPD
MODDIR = rh.MODDIR
# the directory of the executable (run() sets it): the build's module
# is looked for beside it (../.libs), the kept stock copy in ../lib
HERE = os.path.dirname(os.path.realpath(__file__))
# a copy of the stock module kept by `make install-tools` (before
# `make install` replaces it), and where it is looked for
STOCK_COPY = os.environ.get("RW_STOCK_COPY",
                            "/usr/local/lib/rewrite-test/mod_rewrite-stock.so")
# where the Debian package (debian/) keeps the stock module it replaces
STOCK_DIVERTED = rh.STOCK_DIVERTED
IS_ROOT = rh.IS_ROOT

START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 20.0
RUN_LIMIT = 8           # seconds for the request before it is called a runaway
LOG_CAP = 8 << 20      # trace bytes before it is
LOG_READ_CAP = 4 << 20  # trace bytes read back in that case

HELP = """\
NAME
    rewrite-test - show what mod_rewrite does with a request, step by step

SYNOPSIS
    rewrite-test [RULES] [FILES] [REQUEST OPTIONS] [OUTPUT OPTIONS] URL
    rewrite-test [RULES] [FILES] [REQUEST OPTIONS] --cases FILE [--junit FILE] [BASE-URL]
    rewrite-test --lint [--htaccess | --server-context] [--dir URL-PATH] [--usage DUMP] FILE...

DESCRIPTION
    rewrite-test answers "why does my rule not match?".  It starts a private
    Apache httpd (Debian's /usr/sbin/apache2, one process, loopback only)
    with the rules and a generated document root, loads the real
    mod_rewrite module, sends it the request and reads the module's own
    trace log (LogLevel rewrite:trace8) and the HTTP answer.  What it shows
    is what the server does: there is no second implementation of the
    engine.  It prints, in order, every rule and condition evaluated with
    its expanded input, whether it matched, the captures ($N, %N), the
    substitution result and the flags applied, then the outcome: the
    internal URL and file, query string, redirect status and Location,
    proxy target, forbidden/gone, environment variables, cookies and Vary,
    and the rule that decided it.  Rules that were tried and did not match
    are summed up in one line (--all-steps shows them); a loop's repeated
    passes are shown once.  When an .htaccess that the request should read
    did not run, it says why (AllowOverride at its file:line, an encoded
    slash refused by the core, a file the server cannot read, no
    RewriteEngine On, a server rule that answered first).  The mistakes
    --lint knows are shown as hints under the answer.

RULES
    --conf FILE
        Server-context configuration, as inside a <VirtualHost>:
        RewriteEngine, RewriteRule, RewriteCond, RewriteMap, RewriteOptions,
        and <Directory> blocks.  A file holding whole <VirtualHost> blocks
        may be given too: the vhost is picked as httpd does, first by the
        URL's port (http 80, https 443, or the port it names), then by
        ServerName/ServerAlias (wildcards too) among the vhosts on that
        port, else the first of them; with no vhost on the port the lines
        outside any vhost (the main server) answer.  A note says which
        vhost and why.  DocumentRoot, Listen, LogLevel, LoadModule,
        ServerName and the like are replaced by the tool's own (one note
        lists them); a DocumentRoot is shown as the name of the generated
        one.
    --htaccess FILE
        Per-directory rules, as an .htaccess file.  It is placed in the
        directory given by --dir.
    --dir URL-PATH
        The directory the .htaccess sits in, as a URL path (default /).
    -e LINE
        A directive given inline, repeatable, e.g. -e 'RewriteRule ^/a /b'.
        The lines are server context; with --dir and no --htaccess they are
        the .htaccess of that directory instead.  "RewriteEngine on" is
        added unless they set RewriteEngine themselves (numbering stays
        that of the -e options: the first is -e:1).

FILES
    Conditions such as -f and -d need a file system.  By default the
    document root is generated and empty, and holds only:
    --exists PATH
        a file at URL-PATH under the document root (repeatable); a PATH
        ending in / is a directory
    --dir-exists PATH
        a directory (repeatable)
    --docroot DIR
        use the real directory DIR as the document root instead (its own
        .htaccess files take part, as on a server).  Nothing is written to
        it: an .htaccess given with --htaccess and the --exists and
        --dir-exists paths are overlaid on a mirror of DIR built from
        symbolic links, in the tool's temporary directory.
    Nothing is ever written outside the tool's temporary directory: a
    PATH with '..' that leaves the document root is refused (exit 2).
    In the output the generated document root is shown as DOCROOT, or as
    the DocumentRoot of the --conf file when it has one.

REQUEST
    URL                     e.g. https://example.com/a/b?x=1 (scheme http
                            or https; a bare /path means http://localhost;
                            an IPv6 literal as http://[::1]/a)
    --method METHOD         default GET
    -H 'Name: value'        a request header, repeatable (Host, Cookie,
                            User-Agent, Referer, ...)
    --remote-addr IP        the client address seen as REMOTE_ADDR
    --behind-proxy https    TLS ends at a load balancer or proxy: the
                            request reaches the server as http (port 80
                            unless the URL names one) with
                            X-Forwarded-Proto set to the URL's scheme.
                            The answer shows %{HTTPS}, %{REQUEST_SCHEME}
                            and %{HTTP:X-Forwarded-Proto}, and an https
                            redirect that fires every time is hinted at
                            its usual fix.

FOLLOW
    --follow, --follow=N    follow the redirects of the answer on the same
                            site (the same host, give or take "www."), N at
                            most (default 10), each as a new request (the
                            vhost is picked again for its scheme and port);
                            prints the chain with the rule behind each hop,
                            flags a chain that comes back to a URL it has
                            seen (A -> B -> A) or a redirect to the URL
                            itself, and names mod_dir's DirectorySlash when
                            it made the 301.  Exit 1 when it finds a loop.

BATCH
    --cases FILE            many URLs on one server start, for migrations
                            and CI (each URL reaches the vhost it would
                            reach by scheme, port and name).  Lines:
                                URL [-> [STATUS] [TARGET]]
                            ('=>' works too; # starts a comment) or CSV/TSV
                                url,status,target
                            (a first row that is not a URL is a header).
                            URL is absolute, or a /path joined to the
                            BASE-URL argument (default http://localhost).
                            STATUS alone checks the status; a TARGET with a
                            3xx STATUS, or an http(s):// TARGET, is the
                            Location (a /path there is on the request's own
                            site); any other TARGET is the internal target
                            (the URL-path served, with ?query when the
                            TARGET has one).  A line with no expectation
                            only reports.  Prints a pass/fail table (-q:
                            the failures only) and a summary line; --json
                            for tools; exit 1 on any mismatch.  The
                            document root is as with one URL (--exists,
                            --docroot): a target file that is missing
                            answers 404.  No trace is taken: run one URL
                            without --cases to see why it fails.
    --junit FILE            also write the results as JUnit XML

OUTPUT
    --json                  the same as JSON (for tools); see JSON below
    --compare-stock         run the same request through the stock module
                            too and show any difference (a migration check)
    --all-steps             show every rule tried (by default the rules
                            that did not match are summed up in one line)
    --trace                 also print the raw rewrite trace lines
    --quiet, -q             only the outcome
    --module PATH           the module to test (default: RW_MODULE, the
                            build next to this tool, or the installed one)
    --stock PATH            the stock module for --compare-stock (default:
                            Debian's, checked against apache2-bin's
                            checksum: mod_rewrite.so.distrib where the
                            package keeps it, else the installed one;
                            else the copy kept by make install-tools)

LINT
    rewrite-test --lint FILE...  reads httpd.conf fragments or .htaccess
    files (--htaccess: all files are .htaccess; otherwise a file whose
    name has "htaccess" in it, such as .htaccess or Joomla's htaccess.txt,
    is one, unless --server-context says the files are server config) and
    warns, with file and line, about:
      - syntax errors, exactly as the server reports them (the files are
        checked by apache2 -t with the real module)
      - a per-directory pattern starting with ^/ (never matches there), and
        a server-context pattern anchored on anything but / (never matches)
      - RewriteCond lines with no RewriteRule after them
      - [R] without [L] when more rules follow
      - rules that can never be reached behind an earlier catch-all rule
        with [L] (or [END], [F], [G], [P])
      - flags with no effect: T=, H=, E= on a rule with a substitution in
        per-directory context
      - [P] without mod_proxy (not loaded by the files, nor enabled in
        /etc/apache2/mods-enabled)
      - rules that loop on their own output: a per-directory rule whose
        result matches itself again (checked by running it)
      - a query string in a RewriteRule pattern (^page\.php\?id=): use
        RewriteCond %{QUERY_STRING} and %1
      - a scheme or a host name in a RewriteRule pattern: use
        RewriteCond %{HTTP_HOST} (and %{HTTPS})
      - %{REQUEST_FILENAME} -f/-d in server context, where it is still the
        URL-path: use %{DOCUMENT_ROOT}%{REQUEST_URI} or %{LA-U:...}
      - $N or %N with no such group in the pattern or the conditions
      - [QSA] together with [QSD] (QSD wins)
      - a trailing [OR] on the last RewriteCond (the rule then applies
        when that condition is false)
      - rules in a file with no RewriteEngine On
      - a per-directory rule that rewrites its own target again
        (^(.*)$ index.php?PAGE=$1 gives PAGE=index.php)
      - the .html-extension loop ($1.html after a !-f check only)
      - '_' in a header name in %{HTTP:...} (X_Forwarded_Proto)
    Each warning ends with its one-line fix.
    Output lines are FILE:LINE: warning: TEXT.  Exit status 1 when there
    are warnings or errors, 0 when the files are clean.
    --usage DUMP also marks the rules a saved statistics dump (the
    module's rewrite-status page with ?json, RewriteStatistics On) counts
    with 0 hits: FILE:LINE: info: never hit since DATE.  Rules are found
    in the dump by file and line, else by their text (pattern,
    substitution, flags), so a copy of the config still matches; a rule
    the dump does not have is not marked.  These lines do not change the
    exit status.

JSON
    {"request": {...}, "rules": [...], "passes": [{"request": "initial",
    "context": "server"|"directory", "directory": ..., "steps": [{"rule":
    {"file", "line", "text"}, "input", "matched", "captures",
    "conditions": [...], "result", "actions": [...]}], "result": ...}],
    "outcome": {"status", "kind", "uri", "filename", "query_string",
    "location", "proxy_target", "handler", "content_type", "env",
    "final_env", "cookies", "vary", "errors", "decided_by", "redirect_by",
    "vars"}, "not_run": [{"directory", "file", "reason"}], "hints":
    [{"file", "line", "kind", "message"}], "notes", "vhost_choice",
    "trace": [...], "elapsed": seconds}; with --compare-stock also
    "stock": {...} and "differences": [...]; with --follow "follow":
    {"hops": [...], "loop", "self", "stopped"}; with --behind-proxy
    "behind_proxy": {"HTTPS", "REQUEST_SCHEME", "HTTP:X-Forwarded-Proto"}.
    outcome.kind is internal, redirect, proxy, forbidden, gone, status,
    error, config-error, loop, or stopped (the trace cap or the time limit
    was hit and no rule repeats: not a loop).
    --cases: {"cases": [{"file", "line", "url", "expected", "got", "ok",
    "problem"}], "passed", "failed", "elapsed", "urls_per_second",
    "server_starts"}.
    Lint: {"warnings": [{"file", "line", "kind", "level", "message"}]}.

EXAMPLES
    rewrite-test -e 'RewriteRule ^/old/(.*)$ /new/$1 [R=301,L]' \\
        http://example.com/old/page?x=1
    rewrite-test --htaccess .htaccess --dir /blog/ \\
        --exists /blog/index.php https://example.com/blog/hello
    rewrite-test --conf site.conf --docroot /var/www/html -H 'Cookie: a=b' \\
        https://example.com/
    rewrite-test --conf vhosts.conf --follow http://www.example.com/old
    rewrite-test --conf site.conf --cases redirects.txt --junit out.xml \\
        https://example.com
    rewrite-test --behind-proxy https --htaccess .htaccess https://example.com/
    rewrite-test --lint --htaccess .htaccess

ENVIRONMENT
    RW_MODULE       module to test        APACHE2   server binary
    RW_MODDIR       Apache's module directory (/usr/lib/apache2/modules)
    TMPDIR          where the temporary server root goes
    REWRITE_TEST_PORTS  a port range such as 8600-8699 (default: any free
                    loopback port)
    REWRITE_TEST_LOG_CAP  bytes of trace read for one request before it is
                    stopped (default: 8 MB, more for big rule sets); a
                    request stopped there is reported as such, never as
                    a loop unless one rule repeats
    REWRITE_TEST_KEEP   keep the temporary server root (its path is printed)

EXIT STATUS
    0 the request was run (whatever its outcome), or every --cases line
    passed; 1 lint warnings, a difference found by --compare-stock, a
    redirect loop found by --follow, or a --cases mismatch; 2 a bad
    option, URL or path, the server could not start, or the rules have a
    syntax error (in --conf, -e or an .htaccess).  Every error is one
    line on stderr; with --json also {"error": {"message", "file", "line",
    "exit_status"}} on stdout.
"""


def debug(msg):
    if os.environ.get("REWRITE_TEST_DEBUG"):
        print("# " + msg, file=sys.stderr)


JSON_MODE = False     # --json: errors too are printed as JSON


def die(msg, code=2, file=None, line=None):
    """One clear line on stderr (and, with --json, an error document on
    stdout naming the file and line when there is one), then exit."""
    where = "%s:%d: " % (file, line) if file and line else ""
    print("%s: %s%s" % (PROG, where, msg), file=sys.stderr)
    if JSON_MODE:
        print(json.dumps({"error": {"message": msg, "file": file, "line": line,
                                    "exit_status": code}}, indent=2))
    sys.exit(code)


# ----------------------------------------------------------------------
# configuration files: directives, sections, rules

def split_args(s):
    """Split directive arguments like Apache's ap_getword_conf: quotes
    group words, a backslash before the quote character escapes it.
    Returns a list of (value, raw text)."""
    out = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        if s[i] in "\"'":
            q = s[i]
            i += 1
            val = []
            while i < n and s[i] != q:
                if s[i] == "\\" and i + 1 < n and s[i + 1] == q:
                    val.append(q)
                    i += 2
                    continue
                val.append(s[i])
                i += 1
            i += 1
            out.append(("".join(val), s[start:i]))
        else:
            while i < n and s[i] not in " \t":
                i += 1
            out.append((s[start:i], s[start:i]))
    return out


FLAG_ALIASES = {
    "last": "L", "redirect": "R", "forbidden": "F", "gone": "G",
    "proxy": "P", "passthrough": "PT", "chain": "C", "skip": "S",
    "type": "T", "handler": "H", "env": "E", "cookie": "CO",
    "nocase": "NC", "noescape": "NE", "nosubreq": "NS", "qsappend": "QSA",
    "qsdiscard": "QSD", "qslast": "QSL", "discardpath": "DPI", "next": "N",
    "backrefescaping": "B", "backrefernoplus": "BNP", "ornext": "OR",
    "novary": "NV",
}
# the flags the module knows (short names; the long ones are above); the
# tests compare both with the module's own table in rewrite_parse.c
RULE_FLAGS = {"B", "BNP", "BCTLS", "BNE", "C", "CO", "DPI", "E", "END", "F", "G", "H",
              "L", "N", "NC", "NE", "NS", "P", "PT", "QSA", "QSD", "QSL", "R",
              "S", "T", "UNC", "UNSAFEALLOW3F", "UNSAFEPREFIXSTAT"}
COND_FLAGS = {"NC", "OR", "NV"}


def parse_flags(text):
    """'[L,R=301]' -> [('L', None), ('R', '301')] (keys upper-cased,
    long names mapped to short ones)."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    flags = []
    for part in t.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            k, v = part, None
        k = k.strip()
        key = FLAG_ALIASES.get(k.lower(), k.upper())
        flags.append((key, v))
    return flags


class Directive:
    def __init__(self, file, line, text, name, args, context, section):
        self.file = file          # label of the file, as shown
        self.line = line          # first line number
        self.text = text          # the directive as written (joined)
        self.name = name          # lower-case directive name
        self.args = args          # [(value, raw)]
        self.context = context    # "server" | "dir"
        self.section = section    # e.g. ('directory', '/path') or None


class Cond:
    def __init__(self, d):
        self.d = d
        a = d.args
        self.test = a[0][0] if a else ""
        self.raw_pattern = a[1][0] if len(a) > 1 else ""
        self.flags = parse_flags(a[2][0]) if len(a) > 2 else []
        self.fset = {k for k, _ in self.flags}
        p = self.raw_pattern
        self.negate = p.startswith("!")
        self.pattern = p[1:] if self.negate else p
        self.probe = None

    def is_regex(self):
        p = self.pattern
        if self.test == "expr":
            return False
        if p[:1] in ("<", ">", "=") or (p.startswith("-") and len(p) <= 3):
            return False
        return True


class Rule:
    def __init__(self, d, conds):
        self.d = d
        self.conds = conds
        a = d.args
        self.raw_pattern = a[0][0] if a else ""
        self.subst = a[1][0] if len(a) > 1 else ""
        self.flags = parse_flags(a[2][0]) if len(a) > 2 else []
        self.fset = {k for k, _ in self.flags}
        p = self.raw_pattern
        self.negate = p.startswith("!")
        self.pattern = p[1:] if self.negate else p
        self.probe = None          # index of the capture probe

    def flag(self, key):
        for k, v in self.flags:
            if k == key:
                return v if v is not None else ""
        return None


def logical_lines(text):
    """Yield (first line number, joined text) with backslash-continued
    lines joined, as Apache reads them."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i + 1
        cur = lines[i].rstrip("\r")
        while cur.endswith("\\") and i + 1 < len(lines):
            i += 1
            cur = cur[:-1] + lines[i].rstrip("\r").lstrip(" \t")
        i += 1
        yield start, cur


DIR_SECTIONS = {"directory", "directorymatch", "location", "locationmatch",
                "files", "filesmatch", "if", "elseif", "else", "proxy",
                "proxymatch"}


def read_directives(label, text, htaccess):
    """Parse a config text into Directives; sections are tracked so each
    directive knows whether it is in server or per-directory context."""
    out = []
    stack = []      # [(name, arg)]
    for ln, line in logical_lines(text):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("</"):
            name = s[2:].rstrip(">").strip().lower()
            if stack and stack[-1][0] == name:
                stack.pop()
            elif any(x[0] == name for x in stack):
                while stack and stack[-1][0] != name:
                    stack.pop()
                stack.pop()
            out.append(Directive(label, ln, s, "</" + name, [], None, None))
            continue
        if s.startswith("<"):
            body = s[1:].rstrip()
            if body.endswith(">"):
                body = body[:-1]
            parts = body.split(None, 1)
            name = parts[0].lower() if parts else ""
            arg = parts[1].strip() if len(parts) > 1 else ""
            if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "\"'":
                arg = arg[1:-1]
            ctx = "dir" if htaccess or any(x[0] in DIR_SECTIONS for x in stack) else "server"
            out.append(Directive(label, ln, s, "<" + name, [(arg, arg)], ctx,
                                 section_of(stack)))
            stack.append((name, arg))
            continue
        parts = s.split(None, 1)
        name = parts[0].lower()
        args = split_args(parts[1]) if len(parts) > 1 else []
        in_dir = htaccess or any(x[0] in DIR_SECTIONS for x in stack)
        out.append(Directive(label, ln, s, name, args,
                             "dir" if in_dir else "server", section_of(stack)))
    return out


def section_of(stack):
    """The innermost section that makes a rule set of its own."""
    for name, arg in reversed(stack):
        if name in DIR_SECTIONS or name == "virtualhost":
            return (name, arg)
    return None


def build_rulesets(directives):
    """Group rules (with their conditions) by rule set: the key is the
    section (None for the server/main context of the file).  Returns
    ({key: [Rule]}, [dangling Cond], [(Directive, ...)] in order)."""
    sets = {}
    pending = {}
    dangling = []
    for d in directives:
        if d.name.startswith("</") or d.name.startswith("<"):
            continue
        key = d.section
        if d.name == "rewritecond":
            pending.setdefault(key, []).append(Cond(d))
        elif d.name == "rewriterule":
            sets.setdefault(key, []).append(Rule(d, pending.pop(key, [])))
    for key, conds in pending.items():
        dangling.extend(conds)
    return sets, dangling


# ----------------------------------------------------------------------
# the temporary server tree

def pick_ports(count):
    """Free loopback ports: from REWRITE_TEST_PORTS (a range) when set,
    else whatever the kernel hands out."""
    rng = os.environ.get("REWRITE_TEST_PORTS", "")
    if not rng:
        return rh.pick_ports(count)
    cands = rh.port_range(rng)
    if cands is None:
        die("REWRITE_TEST_PORTS must look like 8600-8699")
    off = (os.getpid() * 7) % len(cands)
    ports = rh.pick_ports(count, cands[off:] + cands[:off])
    if len(ports) < count:
        rh.release_ports(*ports)
        die("no free port in REWRITE_TEST_PORTS=%s" % rng)
    return ports


write_file = rh.write_file
makedirs_open = rh.makedirs_open
file_md5 = rh.file_md5
stock_md5 = rh.stock_md5


def find_module(opt):
    if opt:
        return os.path.abspath(opt)
    env = os.environ.get("RW_MODULE")
    if env:
        return os.path.abspath(env)
    build = os.path.join(os.path.dirname(HERE), ".libs", "mod_rewrite.so")
    if os.path.isfile(build):
        return build
    return os.path.join(MODDIR, "mod_rewrite.so")


def find_stock(opt):
    """The stock module: --stock, else Debian's own file, checked against
    apache2-bin's checksum, under the name the package diverts it to or in
    its place, else a copy kept by make install-tools."""
    if opt:
        return os.path.abspath(opt)
    path, _ = rh.find_stock(copies=(STOCK_COPY, os.path.join(
        os.path.dirname(HERE), "lib", "rewrite-test", "mod_rewrite-stock.so")),
        unverified_ok=True)
    if path is None:
        die("the stock mod_rewrite.so was not found (neither %s nor %s is "
            "Debian's and no copy is kept at %s): give --stock PATH"
            % (STOCK_DIVERTED, os.path.join(MODDIR, "mod_rewrite.so"), STOCK_COPY))
    return path


# collects httpd.conf lines and remembers where user lines came from
ConfBuilder = rh.Conf


REPLACED_DIRECTIVES = {
    "listen", "loadmodule", "loadfile", "serverroot", "pidfile", "errorlog",
    "customlog", "transferlog", "user", "group", "mutex",
    "defaultruntimedir", "include", "includeoptional", "scoreboardfile",
    "loglevel", "documentroot", "servername", "serveralias", "sslengine",
    "sslcertificatefile", "sslcertificatekeyfile", "sslcertificatechainfile",
    "errorlogformat", "logformat", "startservers", "maxrequestworkers",
    "serverlimit", "threadsperchild", "threadlimit", "keepalive",
    "listenbacklog", "namevirtualhost", "suexecusergroup",
}


class Setup:
    """Everything known before the servers start: rules, files, request."""

    def __init__(self, opts):
        self.o = opts
        self.notes = []
        self.server_lines = []     # [(text, origin)] for the test vhost
        self.main_lines = []       # [(text, origin)] outside any vhost
        self.htaccess = None       # (label, text) placed at docroot+dir
        self.dir = opts.dir or "/"
        if not self.dir.startswith("/"):
            self.dir = "/" + self.dir
        if not self.dir.endswith("/"):
            self.dir += "/"
        self.user_docroot = None   # DocumentRoot of the --conf file
        self.rulesets = {}         # ('server',) | ('dir', abs path/) -> [Rule]
        self.all_rules = []
        self.env_names = set()
        self.url = None
        self.preread = []          # real .htaccess dirs to read up front
        self.vhost_choice = None   # why that <VirtualHost> of --conf
        self.ignored = []          # lines of --conf the tool replaces

    # -- the request
    def parse_url(self):
        u = self.o.url
        if u.startswith("/"):
            u = "http://localhost" + u
        elif "://" not in u:
            u = "http://" + u
        if re.search(r"[\x00-\x20\x7f]", u):
            die("the URL has a space or a control character (write it as %%20): %r"
                % self.o.url)
        try:
            p = urllib.parse.urlsplit(u)
            port = p.port
        except ValueError as e:
            die("not a valid URL (%s): %s" % (e, self.o.url))
        if p.scheme.lower() not in ("http", "https"):
            die("the URL must be http:// or https://: %s" % self.o.url)
        host = p.hostname
        if not host:
            die("no host in URL: %s" % self.o.url)
        ipv6 = p.netloc.rsplit("@", 1)[-1].startswith("[")
        if ipv6:
            try:
                ipaddress.IPv6Address(host.split("%", 1)[0])
            except ValueError:
                die("not a valid IPv6 address in URL: %s" % self.o.url)
        elif not host.isascii():
            # an international name: as a browser sends it (punycode)
            try:
                puny = host.encode("idna").decode("ascii")
            except UnicodeError:
                die("not a valid host name in URL: %r" % host)
            p = p._replace(netloc=p.netloc.replace(p.netloc.rsplit("@", 1)[-1].split(":")[0],
                                                   puny))
            host = puny
        if not ipv6 and not re.match(r"^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?\.?$", host):
            die("not a valid host name in URL: %r" % host)
        if port == 0:
            die("port 0 in URL: %s" % self.o.url)
        self.scheme = p.scheme.lower()
        self.host = host
        # the host as a ServerName and in a Host header
        # (httpd takes no IPv6 literal as a ServerName: the test vhost is
        # the only one on its port, so it serves the request all the same)
        self.host_conf = "localhost" if ipv6 else host
        self.port = port or (443 if self.scheme == "https" else 80)
        self.netloc = p.netloc.rsplit("@", 1)[-1]
        # --behind-proxy: the client's scheme ends at the proxy, which
        # talks http to this server (port 80 unless the URL names one)
        # and says X-Forwarded-Proto
        self.client_scheme = self.scheme
        if self.o.behind_proxy and self.scheme == "https":
            self.scheme = "http"
            if port is None:
                self.port = 80
        path = p.path or "/"
        self.path = path
        self.query = p.query
        target = path + ("?" + p.query if p.query or u.endswith("?") else "")
        # as a browser sends it: non-ASCII characters percent-encoded
        self.target = urllib.parse.quote(target, safe="".join(
            chr(c) for c in range(0x21, 0x7f)))
        self.url = u

    # -- the rules
    def read_rules(self):
        o = self.o
        if o.conf:
            text = read_text(o.conf)
            self.take_conf(o.conf, text)
            if "htaccess" in os.path.basename(o.conf).lower():
                self.notes.append("%s is read as server config (--conf); its name says "
                                  ".htaccess: give it with --htaccess to read it as one"
                                  % o.conf)
        elines = list(o.e or [])
        if elines and not any(l.strip().lower().startswith("rewriteengine") for l in elines):
            elines = elines + ["RewriteEngine on"]   # (order does not matter)
        e_text = "\n".join(elines) + "\n" if o.e else None
        if o.htaccess:
            self.htaccess = (o.htaccess, read_text(o.htaccess))
            check_sections(o.htaccess, self.htaccess[1])
            if e_text:
                self.take_conf("-e", e_text)
        elif e_text:
            if o.dir:
                self.htaccess = ("-e", e_text)
            else:
                self.take_conf("-e", e_text)
        if not o.conf and not o.htaccess and not o.e and not o.docroot:
            die("no rules: give --conf FILE, --htaccess FILE, -e LINE or --docroot DIR")

    def take_conf(self, label, text):
        """A --conf file: lines for the vhost (or, when the file has
        <VirtualHost> blocks, the matching one) and the main server."""
        check_sections(label, text)
        raw = list(logical_lines(text))
        vhosts = scan_vhosts(raw)
        chosen = None
        if vhosts:
            chosen, why = choose_vhost(vhosts, self.host, self.port)
            if chosen:
                self.notes.append("%s:%d: using <VirtualHost %s>: %s"
                                  % (label, raw[chosen[0]][0], " ".join(chosen[3]), why))
            else:
                self.notes.append("%s: %s" % (label, why))
            self.vhost_choice = why
        ignored = {}    # directive -> [line]
        inside = set()
        for v in vhosts:
            inside.update(range(v[0], v[1] + 1))
        for i, (ln, line) in enumerate(raw):
            if chosen and chosen[0] < i < chosen[1]:
                target = self.server_lines
            elif i in inside:
                continue
            elif vhosts and chosen:
                target = self.main_lines
            else:
                target = self.server_lines
            s = line.strip()
            word = s.split(None, 1)[0].lower() if s else ""
            if word == "documentroot":
                args = split_args(s.split(None, 1)[1]) if len(s.split(None, 1)) > 1 else []
                if args:
                    self.user_docroot = args[0][0].rstrip("/") or "/"
                continue
            if word in REPLACED_DIRECTIVES:
                ignored.setdefault(s.split(None, 1)[0], []).append(ln)
                self.ignored.append({"file": label, "line": ln, "text": s})
                continue
            target.append((line, (label, ln)))
        if ignored:
            n = sum(len(v) for v in ignored.values())
            self.notes.append("%s: %d line%s left out, the tool sets its own: %s" % (
                label, n, "s" if n > 1 else "", ", ".join(
                    "%s (line%s %s)" % (k, "s" if len(v) > 1 else "", line_ranges(v))
                    for k, v in ignored.items())))

    # -- the file system
    def make_tree(self, work):
        o = self.o
        self.work = work
        htdocs = os.path.join(work, "htdocs")
        self.generated = not o.docroot
        if o.docroot:
            real = os.path.realpath(o.docroot)
            if not os.path.isdir(real):
                die("--docroot: not a directory: %s" % o.docroot)
            self.real_docroot = real
            # every directory something is put in is a real one of the
            # mirror: nothing is ever written through to the real tree
            need = []
            if self.htaccess:
                target = os.path.join(real, self.dir.strip("/"), ".htaccess")
                if (os.path.exists(target) and o.htaccess
                        and os.path.realpath(o.htaccess) == os.path.realpath(target)):
                    self.htaccess = None    # it is already where it belongs
                else:
                    need.append(self.dir)
            for p in o.exists or []:
                need.append(p if p.endswith("/") else os.path.dirname("/" + p.strip("/")))
            need.extend(o.dir_exists or [])
            if need:
                self.docroot = htdocs
                mirror(real, htdocs, need)
            else:
                self.docroot = real
            self.label = real
        else:
            self.docroot = htdocs
            makedirs_open(htdocs)
            self.label = self.user_docroot or "DOCROOT"
        for p in o.dir_exists or []:
            makedirs_open(self.inside(p))
        for p in o.exists or []:
            full = self.inside(p)
            if p.endswith("/"):
                makedirs_open(full)
            else:
                makedirs_open(os.path.dirname(full))
                if not os.path.lexists(full):
                    write_file(self.inside(p), "rewrite-test placeholder for %s\n" % p)
        if self.htaccess:
            d = self.inside(self.dir)
            makedirs_open(d)
            path = self.inside(self.dir.rstrip("/") + "/.htaccess")
            if os.path.lexists(path):
                os.unlink(path)
            write_file(path, self.htaccess[1])
            self.htaccess_path = path
        # .htaccess files of a real docroot along the request path: read
        # now, so that their rules get capture probes too
        if o.docroot:
            d = self.docroot
            parts = [x for x in urllib.parse.unquote(self.path).split("/")[:-1] if x]
            for i in range(len(parts) + 1):
                sub = os.path.join(d, *parts[:i]) if i else d
                if os.path.isfile(os.path.join(sub, ".htaccess")):
                    self.preread.append(sub.rstrip("/") + "/")
        # a directory for the capture probes, served by the sink vhost
        makedirs_open(os.path.join(work, "probe", "p"))

    def inside(self, url_path):
        """The place of URL-PATH in the generated tree; refused (exit 2)
        when it would resolve outside the tool's temporary directory (a
        '..', or a symbolic link of the real tree on the way)."""
        full = os.path.normpath(os.path.join(self.docroot, url_path.strip("/")))
        work = os.path.realpath(self.work)
        probe = full
        while not os.path.lexists(probe) and probe != os.path.dirname(probe):
            probe = os.path.dirname(probe)
        real = os.path.realpath(probe)
        if os.path.lexists(full) and os.path.islink(full):
            real = os.path.realpath(os.path.dirname(full))
        if real != work and not real.startswith(work + "/"):
            die("%s: would be created outside the tool's temporary directory (%s): "
                "nothing is ever written there" % (url_path, real))
        return full

    def display(self, s):
        """Paths in the generated tree shown under the docroot label."""
        if s is None:
            return s
        if self.docroot != self.label:
            s = s.replace(self.docroot, self.label)
            # a per-directory input is the path without its leading slash
            if s.startswith(self.docroot.lstrip("/")):
                s = self.label + s[len(self.docroot.lstrip("/")):]
        return s

    # -- rule sets, as the trace will name them
    def index_rules(self):
        def add(key, rules):
            self.rulesets.setdefault(key, []).extend(rules)
            self.all_rules.extend(rules)

        main = [(l, o) for l, o in self.main_lines]
        for lines, is_main in ((self.server_lines, False), (main, True)):
            if not lines:
                continue
            dirs = read_directives_lines(lines, False)
            sets, _ = build_rulesets(dirs)
            for key, rules in sets.items():
                if key is None or key[0] == "virtualhost":
                    add(("main",) if is_main else ("server",), rules)
                elif key[0] == "directory":
                    path = self.conf_path(key[1])
                    add(("dir", path.rstrip("/") + "/"), rules)
                    root = self.docroot.rstrip("/")
                    if path != root and not path.startswith(root + "/") and \
                            not (getattr(self, "real_docroot", None) and
                                 path.startswith(self.real_docroot)):
                        self.notes.append(
                            "%s:%d: <Directory %s> is outside the document root of this "
                            "test, so its rules only run for requests mapped there (put the "
                            "DocumentRoot in the file, or use --docroot)"
                            % (rules[0].d.file, rules[0].d.line, key[1]))
                else:
                    add(("section",) + key, rules)
        if self.htaccess:
            label, text = self.htaccess
            dirs = read_directives(label, text, True)
            sets, _ = build_rulesets(dirs)
            path = os.path.join(self.docroot, self.dir.strip("/"))
            add(("dir", path.rstrip("/") + "/"), sets.get(None, []))
        for d in self.preread:
            if ("dir", d) not in self.rulesets:
                self.all_rules.extend(self.read_rulesets_from_disk(d))
        for r in self.all_rules:
            for k, v in r.flags:
                if k == "E" and v:
                    name = v.split(":", 1)[0].lstrip("!")
                    if re.match(r"^[^\s\"'{}%\\]+$", name):
                        self.env_names.add(name)

    def conf_path(self, p):
        """A path from the --conf file, moved into the generated docroot
        when it lies under the conf's DocumentRoot."""
        if self.user_docroot and self.generated:
            ud = self.user_docroot.rstrip("/")
            if p == ud or p.startswith(ud + "/"):
                return self.docroot + p[len(ud):]
        return p

    def fix_line(self, line):
        """Rewrite a --conf line for the generated tree (DocumentRoot paths
        in <Directory> and RewriteCond tests)."""
        if self.user_docroot and self.generated:
            ud = self.user_docroot.rstrip("/")
            if ud:
                return re.sub(re.escape(ud) + r"(?=/|\"|'|>|\s|$)", self.docroot, line)
        return line

    def read_rulesets_from_disk(self, dirpath):
        """Rules of an .htaccess the trace names but we did not place
        (a real --docroot): read it so its rules can be named."""
        key = ("dir", dirpath)
        if key in self.rulesets:
            return self.rulesets[key]
        path = os.path.join(dirpath, ".htaccess")
        rules = []
        try:
            text = read_text(path)
            shown = self.display(path)
            if self.generated is False and self.docroot != self.real_docroot:
                shown = path.replace(self.docroot, self.real_docroot)
            sets, _ = build_rulesets(read_directives(shown, text, True))
            rules = sets.get(None, [])
        except OSError:
            pass
        self.rulesets[key] = rules
        return rules


def check_sections(label, text):
    """<Section> ... </Section> balanced, as httpd wants them: an error
    (exit 2) at the user's file and line otherwise (not at a line of the
    generated httpd.conf)."""
    stack = []
    for ln, line in logical_lines(text):
        s = line.strip()
        m = re.match(r"^<(/?)([A-Za-z][A-Za-z0-9]*)[\s>]", s + " ")
        if not m or s.startswith("#"):
            continue
        name = m.group(2).lower()
        if not m.group(1):
            stack.append((name, ln, m.group(2)))
        elif not stack:
            die("</%s> without a <%s> before it" % (m.group(2), m.group(2)),
                file=label, line=ln)
        elif stack[-1][0] != name:
            die("<%s> at line %d is closed by </%s>" % (stack[-1][2], stack[-1][1], m.group(2)),
                file=label, line=ln)
        else:
            stack.pop()
    if stack:
        die("<%s> is not closed" % stack[-1][2], file=label, line=stack[-1][1])


def scan_vhosts(raw):
    """The <VirtualHost> blocks of a file's logical lines:
    [[start idx, end idx, [names], [addresses]]]"""
    vhosts = []
    depth = 0
    cur = None
    for i, (ln, line) in enumerate(raw):
        s = line.strip().lower()
        if s.startswith("<virtualhost"):
            if depth == 0:
                cur = [i, None, [], line.strip()[len("<virtualhost"):].rstrip(">").split()]
            depth += 1
        elif s.startswith("</virtualhost"):
            depth -= 1
            if depth == 0 and cur:
                cur[1] = i
                vhosts.append(cur)
                cur = None
        elif cur is not None and depth == 1:
            parts = line.split()
            if parts and parts[0].lower() in ("servername", "serveralias"):
                cur[2].extend(re.sub(r"^[a-z]+://", "", n.lower()).split(":")[0]
                              for n in parts[1:])
    return vhosts


def line_ranges(nums):
    """[3, 4, 5, 9] -> '3-5, 9'"""
    out = []
    for n in sorted(nums):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out)


def choose_vhost(vhosts, host, port):
    """The <VirtualHost> httpd would give the request, as it does: the
    ones listening on the request's port (address '*', '_default_' or an
    IP: the address the client connected to is not known here, any is
    taken), then the first whose ServerName or ServerAlias (wildcards
    allowed) is the host, else the first of them (the default of that
    address and port).  None when no vhost has the port: the main server
    answers.  -> (vhost or None, why)"""
    def ports(v):
        out = []
        for a in v[3]:
            m = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(\d+|\*))?$", a)
            if m:
                out.append(None if m.group(2) in (None, "*") else int(m.group(2)))
        return out
    on_port = [v for v in vhosts if any(p is None or p == port for p in ports(v))]
    if not on_port:
        return None, ("no <VirtualHost> listens on port %d (the request's): the lines "
                      "outside the <VirtualHost> blocks (the main server) are used" % port)
    h = host.lower().rstrip(".")
    for v in on_port:
        for n in v[2]:
            if fnmatch.fnmatchcase(h, n.rstrip(".")):
                return v, ("port %d and %s %s match" % (port, "ServerName/ServerAlias", n))
    others = len(vhosts) - len(on_port)
    return on_port[0], ("the first vhost on port %d (none of them is named %s, so httpd "
                        "takes the first)%s" % (port, host,
                                                 "; %d other vhost(s) are on other ports"
                                                 % others if others else ""))


def read_directives_lines(lines, htaccess):
    """read_directives over lines that come from several files."""
    out = []
    stack = []
    for text, (label, ln) in lines:
        s = text.strip()
        if not s or s.startswith("#"):
            continue
        ds = read_directives(label, "\n".join(
            ["<%s %s>" % x for x in stack] + [text]), htaccess)
        # the wrapper lines are synthetic: keep only the real directive
        d = ds[-1] if ds else None
        if d is None:
            continue
        d.line = ln
        if d.name.startswith("</"):
            name = d.name[2:]
            while stack and stack[-1][0] != name:
                stack.pop()
            if stack:
                stack.pop()
        elif d.name.startswith("<"):
            stack.append((d.name[1:], d.args[0][0] if d.args else ""))
        out.append(d)
    return out


def mirror(real, dst, paths):
    """A mirror of the real docroot made of symbolic links, with real
    directories along each of `paths` (URL paths of directories), so that
    an .htaccess or an --exists file can be put there without writing into
    the real tree.  .htaccess files are copied with their mode (an
    unreadable one stays unreadable to the server)."""
    trie = {}
    for p in paths:
        t = trie
        for part in [x for x in p.split("/") if x not in ("", ".")]:
            t = t.setdefault(part, {})

    def build(src, cur, t):
        makedirs_open(cur)
        try:
            names = os.listdir(src) if src else []
        except OSError:
            names = []
        for name in names:
            s = os.path.join(src, name)
            if name in t:
                if os.path.isdir(s):
                    build(s, os.path.join(cur, name), t[name])
                continue        # a file where a directory is wanted: left out
            if name == ".htaccess":
                try:
                    shutil.copy(s, os.path.join(cur, name))
                    continue
                except OSError:
                    pass
            os.symlink(s, os.path.join(cur, name))
        for name, sub in t.items():
            if name not in names:
                build(None, os.path.join(cur, name), sub)
    build(real, dst, trie)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError as e:
        die("%s: %s" % (path, e.strerror))


# ----------------------------------------------------------------------
# one private server

PROBE_DIR = "__rwtest_probe"


def count_groups(pat):
    n = 0
    i = 0
    inclass = False
    while i < len(pat):
        c = pat[i]
        if c == "\\":
            i += 2
            continue
        if inclass:
            if c == "]":
                inclass = False
        elif c == "[":
            inclass = True
            if pat[i + 1:i + 2] == "]":
                i += 1
        elif c == "(":
            nxt = pat[i + 1:i + 3]
            if not nxt.startswith("?") and not nxt.startswith("*"):
                n += 1
            elif nxt in ("?<", "?P", "?'") and pat[i + 3:i + 4] not in ("=", "!"):
                n += 1
        i += 1
    return min(n, 9)


def quote_arg(s):
    if s and not re.search(r"[\s\"']", s):
        return s
    return '"' + s.replace('"', '\\"') + '"'


class Server:
    def __init__(self, setup, module, tag):
        self.s = setup
        self.module = module
        self.tag = tag
        self.root = os.path.join(setup.work, tag)
        for sub in ("conf", "logs", "run"):
            makedirs_open(os.path.join(self.root, sub))
        self.port, self.sink_port = pick_ports(2)
        self.apache = None
        self.batch = False      # --cases: no trace, keep-alive
        self.extra = []         # --cases: [(Setup, port)] more vhosts under test
        self.errlog = os.path.join(self.root, "logs", "error.log")
        self.conf = None

    def write_conf(self, probes):
        s = self.s
        b = ConfBuilder()
        b.add("# generated by rewrite-test")
        vhosts = [(s, self.port)] + self.extra
        mods = [("mpm_event_module", "mod_mpm_event.so"),
                ("authz_core_module", "mod_authz_core.so"),
                ("authz_host_module", "mod_authz_host.so"),
                ("mime_module", "mod_mime.so"),
                ("dir_module", "mod_dir.so"),
                ("alias_module", "mod_alias.so"),
                ("env_module", "mod_env.so"),
                ("setenvif_module", "mod_setenvif.so"),
                ("headers_module", "mod_headers.so"),
                ("proxy_module", "mod_proxy.so"),
                ("proxy_http_module", "mod_proxy_http.so"),
                ("remoteip_module", "mod_remoteip.so")]
        if any(vs.scheme == "https" for vs, _ in vhosts):
            mods.append(("ssl_module", "mod_ssl.so"))
        # core:info names what the core refuses before any hook (AH00026:
        # an encoded slash) and the .htaccess it cannot read
        b.prologue(self.root, self.errlog,
                   ["%d%s" % (port, " https" if vs.scheme == "https" else "")
                    for vs, port in vhosts] + [self.sink_port],
                   mods, self.module,
                   loglevel="warn" if self.batch else "warn rewrite:trace8 core:info")
        b.add("ServerName localhost")
        b.add("StartServers 1\nServerLimit 1\nThreadLimit 8\nThreadsPerChild 8\n"
              "MaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8")
        b.add("Timeout 15\nKeepAlive %s\nMaxKeepAliveRequests 0"
              % ("On" if self.batch else "Off"))
        if os.path.exists("/etc/mime.types"):
            b.add('TypesConfig "/etc/mime.types"')
        else:
            b.add('TypesConfig "/dev/null"')
        b.add("DirectoryIndex index.html index.cgi index.pl index.php index.xhtml index.htm")
        b.add('DocumentRoot "%s"' % s.docroot)
        # as Debian's apache2.conf: FollowSymLinks everywhere (Options
        # None here would refuse Alias targets with AH00670)
        b.add("<Directory />\n    Options FollowSymLinks\n    AllowOverride None\n"
              "    Require all denied\n</Directory>")
        b.add('<Directory "%s">\n    Options FollowSymLinks\n    AllowOverride All\n'
              '    Require all granted\n</Directory>' % s.docroot)
        if s.docroot != getattr(s, "real_docroot", s.docroot):
            b.add('<Directory "%s">\n    Options FollowSymLinks\n    AllowOverride All\n'
                  '    Require all granted\n</Directory>' % s.real_docroot)
        b.add("RemoteIPHeader X-RWTest-Remote-Addr\nRemoteIPInternalProxy 127.0.0.1")
        # (with --cases, a vhost on a port no <VirtualHost> has holds the
        # main server's lines itself: take them from one that does not)
        main = next((vs for vs, _ in vhosts if vs.main_lines), None)
        if main:
            b.add("# --- main server lines of the --conf file")
            for line, origin in main.main_lines:
                b.add(main.fix_line(line), origin)
        # the stand-in backend for [P] and the capture probes
        probe = os.path.join(s.work, "probe")
        b.add("<VirtualHost 127.0.0.1:%d>" % self.sink_port)
        b.add("    ServerName rwtest-sink.invalid")
        b.add('    DocumentRoot "%s"' % probe)
        b.add('    <Directory "%s">\n        Options FollowSymLinks\n'
              '        AllowOverride None\n        Require all granted\n'
              '    </Directory>' % probe)
        b.add('    <Directory "%s/p">\n        AllowOverride All\n    </Directory>' % probe)
        b.add('    Header always set X-RWTest-Backend "expr=%{THE_REQUEST}"')
        # PROBE_SLOTS patterns a request: the patterns of each batch are
        # written to an .htaccess of their own (see run_probes)
        for k in range(PROBE_SLOTS if probes else 0):
            for j in range(0, 10):
                b.add('    Header always set X-RWTest-P%d-%d "expr=%%{reqenv:RWTEST_%d_%d}" '
                      '"expr=-n %%{reqenv:RWTEST_%d_M}"' % (k, j, k, j, k))
            b.add('    Header always set X-RWTest-P%d-M "1" "expr=-n %%{reqenv:RWTEST_%d_M}"'
                  % (k, k))
        b.add("</VirtualHost>")
        # by number: an environment name may hold characters ('-', '.')
        # that neither ap_expr nor a header name takes as they are
        self.env_headers = {}
        for vs, port in vhosts:
            self.test_vhost(b, vs, port)
        self.builder = b
        self.conf = os.path.join(self.root, "conf", "httpd.conf")
        write_file(self.conf, b.text())

    def test_vhost(self, b, s, port):
        """The vhost under test: the rules of `s` (a Setup) on `port`."""
        b.add("<VirtualHost *:%d>" % port)
        b.add("    ServerName %s:%d" % (s.host_conf, s.port))
        b.add('    DocumentRoot "%s"' % s.docroot)
        if s.scheme == "https":
            b.add("    SSLEngine on")
            b.add('    SSLCertificateFile "%s/cert.pem"' % s.work)
            b.add('    SSLCertificateKeyFile "%s/key.pem"' % s.work)
        b.add("    ProxyRemote * http://127.0.0.1:%d" % self.sink_port)
        for hdr, expr in (("Var-HTTPS", "HTTPS"), ("Var-Scheme", "REQUEST_SCHEME"),
                          ("Var-XFP", "req_novary:X-Forwarded-Proto"),
                          ("Uri", "REQUEST_URI"), ("File", "REQUEST_FILENAME"),
                          ("Args", "QUERY_STRING"), ("Handler", "HANDLER"),
                          ("Ctype", "CONTENT_TYPE"), ("PathInfo", "PATH_INFO")):
            b.add('    Header always set X-RWTest-%s "expr=%%{%s}" "expr=-n %%{%s}"'
                  % (hdr, expr, expr))
        for name in sorted(s.env_names):
            for var in (name, "REDIRECT_" + name):
                n = len(self.env_headers)
                self.env_headers["x-rwtest-env-%d" % n] = var
                b.add('    Header always set "X-RWTest-Env-%d" "%%{%s}e" env=%s'
                      % (n, var, var))
        b.add("    # --- the rules under test")
        for line, origin in s.server_lines:
            b.add("    " + s.fix_line(line), origin)
        b.add("</VirtualHost>")

    def start(self):
        """Start `apache2 -X`; returns None or the error text."""
        self.stderr_path = os.path.join(self.root, "logs", "stderr")
        self.apache = rh.Apache(self.conf, [self.port, self.sink_port] +
                                [p for _, p in self.extra], "single",
                                self.stderr_path, self.errlog)
        if self.apache.start(START_TIMEOUT, 0.004):
            return None
        return self.apache.failure_text()

    def stop(self):
        if self.apache is not None:
            self.apache.stop(0.3, wait_group=False)

    def log_offset(self):
        return rh.ErrorLog(self.errlog).size()

    def read_log(self, offset, cap=None):
        return rh.ErrorLog(self.errlog).read(offset, cap, "surrogateescape")

    def config_error(self, text):
        """Map 'Syntax error on line N of httpd.conf' to the user's file."""
        m = re.search(r"Syntax error on line (\d+) of ([^:]+):\s*(.*)", text, re.S)
        if not m:
            return None, text
        n = int(m.group(1))
        msg = m.group(3).strip()
        origin = self.builder.origin.get(n)
        if origin:
            return origin, "Syntax error on line %d of %s:\n%s" % (origin[1], origin[0], msg)
        return None, text


read_text_quiet = rh.read_text
port_open = rh.port_open


class Response:
    aborted = None

    def __init__(self, raw, error=None):
        self.raw = raw
        self.error = error
        self.status = None
        self.reason = ""
        self.headers = []
        self.body = b""
        if raw:
            head, _, self.body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0])
            if m:
                self.status = int(m.group(1))
                self.reason = m.group(2)
            for l in lines[1:]:
                if ":" in l:
                    k, v = l.split(":", 1)
                    self.headers.append((k.strip(), v.strip()))

    def get(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals

    def one(self, name):
        v = self.get(name)
        return v[0] if v else None


def http_request(port, data, tls_host=None, watch=None, limit=REQUEST_TIMEOUT):
    """Send one request, read the answer until the server closes.  `watch`
    is called every 50 ms and may return a reason to give up (a runaway
    log); so may the time limit."""
    raw = rh.request(port, data, REQUEST_TIMEOUT, tls_host=tls_host, watch=watch,
                     limit=limit)
    if raw.exc is not None:
        return Response(b"", error=str(raw.exc))
    resp = Response(raw.data, error=raw.error)
    resp.aborted = raw.aborted
    return resp


# ----------------------------------------------------------------------
# the trace log

LOG_RE = re.compile(
    r"^\[[^\]]*\] \[(?P<mod>[a-z_0-9]+):(?P<level>[a-z0-9]+)\] \[pid [^\]]*\]"
    r"(?: [^\s\[]+\(\d+\):)?(?: \[client [^\]]*\])?(?: (?P<rest>.*))?$")
REW_RE = re.compile(
    r"^\S+ \S+ \S+ \[(?P<host>[^\]]*?)/sid#[0-9a-fx]+\]\[rid#(?P<rid>[0-9a-fx]+)"
    r"/(?P<kind>[^\]]*)\] (?:\[perdir (?P<perdir>.*?)\] )?(?P<msg>.*)$")


def unescape_log(s):
    """Undo the error log's escaping (\\\\, \\", \\xHH)."""
    if "\\" not in s:
        return s
    out = bytearray()
    b = s.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x5c and i + 1 < len(b):
            n = b[i + 1]
            if n == 0x78 and i + 3 < len(b) + 0 and re.match(rb"[0-9a-fA-F]{2}", bytes(b[i + 2:i + 4])):
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
            if n in (0x5c, 0x22):
                out.append(n)
                i += 2
                continue
            esc = {0x6e: 10, 0x72: 13, 0x74: 9}.get(n)
            if esc:
                out.append(esc)
                i += 2
                continue
        out.append(c)
        i += 1
    return out.decode("utf-8", "surrogateescape")


class Event:
    def __init__(self, rid, kind, perdir, msg, level, raw):
        self.rid = rid
        self.kind = kind        # "initial", "initial/redir#1", "subreq"
        self.perdir = perdir
        self.msg = msg
        self.level = level
        self.raw = raw


def parse_log(text):
    """-> (rewrite Events, other log entries [(module:level, message)])"""
    events = []
    others = []
    for line in text.splitlines():
        m = LOG_RE.match(line)
        if not m:
            if others and line.strip():
                others[-1] = (others[-1][0], others[-1][1] + "\n" + line)
            continue
        mod, level, rest = m.group("mod"), m.group("level"), m.group("rest") or ""
        if mod == "rewrite" and level.startswith("trace"):
            r = REW_RE.match(rest)
            if r:
                events.append(Event(r.group("rid"), r.group("kind"),
                                    unescape_log(r.group("perdir")) if r.group("perdir") else None,
                                    unescape_log(r.group("msg")), int(level[5:]), line))
            continue
        others.append(("%s:%s" % (mod, level), rest))
    return events, others


COND_RE = re.compile(r"^RewriteCond: input='(.*)' pattern='(.*)'( \[NC\])? => (matched|not-matched)$", re.S)
COND_EXPR_RE = re.compile(r"^RewriteCond: expr='(.*)' => (.*)$", re.S)
APPLY_RE = re.compile(r"^applying pattern '(.*)' to uri '(.*)'$", re.S)
REWRITE_RE = re.compile(r"^rewrite '(.*)' -> '(.*)'$", re.S)

# messages that end a pass or belong to it rather than to one rule
PASS_MSGS = ("init rewrite engine", "pass through", "go-ahead with",
             "local path result", "prefixed with document_root",
             "prefixing with document_root", "internal redirect with",
             "initial URL equal rewritten URL", "trying to replace prefix",
             "trying to replace context docroot", "strip document_root prefix",
             "escaping ", "copying ", "redirect to ", "force filename",
             "Declining")

SKIP_MSGS = ("strip per-dir prefix", "add path info postfix")


def action_text(msg, disp):
    """A trace message, worded for the step list."""
    m = re.match(r"^setting env variable '(.*)' to '(.*)'$", msg, re.S)
    if m:
        return "env %s=%s" % (m.group(1), disp(m.group(2)))
    m = re.match(r"^unsetting env variable '(.*)'$", msg)
    if m:
        return "env %s unset" % m.group(1)
    m = re.match(r"^setting cookie '(.*)'$", msg, re.S)
    if m:
        return "cookie %s" % m.group(1)
    m = re.match(r"^forcing responsecode (\d+) for (.*)$", msg)
    if m:
        return "status %s" % m.group(1)
    m = re.match(r"^explicitly forcing redirect with (.*)$", msg)
    if m:
        return "redirect to %s" % m.group(1)
    m = re.match(r"^implicitly forcing redirect \(rc=(\d+)\) with (.*)$", msg)
    if m:
        return "redirect (%s, another host) to %s" % (m.group(1), m.group(2))
    m = re.match(r"^forcing proxy-throughput with (.*)$", msg)
    if m:
        return "proxy to %s" % m.group(1)
    m = re.match(r"^remember (.*) to have MIME-type '(.*)'$", msg, re.S)
    if m:
        return "content type %s" % m.group(2)
    m = re.match(r"^remember (.*) to have Content-handler '(.*)'$", msg, re.S)
    if m:
        return "handler %s" % m.group(2)
    if msg.startswith("discarding query string"):
        return "query string discarded"
    m = re.match(r"^skipping already set cookie '(.*)'$", msg, re.S)
    if m:
        return "cookie %s already set: not set again" % m.group(1)
    # the rest (prefix_stat, lookahead, -U/-F checks, escaping, ...) is
    # the engine's own bookkeeping: shown by --trace only
    return None


# trace messages of a rule that has been applied (its actions)
APPLIED_MSGS = ("setting env variable", "unsetting env variable", "setting cookie",
                "forcing responsecode", "explicitly forcing redirect",
                "implicitly forcing redirect", "forcing proxy-throughput",
                "remember ", "discarding query string", "skipping already set cookie",
                "add per-dir prefix", "add subst prefix", "split uri=", "reduce ",
                "Rule has END flag")


class Step:
    def __init__(self, rule, pattern, input):
        self.rule = rule
        self.pattern = pattern
        self.input = input
        self.conds = []          # [dict]
        self.actions = []        # [str]
        self.result = None
        self.matched = None      # pattern matched
        self.applied = None      # whole rule (conditions too)
        self.captures = None
        self.events = []


class Pass:
    def __init__(self, kind, perdir, first):
        self.kind = kind
        self.perdir = perdir
        self.first = first
        self.steps = []
        self.notes = []          # pass-level messages
        self.events = []
        self.ruleset = []
        self.subject = None
        self.ended = False
        self.parent = None
        self.parent_step = 0


END_MSGS = ("pass through", "go-ahead with", "internal redirect with",
            "redirect to ", "initial URL equal rewritten URL")


def segment(events):
    """Split the events into passes: the lines of one request in one
    context (server, or one directory).  A sub-request (a -F/-U check, a
    look-ahead, mod_dir's index search) interrupts the pass that made it,
    which then goes on: its lines are put back together, and the
    sub-request remembers where it happened (parent, parent_step)."""
    passes = []
    cur = None
    for ev in events:
        same_req = cur is not None and ev.rid == cur.rid and ev.kind == cur.kind
        restart = ev.msg.startswith(("applying pattern", "strip per-dir prefix",
                                     "add path info postfix"))
        if ev.msg.startswith("init rewrite engine"):
            target = None
        elif same_req and (ev.perdir is None or ev.perdir == cur.perdir) and \
                not (cur.ended and restart):
            target = cur
        else:
            target = None
            for p in reversed(passes):
                if p.rid == ev.rid and p.kind == ev.kind and \
                        (ev.perdir is None or ev.perdir == p.perdir):
                    if not p.ended or (ev.perdir is None and not restart):
                        target = p
                    break
        if target is None:
            target = Pass(ev.kind, ev.perdir, ev)
            target.rid = ev.rid
            target.parent = None
            target.parent_step = 0
            if ev.kind.startswith("subreq") and cur is not None and \
                    not cur.kind.startswith("subreq"):
                target.parent = cur
                target.parent_step = sum(1 for e in cur.events
                                         if e.msg.startswith("applying pattern"))
                if cur.ended:
                    target.parent_step = 1 << 30    # after the pass
            elif ev.kind.startswith("subreq") and cur is not None and cur.parent is not None:
                target.parent = cur.parent
                target.parent_step = cur.parent_step
            passes.append(target)
        cur = target
        cur.events.append(ev)
        if ev.msg.startswith(END_MSGS):
            cur.ended = True
    return passes


def ruleset_for(setup, p):
    if p.perdir is None:
        return setup.rulesets.get(("server",), []) + setup.rulesets.get(("main",), [])
    key = ("dir", p.perdir)
    if key in setup.rulesets:
        return setup.rulesets[key]
    return setup.read_rulesets_from_disk(p.perdir)


def analyse(setup, passes):
    """Turn each pass's events into steps, naming the rules and conditions."""
    for p in passes:
        rules = ruleset_for(setup, p)
        p.ruleset = rules
        idx = 0
        step = None
        cidx = 0
        for ev in p.events:
            msg = ev.msg
            m = APPLY_RE.match(msg)
            if m:
                pat, inp = m.group(1), m.group(2)
                rule = None
                for i in itertools.chain(range(idx, len(rules)), range(0, idx)):
                    r = rules[i]
                    if pat in (r.raw_pattern, r.pattern):
                        rule = r
                        idx = i + 1
                        break
                if rule is None and idx < len(rules):
                    rule = rules[idx]
                    idx += 1
                step = Step(rule, pat, inp)
                step.events.append(ev)
                cidx = 0
                p.steps.append(step)
                if p.subject is None:
                    p.subject = inp
                continue
            if msg.startswith(SKIP_MSGS):
                continue
            if msg.startswith(PASS_MSGS) or step is None:
                if msg.startswith("init rewrite engine"):
                    m2 = re.match(r"init rewrite engine with requested uri (.*)$", msg)
                    if m2:
                        p.subject = m2.group(1)
                p.notes.append(ev)
                if not msg.startswith(("init rewrite engine", "escaping ", "copying ")):
                    step = None
                continue
            step.events.append(ev)
            m = COND_RE.match(msg)
            if m:
                cond = None
                conds = step.rule.conds if step.rule else []
                want = m.group(2)
                for i in range(cidx, len(conds)):
                    if conds[i].raw_pattern == want:
                        cond = conds[i]
                        cidx = i + 1
                        break
                if cond is None and cidx < len(conds):
                    cond = conds[cidx]
                    cidx += 1
                step.matched = True
                step.conds.append({"cond": cond, "input": m.group(1),
                                   "pattern": m.group(2), "nocase": bool(m.group(3)),
                                   "matched": m.group(4) == "matched",
                                   "captures": None})
                continue
            m = COND_EXPR_RE.match(msg)
            if m:
                cond = None
                conds = step.rule.conds if step.rule else []
                if cidx < len(conds):
                    cond = conds[cidx]
                    cidx += 1
                step.matched = True
                step.conds.append({"cond": cond, "input": "expr",
                                   "pattern": m.group(1), "nocase": False,
                                   "matched": m.group(2) in ("matched", "true"),
                                   "captures": None, "expr_result": m.group(2)})
                continue
            m = REWRITE_RE.match(msg)
            if m:
                step.result = m.group(2)
                step.matched = True
                step.applied = True
                continue
            if msg.startswith("setting lastsub"):
                step.matched = True
                step.applied = True
                continue
            txt = action_text(msg, setup.display)
            if txt:
                step.actions.append(txt)
            if msg.startswith(APPLIED_MSGS):
                step.matched = True
                step.applied = True
        # a pattern that matched leaves a trace: its conditions are
        # evaluated, or the substitution is logged; only '-' without
        # conditions may match silently (the capture probe tells)
        for st in p.steps:
            r = st.rule
            if st.matched is None and r is not None and not st.conds and \
                    not st.actions and (r.conds or r.subst != "-"):
                st.matched = False
        # conditions decide the rules that had some
        for st in p.steps:
            if st.conds and st.applied is None:
                failed = False
                for c in st.conds:
                    cond = c["cond"]
                    if not c["matched"] and not (cond and "OR" in cond.fset):
                        failed = True
                if not failed:
                    ncond = len(st.rule.conds) if st.rule else None
                    # a rule whose conditions all held and that has no
                    # action in the trace: '-' without flags
                    st.applied = True if (ncond is None or ncond) else None
                else:
                    st.applied = False


def finish_matches(setup, passes, probe_results):
    """Pattern match and captures, from the probe answers."""
    for p in passes:
        for n, st in enumerate(p.steps):
            r = st.rule
            if st.matched is None and r is not None and (r.probe is None or r.negate):
                # no probe: a rule that stops when it matches, followed by
                # another rule of the same pass, did not match
                if stops(r) and n + 1 < len(p.steps) and "C" not in r.fset:
                    st.matched = False
            if r is not None and r.probe is not None and not r.negate:
                res = probe_results.get((r.probe, st.input))
                if res is not None:
                    matched, caps = res
                    if st.matched is None:
                        st.matched = matched
                    if matched:
                        st.captures = caps
            if st.matched is False:
                st.applied = False
            elif st.applied is None and not st.conds:
                st.applied = True
            for c in st.conds:
                cond = c["cond"]
                if cond is not None and cond.probe is not None and c["matched"] and not cond.negate:
                    res = probe_results.get((cond.probe, c["input"]))
                    if res and res[0]:
                        c["captures"] = res[1]


# ----------------------------------------------------------------------
# running a request

def build_request(setup, port):
    o = setup.o
    method = (o.method or "GET").upper()
    hdrs = []
    names = set()
    for h in o.header or []:
        if ":" not in h:
            die("-H wants 'Name: value': %s" % h)
        k, v = h.split(":", 1)
        hdrs.append("%s: %s" % (k.strip(), v.strip()))
        names.add(k.strip().lower())
    lines = ["%s %s HTTP/1.1" % (method, setup.target)]
    if "host" not in names:
        lines.append("Host: %s" % setup.netloc)
    lines.extend(hdrs)
    if o.remote_addr:
        lines.append("X-RWTest-Remote-Addr: %s" % o.remote_addr)
    if o.behind_proxy and "x-forwarded-proto" not in names:
        lines.append("X-Forwarded-Proto: %s" % setup.client_scheme)
    if "connection" not in names:
        lines.append("Connection: close")
    if method in ("POST", "PUT", "PATCH") and "content-length" not in names:
        lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def make_cert(work, host):
    key = os.path.join(work, "key.pem")
    cert = os.path.join(work, "cert.pem")
    cn = host if re.match(r"^[A-Za-z0-9.-]+$", host) else "localhost"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=" + cn],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if p.returncode != 0:
        die("openssl could not make a test certificate for https: %s"
            % p.stderr.decode("utf-8", "replace").strip())
    os.chmod(key, 0o644)


def probe_list(setup):
    """Patterns whose captures can be asked of the engine: rule patterns
    and regex condition patterns.  -> [(k, ngroups)]"""
    out = []
    k = 0
    seen = set()
    for r in setup.all_rules:
        items = [r] + [c for c in r.conds if c.is_regex()]
        for it in items:
            if it.negate or not it.pattern or id(it) in seen:
                continue
            seen.add(id(it))
            it.probe = k
            it.ngroups = count_groups(it.pattern)
            out.append((k, it.ngroups, it))
            k += 1
    return out


def write_probe_htaccess(setup, probes):
    makedirs_open(os.path.join(setup.work, "probe", "p"))


PROBE_SLOTS = 40        # patterns asked in one probe request
PROBE_MAX = 4000        # (pattern, input) pairs asked at most for one run


def run_probes(server, setup, passes):
    """Ask the engine (in the sink vhost) for pattern matches and captures
    of the inputs the trace showed.  Each batch of up to PROBE_SLOTS
    patterns gets an .htaccess in a directory of its own (a new file,
    never one rewritten in place: no cache can serve an old one), asked
    with one request.  Steps the trace says nothing about (did the pattern
    match?) are asked first, then the captures of the others."""
    first, then = [], []
    for p in passes:
        for st in p.steps:
            r = st.rule
            if r is not None and r.probe is not None and not r.negate:
                if st.matched is None:
                    first.append((r, st.input))
                elif st.matched:
                    then.append((r, st.input))
            for c in st.conds:
                cond = c["cond"]
                if cond is not None and cond.probe is not None and c["matched"]:
                    then.append((cond, c["input"]))
    results = {}
    batches = []
    cur = {}
    seen = set()
    for it, inp in first + then:
        key = (it.probe, inp)
        if key in seen:
            continue
        if re.search(r"[\x00-\x1f\x7f]", inp) or inp != inp.strip():
            continue
        if len(seen) >= PROBE_MAX:
            break
        seen.add(key)
        cur[len(cur)] = (it, inp)
        if len(cur) == PROBE_SLOTS:
            batches.append(cur)
            cur = {}
    if cur:
        batches.append(cur)
    for n, b in enumerate(batches):
        d = os.path.join(setup.work, "probe", "p", "b-%s-%d" % (server.tag, n))
        makedirs_open(d)
        ht = ["RewriteEngine on"]
        for slot, (it, inp) in b.items():
            nc = " [NC]" if "NC" in it.fset else ""
            ht.append("RewriteCond %%{HTTP:X-RWTest-In-%d} %s%s"
                      % (slot, quote_arg("(?:)" + it.pattern), nc))
            env = ["E=RWTEST_%d_M:1" % slot] + ["E=RWTEST_%d_%d:%%%d" % (slot, j, j)
                                                 for j in range(it.ngroups + 1)]
            ht.append("RewriteRule ^ - [%s]" % ",".join(env))
        write_file(os.path.join(d, ".htaccess"), "\n".join(ht) + "\n")
        write_file(os.path.join(d, "x"), "x\n")
        lines = ["GET /p/%s/x HTTP/1.1" % os.path.basename(d), "Host: rwtest-sink.invalid",
                 "Connection: close"]
        for slot, (it, inp) in b.items():
            lines.append("X-RWTest-In-%d: %s" % (slot, inp))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        resp = http_request(server.sink_port, data)
        if resp.status is None or resp.status >= 500:
            continue
        for slot, (it, inp) in b.items():
            matched = resp.one("X-RWTest-P%d-M" % slot) == "1"
            caps = None
            if matched:
                caps = []
                for j in range(0, it.ngroups + 1):
                    v = resp.one("X-RWTest-P%d-%d" % (slot, j))
                    caps.append(v.encode("latin-1").decode("utf-8", "replace")
                                if v is not None else "")
            results[(it.probe, inp)] = (matched, caps)
    return results


class RunResult:
    pass


def run_one(setup, module, tag, want_probes=True):
    """Start a server with `module`, send the request, collect everything."""
    res = RunResult()
    res.module = module
    res.tag = tag
    srv = Server(setup, module, tag)
    probes = setup.probes if want_probes else []
    t0 = time.time()
    for attempt in range(3):
        srv.write_conf(bool(probes))
        err = srv.start()
        if not err or "Address already in use" not in err:
            break
        # another program took a port meanwhile
        srv.port, srv.sink_port = pick_ports(2)
    res.start_time = time.time() - t0
    res.server = srv
    if err:
        res.start_error = err
        res.error_origin, res.error_text = srv.config_error(err)
        return res
    res.start_error = None
    try:
        off = srv.log_offset()
        data = build_request(setup, srv.port)
        res.request_bytes = data
        t1 = time.time()
        # a trace as long as the rules can make in LimitInternalRecursion
        # rounds is allowed, whatever the number of rules
        cap = max(LOG_CAP, len(setup.all_rules) * 700 * 12)
        if os.environ.get("REWRITE_TEST_LOG_CAP", "").isdigit():
            cap = int(os.environ["REWRITE_TEST_LOG_CAP"])
        limit = RUN_LIMIT + len(setup.all_rules) / 2000.0

        def watch():
            if srv.log_offset() - off > cap:
                return "the trace log passed %s" % (
                    "%d MB" % (cap >> 20) if cap >= 1 << 20 else "%d KB" % (cap >> 10))
            return None
        res.response = http_request(srv.port, data,
                                    setup.host if setup.scheme == "https" else None,
                                    watch, limit)
        res.request_time = time.time() - t1
        if res.response.aborted:
            srv.stop()
        res.log = srv.read_log(off, max(LOG_READ_CAP, cap))
        res.events, res.others = parse_log(res.log)
        res.passes = segment(res.events)
        analyse(setup, res.passes)
        res.probe_results = run_probes(srv, setup, res.passes) if probes else {}
        finish_matches(setup, res.passes, res.probe_results)
    finally:
        t2 = time.time()
        srv.stop()
        debug("%s: start %.3f request %.3f probes+stop %.3f" % (
            tag, res.start_time, getattr(res, "request_time", 0), time.time() - t2))
    res.outcome = outcome(setup, res)
    res.silent = why_silent(setup, res)
    return res


def outcome(setup, res):
    r = res.response
    disp = setup.display
    out = {"status": r.status, "reason": r.reason, "kind": None,
           "rewritten": False, "uri": None, "filename": None,
           "query_string": None, "path_info": None,
           "location": None, "proxy_target": None, "backend_request": None,
           "handler": None, "content_type": None,
           "env": {}, "final_env": {}, "cookies": r.get("Set-Cookie"),
           "vary": ", ".join(r.get("Vary")) or None, "errors": [],
           "rounds": None, "redirect_by": None}
    main_chain = [e for e in res.events if not e.kind.startswith("subreq")]
    for e in main_chain:
        m = re.match(r"^setting env variable '(.*)' to '(.*)'$", e.msg, re.S)
        if m:
            out["env"][m.group(1)] = m.group(2)
        m = re.match(r"^unsetting env variable '(.*)'$", e.msg)
        if m:
            out["env"][m.group(1)] = None
        m = re.match(r"^go-ahead with proxy request proxy:(.*) \[OK\]$", e.msg)
        if m:
            out["proxy_target"] = m.group(1)
        for rx in (r"^local path result: (.*)$",
                   r"^internal redirect with (.*) \[INTERNAL REDIRECT\]$",
                   r"^forcing '(.*)' to get passed through to next API"):
            m = re.match(rx, e.msg)
            if m:
                out["rewritten"] = True
                out["uri"] = m.group(1)
    for mod, msg in res.others:
        if mod.split(":")[1] in ("emerg", "alert", "crit", "error"):
            out["errors"].append(clean_error(setup, msg))
    dec = deciding_step(res)
    out["decided_by"] = rule_json(dec.rule) if dec is not None else None
    out["rule_applications"] = sum(len(p.steps) for p in res.passes)
    if r.status is None:
        if r.aborted:
            out["rounds"] = sum(1 for e in res.events if e.msg.startswith("applying pattern"))
            most, rule = most_applied(res)
            if most >= LOOP_REPEATS:
                out["kind"] = "loop"
                out["errors"].append("rewrite-test stopped the request: %s (after %d rule "
                                     "applications; %s applied %d times)"
                                     % (r.aborted, out["rounds"], rule_loc(rule), most))
            else:
                # a long trace is not a loop: no rule repeats
                out["kind"] = "stopped"
                out["errors"].append("rewrite-test stopped the request: %s, after %d rule "
                                     "applications in which no rule was applied more than "
                                     "%d times: not a loop, only more than the tool reads"
                                     % (r.aborted, out["rounds"], most))
        else:
            out["kind"] = "no-response"
            out["errors"].append(r.error or "no response from the server")
        return out
    if out["uri"] is None:
        out["uri"] = r.one("X-RWTest-Uri")
    out["filename"] = disp(r.one("X-RWTest-File"))
    out["query_string"] = r.one("X-RWTest-Args")
    out["handler"] = r.one("X-RWTest-Handler")
    out["content_type"] = r.one("X-RWTest-Ctype")
    out["path_info"] = r.one("X-RWTest-PathInfo")
    out["vars"] = {"HTTPS": r.one("X-RWTest-Var-HTTPS") or "off",
                   "REQUEST_SCHEME": r.one("X-RWTest-Var-Scheme"),
                   "HTTP:X-Forwarded-Proto": r.one("X-RWTest-Var-XFP") or ""}
    if r.one("Location"):
        out["location"] = r.one("Location")
    names = getattr(res.server, "env_headers", {})
    for k, v in r.headers:
        if k.lower() in names:
            out["final_env"][names[k.lower()]] = v
    f = r.one("X-RWTest-File") or ""
    if out["proxy_target"] and f.startswith("proxy:"):
        out["proxy_target"] = f[6:]
    be = r.one("X-RWTest-Backend")
    if out["proxy_target"] and be:
        out["backend_request"] = be
    forced = None
    for e in main_chain:
        m = re.match(r"^forcing responsecode (\d+) for", e.msg)
        if m:
            forced = int(m.group(1))
    st = r.status
    if out["proxy_target"]:
        out["kind"] = "proxy"
    elif 300 <= st < 400 and out["location"]:
        out["kind"] = "redirect"
        by_rule = any(e.msg.startswith("redirect to ") for e in main_chain)
        if not by_rule and urllib.parse.urlsplit(out["location"]).path == \
                setup.path.rstrip("/") + "/" != setup.path:
            out["redirect_by"] = ("mod_dir: DirectorySlash (the URL names a directory and "
                                  "lacks the trailing slash)")
            out["decided_by"] = None
        elif not by_rule:
            out["redirect_by"] = "not a rewrite rule (another module, or the configuration)"
    elif forced == 403 and st == 403:
        out["kind"] = "forbidden"
    elif forced == 410 and st == 410:
        out["kind"] = "gone"
    elif forced and st == forced:
        out["kind"] = "status"
    elif any("AH00124" in x or "AH02596" in x for x in out["errors"]):
        out["kind"] = "loop"
    elif st >= 500 and any(".htaccess:" in x for x in out["errors"]):
        out["kind"] = "config-error"
    elif st >= 500:
        out["kind"] = "error"
    else:
        out["kind"] = "internal"
    return out


LOOP_REPEATS = 20       # applications of one rule that make a runaway a loop


def deciding_step(res):
    """The rule that decided the main request (not a sub-request): the
    last applied one that changed something (a substitution, a redirect,
    a status, a proxy), else the last applied one (e.g. '- [L]')."""
    last = changed = None
    for p in res.passes:
        if p.kind.startswith("subreq"):
            continue
        for st in p.steps:
            if st.applied and st.rule is not None:
                last = st
                if st.result is not None or any(a.startswith(("redirect", "status", "proxy"))
                                                for a in st.actions):
                    changed = st
    return changed or last


def most_applied(res):
    """-> (count, rule) of the rule applied most often."""
    count = {}
    for p in res.passes:
        for st in p.steps:
            if st.applied and st.rule is not None:
                n, _ = count.get(id(st.rule), (0, None))
                count[id(st.rule)] = (n + 1, st.rule)
    if not count:
        return 0, None
    return max(count.values(), key=lambda x: x[0])


def clean_error(setup, msg):
    msg = re.sub(r"\[client [^\]]*\] ", "", msg)
    msg = re.sub(r"^\[remote [^\]]*\] ", "", msg)
    if setup.htaccess and getattr(setup, "htaccess_path", None):
        msg = msg.replace(setup.htaccess_path, setup.htaccess[0])
    return setup.display(msg)


# ----------------------------------------------------------------------
# output

FOLLOW_LIMIT = 10   # redirects followed by --follow
MAX_STEPS = 40      # steps shown per pass (a [N] loop makes thousands)
MAX_PASSES = 30


def rule_loc(r):
    return "%s:%d" % (r.d.file, r.d.line) if r else "?"


def caps_text(caps, sigil):
    if not caps:
        return ""
    parts = []
    for j, v in enumerate(caps):
        if v is None:
            continue
        parts.append("%s%d='%s'" % (sigil, j, v))
    return "  " + " ".join(parts) if parts else ""


def pass_title(setup, p):
    req = p.kind
    m = re.match(r"^(initial|subreq)(?:/redir#(\d+))?$", req)
    who = []
    if m:
        if m.group(1) == "subreq":
            who.append("sub-request")
        if m.group(2):
            who.append("after internal redirect #%s" % m.group(2))
    if p.perdir is None:
        ctx = "server context (vhost %s)" % setup.host
    else:
        d = p.perdir
        src = None
        if setup.htaccess and d.rstrip("/") == os.path.join(setup.docroot, setup.dir.strip("/")).rstrip("/"):
            src = setup.htaccess[0]
        url = None
        root = setup.docroot.rstrip("/")
        if d.startswith(root + "/") or d.rstrip("/") == root:
            url = "/" + d[len(root):].strip("/")
            url = url.rstrip("/") + "/"
        ctx = "directory %s" % (url or setup.display(d))
        if src == "-e":
            ctx += " (-e lines)"
        elif src:
            ctx += " (%s)" % src if os.path.basename(src) == ".htaccess" else \
                " (.htaccess %s)" % src
        elif p.ruleset and p.ruleset[0].d.file:
            ctx += " (%s)" % p.ruleset[0].d.file
    return ctx + (" [%s]" % ", ".join(who) if who else "")


def render_step(setup, st, w):
    disp = setup.display
    r = st.rule
    w("  %s  %s" % (rule_loc(r), r.d.text if r else "RewriteRule %s" % st.pattern))
    if st.matched:
        mt = "matched" + caps_text(st.captures, "$")
    elif st.matched is False:
        mt = "no match"
    else:
        mt = "no match, or matched with '-' and no flag to show (unknown rule set: no probe)"
    w("      pattern '%s' on '%s': %s" % (st.pattern, disp(st.input), mt))
    for c in st.conds:
        cond = c["cond"]
        w("      %s  %s" % (rule_loc(cond) if cond else "?",
                            cond.d.text if cond else "RewriteCond"))
        if c.get("expr_result"):
            w("          expression: %s" % c["expr_result"])
        else:
            w("          '%s' against '%s'%s: %s%s"
              % (disp(c["input"]), c["pattern"], " [NC]" if c["nocase"] else "",
                 "true" if c["matched"] else "false", caps_text(c["captures"], "%")))
    if st.matched and st.conds and st.applied is False:
        w("      => conditions not met, rule not applied")
    if st.result is not None:
        w("      => rewrite '%s' -> '%s'" % (disp(st.input), disp(st.result)))
    for a in st.actions:
        w("      => %s" % a)
    if st.applied and r is not None:
        stops = [k for k, _ in r.flags if k in ("L", "END", "F", "G", "P", "PT")]
        if r.flag("R") is not None and r.flag("R") and not r.flag("R").isdigit():
            pass
        fl = [k + ("=" + v if v is not None else "") for k, v in r.flags]
        if fl:
            w("      flags: %s%s" % (",".join(fl), "  (stops here)" if stops else ""))


def conf_directives(setup):
    lines = setup.server_lines + setup.main_lines
    return read_directives_lines(lines, False) if lines else []


def expected_htaccess(setup):
    """The .htaccess files the request should read: [(abs dir/, label, URL dir)]"""
    out = []
    root = setup.docroot.rstrip("/")
    if setup.htaccess:
        d = os.path.join(root, setup.dir.strip("/")).rstrip("/") + "/"
        out.append((d, setup.htaccess[0], setup.dir))
    for d in setup.preread:
        if not any(x[0] == d for x in out):
            url = "/" + d[len(root):].strip("/")
            out.append((d, setup.display(os.path.join(d, ".htaccess")).replace(
                setup.docroot, getattr(setup, "real_docroot", setup.docroot)),
                url.rstrip("/") + "/"))
    return out


def why_silent(setup, res):
    """Why the rules that should have run did not: [{"directory", "file",
    "reason"}] for each .htaccess the request should have read and did not
    (and one entry with directory None when nothing ran at all)."""
    out = []
    msgs = [m for _, m in res.others]
    dirs = conf_directives(setup)
    enc = [m for m in msgs if "AH00026" in m]
    if enc:
        aes = [d for d in dirs if d.name == "allowencodedslashes"]
        where = ("AllowEncodedSlashes %s at %s:%d" % (aes[-1].args[0][0] if aes[-1].args else "",
                                                      aes[-1].file, aes[-1].line)
                 if aes else "AllowEncodedSlashes is Off (the default; On or NoDecode in the "
                 "vhost lets such URLs through)")
        return [{"directory": None, "file": None,
                 "reason": "the core refused the URL before any rewrite rule ran: it holds an "
                 "encoded slash (%%2F) and %s, so the answer is 404" % where}]
    ran = {p.perdir for p in res.passes if p.perdir}
    server_end = None
    for p in res.passes:
        if p.perdir is None:
            for ev in p.events:
                if ev.msg.startswith(("redirect to ", "go-ahead with proxy", "forcing responsecode")):
                    server_end = ev.msg
    for d, label, url in expected_htaccess(setup):
        if d in ran:
            continue
        reason = None
        path = urllib.parse.unquote(setup.path)
        unread = [m for m in msgs if "AH00529" in m and d.rstrip("/") in m]
        if not (path + "/").startswith(url) and path.rstrip("/") + "/" != url:
            reason = ("the request %s is not under %s, so the server never reads that "
                      ".htaccess" % (path, url))
        elif unread:
            m = re.match(r"^\((\d+)\)([^:]*):", unread[0])
            why = m.group(2) if m else "it cannot be opened"
            shown = label if label else setup.display(d + ".htaccess")
            reason = ("the server (running as %s) cannot read %s: %s (AH00529), so the "
                      "request fails before any of its rules (make it readable: chmod a+r "
                      "on the file, a+x on its directories)"
                      % ("nobody" if IS_ROOT else "you", shown, why))
        else:
            ao = allowoverride_for(setup, dirs, d)
            if ao and not ({"all", "fileinfo"} & {a[0].lower() for a in ao.args}
                           or any(a[0].lower().startswith("fileinfo") for a in ao.args)):
                reason = ("%s:%d: %s in <Directory %s>: the server does not read .htaccess "
                          "files there%s" % (ao.file, ao.line, ao.text, ao.section[1] if ao.section
                                              else "?",
                                              "" if any(a[0].lower() == "none" for a in ao.args)
                                              else " for rewrite rules (they need FileInfo)"))
            elif server_end:
                reason = ("a server-context rule answered first (%s): per-directory rules "
                          "only run for a request that is mapped to a file"
                          % note_text(setup, server_end).lstrip("-> "))
            elif server_rewrote(res) and not (res.response.one("X-RWTest-File") or
                                              d).startswith(d):
                reason = ("a server-context rule rewrote the request to %s, which is not "
                          "under %s, so that .htaccess is not read"
                          % (setup.display(res.response.one("X-RWTest-File")), url))
            elif res.response.status in (401, 403) and any(
                    "AH01630" in m or "AH01797" in m for m in msgs):
                reason = "access to the directory is denied (Require) before its .htaccess rules run"
            else:
                text = None
                if setup.htaccess and label == setup.htaccess[0]:
                    text = setup.htaccess[1]
                else:
                    text = read_text_quiet(os.path.join(d, ".htaccess"))
                on = any(re.match(r"^\s*RewriteEngine\s+on\b", l, re.I)
                         for l in text.splitlines())
                conf_on = any(x.name == "rewriteengine" and x.args and
                              x.args[0][0].lower() == "on" for x in dirs)
                if not on and not conf_on:
                    reason = ("it has no 'RewriteEngine On', so its rules never run (add it "
                              "above the rules)")
                else:
                    reason = "the trace has no line from it (the request never reached it)"
        out.append({"directory": url, "file": label, "reason": reason})
    if not res.passes and not out and res.outcome["kind"] != "config-error":
        files = {}
        for r in setup.all_rules:
            files.setdefault(r.d.file, []).append(r)
        on = any(x.name == "rewriteengine" and x.args and x.args[0][0].lower() == "on"
                 for x in dirs)
        if setup.all_rules and not on:
            reason = ("no 'RewriteEngine On' where the rules are (%s): they never run"
                      % ", ".join(sorted(files)))
        elif not setup.all_rules:
            reason = "there is no RewriteRule in the rules given"
        else:
            reason = "no rewrite rule ran (is RewriteEngine On where the rules are?)"
        out.append({"directory": None, "file": None, "reason": reason})
    return out


def server_rewrote(res):
    return any(st.result is not None for p in res.passes if p.perdir is None
               for st in p.steps)


def allowoverride_for(setup, dirs, d):
    """The AllowOverride line of --conf that applies to directory d (the
    most specific <Directory>, the last one on a tie), or None."""
    best = None
    for x in dirs:
        if x.name != "allowoverride" or not x.section or x.section[0] != "directory":
            continue
        path = setup.conf_path(x.section[1]).rstrip("/") + "/"
        if d.startswith(path) and (best is None or len(path) >= best[0]):
            best = (len(path), x)
    return best[1] if best else None


def render_text(setup, res, out, quiet=False, all_steps=False):
    w = out.append
    o = res.outcome
    dec = deciding_step(res)
    if not quiet:
        for s in res.silent:
            if s["directory"] is None:
                w("(%s)" % s["reason"])
                w("")
        top = [p for p in res.passes if p.parent is None]
        shown = 0
        n = 0
        while n < len(top):
            p = top[n]
            # a run of passes that apply the same rules (a loop) is shown
            # once, then its last pass
            run = n + 1
            while run < len(top) and pass_sig(top[run]) == pass_sig(p):
                run += 1
            if shown == MAX_PASSES and not all_steps:
                w("... %d more passes (see --all-steps, --json or --trace)" % (len(top) - n))
                w("")
                break
            render_pass(setup, res, p, w, all_steps, dec)
            shown += 1
            if run - n > 2:
                w("... %d more passes like the one above, the same rules applied each time "
                  "(input %s ... %s)" % (
                      run - n - 2, setup.display(top[n + 1].subject or ""),
                      setup.display(top[run - 2].subject or "")))
                w("")
            if run - n >= 2:
                render_pass(setup, res, top[run - 1], w, all_steps, dec)
                shown += 1
            n = run
        for s in res.silent:
            if s["directory"] is not None:
                w("-- directory %s (.htaccess %s): not run: %s" % (s["directory"], s["file"],
                                                                 s["reason"]))
                w("")
    w("outcome: %s" % outcome_line(setup, o))
    for line in outcome_details(setup, o, res):
        w("  " + line)


def pass_sig(p):
    return (p.perdir, p.kind.split("/")[0],
            tuple((id(st.rule), st.matched, st.applied) for st in p.steps))


def step_shown(st):
    """By default a step is shown when its pattern matched (or may have)
    or its conditions were evaluated."""
    return st.matched is not False or bool(st.conds)


def render_pass(setup, res, p, w, all_steps, dec):
    w("-- %s: %s" % (pass_title(setup, p), setup.display(p.subject or "")))
    kids = [c for c in res.passes if c.parent is p]
    visible = [i for i, st in enumerate(p.steps) if all_steps or step_shown(st) or st is dec]
    if not all_steps and len(visible) > MAX_STEPS:
        keep = set(visible[:MAX_STEPS - 10] + visible[-10:])
        keep.update(i for i in visible if p.steps[i] is dec)
    else:
        keep = set(visible)
    hidden = []        # steps left out since the last one shown
    cut = 0            # shown-worthy steps left out to keep the pass short

    def flush():
        nonlocal hidden, cut
        if hidden:
            by_file = {}
            for st in hidden:
                if st.rule is not None:
                    by_file.setdefault(st.rule.d.file, []).append(st.rule.d.line)
            w("  (%d rule%s tried, no match: %s)" % (
                len(hidden), "s" if len(hidden) > 1 else "",
                "; ".join("%s line%s %s" % (f, "s" if len(ls) > 1 else "", line_ranges(ls))
                          for f, ls in by_file.items())
                or "rules not named"))
            hidden = []
        if cut:
            w("  ... %d more matching rule applications (see --all-steps)" % cut)
            cut = 0
    for i, st in enumerate(p.steps):
        if i not in keep:
            if i in visible:
                if hidden:
                    flush()
                cut += 1
            else:
                if cut:
                    flush()
                hidden.append(st)
            sub = [c for c in kids if c.parent_step == i + 1]
            if sub:         # a sub-request made while a hidden rule ran
                flush()
                render_subreqs(setup, sub, w, "  ")
            continue
        flush()
        render_step(setup, st, w)
        render_subreqs(setup, [c for c in kids if c.parent_step == i + 1], w, "      ")
    flush()
    if p.perdir and not p.steps:
        w("  (no rule of this directory was tried: its rules are all in sections that do "
          "not apply, or there are none)")
    for ev in p.notes:
        t = note_text(setup, ev.msg)
        if t:
            w("  %s" % t)
    render_subreqs(setup, [c for c in kids if c.parent_step > len(p.steps)
                           or c.parent_step == 0], w, "  ")
    w("")


def render_subreqs(setup, kids, w, ind):
    """Sub-requests: the ones where rules ran in full, the others (no rule
    matched, e.g. mod_dir's index search) one line for all."""
    quiet = []
    for c in kids:
        if any(st.applied for st in c.steps):
            if quiet:
                w("%ssub-requests, no rule applied: %s" % (ind, ", ".join(quiet)))
                quiet = []
            w("%s-- sub-request, %s: %s" % (ind, pass_title(setup, c).split(" [")[0],
                                            setup.display(c.subject or "")))
            for st in c.steps:
                sub = []
                render_step(setup, st, sub.append)
                for line in sub:
                    w(ind + line)
            for ev in c.notes:
                t = note_text(setup, ev.msg)
                if t:
                    w("%s  %s" % (ind, t))
        else:
            name = setup.display(c.subject or "?")
            if name not in quiet:
                quiet.append(name)
    if quiet:
        w("%ssub-requests, no rule applied: %s" % (ind, ", ".join(quiet)))


def note_text(setup, msg):
    disp = setup.display
    m = re.match(r"^pass through (.*)$", msg)
    if m:
        return "-> pass through %s (no substitution)" % disp(m.group(1))
    m = re.match(r"^go-ahead with proxy request (.*) \[OK\]$", msg)
    if m:
        return "-> proxy request %s" % m.group(1)
    m = re.match(r"^go-ahead with (.*) \[OK\]$", msg)
    if m:
        return "-> go ahead with %s" % disp(m.group(1))
    m = re.match(r"^internal redirect with (.*) \[INTERNAL REDIRECT\]$", msg)
    if m:
        return "-> internal redirect to %s (the request starts over)" % m.group(1)
    m = re.match(r"^redirect to (.*) \[REDIRECT/(\d+)\]$", msg)
    if m:
        return "-> redirect %s to %s" % (m.group(2), m.group(1))
    m = re.match(r"^trying to replace prefix (.*) with (.*)$", msg)
    if m:
        return "prefix %s replaced with %s (RewriteBase or the directory's URL)" % (
            disp(m.group(1)), m.group(2))
    m = re.match(r"^initial URL equal rewritten URL: (.*) \[IGNORING REWRITE\]$", msg)
    if m:
        return "-> result equals the request (%s): rewrite ignored, no loop" % disp(m.group(1))
    m = re.match(r"^local path result: (.*)$", msg)
    if m:
        return "-> local path %s" % disp(m.group(1))
    m = re.match(r"^prefixed with document_root to (.*)$", msg)
    if m:
        return "-> file %s (the document root put in front)" % disp(m.group(1))
    m = re.match(r"^strip document_root prefix: (.*) -> (.*)$", msg)
    if m:
        return "document root taken off: %s -> %s" % (disp(m.group(1)), disp(m.group(2)))
    m = re.match(r"^trying to replace context docroot (.*) with context prefix (.*)$", msg)
    if m and m.group(2) in ("", "/"):
        return None         # the document root itself: nothing to say
    if m:
        return "directory %s replaced with its URL %s (Alias or RewriteBase)" % (
            disp(m.group(1)), m.group(2) or "/")
    m = re.match(r"^forcing '(.*)' to get passed through to next", msg)
    if m:
        return "-> %s passed on to the next handler [PT] (Alias, ScriptAlias, ...)" % m.group(1)
    m = re.match(r"^redirect to (.*)$", msg)
    if m:
        return "-> redirect to %s" % m.group(1)
    # the engine's bookkeeping (escaping, copying, prefix_stat, ...): --trace
    return None


def outcome_line(setup, o):
    st = "%s %s" % (o["status"], o["reason"]) if o["status"] else "no response"
    k = o["kind"]
    if k == "redirect":
        return "%s, redirect to %s" % (st, o["location"])
    if k == "proxy":
        return "%s, proxied to %s" % (st, o["proxy_target"])
    if k == "forbidden":
        return "%s, forbidden by a rule [F]" % st
    if k == "gone":
        return "%s, gone by a rule [G]" % st
    if k == "loop":
        return "%s, the rules loop" % st
    if k == "stopped":
        return "%s, stopped by rewrite-test before an answer (not a loop)" % st
    if k == "config-error":
        return "%s, the server rejects the rules" % st
    if k == "status":
        return "%s, status set by a rule [R=%s]" % (st, o["status"])
    if o["uri"] is not None:
        q = "?" + o["query_string"] if o["query_string"] else ""
        if o["rewritten"]:
            return "%s, rewritten to %s%s" % (st, o["uri"], q)
        return "%s, not rewritten: %s%s" % (st, o["uri"], q)
    return st


def outcome_details(setup, o, res):
    lines = []
    k = o["kind"]
    dec = deciding_step(res)
    if dec is not None and not o.get("redirect_by"):
        lines.append("decided by: %s  %s" % (rule_loc(dec.rule), dec.rule.d.text))
    elif o.get("redirect_by"):
        lines.append("redirect made by %s" % o["redirect_by"])
    elif res.passes:
        lines.append("decided by: no rule applied (%d rule application%s tried)"
                     % (o["rule_applications"], "s" if o["rule_applications"] != 1 else ""))
    if k in ("internal", "error") and o["filename"]:
        lines.append("file: %s%s" % (o["filename"], "  (not found)" if o["status"] == 404 else ""))
    if o["path_info"] and k == "internal":
        lines.append("path info: %s" % o["path_info"])
    if o["query_string"] is not None and k in ("internal", "error"):
        lines.append("query string: %s" % o["query_string"])
    if o["backend_request"]:
        lines.append("the backend got: %s  (a local stand-in answered)" % o["backend_request"])
    if o["handler"] and o["handler"] != "proxy-server" and k == "internal":
        lines.append("handler: %s" % o["handler"])
    if o["content_type"] and k == "internal" and o["status"] and o["status"] < 400:
        lines.append("content type: %s" % o["content_type"])
    for name, v in o["env"].items():
        lines.append("env: %s=%s" % (name, v) if v is not None else "env: %s unset" % name)
    for name, v in sorted(o["final_env"].items()):
        if name.startswith("REDIRECT_") and name[9:] in o["env"]:
            lines.append("env at the end (after the internal redirect): %s=%s" % (name, v))
    for c in o["cookies"]:
        lines.append("Set-Cookie: %s" % c)
    if o["vary"]:
        lines.append("Vary: %s" % o["vary"])
    if k == "loop":
        count = {}
        for p in res.passes:
            for st in p.steps:
                if st.applied and st.rule is not None:
                    n, _ = count.get(id(st.rule), (0, None))
                    count[id(st.rule)] = (n + 1, st.rule)
        if count:
            n, r = max(count.values(), key=lambda x: x[0])
            lines.append("most applied: %s (%d times): %s" % (rule_loc(r), n, r.d.text))
    if o.get("error_line"):
        el = o["error_line"]
        lines.append("%s:%d: %s" % (el["file"], el["line"], el["message"]))
    else:
        for e in o["errors"]:
            lines.append("error log: %s" % e.replace("\n", " "))
    return lines


def step_json(setup, st):
    r = st.rule
    disp = setup.display
    return {
        "rule": rule_json(r),
        "pattern": st.pattern,
        "input": disp(st.input),
        "matched": st.matched,
        "applied": st.applied,
        "captures": st.captures,
        "conditions": [{
            "cond": rule_json(c["cond"]),
            "input": disp(c["input"]),
            "pattern": c["pattern"],
            "nocase": c["nocase"],
            "matched": c["matched"],
            "captures": c["captures"],
        } for c in st.conds],
        "result": disp(st.result),
        "actions": st.actions,
        "flags": [k + ("=" + v if v is not None else "") for k, v in (r.flags if r else [])],
    }


def rule_json(r):
    if r is None:
        return None
    return {"file": r.d.file, "line": r.d.line, "text": r.d.text}


def res_json(setup, res):
    if res.start_error:
        org = res.error_origin
        return {"module": res.module,
                "error": {"message": res.error_text, "file": org[0] if org else None,
                          "line": org[1] if org else None, "exit_status": 2},
                "error_origin": list(org) if org else None}
    return {
        "module": res.module,
        "passes": [{
            "request": p.kind,
            "context": "server" if p.perdir is None else "directory",
            "directory": setup.display(p.perdir),
            "subject": setup.display(p.subject),
            "steps": [step_json(setup, st) for st in p.steps],
            "notes": [setup.display(ev.msg) for ev in p.notes],
        } for p in res.passes],
        "outcome": res.outcome,
        "not_run": res.silent,
        "trace": [trace_norm(setup, ev) for ev in res.events],
    }


def trace_norm(setup, ev):
    return "[%s]%s %s" % (ev.kind, " [perdir %s]" % setup.display(ev.perdir) if ev.perdir else "",
                          setup.display(ev.msg))


# ----------------------------------------------------------------------
# --compare-stock

def compare(setup, a, b):
    """Differences between our run (a) and the stock one (b)."""
    diffs = []
    if bool(a.start_error) != bool(b.start_error):
        diffs.append(("server start", a.error_text if a.start_error else "ok",
                      b.error_text if b.start_error else "ok", True))
        return diffs, []
    if a.start_error:
        if a.error_text != b.error_text:
            diffs.append(("config error", a.error_text, b.error_text, True))
        return diffs, []
    oa, ob = a.outcome, b.outcome
    served = oa.get("kind") in ("internal", "error") or ob.get("kind") in ("internal", "error")
    for k in ("status", "kind", "location", "uri", "filename", "query_string",
              "proxy_target", "backend_request", "handler", "content_type",
              "path_info", "env", "final_env", "cookies", "vary"):
        if oa.get(k) != ob.get(k):
            # what a redirect, proxy or error answer leaves in the request
            # (r->filename and the like) is not seen by the client
            visible = served or k in ("status", "kind", "location", "proxy_target",
                                      "backend_request", "env", "final_env",
                                      "cookies", "vary")
            diffs.append((k, oa.get(k), ob.get(k), visible))
    ta = [trace_norm(setup, e) for e in a.events]
    tb = [trace_norm(setup, e) for e in b.events]
    tdiff = list(difflib.unified_diff(tb, ta, "stock", "ours", lineterm="", n=1))
    return diffs, tdiff


# ----------------------------------------------------------------------
# errors in .htaccess files: find the line with apache2 -t

def htaccess_error_line(setup, module, msg):
    """The server names the .htaccess but no line; check its lines inside a
    <Directory> with apache2 -t to find the one."""
    if not setup.htaccess:
        return None
    label, text = setup.htaccess
    work = os.path.join(setup.work, "lint-ht")
    makedirs_open(work)
    b = ConfBuilder()
    b.add('ServerRoot "%s"' % work)
    b.add('LoadModule mpm_event_module "%s/mod_mpm_event.so"' % MODDIR)
    b.add('LoadModule rewrite_module "%s"' % module)
    b.add('<Directory "%s">' % setup.docroot)
    for ln, line in logical_lines(text):
        b.add(line, (label, ln))
    b.add("</Directory>")
    conf = os.path.join(work, "t.conf")
    write_file(conf, b.text())
    _, out = rh.config_test(conf)
    m = re.search(r"Syntax error on line (\d+) of [^:]+:\s*(.*)", out, re.S)
    if m:
        origin = b.origin.get(int(m.group(1)))
        if origin:
            return origin[1], m.group(2).strip()
    return None


# ----------------------------------------------------------------------
# --lint

class Warning_:
    def __init__(self, file, line, kind, message, level="warning"):
        self.file, self.line, self.kind, self.message, self.level = \
            file, line, kind, message, level


def regex_example(pat):
    """A string the pattern is likely to match (checked by the caller)."""
    p = pat
    if p.startswith("^"):
        p = p[1:]
    if p.endswith("$") and not p.endswith("\\$"):
        p = p[:-1]
    for rx, rep in ((r"\(\?:", "("), (r"\(\?i\)", ""),
                    (r"\[\^/\][+*]", "x"), (r"\[[^\]]*\][+*]", "x"),
                    (r"\[[^\]]*\]\{\d+(,\d*)?\}", "x"), (r"\[[^\]]*\]", "x"),
                    (r"\\d[+*]?", "1"), (r"\\w[+*]?", "x"), (r"\\s[+*]?", " "),
                    (r"\.\*\??", "x"), (r"\.\+\??", "x"), (r"\.\?", "x"),
                    (r"\\(.)", r"\1"), (r"(?<=[^)\]])[?*]", ""), (r"\+", ""),
                    (r"\{\d+(,\d*)?\}", "")):
        p = re.sub(rx, rep, p)
    # first alternative of each group, then drop the parentheses
    for _ in range(10):
        q = re.sub(r"\(([^()|]*)\|[^()]*\)", r"(\1)", p)
        if q == p:
            break
        p = q
    p = re.sub(r"\)\?", ")", p)
    p = p.replace("(", "").replace(")", "")
    if "|" in p:
        p = p.split("|")[0]
    return p


def sample_for(rule, server_ctx):
    try:
        rx = re.compile(rule.pattern, re.I if "NC" in rule.fset else 0)
    except re.error:
        return None
    cands = []
    ex = regex_example(rule.pattern)
    if ex and re.search(r"[A-Za-z0-9]", ex):
        cands.append(ex)
    cands += ["x", "index.html", "a/b", "x.php", "x/", "page/2", "x.html", "1",
              "abc/def.html", "x.css", "x.js", "x.png"]
    for c in cands:
        c = c.lstrip("/")
        if re.search(r"[\x00-\x20#?%]", c):
            continue
        sub = "/" + c if server_ctx else c
        if bool(rx.search(sub)) != rule.negate:
            return sub
    return None


CATCH_SERVER = ["/", "/a", "/index.php", "/a/b/c.html", "/wp-admin/", "/x.y.z"]
CATCH_DIR = ["", "a", "index.php", "a/b/c.html", "wp-admin/", "x.y.z"]


def is_catch_all(rule, server_ctx):
    if rule.negate or rule.conds:
        return False
    try:
        rx = re.compile(rule.pattern)
    except re.error:
        return False
    return all(rx.search(x) for x in (CATCH_SERVER if server_ctx else CATCH_DIR))


def stops(rule):
    """The rule ends the round when it matches."""
    if rule.fset & {"L", "END", "F", "G", "P", "PT"}:
        return True
    r = rule.flag("R")
    if r and r.isdigit() and not 300 <= int(r) < 400:
        return True
    return False


def is_redirect(rule):
    r = rule.flag("R")
    if r is None:
        return False
    if r == "" or not r.isdigit():
        return True
    return 300 <= int(r) < 400


def proxy_available(all_dirs):
    for d in all_dirs:
        if d.name == "loadmodule" and d.args and d.args[0][0] == "proxy_module":
            return True
    return os.path.exists("/etc/apache2/mods-enabled/proxy.load")


def in_ifmodule_proxy(rule_d, directives):
    """Is the directive inside <IfModule mod_proxy.c> / <IfModule proxy_module>?"""
    depth = []
    for d in directives:
        if d is rule_d:
            return any(x in ("mod_proxy.c", "proxy_module") for x in depth)
        if d.name == "<ifmodule":
            depth.append(d.args[0][0] if d.args else "")
        elif d.name == "</ifmodule" and depth:
            depth.pop()
    return False


def count_groups_all(pat):
    """Capturing groups of a pattern (no cap at 9)."""
    n = 0
    i = 0
    inclass = False
    while i < len(pat):
        c = pat[i]
        if c == "\\":
            i += 2
            continue
        if inclass:
            if c == "]":
                inclass = False
        elif c == "[":
            inclass = True
            if pat[i + 1:i + 2] == "^":
                i += 1
            if pat[i + 1:i + 2] == "]":
                i += 1
        elif c == "(":
            nxt = pat[i + 1:i + 3]
            if not nxt.startswith("?") and not nxt.startswith("*"):
                n += 1
            elif nxt in ("?<", "?P", "?'") and pat[i + 3:i + 4] not in ("=", "!"):
                n += 1
        i += 1
    return n


def backrefs(text, sigil):
    """The $N (or %N) references in a substitution or flag, as ints."""
    out = []
    i = 0
    while i < len(text) - 1:
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sigil and text[i + 1].isdigit():
            out.append(int(text[i + 1]))
        i += 1
    return out


def strip_backrefs(text):
    return re.sub(r"[$%][0-9]", "x", re.sub(r"%\{[^}]*\}", "x", text))


def lint_mistakes(label, rules, per_dir, base="/"):
    """The mistakes people ask about most, each with its one-line fix."""
    ws = []

    def warn(r, kind, msg, line=None):
        ws.append(Warning_(label, line or r.d.line, kind, msg))
    for r in rules:
        pat = r.pattern
        # a query string in the pattern
        if re.search(r"\\\?|\?[A-Za-z_][A-Za-z0-9_]*=|\\?\.php\?", pat):
            warn(r, "query-in-pattern",
                 "pattern '%s' looks for a query string, but RewriteRule only sees the "
                 "URL-path: match it with RewriteCond %%{QUERY_STRING} (e.g. "
                 "RewriteCond %%{QUERY_STRING} ^id=([0-9]+)$) and use %%1" % pat)
        # a scheme or a host in the pattern
        elif re.search(r"https?:(//|\\?/)|^\^?\(?www\\?\.|[A-Za-z0-9-]\\\.(com|net|org|"
                       r"info|biz|io|co|de|uk|fr|nl|eu|ru|jp|au|ca|ch|it|es)\b", pat, re.I):
            warn(r, "host-in-pattern",
                 "pattern '%s' can never see a scheme or a host name: RewriteRule matches "
                 "the URL-path only; test the host with RewriteCond %%{HTTP_HOST} (and "
                 "%%{HTTPS} for the scheme)" % pat)
        # $N with no such group
        ngroups = 0 if r.negate else count_groups_all(pat)
        flagtext = ",".join(v for _, v in r.flags if v)
        bad = sorted({n for n in backrefs(r.subst + "," + flagtext, "$") if n > ngroups})
        if bad:
            warn(r, "no-group",
                 "$%d refers to a group the pattern '%s' does not have (%s): it is "
                 "replaced by nothing; add the parentheses, or use $0 for the whole match"
                 % (bad[0], r.raw_pattern, "it has %d" % ngroups if not r.negate
                    else "a negated pattern captures nothing"))
        cgroups = [count_groups_all(c.pattern) if c.is_regex() and not c.negate else 0
                   for c in r.conds]
        badc = sorted({n for n in backrefs(r.subst + "," + flagtext, "%")
                       if n > max(cgroups or [0])})
        if badc:
            warn(r, "no-group",
                 "%%%d refers to a group of the last matched RewriteCond, and %s: it is "
                 "replaced by nothing; capture it with parentheses in the RewriteCond "
                 "pattern (or use $N for the groups of the RewriteRule pattern)"
                 % (badc[0], "this rule has no RewriteCond" if not r.conds
                    else "its RewriteCond patterns capture nothing" if not max(cgroups)
                    else "its RewriteCond patterns have at most %d" % max(cgroups)))
        # QSA with QSD
        if {"QSA", "QSD"} <= r.fset:
            warn(r, "qsa-qsd",
                 "[QSA] with [QSD]: QSD wins, the request's query string is dropped and QSA "
                 "does nothing; keep the one you mean")
        # a trailing [OR]
        if r.conds and "OR" in r.conds[-1].fset:
            warn(r, "trailing-or",
                 "the last RewriteCond has [OR]: it is joined to nothing, so when it is "
                 "false the rule applies all the same; remove the OR",
                 r.conds[-1].d.line)
        # header names with _
        for c in [r] + r.conds:
            for h in re.findall(r"%\{HTTP:([^}]*)\}", c.d.text):
                if "_" in h:
                    warn(c, "header-underscore",
                         "%%{HTTP:%s}: header names are written with '-' ('_' is the CGI "
                         "spelling, HTTP_%s); no request header has this name: use "
                         "%%{HTTP:%s}" % (h, h.upper(), h.replace("_", "-")))
        # REQUEST_FILENAME file tests in server context
        if not per_dir:
            for c in r.conds:
                if re.search(r"%\{(REQUEST_FILENAME|SCRIPT_FILENAME)\}", c.test) and \
                        re.match(r"^-[fdslFU]$|^-(f|d|s|l)$", c.pattern):
                    warn(c, "server-filename",
                         "%s %s in server context: there %%{REQUEST_FILENAME} is still the "
                         "URL-path, not the file, so the test looks at the wrong path; use "
                         "%%{DOCUMENT_ROOT}%%{REQUEST_URI} (or %%{LA-U:REQUEST_FILENAME}), or "
                         "put the rules in <Directory> or .htaccess"
                         % (c.test, c.raw_pattern))
        # per-directory: the rule rewrites its own target again
        if per_dir and not r.negate and r.subst not in ("-", "") and \
                not re.match(r"^[a-z]+://", r.subst, re.I) and \
                not r.fset & {"END", "R", "F", "G", "P", "N"}:
            target = strip_backrefs(r.subst.split("?", 1)[0])
            if target.startswith("/"):
                b = base if base.endswith("/") else base + "/"
                target = target[len(b):] if target.startswith(b) else None
            guarded = any(re.search(r"REQUEST_FILENAME|SCRIPT_FILENAME|REQUEST_URI|"
                                    r"THE_REQUEST|ENV:REDIRECT_STATUS|IS_SUBREQ", c.test)
                          for c in r.conds)
            try:
                again = target and re.search(pat, target,
                                             re.I if "NC" in r.fset else 0)
            except re.error:
                again = None
            # (a rule without $N/%N gives the same result again: harmless)
            if again and not guarded and (backrefs(r.subst, "$") or backrefs(r.subst, "%")):
                ext = re.search(r"\$\d+\.(html?|php)$", r.subst.split("?", 1)[0])
                if ext:
                    warn(r, "extension-loop",
                         "appends .%s without checking that the file exists: a missing page "
                         "becomes x.%s, x.%s.%s, ... until the server stops with 500 "
                         "(LimitInternalRecursion); add RewriteCond %%{REQUEST_FILENAME}.%s -f "
                         "above it" % ((ext.group(1),) * 5))
                elif "?" in r.subst and not r.subst.startswith("/"):
                    # (a relative result equal to the input is not
                    # redirected again: no loop, but the query is rebuilt)
                    warn(r, "self-target",
                         "the rule also matches its own target '%s': after the internal "
                         "redirect it runs again on it, and the query string it builds is "
                         "then made from '%s'; add RewriteCond %%{REQUEST_FILENAME} !-f "
                         "above it, or use [END]" % (target, target))
                else:
                    warn(r, "self-target",
                         "the rule also matches its own target '%s': after the internal "
                         "redirect it rewrites its own result again, and again, until the "
                         "server stops with 500 (LimitInternalRecursion); add RewriteCond "
                         "%%{REQUEST_FILENAME} !-f above it, or use [END]" % target)
            elif again is not None and guarded and r.subst.split("?", 1)[0].endswith(
                    (".html", ".htm", ".php")) and re.search(r"\$\d+\.(html?|php)$",
                                                             r.subst.split("?", 1)[0]):
                ext = r.subst.split("?", 1)[0].rsplit(".", 1)[1]
                checks_ext = any(c.test.endswith("." + ext) and c.pattern == "-f"
                                 and not c.negate for c in r.conds)
                if again and not checks_ext:
                    warn(r, "extension-loop",
                         "appends .%s after a !-f/!-d check only: a missing page becomes "
                         "x.%s, x.%s.%s, ... until the server stops with 500 "
                         "(LimitInternalRecursion); test that the target exists instead: "
                         "RewriteCond %%{REQUEST_FILENAME}.%s -f" % ((ext,) * 5))
    return ws


def lint_engine(label, directives):
    """A file with rules and no RewriteEngine On."""
    rules = [d for d in directives if d.name == "rewriterule"]
    on = any(d.name == "rewriteengine" and d.args and d.args[0][0].lower() == "on"
             for d in directives)
    if rules and not on:
        return [Warning_(label, rules[0].d.line if hasattr(rules[0], "d") else rules[0].line,
                         "no-engine",
                         "rules without 'RewriteEngine On' in this file: they never run "
                         "(add RewriteEngine On above them)")]
    return []


def lint_static(label, directives, htaccess, all_dirs, base=None):
    ws = lint_engine(label, directives)
    if base is None:
        # the URL of an .htaccess is its RewriteBase, when it says one
        rb = [d.args[0][0] for d in directives if d.name == "rewritebase" and d.args]
        base = rb[-1] if rb else "/"
    sets, dangling = build_rulesets(directives)
    for c in dangling:
        ws.append(Warning_(label, c.d.line, "dangling-cond",
                           "RewriteCond with no RewriteRule after it: it applies to nothing"))
    have_proxy = proxy_available(all_dirs)
    for key, rules in sets.items():
        ws += lint_mistakes(label, rules, htaccess or (key is not None and key[0] in (
            "directory", "directorymatch")), base)
        for i, r in enumerate(rules):
            server_ctx = r.d.context == "server"
            per_dir = htaccess or (key is not None and key[0] in ("directory", "directorymatch"))
            # 1. ^/ in per-directory context
            if per_dir and not r.negate and r.pattern.startswith("^/") and \
                    not re.match(r"^\^/(\?|\*|\{0)", r.pattern):
                ws.append(Warning_(label, r.d.line, "perdir-slash",
                                   "pattern '%s' never matches in per-directory context: the "
                                   "path it is matched against has no leading slash (use '^%s' "
                                   "or '^/?%s')" % (r.pattern, r.pattern[2:], r.pattern[2:])))
            # 1b. anchored on a literal other than / in server context
            if server_ctx and not r.negate and \
                    re.match(r"^\^[A-Za-z0-9_~%-]", r.pattern) and \
                    not re.match(r"^\^(https?|proxy|ftp|wss?):?", r.pattern, re.I):
                ws.append(Warning_(label, r.d.line, "server-noslash",
                                   "pattern '%s' never matches in server context: the URL-path "
                                   "it is matched against starts with '/' (use '^/%s', or put "
                                   "the rule in .htaccess or <Directory>)"
                                   % (r.pattern, r.pattern[1:])))
            later = i + 1 < len(rules)     # (no slice: 20,000 rules)
            # 2. [R] without [L] followed by more rules
            if is_redirect(r) and not stops(r) and "C" not in r.fset and later:
                ws.append(Warning_(label, r.d.line, "redirect-no-l",
                                   "[R] without [L]: rewriting goes on, and the rule at line %d "
                                   "sees the redirect target as its input (use [R,L])"
                                   % rules[i + 1].d.line))
            # 3. T=, H=, E= after a substitution in per-directory context
            if per_dir and r.subst != "-":
                for k, v in r.flags:
                    if k == "T":
                        ws.append(Warning_(label, r.d.line, "perdir-meta",
                                           "[T=%s] has no effect here: the substitution makes an "
                                           "internal redirect and the new request does not keep "
                                           "the type (use a separate rule with '-' as the "
                                           "substitution)" % v))
                    elif k == "H":
                        ws.append(Warning_(label, r.d.line, "perdir-meta",
                                           "[H=%s] has no effect on the target here: the handler "
                                           "is set on the internal redirect itself, which then "
                                           "fails (404) (use a separate rule with '-' as the "
                                           "substitution)" % v))
                    elif k == "E" and v and not v.startswith("!"):
                        name = v.split(":", 1)[0]
                        ws.append(Warning_(label, r.d.line, "perdir-meta",
                                           "[E=%s] after a substitution in per-directory "
                                           "context: the target does not see %s, only "
                                           "REDIRECT_%s (set by the internal redirect)"
                                           % (v, name, name)))
            # 4. [P] without mod_proxy
            if "P" in r.fset and not have_proxy and not in_ifmodule_proxy(r.d, directives):
                ws.append(Warning_(label, r.d.line, "proxy-missing",
                                   "[P] needs mod_proxy (and mod_proxy_http for http:// "
                                   "targets): these files do not load it and "
                                   "/etc/apache2/mods-enabled does not enable it"))
            # 5. unreachable behind a catch-all that stops
            if later and stops(r) and not r.fset & {"NS", "C", "S"} \
                    and (i == 0 or "C" not in rules[i - 1].fset) and \
                    is_catch_all(r, not per_dir):
                for lr in rules[i + 1:]:
                    ws.append(Warning_(label, lr.d.line, "unreachable",
                                       "rule never reached: the rule at line %d (pattern '%s', "
                                       "[%s]) matches every request without conditions and "
                                       "stops" % (r.d.line, r.pattern,
                                                  ",".join(k for k, _ in r.flags))))
                break
    return ws


def lint_syntax(files, module, work):
    """apache2 -t with the real module over the rewrite directives of the
    files; every error (one -t run per error, the bad line left out the
    next time) as a Warning_."""
    out = []
    skip = set()
    for _ in range(20):
        b = ConfBuilder()
        b.add('ServerRoot "%s"' % work)
        b.add('LoadModule mpm_event_module "%s/mod_mpm_event.so"' % MODDIR)
        b.add('LoadModule authz_core_module "%s/mod_authz_core.so"' % MODDIR)
        b.add('LoadModule rewrite_module "%s"' % module)
        b.add('ErrorLog "%s/lint-error.log"' % work)
        for n, (label, text, htaccess) in enumerate(files):
            if htaccess:
                b.add('<Directory "%s/lint%d">' % (work, n))
            for ln, line in logical_lines(text):
                s = line.strip()
                word = s.split(None, 1)[0].lower() if s else ""
                keep = None
                if (label, ln) in skip:
                    keep = None
                elif word.startswith("rewrite"):
                    keep = line
                elif word in ("<virtualhost", "</virtualhost>", "</virtualhost") or \
                        re.match(r"^</?(directory|directorymatch|location|locationmatch|files|"
                                 r"filesmatch|if|elseif|else)\b", word):
                    keep = line
                elif re.match(r"^<(proxy|proxymatch)\b", word):
                    keep = "<Location /__rwtest_proxy_section>"
                elif re.match(r"^</(proxy|proxymatch)\b", word):
                    keep = "</Location>"
                if keep is not None:
                    b.add(keep, (label, ln))
                else:
                    b.add("# " + s[:40] if s else "", (label, ln))
            if htaccess:
                b.add("</Directory>")
        conf = os.path.join(work, "lint.conf")
        write_file(conf, b.text())
        rc, text = rh.config_test(conf)
        if rc == 0:
            break
        m = re.search(r"Syntax error on line (\d+) of [^:]+:\s*(.*)", text, re.S)
        if not m:
            out.append(Warning_("(config)", 0, "syntax", text.strip(), "error"))
            break
        origin = b.origin.get(int(m.group(1)))
        msg = m.group(2).strip().splitlines()[0] if m.group(2).strip() else text.strip()
        if not origin or origin in skip:
            out.append(Warning_("(config)", 0, "syntax", msg, "error"))
            break
        out.append(Warning_(origin[0], origin[1], "syntax", msg, "error"))
        skip.add(origin)
    return out


def lint_loops(label, path, htaccess, rules_by_set, o, module):
    """Run the rules that could loop on their own output in a real server:
    a request that matches each such rule, with its target present."""
    cands = []
    for key, rules in rules_by_set.items():
        per_dir = htaccess or (key is not None and key[0] in ("directory", "directorymatch"))
        if key is not None and key[0] not in ("virtualhost",) and not htaccess:
            continue        # only the vhost/server rules and .htaccess files are run
        for r in rules:
            if r.subst == "-" or stops(r) and not r.fset & {"L", "PT"}:
                continue
            if r.fset & {"R", "F", "G", "P", "END"} or re.match(r"^[a-z]+://", r.subst, re.I):
                continue
            if not per_dir and "N" not in r.fset:
                continue
            smp = sample_for(r, not per_dir)
            if smp is not None:
                cands.append((r, smp, per_dir))
    if not cands:
        return []
    opts = Opts()
    opts.conf = None if htaccess else path
    opts.htaccess = path if htaccess else None
    opts.dir = o.dir or "/"
    opts.docroot = None
    opts.e, opts.header, opts.dir_exists = [], [], []
    opts.method = opts.remote_addr = None
    opts.url = "http://example.com/"
    base = opts.dir if opts.dir.endswith("/") else opts.dir + "/"
    rb = None
    for d in read_directives(label, read_text(path), htaccess):
        if d.name == "rewritebase" and d.args:
            rb = d.args[0][0]
    exists = []
    for r, _, per_dir in cands:
        t = r.subst.split("?", 1)[0]
        if not t or "$" in t or "%" in t:
            continue
        if not t.startswith("/"):
            t = (rb.rstrip("/") + "/" if rb else base) + t
        exists.append(t)
    opts.exists = exists
    setup = Setup(opts)
    setup.parse_url()
    setup.read_rules()
    work = make_work()
    found = []
    try:
        setup.make_tree(work)
        setup.index_rules()
        setup.probes = []
        write_probe_htaccess(setup, [])
        srv = Server(setup, module, "lint")
        srv.write_conf(False)
        err = srv.start()
        if err:
            return []
        seen = set()
        for r, smp, per_dir in cands:
            url = (base + smp) if per_dir else smp
            setup.target = urllib.parse.quote(url, safe="/:@!$&'()*+,;=-._~")
            off = srv.log_offset()

            def watch():
                if srv.log_offset() - off > (2 << 20):
                    return "runaway trace"
                return None
            resp = http_request(srv.port, build_request(setup, srv.port), None, watch, 5)
            log = srv.read_log(off, 1 << 20)
            events, others = parse_log(log)
            debug("lint loop check %s:%d with %s -> %s" % (r.d.file, r.d.line, url,
                                                         resp.status or resp.aborted))
            looped = bool(resp.aborted) or any(
                "AH00124" in m or "AH02596" in m for _, m in others)
            if resp.aborted:
                srv.stop()
                srv.start()
            if not looped:
                continue
            passes = segment(events)
            analyse(setup, passes)
            count = {}
            for p in passes:
                for st in p.steps:
                    if st.applied and st.rule is not None:
                        count[id(st.rule)] = (count.get(id(st.rule), (0, st.rule))[0] + 1, st.rule)
            if not count:
                continue
            n, culprit = max(count.values(), key=lambda x: x[0])
            if id(culprit) in seen:
                continue
            seen.add(id(culprit))
            if "N" in culprit.fset:
                how = ("the [N] flag restarts the rules and its result matches it again, "
                       "without end; make the pattern stop matching its own output")
            else:
                how = ("its result is rewritten again on every internal redirect until the "
                       "server gives up with 500 (LimitInternalRecursion); add a condition "
                       "that excludes the target, or use [END]")
            found.append(Warning_(culprit.d.file, culprit.d.line, "loop",
                                  "rule loops on its own output: a request for %s (with the "
                                  "target present) is rewritten again and again: %s"
                                  % (url, how)))
        srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return found


def is_htaccess_name(path, o):
    """--htaccess: per-directory; --server-context: server config; else a
    file whose name has 'htaccess' in it (.htaccess, site.htaccess,
    Joomla's htaccess.txt) is per-directory, any other server config."""
    if o.htaccess_flag:
        return True
    if o.server_context:
        return False
    return "htaccess" in os.path.basename(path).lower()


def request_hints(setup):
    """The lint checks that need no server, over the rules of a request:
    printed as hints with the answer."""
    o = setup.o
    srcs = []
    if o.conf:
        srcs.append((o.conf, read_text(o.conf), False))
    if setup.htaccess:
        srcs.append((setup.htaccess[0], setup.htaccess[1], True))
    if o.e and not (setup.htaccess and setup.htaccess[0] == "-e"):
        srcs.append(("-e", "\n".join(o.e) + "\n", False))
    out = []
    for label, text, ht in srcs:
        dirs = read_directives(label, text, ht)
        if label == "-e" and not any(d.name == "rewriteengine" for d in dirs):
            dirs = dirs + read_directives(label, "\n" * len(o.e) + "RewriteEngine on", ht)
        # a --conf with several vhosts: only the lines in play
        in_play = {org[1] for _, org in setup.server_lines + setup.main_lines
                   if org[0] == label} if label == o.conf else None
        for w in lint_static(label, dirs, ht, dirs, setup.dir if ht and o.dir else None):
            if w.kind not in ("proxy-missing",) and (in_play is None or w.line in in_play):
                out.append(w)
    out.sort(key=lambda w: (w.file, w.line))
    return out


def main_lint(o):
    if not o.files:
        die("--lint needs at least one file")
    module = find_module(o.module)
    if not os.path.isfile(module):
        die("module not found: %s (build it with make, or give --module)" % module)
    files = []
    all_dirs = []
    for path in o.files:
        text = read_text(path)
        ht = is_htaccess_name(path, o)
        dirs = read_directives(path, text, ht)
        files.append((path, text, ht, dirs))
        all_dirs.extend(dirs)
    work = make_work()
    warnings = []
    try:
        warnings += lint_syntax([(p, t, h) for p, t, h, _ in files], module, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = {w.file for w in warnings}
    for path, text, ht, dirs in files:
        warnings += lint_static(path, dirs, ht, all_dirs, o.dir)
        if path not in bad:
            sets, _ = build_rulesets(dirs)
            warnings += lint_loops(path, path, ht, sets, o, module)
    # one warning a loop: the .html-extension one names the cause better
    # than the run; a run that loops says more than "matches its target"
    loops = {(w.file, w.line) for w in warnings if w.kind == "loop"}
    ext = {(w.file, w.line) for w in warnings if w.kind == "extension-loop"}
    warnings = [w for w in warnings if not (w.kind == "self-target" and (w.file, w.line) in loops)
                and not (w.kind == "loop" and (w.file, w.line) in ext)]
    if o.usage:     # rules a saved statistics dump says were never hit
        sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "lib", PROG)]
        import rewrite_usage
        try:
            warnings += rewrite_usage.warnings(o.usage, files, Warning_)
        except rewrite_usage.UsageError as e:
            die(str(e))
    warnings.sort(key=lambda w: (w.file, w.line))
    if o.json:
        print(json.dumps({"warnings": [{"file": w.file, "line": w.line, "kind": w.kind,
                                         "level": w.level, "message": w.message}
                                        for w in warnings]}, indent=2))
    else:
        for w in warnings:
            print("%s:%d: %s: %s" % (w.file, w.line, w.level, w.message))
        if not warnings:
            print("%s: no problems found in %s" % (PROG, " ".join(o.files)))
    return 1 if any(w.level != "info" for w in warnings) else 0


# ----------------------------------------------------------------------
# main: test mode

class Opts:
    # the defaults of the options parse_args does not always set
    behind_proxy = None
    follow = 0
    all_steps = False
    server_context = False
    cases = junit = None
    quiet = json = trace = compare_stock = False


def parse_args(argv):
    o = Opts()
    o.conf = o.htaccess = o.dir = o.docroot = o.method = o.remote_addr = None
    o.e, o.header, o.exists, o.dir_exists = [], [], [], []
    o.json = o.compare_stock = o.trace = o.quiet = o.lint = False
    o.module = o.stock = o.usage = None
    o.url = None
    o.files = []
    o.htaccess_flag = False
    o.server_context = False
    o.all_steps = False
    o.follow = 0
    o.cases = o.junit = o.behind_proxy = None
    i = 0
    lint = "--lint" in argv
    global JSON_MODE
    JSON_MODE = "--json" in argv

    def val(i):
        if i + 1 >= len(argv):
            die("%s needs a value (see --help)" % argv[i])
        return argv[i + 1]
    while i < len(argv):
        a = argv[i]
        v = None
        if a.startswith("--") and "=" in a:
            a, v = a.split("=", 1)
            argv = argv[:i] + [a, v] + argv[i + 1:]
        if a in ("-h", "--help"):
            sys.stdout.write(HELP)
            sys.exit(0)
        elif a == "--version":
            print("%s %s" % (PROG, VERSION))
            sys.exit(0)
        elif a == "--lint":
            o.lint = True
        elif a == "--htaccess":
            if lint:
                o.htaccess_flag = True
            else:
                o.htaccess = val(i)
                i += 1
        elif a in ("--conf", "--dir", "--docroot", "--method", "--remote-addr",
                   "--module", "--stock", "--usage"):
            setattr(o, a[2:].replace("-", "_"), val(i))
            i += 1
        elif a == "-e":
            o.e.append(val(i))
            i += 1
        elif a.startswith("-e") and len(a) > 2:
            o.e.append(a[2:])
        elif a == "-H" or a == "--header":
            o.header.append(val(i))
            i += 1
        elif a == "--exists":
            o.exists.append(val(i))
            i += 1
        elif a == "--dir-exists":
            o.dir_exists.append(val(i))
            i += 1
        elif a == "--json":
            o.json = True
        elif a == "--compare-stock":
            o.compare_stock = True
        elif a == "--trace":
            o.trace = True
        elif a == "--all-steps":
            o.all_steps = True
        elif a == "--server-context":
            o.server_context = True
        elif a == "--follow":
            o.follow = FOLLOW_LIMIT
            if v is not None:
                i += 1
                if not v.isdigit() or not 1 <= int(v) <= 50:
                    die("--follow=N wants a number of redirects from 1 to 50: %s" % v)
                o.follow = int(v)
        elif a == "--cases":
            o.cases = val(i)
            i += 1
        elif a == "--junit":
            o.junit = val(i)
            i += 1
        elif a == "--behind-proxy":
            o.behind_proxy = val(i).lower()
            i += 1
            if o.behind_proxy not in ("https", "http"):
                die("--behind-proxy wants https (TLS ends at the proxy) or http: %s"
                    % o.behind_proxy)
        elif a in ("-q", "--quiet"):
            o.quiet = True
        elif a == "--":
            o.files.extend(argv[i + 1:])
            break
        elif a.startswith("-") and a != "-":
            die("unknown option %s (see --help)" % a)
        else:
            o.files.append(a)
        i += 1
    if o.lint:
        return o
    if o.usage:
        die("--usage goes with --lint (see --help)")
    if o.cases:
        for flag, on in (("--compare-stock", o.compare_stock), ("--follow", o.follow),
                         ("--trace", o.trace), ("--all-steps", o.all_steps)):
            if on:
                die("%s does not go with --cases (no trace is taken there): run the URL "
                    "alone for it" % flag)
        if len(o.files) > 1:
            die("--cases FILE takes its URLs from the file; one more argument may give "
                "the base for /paths in it: %s" % " ".join(o.files))
    elif len(o.files) != 1:
        die("give one URL (see --help)" if not o.files else
            "one URL only, got: %s" % " ".join(o.files))
    else:
        o.url = o.files[0]
    if o.junit and not o.cases:
        die("--junit FILE goes with --cases FILE")
    if o.method is not None and not re.match(r"^[A-Za-z!#$%&'*+.^_`|~0-9-]+$", o.method):
        die("--method: not an HTTP method: %r" % o.method)
    for h in o.header:
        if ":" not in h or not re.match(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", h.split(":", 1)[0].strip()):
            die("-H wants 'Name: value': %r" % h)
        if re.search(r"[\r\n\x00]", h):
            die("-H: a header value cannot hold a line break: %r" % h)
    if o.remote_addr is not None:
        try:
            ipaddress.ip_address(o.remote_addr)
        except ValueError:
            die("--remote-addr wants an IP address: %r" % o.remote_addr)
    for opt, vals in (("--exists", o.exists), ("--dir-exists", o.dir_exists),
                      ("--dir", [o.dir] if o.dir else [])):
        for p in vals:
            err = bad_url_path(p)
            if err:
                die("%s %s: %s" % (opt, p, err))
    return o


def bad_url_path(p):
    """Why a --exists/--dir-exists/--dir path cannot be used, or None:
    it must stay inside the document root."""
    if "\x00" in p:
        return "a NUL byte"
    depth = 0
    for part in p.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return "it leaves the document root ('..'): nothing is ever created " \
                       "outside the tool's own temporary directory"
        elif part not in ("", "."):
            depth += 1
    return None


def make_work():
    base = tempfile.gettempdir()
    work = tempfile.mkdtemp(prefix="rewrite-test.", dir=base)
    os.chmod(work, 0o755)
    if IS_ROOT:
        p = work
        while p not in ("/", ""):
            p = os.path.dirname(p)
            try:
                if not os.stat(p).st_mode & 0o001:
                    die("%s is not searchable by others; the server runs as "
                        "nobody: set TMPDIR to a directory like /tmp" % p)
            except OSError:
                break
    return work


def run_jobs(setup, jobs, want_probes=True):
    """Run the request with each module, in parallel."""
    results = {}

    def job(tag, mod):
        try:
            results[tag] = run_one(setup, mod, tag, want_probes)
        except BaseException as e:      # re-raised in the main thread
            results[tag] = e
    threads = [threading.Thread(target=job, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for v in results.values():
        if isinstance(v, BaseException):
            raise v
    return results


INVALID_RE = re.compile(r"Invalid command '([^']+)', perhaps misspelled or defined by a "
                        r"module not included in the server configuration")


def drop_unknown(setup, res):
    """A directive the test server does not know (not a Rewrite* one: a
    misspelled RewriteRule is the user's error) is removed from the rules
    given, with a note.  True when something was removed."""
    if res.start_error:
        m = INVALID_RE.search(res.start_error)
        if not m or m.group(1).lower().startswith("rewrite") or not res.error_origin:
            return False
        origin = tuple(res.error_origin)
        for lst in (setup.server_lines, setup.main_lines):
            for i, (line, org) in enumerate(lst):
                if tuple(org) == origin:
                    del lst[i]
                    setup.notes.append("%s:%d: left out: %s is defined by a module this "
                                       "test server does not load" % (org[0], org[1], m.group(1)))
                    return True
        return False
    if res.outcome["kind"] != "config-error" or not setup.htaccess:
        return False
    m = INVALID_RE.search(" ".join(res.outcome["errors"]))
    if not m or m.group(1).lower().startswith("rewrite"):
        return False
    name = m.group(1).lower()
    label, text = setup.htaccess
    out = []
    done = False
    for ln, line in enumerate(text.split("\n"), 1):
        w = line.strip().split(None, 1)
        if w and w[0].lower() == name:
            out.append("#" + line)
            setup.notes.append("%s:%d: left out: %s is defined by a module this test "
                               "server does not load" % (label, ln, m.group(1)))
            done = True
        else:
            out.append(line)
    if not done:
        return False
    setup.htaccess = (label, "\n".join(out))
    write_file(setup.htaccess_path, setup.htaccess[1])
    return True


def main_test(o):
    t_start = time.time()
    setup = Setup(o)
    setup.parse_url()
    setup.read_rules()
    if not os.path.exists(HTTPD):
        die("%s not found (apt-get install apache2)" % HTTPD)
    module = find_module(o.module)
    if not os.path.isfile(module):
        die("module not found: %s (build it with make, or give --module)" % module)
    stock = find_stock(o.stock) if o.compare_stock else None
    if not o.module and not os.environ.get("RW_MODULE"):
        want = stock_md5()
        if want and file_md5(module) == want:
            print("%s: note: %s is Debian's stock module, not this project's (run make "
                  "install, or give --module PATH)" % (PROG, module), file=sys.stderr)
    work = make_work()
    try:
        jobs = [("ours", module)] + ([("stock", stock)] if stock else [])
        results = run_setup(setup, work, jobs)
        ours = results["ours"]
        ht_line = None
        if not ours.start_error and ours.outcome["kind"] == "config-error":
            errs = " ".join(ours.outcome["errors"])
            ht_line = htaccess_error_line(setup, module, errs)
        setup.hints = request_hints(setup)
        chain = None
        if o.follow and not ours.start_error:
            chain = follow_chain(o, setup, ours, module)
        elapsed = time.time() - t_start
        return report(setup, o, ours, results.get("stock"), elapsed, ht_line, chain)
    finally:
        if not os.environ.get("REWRITE_TEST_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("# kept %s" % work, file=sys.stderr)


def run_setup(setup, work, jobs, want_probes=True):
    """Build the tree in `work` and run the request with each module."""
    setup.make_tree(work)
    setup.index_rules()
    setup.probes = probe_list(setup) if want_probes else []
    write_probe_htaccess(setup, setup.probes)
    if setup.scheme == "https":
        make_cert(work, setup.host)
    for attempt in range(8):
        results = run_jobs(setup, jobs, want_probes)
        # directives of modules this server does not load (php_value,
        # Expires*, ...) are left out, with a note, and the run repeated
        if not drop_unknown(setup, results["ours"]):
            break
    return results


def norm_url(url):
    p = urllib.parse.urlsplit(url)
    scheme = p.scheme.lower()
    port = p.port or (443 if scheme == "https" else 80)
    return (scheme, (p.hostname or "").lower(), port, p.path or "/", p.query)


def same_site(a, b):
    ha = (urllib.parse.urlsplit(a).hostname or "").lower()
    hb = (urllib.parse.urlsplit(b).hostname or "").lower()
    strip = lambda h: h[4:] if h.startswith("www.") else h
    return strip(ha) == strip(hb)


def hop_summary(setup, res, url, method):
    o = res.outcome if not res.start_error else {}
    return {"url": url, "method": method, "status": o.get("status"),
            "reason": o.get("reason"), "kind": o.get("kind"), "location": o.get("location"),
            "decided_by": o.get("decided_by"), "redirect_by": o.get("redirect_by"),
            "uri": o.get("uri"), "query_string": o.get("query_string"),
            "vhost": setup.vhost_choice, "error": res.error_text if res.start_error else None}


def follow_chain(o, setup, first, module):
    """--follow: the same-site redirects of the answer, each sent as a new
    request (its own server, the vhost chosen again for its scheme and
    port), up to o.follow of them.  -> {"hops", "loop", "self", "stopped"}"""
    method = (o.method or "GET").upper()
    url = setup.url
    hops = [hop_summary(setup, first, url, method)]
    out = {"hops": hops, "loop": None, "self": False, "stopped": None, "limit": o.follow}
    seen = [norm_url(url)]
    cur = first
    while True:
        oc = cur.outcome
        if cur.start_error or oc.get("kind") != "redirect" or not oc.get("location"):
            break
        nxt = urllib.parse.urljoin(url, oc["location"])
        if norm_url(nxt) == norm_url(url):
            out["self"] = True
            out["loop"] = [url, nxt]
            break
        if norm_url(nxt) in seen:
            i = seen.index(norm_url(nxt))
            out["loop"] = [h["url"] for h in hops[i:]] + [nxt]
            break
        if len(hops) - 1 >= o.follow:
            out["stopped"] = "the limit of %d redirects was reached (--follow=N)" % o.follow
            break
        if urllib.parse.urlsplit(nxt).scheme.lower() not in ("http", "https"):
            out["stopped"] = "%s is not http or https: not followed" % nxt
            break
        if not same_site(url, nxt):
            out["stopped"] = "%s is another site: not followed" % nxt
            break
        if oc["status"] in (301, 302, 303) and method not in ("GET", "HEAD"):
            method = "GET"
        o2 = Opts()
        o2.__dict__.update(o.__dict__)
        o2.url = nxt
        o2.method = method
        s2 = Setup(o2)
        s2.parse_url()
        s2.read_rules()
        work = make_work()
        try:
            res = run_setup(s2, work, [("ours", module)], want_probes=False)["ours"]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        url = nxt
        seen.append(norm_url(url))
        hops.append(hop_summary(s2, res, url, method))
        cur = res
    return out


def runtime_hints(setup, res, chain):
    """Hints from what the request did (not from the rules alone)."""
    out = []
    if res.start_error:
        return out
    o = res.outcome
    loc = o.get("location")
    own = loc and norm_url(urllib.parse.urljoin(setup.url, loc)) == norm_url(setup.url)
    looped = own or (chain and chain["loop"])
    if looped and setup.o.behind_proxy and any(
            re.search(r"%\{HTTPS\}|%\{SERVER_PORT\}|%\{REQUEST_SCHEME\}", r.d.text + " ".join(
                c.d.text for c in r.conds)) for r in setup.all_rules):
        out.append("behind a proxy that ends TLS, %{HTTPS} is off and %{REQUEST_SCHEME} is http "
                   "here even for https visitors, so an https redirect fires on every request "
                   "(a loop in the browser): test the proxy's header instead, "
                   "RewriteCond %{HTTP:X-Forwarded-Proto} !https (trust it only from the proxy)")
    elif own:
        out.append("the answer redirects to the very URL that was asked for: a browser asks "
                   "again and gets the same answer (ERR_TOO_MANY_REDIRECTS); add a condition "
                   "that is false once the URL is right")
    if o.get("redirect_by", "") and o["redirect_by"].startswith("mod_dir"):
        out.append("the 301 comes from mod_dir, not from a rule: %s names a directory; ask for "
                   "it with a trailing slash, or set DirectorySlash Off (and mind what that "
                   "exposes)" % setup.path)
    return out


def render_chain(chain, w):
    w("redirects followed (--follow, at most %d):" % chain["limit"])
    for n, h in enumerate(chain["hops"], 1):
        if h["error"]:
            what = "the server refused the configuration: %s" % h["error"].splitlines()[-1]
        elif h["kind"] == "redirect":
            what = "%s -> %s" % (h["status"], h["location"])
        else:
            what = "%s %s%s" % (h["status"], h["reason"] or "",
                                (", %s %s%s" % ("served from" if h["status"] < 400 else "for",
                                                h["uri"], "?" + h["query_string"]
                                                if h["query_string"] else ""))
                                if h["kind"] == "internal" and h["uri"] else
                                (" (%s)" % h["kind"] if h["kind"] else ""))
        by = ""
        if h["redirect_by"]:
            by = "  [%s]" % h["redirect_by"].split(" (")[0]
        elif h["decided_by"]:
            by = "  [%s:%d]" % (h["decided_by"]["file"], h["decided_by"]["line"])
        w("  %d. %s %s  %s%s" % (n, h["method"], h["url"], what, by))
    if chain["self"]:
        w("  LOOP: %s redirects to itself" % chain["loop"][0])
    elif chain["loop"]:
        w("  LOOP: %s" % " -> ".join(chain["loop"]))
    if chain["stopped"]:
        w("  stopped: %s" % chain["stopped"])


def report(setup, o, ours, stock, elapsed, ht_line, chain=None):
    rc = 0
    hints = [{"file": h.file, "line": h.line, "kind": h.kind, "message": h.message}
             for h in getattr(setup, "hints", [])]
    hints += [{"file": None, "line": None, "kind": "request", "message": m}
              for m in runtime_hints(setup, ours, chain)]
    if chain and chain["loop"]:
        rc = 1
    if ht_line:
        ours.outcome["error_line"] = {"file": setup.htaccess[0], "line": ht_line[0],
                                      "message": ht_line[1]}
    if o.json:
        doc = {"request": {"method": (o.method or "GET").upper(), "url": setup.url,
                           "target": setup.target, "host": setup.host,
                           "scheme": setup.scheme, "headers": o.header,
                           "remote_addr": o.remote_addr or "127.0.0.1"},
               "docroot": setup.label, "notes": setup.notes,
               "ignored_lines": setup.ignored, "vhost_choice": setup.vhost_choice}
        doc.update(res_json(setup, ours))
        if stock is not None:
            doc["stock"] = res_json(setup, stock)
            diffs, tdiff = compare(setup, ours, stock)
            doc["differences"] = [{"field": f, "ours": a, "stock": b} for f, a, b, v in diffs if v]
            doc["internal_differences"] = [{"field": f, "ours": a, "stock": b}
                                           for f, a, b, v in diffs if not v]
            doc["trace_diff"] = tdiff
            if doc["differences"]:
                rc = 1
        if not ours.start_error and ours.outcome["kind"] == "config-error":
            el = ours.outcome.get("error_line") or {}
            doc["error"] = {"message": el.get("message") or " ".join(ours.outcome["errors"]),
                            "file": el.get("file") or (setup.htaccess[0] if setup.htaccess
                                                       else None),
                            "line": el.get("line"), "exit_status": 2}
        doc["hints"] = hints
        if chain is not None:
            doc["follow"] = chain
        if o.behind_proxy and not ours.start_error:
            doc["behind_proxy"] = ours.outcome.get("vars")
        doc["elapsed"] = round(elapsed, 3)
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        if ours.start_error or ours.outcome["kind"] == "config-error":
            return 2
        return rc
    out = []
    w = out.append
    if ours.start_error:
        print("%s: the server refused the configuration:" % PROG, file=sys.stderr)
        print(ours.error_text, file=sys.stderr)
        if stock is not None:
            if stock.start_error:
                same = stock.error_text == ours.error_text
                print("stock module: %s" % ("the same error" if same else
                      "a different error:\n" + stock.error_text), file=sys.stderr)
            else:
                print("stock module: accepts this configuration", file=sys.stderr)
        return 2
    if not o.quiet:
        w("request: %s %s%s" % ((o.method or "GET").upper(), setup.url,
                                "  (from %s)" % o.remote_addr if o.remote_addr else ""))
        for h in o.header:
            w("  %s" % h)
        files = [p for p in (o.exists or [])] + [p.rstrip("/") + "/" for p in (o.dir_exists or [])]
        if setup.generated:
            w("document root: %s (generated%s)" % (setup.label, ": " + " ".join(files) if files else ", empty"))
        else:
            w("document root: %s" % setup.label)
        for n in setup.notes:
            w("note: %s" % n)
        w("")
    render_text(setup, ours, out, o.quiet, o.all_steps)
    if o.behind_proxy:
        v = ours.outcome.get("vars") or {}
        w("  behind a proxy (the client used %s): %%{HTTPS}=%s  %%{REQUEST_SCHEME}=%s  "
          "%%{HTTP:X-Forwarded-Proto}=%s" % (setup.client_scheme, v.get("HTTPS"),
                                            v.get("REQUEST_SCHEME"),
                                            v.get("HTTP:X-Forwarded-Proto")))
    if chain is not None:
        w("")
        render_chain(chain, w)
    if hints:
        w("")
        for h in hints:
            w("hint: %s%s" % ("%s:%d: " % (h["file"], h["line"]) if h["file"] else "",
                              h["message"]))
    if o.trace:
        w("")
        w("trace (LogLevel rewrite:trace8):")
        for ev in ours.events:
            w("  " + trace_norm(setup, ev))
    if stock is not None:
        w("")
        if stock.start_error:
            w("stock module: refuses the configuration:")
            w("  " + stock.error_text.replace("\n", "\n  "))
            rc = 1
        else:
            diffs, tdiff = compare(setup, ours, stock)
            vis = [d for d in diffs if d[3]]
            hidden = [d for d in diffs if not d[3]]
            if not diffs and not tdiff:
                w("stock module: same outcome, same trace (%d lines)" % len(stock.events))
            else:
                rc = 1 if vis else 0
                if vis:
                    w("stock module: DIFFERENT outcome")
                    for f, a, b, _ in vis:
                        w("  %s: ours %s | stock %s" % (f, json.dumps(a), json.dumps(b)))
                else:
                    w("stock module: same outcome")
                if hidden:
                    w("  internal state differs (not seen by the client):")
                    for f, a, b, _ in hidden:
                        w("    %s: ours %s | stock %s" % (f, json.dumps(a), json.dumps(b)))
                if tdiff:
                    w("  trace differs (- stock, + ours):")
                    for l in tdiff[2:]:
                        w("    " + l)
    if not o.quiet:
        w("")
        w("(%.2f s)" % elapsed)
    sys.stdout.write("\n".join(out) + "\n")
    if ours.outcome["kind"] == "config-error":
        el = ours.outcome.get("error_line")
        print("%s: %s" % (PROG, "%s:%d: %s" % (el["file"], el["line"], el["message"]) if el
                          else "the server rejects the rules: " + " ".join(ours.outcome["errors"])),
              file=sys.stderr)
        return 2
    return rc


# ----------------------------------------------------------------------

# ----------------------------------------------------------------------
# --cases: many URLs, one server start

class Case:
    def __init__(self, file, line, url, status, target):
        self.file, self.line, self.url = file, line, url
        self.status, self.target = status, target
        self.got = None
        self.ok = None
        self.why = None


def parse_cases(path, base):
    """Lines 'URL [-> [STATUS] [TARGET]]' ('=>' too), or CSV/TSV rows
    'URL,STATUS,TARGET' (a first row that is not a URL is a header);
    '#' starts a comment.  A URL that is a bare path is joined to `base`."""
    import csv
    text = read_text(path)
    cases = []
    first = True
    for ln, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if re.search(r"\s[-=]>(\s|$)", s):
            url, exp = re.split(r"\s+[-=]>\s*", s, 1)
            fields = exp.split()
        elif "," in s or "\t" in s:
            row = next(csv.reader([s], delimiter="," if "," in s else "\t"))
            url = row[0].strip()
            fields = [x.strip() for x in row[1:] if x.strip()]
            if first and not re.match(r"^(/|https?://)", url, re.I):
                first = False
                continue        # the header row
        else:
            parts = s.split()
            url, fields = parts[0], parts[1:]
        first = False
        status = target = None
        for f in fields:
            if status is None and target is None and re.match(r"^[1-5]\d\d$", f):
                status = int(f)
            elif target is None:
                target = f
            else:
                die("more than a status and a target: %r" % s, file=path, line=ln)
        if url.startswith("/"):
            url = base.rstrip("/") + url
        elif "://" not in url:
            die("not a URL or a /path: %r" % url, file=path, line=ln)
        cases.append(Case(path, ln, url, status, target))
    if not cases:
        die("no cases in %s" % path)
    return cases


def case_key(o, vhosts, url):
    """Cases that one server can answer: same scheme, port and vhost."""
    p = urllib.parse.urlsplit(url)
    scheme = p.scheme.lower()
    try:
        port = p.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = -1
    if o.behind_proxy and scheme == "https" and p.port is None:
        scheme, port = "http", 80
    v = choose_vhost(vhosts, p.hostname or "", port)[0] if vhosts else None
    return (scheme, port, v[0] if v else None)


def case_got(setup, resp):
    """status, Location and the internal target of one answer."""
    h = {k.lower(): v for k, v in resp.getheaders()}
    f = h.get("x-rwtest-file") or ""
    root = setup.docroot.rstrip("/")
    if f.startswith("proxy:"):
        target = f
    elif f == root or f.startswith(root + "/"):
        target = (f[len(root):] or "/") + (h.get("x-rwtest-pathinfo") or "")
    else:
        target = h.get("x-rwtest-uri") or f
    q = h.get("x-rwtest-args")
    return {"status": resp.status, "location": h.get("location"),
            "target": target + ("?" + q if q else "")}


def judge(case):
    g = case.got
    if g.get("error"):
        return "no answer: %s" % g["error"]
    want_redirect = (case.status is not None and 300 <= case.status < 400) or \
        (case.status is None and case.target and re.match(r"^https?://", case.target, re.I))
    if case.status is not None and g["status"] != case.status:
        return "status %s, expected %s" % (g["status"], case.status)
    if case.target is None:
        return None
    if want_redirect:
        if not g["location"]:
            return "no redirect (expected Location %s)" % case.target
        exp = urllib.parse.urljoin(case.url, case.target)
        got = urllib.parse.urljoin(case.url, g["location"])
        if norm_url(exp) != norm_url(got):
            return "Location %s, expected %s%s" % (
                g["location"], case.target,
                " (a redirect to the URL itself: a loop in the browser)"
                if norm_url(got) == norm_url(case.url) else "")
        return None
    if g["location"] and 300 <= g["status"] < 400:
        return "redirect %s to %s, expected the internal target %s" % (
            g["status"], g["location"], case.target)
    ep, _, eq = case.target.partition("?")
    gp, _, gq = g["target"].partition("?")
    uq = urllib.parse.unquote
    if uq(ep) != uq(gp) or ("?" in case.target and eq != gq):
        return "internal target %s, expected %s" % (g["target"], case.target)
    return None


def send_cases(setup, port, cases, threads=4):
    """Send the cases over keep-alive connections, a few in parallel."""
    import http.client
    import ssl
    o = setup.o

    def worker(part):
        conn = None
        for c in part:
            p = urllib.parse.urlsplit(c.url)
            target = (p.path or "/") + ("?" + p.query if p.query else "")
            target = target.replace(" ", "%20")
            scheme = p.scheme.lower()
            https = scheme == "https" and setup.scheme == "https"
            for attempt in range(2):
                try:
                    if conn is None:
                        if https:
                            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                            ctx.check_hostname = False
                            ctx.verify_mode = ssl.CERT_NONE
                            conn = http.client.HTTPSConnection("127.0.0.1", port,
                                                               timeout=REQUEST_TIMEOUT,
                                                               context=ctx)
                        else:
                            conn = http.client.HTTPConnection("127.0.0.1", port,
                                                              timeout=REQUEST_TIMEOUT)
                    method = (o.method or "GET").upper()
                    conn.putrequest(method, target, skip_host=True,
                                    skip_accept_encoding=True)
                    names = set()
                    for hd in o.header:
                        k, v = hd.split(":", 1)
                        names.add(k.strip().lower())
                        conn.putheader(k.strip(), v.strip())
                    if "host" not in names:
                        conn.putheader("Host", p.netloc.rsplit("@", 1)[-1])
                    if o.remote_addr:
                        conn.putheader("X-RWTest-Remote-Addr", o.remote_addr)
                    if o.behind_proxy and "x-forwarded-proto" not in names:
                        conn.putheader("X-Forwarded-Proto", scheme)
                    conn.endheaders()
                    resp = conn.getresponse()
                    resp.read()
                    c.got = case_got(setup, resp)
                    if resp.will_close:
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    c.got = {"error": str(e) or e.__class__.__name__}
        if conn is not None:
            conn.close()
    parts = [cases[i::threads] for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(pt,)) for pt in parts if pt]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main_cases(o):
    t0 = time.time()
    base = o.files[0] if o.files else "http://localhost"
    if "://" not in base:
        base = "http://" + base
    cases = parse_cases(o.cases, base)
    module = find_module(o.module)
    if not os.path.isfile(module):
        die("module not found: %s (build it with make, or give --module)" % module)
    vhosts = scan_vhosts(list(logical_lines(read_text(o.conf)))) if o.conf else []
    groups = {}
    for c in cases:
        groups.setdefault(case_key(o, vhosts, c.url), []).append(c)
    # one vhost under test for each (scheme, port, vhost) of the cases,
    # all in one server: one start whatever the list holds
    setups = []
    for key, group in groups.items():
        o2 = Opts()
        o2.__dict__.update(o.__dict__)
        o2.url = group[0].url
        st = Setup(o2)
        st.parse_url()
        st.read_rules()
        setups.append((st, group))
    first = setups[0][0]
    work = make_work()
    starts = 0
    try:
        first.make_tree(work)
        first.index_rules()
        first.probes = []
        write_probe_htaccess(first, [])
        for st, _ in setups[1:]:
            # the same tree for all
            for attr in ("work", "docroot", "generated", "label", "real_docroot",
                         "htaccess_path"):
                if hasattr(first, attr):
                    setattr(st, attr, getattr(first, attr))
        if any(st.scheme == "https" for st, _ in setups):
            make_cert(work, first.host)
        srv = Server(first, module, "cases")
        srv.batch = True
        err = None
        for attempt in range(3):
            ports = pick_ports(len(setups) - 1) if len(setups) > 1 else []
            srv.extra = [(st, p) for (st, _), p in zip(setups[1:], ports)]
            srv.write_conf(False)
            err = srv.start()
            if not err or "Address already in use" not in err:
                break
            srv.port, srv.sink_port = pick_ports(2)
        if err:
            origin, text = srv.config_error(err)
            die("the server refused the configuration:\n" + text, 2,
                origin[0] if origin else None, origin[1] if origin else None)
        starts = 1
        try:
            for (st, group), port in zip(setups, [srv.port] + [p for _, p in srv.extra]):
                send_cases(st, port, group)
        finally:
            srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for c in cases:
        c.why = judge(c)
        c.ok = c.why is None
    secs = time.time() - t0
    return report_cases(o, cases, secs, starts)


def exp_text(c):
    return " ".join(x for x in (str(c.status) if c.status else None, c.target) if x) or "(any)"


def got_text(g):
    if g.get("error"):
        return "no answer"
    if g["location"]:
        return "%s %s" % (g["status"], g["location"])
    return "%s %s" % (g["status"], g["target"])


def report_cases(o, cases, secs, starts):
    npass = sum(1 for c in cases if c.ok)
    nfail = len(cases) - npass
    rate = len(cases) / secs if secs > 0 else 0.0
    if o.junit:
        write_junit(o.junit, o.cases, cases, secs)
    if o.json:
        print(json.dumps({
            "cases": [{"file": c.file, "line": c.line, "url": c.url,
                       "expected": {"status": c.status, "target": c.target},
                       "got": c.got, "ok": c.ok, "problem": c.why} for c in cases],
            "passed": npass, "failed": nfail, "elapsed": round(secs, 3),
            "urls_per_second": round(rate, 1), "server_starts": starts}, indent=2))
    else:
        out = []
        w = out.append
        for c in cases:
            if c.ok and o.quiet:
                continue
            if c.ok:
                w("ok    %s:%d  %s  %s" % (c.file, c.line, c.url, got_text(c.got)))
            else:
                w("FAIL  %s:%d  %s  expected %s, got %s: %s"
                  % (c.file, c.line, c.url, exp_text(c), got_text(c.got), c.why))
        w("%s --cases: %d passed, %d failed (%d URLs in %.1f s, %.0f URLs/s, %d server "
          "start%s)" % (PROG, npass, nfail, len(cases), secs, rate, starts,
                        "s" if starts != 1 else ""))
        sys.stdout.write("\n".join(out) + "\n")
    return 1 if nfail else 0


def write_junit(path, source, cases, secs):
    import xml.etree.ElementTree as ET
    suite = ET.Element("testsuite", name="rewrite-test %s" % source, tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if not c.ok)), errors="0",
                       time="%.3f" % secs)
    for c in cases:
        tc = ET.SubElement(suite, "testcase", classname="%s:%d" % (c.file, c.line),
                           name=c.url, time="0")
        if not c.ok:
            f = ET.SubElement(tc, "failure", message=c.why)
            f.text = "expected %s, got %s" % (exp_text(c), got_text(c.got))
    try:
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as e:
        die("--junit %s: %s" % (path, e.strerror))


def main(argv):
    o = parse_args(argv)
    if o.lint:
        return main_lint(o)
    if o.cases:
        return main_cases(o)
    return main_test(o)


def run(argv, bindir=None):
    """The entry point (tools/rewrite-test, installed in bindir)."""
    global HERE
    if bindir:
        HERE = bindir
    try:
        sys.exit(main(argv))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
