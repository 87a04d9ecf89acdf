#!/usr/bin/env python3
"""Differential test runner: stock mod_rewrite versus ours (t/diff/run-diff).

Runs every case in t/diff/cases/*.case against a private Apache server
loaded first with the stock mod_rewrite.so, then with ours, on the same
port and the same paths, and compares the responses field by field, and
the rewrite trace lines each request logged (levels 1-3 by default).
The case file format is described in t/diff/README.md.

The private servers are tools/rwharness.py's (shared with rewrite-test,
the fuzzer and the benchmarks); the fuzzer (t/diff/fuzz) imports this
module for the case model, the server config, serving and comparing.

Stdlib only; works with Debian's /usr/bin/python3 (3.11).
"""

import argparse
import collections
import difflib
import fnmatch
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CASES_DIR = os.path.join(HERE, "cases")

sys.path.insert(0, os.path.join(REPO, "tools"))
import rwharness as rh  # noqa: E402

HTTPD = rh.HTTPD

CLIENT_TIMEOUT = 15.0    # seconds per request (socket)
SERVER_TIMEOUT = 8       # Apache's Timeout directive
START_TIMEOUT = 15.0     # seconds to wait for a server to accept
STOP_TIMEOUT = 10.0      # seconds to wait for a server to go away

CASE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
SECTION_RE = re.compile(r"^###\s+(\S+)\s*(.*?)\s*$")
SECTIONS = ("server", "vhost", "file", "dir", "symlink", "requests", "configtest")

ECHO_CGI = r"""#!/usr/bin/perl
# Prints the CGI variables a rewrite test cares about, in a fixed order,
# then every RW_* and REDIRECT_* variable (sorted).
my @fixed = qw(REQUEST_URI QUERY_STRING SCRIPT_NAME SCRIPT_FILENAME
  PATH_INFO PATH_TRANSLATED REQUEST_METHOD HTTPS SCRIPT_URL SCRIPT_URI
  REDIRECT_URL REDIRECT_STATUS REDIRECT_QUERY_STRING REDIRECT_SCRIPT_URL);
my %seen = map { $_ => 1 } @fixed;
binmode STDOUT;
print "Content-Type: text/plain\n\n";
for my $k (@fixed) {
    print defined $ENV{$k} ? "$k=$ENV{$k}\n" : "$k (unset)\n";
}
for my $k (sort grep { /^(RW_|REDIRECT_)/ && !$seen{$_} } keys %ENV) {
    print "$k=$ENV{$k}\n";
}
"""

MIME_TYPES = """\
text/html\t\t\t\thtml htm
text/plain\t\t\t\ttxt text
text/css\t\t\t\tcss
application/javascript\t\t\tjs
application/json\t\t\tjson
image/png\t\t\t\tpng
image/gif\t\t\t\tgif
application/octet-stream\t\tbin
"""

IS_ROOT = rh.IS_ROOT
stop_all = rh.stop_all
rh.stop_at_exit()


# ----------------------------------------------------------------------
# case files

class Request:
    def __init__(self, label, line_no):
        self.label = label        # what is printed in ok/FAIL lines
        self.line_no = line_no
        self.raw = None           # RAW form: escaped source text
        self.method = None        # simple form
        self.target = None
        self.proto = "HTTP/1.1"
        self.headers = []         # simple form: extra header lines

    def build(self, case):
        """The exact bytes to send, placeholders replaced."""
        v = placeholder_values(case, os.path.join(WORK.htdocs, case.name))
        host = case.host
        if self.raw is not None:
            return unescape(subst(self.raw, v))
        target = subst(self.target, v)
        lines = ["%s %s %s" % (self.method, target, self.proto)]
        hdrs = [subst(h, v) for h in self.headers]
        names = {h.split(":", 1)[0].strip().lower() for h in hdrs}
        if "host" not in names:
            lines.append("Host: %s" % host)
        if "connection" not in names:
            lines.append("Connection: close")
        lines.extend(hdrs)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Case:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.host = name + ".test"
        self.kind = "requests"     # or "configtest"
        self.server = []           # server-level config lines
        self.vhost = []            # lines inside <VirtualHost>
        self.files = []            # (kind, path, data, mode) kind=file|dir|symlink
        self.requests = []

    @property
    def server_key(self):
        return "\n".join(l.strip() for l in self.server if l.strip())


class CaseError(Exception):
    pass


def subst(text, values):
    for k, v in values.items():
        text = text.replace("@%s@" % k, v)
    return text


_ESC_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|[rnt0\\])")


def unescape(text):
    """\\r \\n \\t \\0 \\\\ \\xNN -> bytes; everything else literal (latin-1)."""
    def rep(m):
        e = m.group(1)
        if e[0] == "x":
            return chr(int(e[1:], 16))
        return {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}[e]
    return _ESC_RE.sub(rep, text).encode("latin-1")


def printable(data):
    """bytes -> readable one-line text (escapes as in the case format)."""
    out = []
    for b in data:
        c = chr(b)
        if c == "\\":
            out.append("\\\\")
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif 32 <= b < 127:
            out.append(c)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def parse_case(path):
    name = os.path.basename(path)[:-len(".case")]
    if not CASE_NAME_RE.match(name):
        raise CaseError("%s: case name must match [a-z0-9][a-z0-9-]*" % path)
    case = Case(name, path)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    section = None       # (kind, arg)
    body = []            # lines of the current section
    body_start = 0

    def flush(section, body, start):
        if section is None:
            return     # preamble: free-form comments
        kind, arg = section
        if kind == "server":
            case.server.extend(body)
        elif kind == "vhost":
            case.vhost.extend(body)
        elif kind == "file":
            parts = arg.split()
            if not parts:
                raise CaseError("%s:%d: ### file needs a path" % (path, start))
            mode = 0o644
            for p in parts[1:]:
                if p.startswith("mode="):
                    mode = int(p[5:], 8)
                else:
                    raise CaseError("%s:%d: bad file option %r" % (path, start, p))
            while body and not body[-1].strip():
                body = body[:-1]
            data = "\n".join(body) + ("\n" if body else "")
            case.files.append(("file", check_rel(parts[0], path, start), data, mode))
        elif kind == "configtest":
            case.kind = "configtest"
        elif kind == "requests":
            parse_requests(case, body, start)

    for i, line in enumerate(lines, 1):
        m = SECTION_RE.match(line)
        if m and m.group(1).lower() not in SECTIONS:
            # '### word' is a marker only for known words; inside a file
            # body anything else is content, elsewhere it is a typo
            if section is None or section[0] != "file":
                raise CaseError("%s:%d: unknown section %r" % (path, i, line))
            m = None
        if m:
            flush(section, body, body_start)
            kind, arg = m.group(1).lower(), m.group(2)
            body, body_start = [], i
            if kind == "symlink":
                mm = re.match(r"^(\S+)\s+->\s+(\S+)$", arg)
                if not mm:
                    raise CaseError("%s:%d: use ### symlink PATH -> TARGET" % (path, i))
                case.files.append(("symlink", check_rel(mm.group(1), path, i),
                                   mm.group(2), None))
                section = None
            elif kind == "dir":
                if not arg:
                    raise CaseError("%s:%d: ### dir needs a path" % (path, i))
                case.files.append(("dir", check_rel(arg, path, i), None, 0o755))
                section = None
            else:
                section = (kind, arg)
        else:
            if section is None and line.strip() and not line.lstrip().startswith("#"):
                raise CaseError("%s:%d: text outside any section" % (path, i))
            body.append(line)
    flush(section, body, body_start)

    if case.kind == "configtest" and case.requests:
        raise CaseError("%s: a configtest case has no requests" % path)
    if case.kind == "requests" and not case.requests:
        raise CaseError("%s: no requests (add ### requests, or ### configtest)" % path)
    return case


def check_rel(rel, path, line):
    if rel.startswith("/") or ".." in rel.split("/"):
        raise CaseError("%s:%d: path must be relative to the docroot: %r" % (path, line, rel))
    return rel


def parse_requests(case, body, start):
    cur = None
    for off, line in enumerate(body):
        ln = start + 1 + off
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if cur is None:
                raise CaseError("%s:%d: continuation line without a request" % (case.path, ln))
            text = line.strip()
            if cur.raw is not None:
                cur.raw += text
                cur.label += text
            else:
                if ":" not in text:
                    raise CaseError("%s:%d: header line needs 'Name: value'" % (case.path, ln))
                cur.headers.append(text)
                cur.label += " [%s]" % text
            continue
        text = line.rstrip()
        if text.startswith("RAW ") or text == "RAW":
            cur = Request(text, ln)
            cur.raw = text[4:]
        else:
            parts = text.split()
            if len(parts) not in (2, 3):
                raise CaseError("%s:%d: expected 'METHOD TARGET [PROTOCOL]' or 'RAW bytes'"
                                % (case.path, ln))
            cur = Request(text, ln)
            cur.method, cur.target = parts[0], parts[1]
            if len(parts) == 3:
                cur.proto = parts[2]
        case.requests.append(cur)


def load_cases(selected, cases_dir=CASES_DIR):
    paths = sorted(p for p in os.listdir(cases_dir) if p.endswith(".case"))
    cases = []
    for p in paths:
        cases.append(parse_case(os.path.join(cases_dir, p)))
    if selected:
        chosen = []
        for pat in selected:
            pat = pat[:-5] if pat.endswith(".case") else pat
            hit = [c for c in cases if fnmatch.fnmatchcase(c.name, pat)]
            if not hit:
                raise CaseError("no case matches %r" % pat)
            for c in hit:
                if c not in chosen:
                    chosen.append(c)
        cases = [c for c in cases if c in chosen]
    return cases


# ----------------------------------------------------------------------
# server tree

free_port = rh.free_port


def write(path, data, mode=0o644):
    rh.write_file(path, data, mode)


def make_docroot(root, case=None, write=write):
    """The fixtures every case has and the case's own files.  write(path,
    text, mode) puts a file in place (the fuzzer links shared copies)."""
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    write(os.path.join(root, "index.html"), "<html><body>index of %s</body></html>\n"
          % os.path.basename(root))
    write(os.path.join(root, "file.txt"), "file.txt in %s\n" % os.path.basename(root))
    os.makedirs(os.path.join(root, "dir"), exist_ok=True)
    os.chmod(os.path.join(root, "dir"), 0o755)
    write(os.path.join(root, "dir", "index.html"),
          "<html><body>dir/index.html of %s</body></html>\n" % os.path.basename(root))
    write(os.path.join(root, "echo.cgi"), ECHO_CGI, 0o755)
    write(os.path.join(root, "dir", "echo.cgi"), ECHO_CGI, 0o755)
    if case is None:
        return
    values = placeholder_values(case, root)
    for kind, rel, data, mode in case.files:
        p = os.path.join(root, rel)
        if kind == "dir":
            os.makedirs(p, exist_ok=True)
            os.chmod(p, mode)
        elif kind == "file":
            parent = os.path.dirname(p)
            if not os.path.isdir(parent):
                os.makedirs(parent, exist_ok=True)
                os.chmod(parent, 0o755)
            write(p, subst(data, values), mode)
        elif kind == "symlink":
            os.makedirs(os.path.dirname(p), exist_ok=True)
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(subst(data, values), p)


def placeholder_values(case, docroot):
    return {"DOCROOT": docroot, "HOST": case.host, "PORT": str(WORK.port),
            "WORK": WORK.root, "HTDOCS": WORK.htdocs, "CASE": case.name}


class Work:
    def __init__(self, root, port):
        self.root = root
        self.port = port
        self.conf = os.path.join(root, "conf")
        self.logs = os.path.join(root, "logs")
        self.run = os.path.join(root, "run")
        self.htdocs = os.path.join(root, "htdocs")


WORK = None


def setup_tree(root):
    for sub in ("conf", "logs", "run", "htdocs"):
        p = os.path.join(root, sub)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        os.makedirs(p)
        os.chmod(p, 0o755)
    os.chmod(root, 0o755)
    write(os.path.join(root, "conf", "mime.types"), MIME_TYPES)
    make_docroot(os.path.join(root, "htdocs", "_default"))
    make_docroot(os.path.join(root, "htdocs", "_main"))


def check_access(root):
    """As root, the workers run as nobody: every parent must be traversable."""
    p = rh.unreachable_parent(root)
    if p:
        print("warning: %s is not searchable by others; CGIs run as nobody "
              "will fail (use --workdir elsewhere)" % p, file=sys.stderr)


MODULES = (("mpm_prefork_module", "mod_mpm_prefork.so"),
           ("authz_core_module", "mod_authz_core.so"),
           ("mime_module", "mod_mime.so"),
           ("dir_module", "mod_dir.so"),
           ("alias_module", "mod_alias.so"),
           ("cgi_module", "mod_cgi.so"),
           ("env_module", "mod_env.so"),
           ("setenvif_module", "mod_setenvif.so"),
           ("headers_module", "mod_headers.so"),
           ("proxy_module", "mod_proxy.so"),
           ("proxy_http_module", "mod_proxy_http.so"))


def conf_text(cases, module, tag, trace=8):
    """The full httpd.conf, the rewrite log at rewrite:trace<trace>.
    Returns (text, {case name: (first, last) line})."""
    w = WORK
    conf = rh.Conf()
    L = conf.lines
    add = conf.add

    add("# generated by t/diff/run-diff -- do not edit")
    conf.prologue(w.root, "%s/%s.error.log" % (w.logs, tag), [w.port], MODULES, module,
                  rundir=w.run, pidfile="%s/httpd.pid" % w.run,
                  loglevel="warn rewrite:trace%d" % trace)
    add("ServerName localhost")
    add("Timeout %d" % SERVER_TIMEOUT)
    add("KeepAlive Off")
    add("StartServers 2")
    add("MinSpareServers 1")
    add("MaxSpareServers 3")
    add("MaxRequestWorkers 10")
    add('TypesConfig "%s/mime.types"' % w.conf)
    add("AddHandler cgi-script .cgi")
    add("DirectoryIndex index.html")
    add('LogFormat "%h %t \\"%r\\" %>s %b \\"%{Host}i\\" %{ms}Tms" diff')
    add('CustomLog "%s/%s.access.log" diff' % (w.logs, tag))
    add('DocumentRoot "%s/_main"' % w.htdocs)
    add("<Directory />")
    add("    Options None")
    add("    AllowOverride None")
    add("    Require all denied")
    add("</Directory>")
    add('<Directory "%s">' % w.htdocs)
    add("    Options FollowSymLinks ExecCGI")
    add("    AllowOverride All")
    add("    Require all granted")
    add("</Directory>")
    # server-level section (identical for all cases of one group)
    if cases and cases[0].server:
        add("# --- server-level config of this group")
        values = {"WORK": w.root, "HTDOCS": w.htdocs, "PORT": str(w.port)}
        for line in cases[0].server:
            add(subst(line, values))
    add("# --- catch-all vhost for unknown Host headers")
    add("<VirtualHost *:%d>" % w.port)
    add("    ServerName _default.test")
    add('    DocumentRoot "%s/_default"' % w.htdocs)
    add("</VirtualHost>")
    ranges = {}
    for c in cases:
        docroot = os.path.join(w.htdocs, c.name)
        values = placeholder_values(c, docroot)
        first = len(L) + 1
        add("# --- case %s (%s)" % (c.name, os.path.relpath(c.path, REPO)))
        add("<VirtualHost *:%d>" % w.port)
        add("    ServerName %s" % c.host)
        add('    DocumentRoot "%s"' % docroot)
        for line in c.vhost:
            add("    " + subst(line, values))
        add("</VirtualHost>")
        ranges[c.name] = (first, len(L))
    return "\n".join(L) + "\n", ranges


def case_for_line(text, ranges):
    m = re.search(r"line (\d+) of ", text)
    if not m:
        return None
    n = int(m.group(1))
    for name, (a, b) in ranges.items():
        if a <= n <= b:
            return name
    return None


# ----------------------------------------------------------------------
# running a server

tail = rh.tail
port_open = rh.port_open
config_test = rh.config_test


def start_server(conf_path, tag, check=True):
    """Start apache in the foreground (its own process group).  check:
    apache2 -t first (else only when the start fails, for its message).
    Returns (Apache, None) or (None, error text)."""
    if port_open(WORK.port):
        return None, "port %d is already in use" % WORK.port
    if check:
        rc, out = config_test(conf_path)
        if rc != 0:
            return None, out or "apache2 -t failed (exit %d)" % rc
    errlog = os.path.join(WORK.logs, tag + ".error.log")
    stderr_path = os.path.join(WORK.logs, tag + ".stderr")
    srv = rh.Apache(conf_path, [WORK.port], "foreground", stderr_path, errlog)
    if srv.start(START_TIMEOUT, 0.01):
        return srv, None
    if not check:
        rc, out = config_test(conf_path)
        if rc != 0:
            return None, out or "apache2 -t failed (exit %d)" % rc
    msg = (tail(stderr_path) + "\n" + tail(errlog, 15)).strip()
    return None, "server did not start (exit %s)\n%s" % (srv.start_exit, msg)


def stop_server(srv):
    if srv is not None:
        srv.stop(STOP_TIMEOUT)


def crashes(errlog):
    """Error log lines about children that died on a signal."""
    return rh.ErrorLog(errlog).crashes()


def wait_port_closed():
    rh.wait_ports_closed([WORK.port], STOP_TIMEOUT)


# ----------------------------------------------------------------------
# requests and responses

class Response:
    def __init__(self, raw, error=None):
        self.raw = raw
        self.error = error          # client-side problem (timeout, reset)
        self.status = None
        self.status_line = ""
        self.headers = []           # (name lowercased, value)
        self.body = b""
        self.trace = []             # -v: rewrite log lines of this request
        self.port = None            # our (client) port of the connection
        self.norm = []              # normalised trace, all levels: (level, text)
        self.parse()

    def parse(self):
        raw = self.raw
        if not raw:
            self.status = "(no response)"
            return
        if not raw.startswith(b"HTTP/"):
            self.status = "(no status line)"
            self.body = raw
            return
        self.status_line, headers, self.body = rh.parse_response(raw)
        parts = self.status_line.split(" ", 2)
        self.status = parts[1] if len(parts) > 1 else "(bad status line)"
        self.headers = [(k.lower(), v) for k, v in headers]

    def get(self, name):
        return [v for k, v in self.headers if k == name]

    def show(self):
        out = []
        if self.error:
            out.append("(client: %s)" % self.error)
        for l in self.raw.split(b"\n"):
            out.append(printable(l[:-1] if l.endswith(b"\r") else l))
        return out


def log_size(path):
    return rh.ErrorLog(path).size()


# [date] [rewrite:traceN] [pid P:tid T] file.c(123): [client A:P] A - - [host/sid#..][rid#../initial] msg
_TRACE_RE = re.compile(r"^\[[^\]]*\] \[rewrite:(\w+)\] \[pid [^\]]*\] (?:\S+\(\d+\): )?"
                       r"(?:\[client ([^\]]*)\] )?"
                       r"(?:\S+ (\S+ \S+) \[([^/\]]*)/sid#[0-9a-f]+\]\[rid#[0-9a-f]+/([^\]]*)\] )?(.*)$")


_LEVEL_NUM = {"trace%d" % n: n for n in range(1, 9)}


class TraceLine:
    """One rewrite log line, split into the parts that matter."""
    __slots__ = ("level", "num", "client", "user", "host", "rid", "msg", "raw")

    def __init__(self, raw):
        self.raw = raw
        m = _TRACE_RE.match(raw)
        if not m:
            self.level, self.num = "?", None
            self.client = self.user = self.host = self.rid = None
            self.msg = raw
            return
        self.level, self.client, self.user, self.host, self.rid, self.msg = m.groups()
        self.num = _LEVEL_NUM.get(self.level)

    def show(self):
        """For -v: without time, pids, source line and pointers."""
        if self.level == "?":
            return self.raw
        return "[rewrite:%s] %s%s" % (self.level, "[%s/%s] " % (self.host, self.rid)
                                      if self.host else "", self.msg)


def rewrite_trace(path, offset):
    """For -v: the rewrite log lines written since offset, as TraceLine."""
    data = rh.ErrorLog(path).read(offset)
    return [TraceLine(l) for l in data.split("\n") if "[rewrite:" in l]


# ----------------------------------------------------------------------
# trace comparison

_COOKIE_DATE_RE = re.compile(r"(?i)(expires=)[A-Za-z]{3}, \d{2}[- ][A-Za-z]{3}[- ]\d{2,4} "
                             r"\d{2}:\d{2}:\d{2} GMT")
TRACE_ALLOW = os.path.join(HERE, "trace-allow.txt")
TRACE_DIFF_MAX = 40      # diff lines printed per request (all with -v)


def parse_levels(text):
    """'1-3', '2', '1,3-5' -> set of trace levels (1..8)."""
    out = set()
    for part in text.split(","):
        part = part.strip()
        m = re.match(r"^(\d)(?:-(\d))?$", part)
        if not m:
            raise ValueError(part)
        a = int(m.group(1))
        b = int(m.group(2) or a)
        if not 1 <= a <= b <= 8:
            raise ValueError(part)
        out.update(range(a, b + 1))
    return out


def load_trace_allow(path=TRACE_ALLOW):
    """trace-allow.txt: 'CASE-GLOB REGEX' per line; in trace messages of the
    matching cases every match of REGEX (or only its groups, if it has any)
    is replaced by <*> on both sides before comparing. For values that
    change from run to run (clock, random map entries), not for hiding
    wording differences."""
    rules = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError:
        return rules
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise CaseError("%s:%d: expected 'CASE-GLOB REGEX'" % (path, n))
        try:
            rx = re.compile(parts[1])
        except re.error as e:
            raise CaseError("%s:%d: bad regex: %s" % (path, n, e))
        rules.append((parts[0], rx))
    return rules


def _mask(rx, text):
    """text with the matches of rx (or only their groups) replaced by <*>."""
    if not rx.groups:
        return rx.sub("<*>", text)
    out, pos = [], 0
    for m in rx.finditer(text):
        for g in range(1, rx.groups + 1):
            if m.start(g) < 0 or m.start(g) < pos:
                continue
            out.append(text[pos:m.start(g)])
            out.append("<*>")
            pos = m.end(g)
    out.append(text[pos:])
    return "".join(out)


OWN = "@CLIENTPORT@"
LOG_LINE_MAX = 8180      # Apache's error log lines end at 8190 characters
CUT_KEEP = 7500          # the message part surely kept of such a line
CUT_NEAR = LOG_LINE_MAX - 200   # prefixes of the two modules differ by less
CUT_MARK = "<cut by the error log>"


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def port_sub(text, port, repl):
    """_port_re(port).sub(repl, text) without compiling a regex for every
    client port (a few occurrences a line: a find() loop is cheaper)."""
    port = str(port)
    n = len(port)
    out = []
    i = 0
    while True:
        j = text.find(port, i)
        if j < 0:
            break
        if (j > 0 and text[j - 1] in _ALNUM) or text[j + n:j + n + 1] in _ALNUM:
            out.append(text[i:j + 1])
            i = j + 1
            continue
        out.append(text[i:j])
        out.append(repl)
        i = j + n
    if not out:
        return text
    out.append(text[i:])
    return "".join(out)


def _port_re(port):
    """The port number, not as part of a longer word (a number, a hex
    pointer); the literal comes first: that is much faster to scan for."""
    return re.compile(r"%s(?<![0-9A-Za-z]%s)(?![0-9A-Za-z])" % (port, port))


def collect_trace(path, offset, own_port, levels, masks):
    """The rewrite trace lines written since offset (the requests are sent
    one at a time and Apache writes its error log unbuffered, so these are
    the lines of the request just answered), normalised for comparing: a
    list of (level, text), text being 'traceN [host/kind] message' (kind:
    initial, subreq, initial/redir#N), for the levels in levels (None: all).
    Dropped: time, pid/tid, source file(line), client address, the sid#/rid#
    pointers. In the message the work dir becomes @WORK@, the request's
    client port @CLIENTPORT@, the server port @PORT@, a cookie expiry date
    <date>; the masks of trace-allow.txt are applied. Lines logged for
    another connection (a request proxied to this server) are marked
    '(conn N)', with that connection's port as @CLIENTPORT@ too."""
    return trace_norm(rh.ErrorLog(path).read(offset), own_port, levels,
                      masks)


def trace_norm(data, own_port, levels, masks):
    """collect_trace() of error log text already read."""
    if "[rewrite:" not in data:
        return []
    # Apache cuts error log lines at LOG_LINE_MAX; where it happens in the
    # message depends on the prefix (source file name, pids), so a line
    # near the limit (whose message the other module's longer or shorter
    # prefix may have cut, or not) is compared only up to CUT_KEEP
    # characters (fuzz-diff seed 908: a line cut in one log and whole in
    # the other)
    # The message is cut at the same offset in both logs, before any
    # replacement (a path replaced by @WORK@ near the cut would shift it)
    cut = set()
    if len(data) >= CUT_NEAR:
        lines = data.split("\n")
        for i, l in enumerate(lines):
            if len(l) >= CUT_NEAR:
                m = _TRACE_RE.match(l)
                if m is not None:
                    lines[i] = l[:m.start(6) + CUT_KEEP] + CUT_MARK
                    cut.add(i)
        if cut:
            data = "\n".join(lines)
    # whole-slice replacements first (fast); the port in '[client ip:port]'
    # becomes @CLIENTPORT@ too, which marks the request's own lines
    root = WORK.root
    if root in data:
        data = data.replace(root, "@WORK@")
    if own_port and own_port in data:
        data = port_sub(data, own_port, OWN)
    if "xpires=" in data or "XPIRES=" in data:
        data = _COOKIE_DATE_RE.sub(r"\1<date>", data)
    data = _port_re(WORK.port).sub("@PORT@", data)
    out = []
    conns = {}
    get = _LEVEL_NUM.get
    match = _TRACE_RE.match
    for i, line in enumerate(data.split("\n")):
        if "[rewrite:" not in line:
            continue
        m = match(line)
        if m is None:
            continue
        level, client, user, host, rid, msg = m.groups()
        num = get(level)
        if num is None or (levels is not None and num not in levels):
            continue
        if host is not None and user == "- -" and not masks and client and \
                client.endswith(OWN):
            out.append((num, "%s [%s/%s] %s" % (level, host, rid, msg)))
            continue
        ctx = ""
        if host is not None:
            ctx = "[%s/%s] " % (host, rid)
            if user != "- -":
                ctx += "{%s} " % user
        port = client.rsplit(":", 1)[1] if client and ":" in client else None
        out.append((num, _norm_msg(level, port, ctx, msg, conns, masks)))
    if levels is None or 5 in levels or 6 in levels:
        out = map_cache_neutral(out)
    return out


# map cache: a hit depends on which server child gets the request, so a
# hit (trace5) and a miss (trace6) plus lookup (trace5) compare the same
_CACHE_HIT_RE = re.compile(r"^(trace5 (?:\(conn \d+\) )?\[[^\]]*\] )cache lookup OK: "
                           r"map=(\S*?)(?:\[(\w+)\])? key=(.*?)(?: -> val=|, val=)(.*)$")


def map_cache_neutral(norm):
    """Map cache lines made independent of the cache state."""
    out = []
    for num, text in norm:
        if num == 6 and text.endswith("] cache lookup FAILED, forcing new map lookup"):
            continue
        if num == 5 and "] cache lookup OK: " in text:
            m = _CACHE_HIT_RE.match(text)
            if m:
                head, name, kind, key, val = m.groups()
                if kind == "SQL" and val:
                    text = "%sSQL map lookup OK: map %s key=%s, val=%s" % (head, name, key, val)
                elif kind == "SQL":     # a miss is cached as an empty value
                    text = "%sSQL map lookup FAILED: map %s key=%s" % (head, name, key)
                elif val:
                    text = "%smap lookup OK: map=%s[%s] key=%s -> val=%s" % (head, name, kind, key, val)
                else:
                    text = "%smap lookup FAILED: map=%s[%s] key=%s" % (head, name, kind, key)
        out.append((num, text))
    return out


def _norm_msg(level, port, ctx, msg, conns, masks):
    conn = ""
    if port and port != OWN:
        conn = "(conn %d) " % conns.setdefault(port, len(conns) + 2)
        msg = port_sub(msg, port, OWN)
    for rx in masks:
        msg = _mask(rx, msg)
    return "%s %s%s%s" % (level, conn, ctx, msg)


def _common(a, b):
    """Lengths of the common head and the common tail of a and b."""
    i, n = 0, min(len(a), len(b))
    while i < n and a[i] == b[i]:
        i += 1
    j = 0
    while j < n - i and a[-1 - j] == b[-1 - j]:
        j += 1
    return i, j


def trace_diff(a, b):
    """Unified diff stock -> ours of two normalised traces (the common head
    and tail are cut first: traces can be long and mostly equal)."""
    i, j = _common(a, b)
    ctx = 2
    lo = max(0, i - ctx)
    ea, eb = len(a) - max(0, j - ctx), len(b) - max(0, j - ctx)
    out = []
    for l in difflib.unified_diff(a[lo:ea], b[lo:eb], "stock", "ours", n=ctx, lineterm=""):
        if l.startswith("@@"):
            m = re.match(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@$", l)
            if m:     # line numbers in the whole trace
                l = "@@ -%d%s +%d%s @@" % (int(m.group(1)) + lo, m.group(2) or "",
                                           int(m.group(3)) + lo, m.group(4) or "")
        out.append(l)
    return out


def _align(sa, sb):
    """Pair the lines of a replaced block by similarity (in order)."""
    if len(sa) * len(sb) > 2500:
        k = max(len(sa), len(sb))
        return [(sa[x] if x < len(sa) else None, sb[x] if x < len(sb) else None)
                for x in range(k)]
    na, nb = len(sa), len(sb)
    sim = [[difflib.SequenceMatcher(None, x, y).ratio() for y in sb] for x in sa]
    # best[i][j]: best score aligning sa[i:] with sb[j:]
    best = [[0.0] * (nb + 1) for _ in range(na + 1)]
    for i in range(na - 1, -1, -1):
        for j in range(nb - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1],
                             best[i + 1][j + 1] + (sim[i][j] if sim[i][j] > 0.5 else -1))
    out, i, j = [], 0, 0
    while i < na or j < nb:
        if i < na and j < nb and sim[i][j] > 0.5 and \
                best[i][j] == best[i + 1][j + 1] + sim[i][j]:
            out.append((sa[i], sb[j]))
            i, j = i + 1, j + 1
        elif j >= nb or (i < na and best[i][j] == best[i + 1][j]):
            out.append((sa[i], None))
            i += 1
        else:
            out.append((None, sb[j]))
            j += 1
    return out


def trace_pairs(a, b):
    """The differing lines of two traces: (moved, pairs); moved are lines
    both have, at other places; pairs are (stock line or None, ours line or
    None), similar lines paired."""
    i, j = _common(a, b)
    a, b = a[i:len(a) - j], b[i:len(b) - j]
    if len(a) * len(b) > 4000000:
        dels, ins = a, b
    else:
        dels, ins = [], []
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op != "equal":
                dels.extend(a[i1:i2])
                ins.extend(b[j1:j2])
    both = collections.Counter(dels) & collections.Counter(ins)
    moved = list(both.elements())
    rest = []
    for side in (dels, ins):
        c = both.copy()
        keep = []
        for t in side:
            if c[t] > 0:
                c[t] -= 1
            else:
                keep.append(t)
        rest.append(keep)
    return moved, _align(rest[0], rest[1])


# --trace-summary: the differences of all requests grouped by kind

_CTX_RE = re.compile(r"^(trace\d) (?:\(conn \d+\) )?(?:\[[^\]]*\] )?(?:\{[^}]*\} )?")


def _neutral(text, case):
    """A normalised trace line without the case specifics: level and
    message; the case's docroot is @DOCROOT@, its host @HOST@."""
    m = _CTX_RE.match(text)
    msg = text[m.end():] if m else text
    msg = msg.replace("@WORK@/htdocs/%s" % case, "@DOCROOT@")
    msg = msg.replace("@WORK@/htdocs", "@HTDOCS@").replace("%s.test" % case, "@HOST@")
    msg = re.sub(r"^\[perdir .*?\] ", "[perdir] ", msg)
    return "%s %s" % (m.group(1), msg) if m else msg


# the message formats seen in stock traces; '*' is a value
_FORMATS = """\
rewrite '*' -> '*'
applying pattern '*' to uri '*'
split uri=* -> uri=*, args=*
add per-dir prefix: * -> *
strip per-dir prefix: * -> *
add path info postfix: * -> *
strip document_root prefix: * -> *
add root prefix: * -> *
add subst prefix: * -> *
strip matching prefix: * -> *
reduce * -> *
setting lastsub to rule with output *
init rewrite engine with requested uri *
init rewrite engine with passed filename *. Original uri = *
local path result: *
prefixed with document_root to *
prefixing with document_root of * FAILED
go-ahead with proxy request * [OK]
go-ahead with * [OK]
pass through *
internal redirect with * [INTERNAL REDIRECT]
redirect to * [REDIRECT/*]
explicitly forcing redirect with *
implicitly forcing redirect (rc=* with *
forcing responsecode * for *
forcing proxy-throughput with *
forcing '*' to get passed through to next API URI-to-filename handler
trying to replace prefix * with *
trying to replace context docroot * with context prefix *
escaping * for redirect
escaping * to query string for redirect *
copying * to query string for redirect*
discarding query string, no parse from substitution
discarding query string
force filename * to have MIME-type '*'
force filename * to have the Content-handler '*'
remember * to have MIME-type '*'
remember * to have Content-handler '*'
initial URL equal rewritten URL: * [IGNORING REWRITE]
RewriteCond: input='*' pattern='*' => *
RewriteCond: input='*' pattern='*' [NC] => *
RewriteCond URI (-U check: path=* -> status=*
RewriteCond file (-F check: path=* -> file=* status=*
setting env variable '*' to '*'
unsetting env variable '*'
setting cookie '*'
escaping backreference '*' to '*'
lookahead: path=* var=* -> val=*
map lookup OK: map=* key=* -> val=*
map lookup FAILED: map=* key=*
cache lookup OK: map=* key=* -> val=*
cache lookup FAILED, forcing new map lookup
SQL map lookup OK: map * key=*, val=*
SQL map lookup FAILED: map * key=*
randomly chosen the subvalue `*'
Multiple values found for *
prefix_stat compare statpath * and lastsub output * STATOK *
prefix_stat no lastsub subst prefix *
prefix_stat startsWith(*, *) *
Evaluation of expression from * gave: *
Declining, request-URI '*' is not a URL-path. *
RESULT='*'
IPV6='*'
"""
_FORMAT_RES = []
for _f in _FORMATS.splitlines():
    _parts = [re.escape(x) for x in _f.split("*")]
    _FORMAT_RES.append((_f, re.compile("^" + "(.*?)".join(_parts[:-1]) +
                                       ("(.*)" if len(_parts) > 1 else "") + _parts[-1] +
                                       "(?:, referer: .*)?$", re.S)))


def _template(line):
    """The wording of a neutral line: its level and message format."""
    head, _, msg = line.partition(" ")
    perdir = ""
    if msg.startswith("[perdir] "):
        perdir, msg = "[perdir] ", msg[9:]
    for fmt, rx in _FORMAT_RES:
        if rx.match(msg):
            return "%s %s%s" % (head, perdir, fmt)
    msg = re.sub(r"'[^']*'", "'*'", msg)
    msg = re.sub(r"(?<![\w*])(?:[a-z]+:|/|@|\.\.?/)[^\s,]*", "*", msg)
    return "%s %s%s" % (head, perdir, re.sub(r"\d+", "N", msg))


def _change(x, y):
    """What changed from x to y, as a short text."""
    sm = difflib.SequenceMatcher(None, x, y, autojunk=False)
    parts = []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "equal":
            parts.append("%r->%r" % (x[i1:i2], y[j1:j2]))
    return " ".join(parts)


def summary_keys(case, a, b, a_all, b_all):
    """The differences of one request as {group key: (stock line, ours
    line, variant)}: the key says what kind of difference it is and in which
    message format (value differences of one format form one group, with
    their variants)."""
    out = {}
    moved, pairs = trace_pairs(a, b)

    def bare(t):          # without the level
        return t.split(" ", 1)[1] if " " in t else t

    def lv(t):
        return t.split(" ", 1)[0]
    a_lv = {bare(t): n for n, t in a_all}
    b_lv = {bare(t): n for n, t in b_all}
    for x in moved:
        nx = _neutral(x, case)
        out.setdefault(("order", _template(nx)), (nx, None, None))
    for x, y in pairs:
        nx = _neutral(x, case) if x is not None else None
        ny = _neutral(y, case) if y is not None else None
        var = None
        if x is not None and y is not None:
            tx, ty = _template(nx), _template(ny)
            if bare(x) == bare(y):
                key = ("level", bare(tx), lv(x), lv(y))
            elif tx == ty:
                key = ("value", tx)
                var = _change(nx, ny)
            else:
                key = ("wording", tx, ty)
        elif x is not None:
            if bare(x) in b_lv and "trace%d" % b_lv[bare(x)] != lv(x):
                key = ("level", bare(_template(nx)), lv(x), "trace%d" % b_lv[bare(x)])
            else:
                key = ("missing", _template(nx))
        else:
            if bare(y) in a_lv and "trace%d" % a_lv[bare(y)] != lv(y):
                key = ("level", bare(_template(ny)), "trace%d" % a_lv[bare(y)], lv(y))
            else:
                key = ("extra", _template(ny))
        out.setdefault(key, (nx, ny, var))
    return out


def _cut(text, n=200, start=0):
    """At most n characters of text, from about start on."""
    if len(text) <= n:
        return text
    if start > n - 60:
        text = "%s...%s" % (text[:40], text[start - 60:])
    return text if len(text) <= n else text[:n] + "..."


def print_summary(groups):
    """groups: {key: [{request: (stock line, ours line, variant)}]}."""
    items = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    print("# trace differences by kind (%d kinds; requests, kind, format, "
          "example lines and request):" % len(items))
    what = {"value": "value differs", "wording": "wording differs",
            "order": "line elsewhere in ours", "level": "level differs",
            "missing": "stock only", "extra": "ours only"}
    for key, reqs in items:
        kind = key[0]
        fmt = key[1] if kind != "wording" else "%s | %s" % (key[1], key[2])
        if kind == "level":
            fmt = "%s (stock %s, ours %s)" % (key[1], key[2], key[3])
        print("# %4d  %s: %s" % (len(reqs), what[kind], fmt))
        shown = {}
        for req, (x, y, var) in reqs.items():
            if var in shown:
                shown[var][0] += 1
                continue
            shown[var] = [1, req, x, y]
        variants = sorted(shown.values(), key=lambda v: -v[0])
        for n, (cnt, req, x, y) in enumerate(variants):
            if n == 3:
                print("#         ... %d more variants" % (len(variants) - 3))
                break
            at = 0          # long lines: show where they differ
            if x is not None and y is not None:
                while at < min(len(x), len(y)) and x[at] == y[at]:
                    at += 1
            if x is not None:
                print("#         stock: %s" % _cut(x, start=at))
            if y is not None:
                print("#         ours:  %s" % _cut(y, start=at))
            print("#         e.g.   %s%s" % (_cut(req, 120), "" if cnt == 1 else
                                          "  (%d requests)" % cnt))


dechunk = rh.dechunk


def send(data, port=None):
    """One request on its own connection (our side shut down after it),
    the answer read to the close; the Response knows our client port."""
    raw = rh.request(port or WORK.port, data, CLIENT_TIMEOUT, half_close=True)
    r = Response(raw.data, raw.error)
    r.port = str(raw.port) if raw.port is not None else None
    return r


COMPARED = ("location", "vary", "set-cookie", "content-type")


def _own_port_masked(resp):
    """The body with the request's own client port (REMOTE_PORT, also as
    REDIRECT_REMOTE_PORT in echo.cgi's output) as @CLIENTPORT@: it changes
    from run to run."""
    body = resp.body
    if resp.port and resp.port.encode() in body:
        body = re.sub(rb"(?<![0-9])%s(?![0-9])" % resp.port.encode(), b"@CLIENTPORT@", body)
    return body


def compare(a, b):
    """Differences between stock (a) and ours (b) as a list of text lines."""
    d = []
    if a.status != b.status:
        d.append("status: stock %s | ours %s" % (a.status, b.status))
    for h in COMPARED:
        va, vb = a.get(h), b.get(h)
        if va != vb:
            d.append("%s: stock %s | ours %s" % (h, fmt_hdr(va), fmt_hdr(vb)))
    ab, bb = _own_port_masked(a), _own_port_masked(b)
    if ab != bb:
        d.append("body:")
        al = ab.decode("latin-1").splitlines(True)
        bl = bb.decode("latin-1").splitlines(True)
        for l in difflib.unified_diff(al, bl, "stock", "ours", n=2):
            d.append("  " + printable(l.rstrip("\n").encode("latin-1")))
    if a.error != b.error:
        d.append("client: stock %s | ours %s" % (a.error or "-", b.error or "-"))
    return d


def fmt_hdr(vals):
    if not vals:
        return "(none)"
    return " / ".join(repr(v) for v in vals)


# ----------------------------------------------------------------------
# main

class Reporter:
    def __init__(self, verbose, strict_trace=False, summary=False):
        self.verbose = verbose
        self.strict_trace = strict_trace
        self.passed = 0
        self.failed = 0
        self.trace_equal = 0
        self.trace_differ = 0
        self.summary = {} if summary else None   # group key -> [count, example]

    def result(self, ok, case, label, details=(), extra=()):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print("%s %s %s" % ("ok" if ok else "FAIL", case, label))
        for l in details:
            print("    " + l)
        if self.verbose:
            for l in extra:
                print("    " + l)
        sys.stdout.flush()

    def trace_result(self, case, label, a, b, a_all, b_all):
        """a, b: the compared normalised traces of stock and ours; a_all,
        b_all: every level, as (level, text), for the summary."""
        if a == b:
            self.trace_equal += 1
            return
        self.trace_differ += 1
        print("TRACE %s %s" % (case, label))
        diff = trace_diff(a, b)
        limit = len(diff) if self.verbose else TRACE_DIFF_MAX
        for l in diff[:limit]:
            print("    " + (l if self.verbose else _cut(l, 400)))
        if len(diff) > limit:
            print("    ... %d more diff lines (-v shows all)" % (len(diff) - limit))
        sys.stdout.flush()
        if self.summary is not None:
            example = "%s %s" % (case, label)
            for key, lines in summary_keys(case, a, b, a_all, b_all).items():
                self.summary.setdefault(key, {}).setdefault(example, lines)


def serve(cases, module, tag, levels, masks, verbose=False, trace=8, check=True):
    """Start a server with module for these cases (one group: same server
    section), send every request, stop it. Returns (results, ranges, error,
    notes): results maps (case name, id(request)) to the Response (its
    trace normalised for levels, all levels if None); error is the start
    failure text or None; notes are server deaths and crashes seen. Also
    used by the fuzzer (t/diff/fuzz)."""
    conf_path = os.path.join(WORK.conf, "httpd.conf")
    results = {}
    notes = []
    text, ranges = conf_text(cases, module, tag, trace)
    write(conf_path, text)
    shutil.copy(conf_path, os.path.join(WORK.conf, tag + ".conf"))
    srv, err = start_server(conf_path, tag, check)
    if err:
        name = case_for_line(err, ranges)
        if name:
            err += "\n(line is in case %s)" % name
        return results, ranges, err, notes
    errlog = os.path.join(WORK.logs, tag + ".error.log")
    try:
        for c in cases:
            cmasks = [rx for glob, rx in masks if fnmatch.fnmatchcase(c.name, glob)]
            for r in c.requests:
                before = log_size(errlog)
                resp = send(r.build(c))
                resp.norm = collect_trace(errlog, before, resp.port, levels, cmasks)
                if verbose:
                    resp.trace = [t.show() for t in rewrite_trace(errlog, before)]
                results[(c.name, id(r))] = resp
    finally:
        died = srv.exited()
        stop_server(srv)
        wait_port_closed()
    if died is not None:
        notes.append("server exited during the run (status %s)" % died)
    notes.extend(crashes(errlog))
    return results, ranges, None, notes


def run_group(cases, stock, ours, rep, levels, masks):
    gi = run_group.counter = getattr(run_group, "counter", 0) + 1
    results = {}
    errors = {}
    notes = []
    # the summary also looks at the other levels (a line moved to another level)
    all_levels = None if rep.summary is not None else levels
    for which, module in (("stock", stock), ("ours", ours)):
        tag = "g%d-%s" % (gi, which)
        res, _, err, n = serve(cases, module, tag, all_levels, masks, rep.verbose)
        if err:
            errors[which] = err
            continue
        for (name, rid), resp in res.items():
            results[(which, name, rid)] = resp
        notes.extend("%s: %s" % (which, l) for l in n)

    for n in notes:
        print("# group %d: %s" % (gi, n))
    if errors:
        for which, err in errors.items():
            print("# group %d: %s server failed to start (conf: %s/g%d-%s.conf):"
                  % (gi, which, WORK.conf, gi, which))
            for l in err.splitlines():
                print("#   " + l)
    for c in cases:
        for r in c.requests:
            if errors:
                rep.result(False, c.name, r.label,
                           ["%s server failed to start: %s"
                            % (w, errors[w].splitlines()[0] if errors[w] else "")
                            for w in ("stock", "ours") if w in errors])
                continue
            a = results[("stock", c.name, id(r))]
            b = results[("ours", c.name, id(r))]
            d = compare(a, b)
            ta = [t for n, t in a.norm if n in levels]
            tb = [t for n, t in b.norm if n in levels]
            if ta != tb and rep.strict_trace:
                d.append("trace: differs (see TRACE)")
            extra = (["--- stock:"] + ["  " + l for l in a.show()] +
                     ["--- ours:"] + ["  " + l for l in b.show()] +
                     ["--- stock rewrite log:"] + ["  " + l for l in a.trace] +
                     ["--- ours rewrite log:"] + ["  " + l for l in b.trace])
            rep.result(not d, c.name, r.label, d, extra)
            rep.trace_result(c.name, r.label, ta, tb, a.norm, b.norm)


def run_configtest(case, stock, ours, ours_loads, rep):
    conf_path = os.path.join(WORK.conf, "httpd.conf")
    out = {}
    for which, module in (("stock", stock), ("ours", ours)):
        tag = "cfg-%s-%s" % (case.name, which)
        text, _ = conf_text([case], module, tag)
        write(conf_path, text)
        shutil.copy(conf_path, os.path.join(WORK.conf, tag + ".conf"))
        out[which] = config_test(conf_path)
    (rs, ms), (ro, mo) = out["stock"], out["ours"]
    details = []
    ok = (rs != 0) == (ro != 0)
    if ours_loads is not None:
        ok = False
        details.append("ours does not load: " + ours_loads.splitlines()[0])
    label = "configtest"
    if not ok:
        details.append("exit: stock %d | ours %d" % (rs, ro))
    msgs = (["stock: " + l for l in (ms.splitlines() or ["(no output)"])] +
            ["ours:  " + l for l in (mo.splitlines() or ["(no output)"])])
    rep.result(ok, case.name, label, details + msgs)


def find_stock():
    """Debian's stock module as tools/stock-module finds it (checked
    against apache2-bin's checksum), or None (it said why)."""
    return rh.stock_or_none()


def main():
    global WORK
    ap = argparse.ArgumentParser(description="Compare stock mod_rewrite with ours.")
    ap.add_argument("--case", action="append", default=[], metavar="NAME",
                    help="run only this case (glob allowed; repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print both responses")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--workdir", help="build the server tree here (kept)")
    ap.add_argument("--ours", default=os.environ.get("RW_MODULE") or
                    os.path.join(REPO, ".libs", "mod_rewrite.so"))
    ap.add_argument("--stock", help="the stock module (default: the one "
                    "tools/stock-module finds, Debian's own)")
    ap.add_argument("--cases-dir", default=CASES_DIR, metavar="DIR",
                    help="read the cases from DIR (default t/diff/cases)")
    ap.add_argument("--strict-trace", action="store_true",
                    help="a trace difference fails the request")
    ap.add_argument("--trace-levels", default="1-3", metavar="LEVELS",
                    help="trace levels compared, e.g. 1-3 (default), 1-5, 2,4")
    ap.add_argument("--trace-summary", action="store_true",
                    help="print the trace differences grouped by kind at the end")
    args = ap.parse_args()
    try:
        levels = parse_levels(args.trace_levels)
    except ValueError:
        print("run-diff: bad --trace-levels %r (use e.g. 1-3, 1-5, 2,4)"
              % args.trace_levels, file=sys.stderr)
        return 2

    try:
        cases = load_cases(args.case, args.cases_dir)
        masks = load_trace_allow()
    except CaseError as e:
        print("run-diff: %s" % e, file=sys.stderr)
        return 2
    if not cases:
        print("run-diff: no cases", file=sys.stderr)
        return 2
    if args.stock is None:
        args.stock = find_stock()
        if args.stock is None:
            print("run-diff: refusing to run without Debian's stock module "
                  "(see above)", file=sys.stderr)
            return 2
    stock = os.path.abspath(args.stock)
    ours = os.path.abspath(args.ours)
    if not os.path.exists(stock):
        print("run-diff: stock module not found: %s" % stock, file=sys.stderr)
        return 2

    if args.workdir:
        root = os.path.abspath(args.workdir)
        os.makedirs(root, exist_ok=True)
        keep = True
    else:
        root = rh.scratch_dir("rw-diff-")
        keep = args.keep
    WORK = Work(root, free_port())
    rep = Reporter(args.verbose, args.strict_trace, args.trace_summary)
    try:
        setup_tree(root)
        check_access(root)
        for c in cases:
            make_docroot(os.path.join(WORK.htdocs, c.name), c)
        print("# stock: %s" % stock)
        print("# ours:  %s%s" % (ours, "" if os.path.exists(ours) else " (MISSING)"))
        print("# work:  %s  port %d" % (root, WORK.port))
        sys.stdout.flush()

        groups = []   # requests cases, grouped by server-level config
        for c in cases:
            if c.kind != "requests":
                continue
            for g in groups:
                if g[0].server_key == c.server_key:
                    g.append(c)
                    break
            else:
                groups.append([c])
        for g in groups:
            run_group(g, stock, ours, rep, levels, masks)

        cfg = [c for c in cases if c.kind == "configtest"]
        if cfg:
            # a configtest only means something if ours loads at all
            conf_path = os.path.join(WORK.conf, "httpd.conf")
            text, _ = conf_text([], ours, "load-ours")
            write(conf_path, text)
            rc, msg = config_test(conf_path)
            ours_loads = None if rc == 0 else (msg or "exit %d" % rc)
            for c in cfg:
                run_configtest(c, stock, ours, ours_loads, rep)
    finally:
        stop_all()
        if rep.failed and not keep:
            keep = True
        if keep:
            print("# work dir kept: %s (logs in %s)" % (root, WORK.logs))
        else:
            shutil.rmtree(root, ignore_errors=True)
    if rep.summary:
        print_summary(rep.summary)
    print("trace: %d equal, %d differ" % (rep.trace_equal, rep.trace_differ))
    print("diff: %d passed, %d failed" % (rep.passed, rep.failed))
    return 1 if rep.failed else 0


def run():
    """The entry point (t/diff/run-diff)."""
    os.umask(0o022)
    try:
        sys.exit(main())
    except BrokenPipeError:
        # output cut short (e.g. piped into head); servers are already stopped
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(1)
