#!/usr/bin/env python3
"""Grammar-based differential fuzzer: stock mod_rewrite versus ours
(t/diff/fuzz/fuzz-diff).

Generates random but valid configurations (gen.py) and requests aimed at
them, serves them with both modules through run-diff's machinery
(t/diff/rundiff.py, whose servers are tools/rwharness.py's), and reports
every difference, reduced to a minimal repro and written as a t/diff/cases
file. Deterministic from the seed. See README.md.

Stdlib only.
"""

import argparse
import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))
import gen  # noqa: E402
import rundiff as rd  # noqa: E402
rh = rd.rh

LEVELS = {1, 2, 3}
HTTXT2DBM = shutil.which("httxt2dbm") or "/usr/sbin/httxt2dbm"


# ----------------------------------------------------------------------
# generated case -> run-diff case


def tree_entries():
    out = []
    for rel, data in gen.TREE_FILES:
        out.append(("file", rel, data + ("\n" if data else ""), 0o644))
    for rel in gen.TREE_CGI:
        out.append(("file", rel, rd.ECHO_CGI, 0o755))
    for rel in gen.TREE_DIRS:
        out.append(("dir", rel, "", 0o755))
    for rel, target in gen.TREE_LINKS:
        out.append(("symlink", rel, target, 0))
    return out


class State:
    """What a reduction works on: the batch's main-server items, one case,
    and the tree entries it still has."""

    def __init__(self, server, case, tree):
        self.server = server
        self.case = case
        self.tree = tree

    def copy(self):
        return State(gen.copy_items(self.server), self.case.copy(), list(self.tree))


# added to the server section when requests are sent concurrently: enough
# prefork children from the start (prefork spawns slowly)
SERVE_EXTRA = []


def server_lines(server_items):
    return gen.SERVER_PREAMBLE + gen.render(server_items)


def to_rd_case(st, name):
    fc = st.case
    c = rd.Case(name, os.path.join(HERE, "generated", name + ".case"))
    c.server = server_lines(st.server) + SERVE_EXTRA
    c.vhost = gen.render(fc.vhost)
    c.kind = "configtest" if fc.configtest else "requests"
    c.files = list(st.tree)
    for d, items in sorted(fc.htaccess.items()):
        rel = (d + "/" if d else "") + ".htaccess"
        c.files.append(("file", rel, "\n".join(gen.render(items)) + "\n", 0o644))
    for i, q in enumerate(fc.requests):
        r = rd.Request(" ".join(q.lines()[:1]) + ("" if not q.headers else
                                                  " [%s]" % ", ".join(q.headers)), i)
        r.method, r.target, r.proto = q.method, q.target, q.proto
        r.headers = list(q.headers)
        raw = q.raw()
        if raw is not None:
            r.raw = raw[4:]
            r.label = raw
        c.requests.append(r)
    return c


def _store_dir():
    d = os.path.join(rd.WORK.root, "store")
    if not os.path.isdir(d):
        os.makedirs(d)
        os.chmod(d, 0o755)
    return d


def _link_file(path, data, mode=0o644):
    """rd.write() for the docroots: every case has the same tree, so each
    content is written once (a file named by its hash and mode in the work
    dir's store) and hard-linked into place: no file is ever written
    through a link (a link in the way is removed first)."""
    raw = data.encode("utf-8", "surrogateescape")
    src = os.path.join(_store_dir(), "%s-%o" % (hashlib.sha1(raw).hexdigest(), mode))
    if not os.path.exists(src):
        rh.write_file(src, raw, mode)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.link(src, path)


def build_docroot(c):
    root = os.path.join(rd.WORK.htdocs, c.name)
    if os.path.isdir(root):
        shutil.rmtree(root)
    rd.make_docroot(root, c, _link_file)
    mtxt = os.path.join(root, "m.txt")
    if os.path.exists(mtxt):
        # the dbm map made once per m.txt content, linked like the files
        with open(mtxt, "rb") as f:
            key = hashlib.sha1(f.read()).hexdigest()
        made = os.path.join(_store_dir(), "dbm-" + key)
        if not os.path.isdir(made):
            os.makedirs(made + ".tmp", exist_ok=True)
            subprocess.run([HTTXT2DBM, "-f", "SDBM", "-i", mtxt, "-o",
                            os.path.join(made + ".tmp", "m.dbm")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for f in os.listdir(made + ".tmp"):
                os.chmod(os.path.join(made + ".tmp", f), 0o644)
            os.rename(made + ".tmp", made)
        for f in os.listdir(made):
            os.link(os.path.join(made, f), os.path.join(root, f))


def drop_docroots(cases):
    for c in cases:
        shutil.rmtree(os.path.join(rd.WORK.htdocs, c.name), ignore_errors=True)


# ----------------------------------------------------------------------
# running and comparing


def signature(a, b):
    """What differs between stock's answer a and ours b, as a short
    stable key; None if they are the same (trace included)."""
    parts = []
    if a.status != b.status:
        parts.append("status %s/%s" % (a.status, b.status))
    for h in rd.COMPARED:
        if a.get(h) != b.get(h):
            parts.append(h)
    if rd._own_port_masked(a) != rd._own_port_masked(b) and a.status == b.status:
        parts.append("body")
    if a.error != b.error:
        parts.append("client")
    if parts:
        return " ".join(parts)
    ta = [t for n, t in a.norm if n in LEVELS]
    tb = [t for n, t in b.norm if n in LEVELS]
    if ta != tb:
        return "trace " + trace_key(ta, tb)
    return None


def _tmpl(line):
    line = re.sub(r"^(trace\d) (\(conn \d+\) )?\[[^\]]*\] ", r"\1 ", line)
    line = re.sub(r"'[^']*'", "'*'", line)
    line = re.sub(r"(?:[a-z]+:/|/|@)[^\s,']*", "*", line)
    return re.sub(r"\d+", "N", line)[:120]


def trace_key(ta, tb):
    i = 0
    while i < len(ta) and i < len(tb) and ta[i] == tb[i]:
        i += 1
    if i < len(ta) and i < len(tb):
        return "%s | %s" % (_tmpl(ta[i]), _tmpl(tb[i]))
    if i < len(ta):
        return "stock only: " + _tmpl(ta[i])
    return "ours only: " + _tmpl(tb[i])


_CLIENT_RE = re.compile(r"\[client 127\.0\.0\.1:(\d+)\]")
_CLIENT = "[client 127.0.0.1:"


def _client_port(line):
    """_CLIENT_RE.search(line).group(1), or None; the regex only when the
    first '[client 127.0.0.1:' is not followed by digits and ']'."""
    k = line.find(_CLIENT)
    if k >= 0:
        k += len(_CLIENT)
        e = line.find("]", k)
        if e > k and line[k:e].isdigit() and line[k:e].isascii():
            return line[k:e]
    m = _CLIENT_RE.search(line)
    return m.group(1) if m else None


# The most trace one batch may write before its traces go uncompared
# (FUZZ_DIFF_TRACE_CAP, bytes: seed 930 had a configuration writing 2.9 GB,
# and reading it took the fuzzer's memory).
TRACE_CAP = int(os.environ.get("FUZZ_DIFF_TRACE_CAP", 256 << 20))


def serve_concurrent(cases, module, tag, levels, conc, trace=3):
    """run-diff's serve(), with up to conc requests in flight at all times.
    A request's trace lines are told apart by the client port in them,
    after the last answer, in one read of the log.  Lines of any other
    connection (a request proxied to this server) belong to a request
    that was in flight when they were written: those requests are sent
    again one at a time, as run-diff does.  The server logs at
    rewrite:trace<trace> (the comparison reads levels 1-3).  Returns what
    serve() returns."""
    if conc <= 1:
        return rd.serve(cases, module, tag, levels, [], trace=trace, check=False)
    w = rd.WORK
    conf_path = os.path.join(w.conf, "httpd.conf")
    text, ranges = rd.conf_text(cases, module, tag, trace)
    rd.write(conf_path, text)
    srv, err = rd.start_server(conf_path, tag, check=False)
    results = {}
    notes = []
    if err:
        name = rd.case_for_line(err, ranges)
        if name:
            err += "\n(line is in case %s)" % name
        return results, ranges, err, notes
    errlog = os.path.join(w.logs, tag + ".error.log")
    log = rh.ErrorLog(errlog)
    todo = [(c, r) for c in cases for r in c.requests]
    spans = [None] * len(todo)    # (log size before, log size after)

    def one(i):
        c, r = todo[i]
        before = log.size()
        resp = rd.send(r.build(c))
        spans[i] = (before, log.size())
        return resp

    try:
        start = log.size()
        with concurrent.futures.ThreadPoolExecutor(conc) as pool:
            resps = list(pool.map(one, range(len(todo))))
        grown = log.size() - start
        if grown > TRACE_CAP:
            # a configuration that writes gigabytes of trace (a [N] loop at
            # trace8): read, it would take the fuzzer's memory; the
            # responses are still compared, the traces only as "too big"
            # (equal when both servers wrote that much)
            notes.append("%d bytes of trace in one batch (more than %d): "
                         "traces not compared" % (grown, TRACE_CAP))
            for (c, r), resp in zip(todo, resps):
                resp.norm = [(1, "(trace over %d bytes)" % TRACE_CAP)]
                results[(c.name, id(r))] = resp
            os.truncate(errlog, start)      # the work dir may be tmpfs
            return results, ranges, None, notes
        with open(errlog, "rb") as f:
            f.seek(start)
            data = f.read()
        # the rewrite lines by client port (line numbers, to find a line's
        # offset in the log again when it is another connection's)
        lines = data.decode("utf-8", "replace").split("\n")
        byport = {}
        for n, line in enumerate(lines):
            if "[rewrite:" in line:
                byport.setdefault(_client_port(line), []).append(n)
        ports = {x.port for x in resps}
        again = set()
        stray = [n for port, ns in byport.items() if port not in ports for n in ns]
        if stray:
            offs = [start]
            for raw in data.split(b"\n"):
                offs.append(offs[-1] + len(raw) + 1)
            for n in stray:
                again.update(i for i, (a, b) in enumerate(spans) if a <= offs[n] < b)
        for i, ((c, r), resp) in enumerate(zip(todo, resps)):
            if i in again:
                continue
            ns = byport.get(resp.port, [])
            text = "\n".join(lines[n] for n in ns) + ("\n" if ns else "")
            resp.norm = rd.trace_norm(text, resp.port, levels, [])
            results[(c.name, id(r))] = resp
        for i in sorted(again):
            c, r = todo[i]
            b = log.size()
            resp = rd.send(r.build(c))
            resp.norm = rd.collect_trace(errlog, b, resp.port, levels, [])
            results[(c.name, id(r))] = resp
    finally:
        died = srv.exited()
        rd.stop_server(srv)
        rd.wait_port_closed()
    if died is not None:
        notes.append("server exited during the run (status %s)" % died)
    notes.extend(log.crashes())
    return results, ranges, None, notes


class Runner:
    def __init__(self, stock, ours, verbose=False, conc=1):
        self.say = print           # (a lane keeps the lines for the main process)
        self.stock = stock
        self.ours = ours
        self.verbose = verbose
        self.conc = conc
        self.starts = 0
        self.gi = 0
        self.requests = 0

    def serve_pair(self, server_items, states_named):
        """states_named: [(name, State)], all with the same server items.
        Returns ({name: [(stock resp, ours resp)]}, errors) where errors maps
        'stock'/'ours' to (start error text, case name or None)."""
        cases = [to_rd_case(st, name) for name, st in states_named]
        for c in cases:
            build_docroot(c)
        self.gi += 1
        out = {}
        errors = {}
        res = {}
        for which, module in (("stock", self.stock), ("ours", self.ours)):
            tag = "f%d-%s" % (self.gi, which)
            self.starts += 1
            if self.conc > 1 and not self.verbose:
                r, ranges, err, notes = serve_concurrent(cases, module, tag, None, self.conc)
            else:
                r, ranges, err, notes = rd.serve(cases, module, tag, None, [], self.verbose)
            for n in notes:
                self.say("# %s: %s" % (which, n))
            if err:
                errors[which] = (err, rd.case_for_line(err, ranges))
                continue
            res[which] = r
        if not errors:
            for c in cases:
                out[c.name] = [(res["stock"][(c.name, id(r))], res["ours"][(c.name, id(r))])
                               for r in c.requests]
                self.requests += 2 * len(c.requests)
        drop_docroots(cases)
        for f in os.listdir(rd.WORK.logs):
            if f.startswith("f%d-" % self.gi):
                os.unlink(os.path.join(rd.WORK.logs, f))
        for f in os.listdir(rd.WORK.conf):
            if f.startswith("f%d-" % self.gi):
                os.unlink(os.path.join(rd.WORK.conf, f))
        return out, errors

    def configtest(self, st, name):
        """(stock exit, stock output, ours exit, ours output)"""
        c = to_rd_case(st, name)
        build_docroot(c)
        conf_path = os.path.join(rd.WORK.conf, "httpd.conf")
        out = []
        for module in (self.stock, self.ours):
            text, _ = rd.conf_text([c], module, "cfg")
            rd.write(conf_path, text)
            rc, msg = rd.config_test(conf_path)
            out.extend([rc, msg])
        drop_docroots([c])
        return tuple(out)


# ----------------------------------------------------------------------
# reduction


def _items_at(items, path):
    for i in path[:-1]:
        items = items[i].items
    return items


def _walk(items, path=()):
    for i, it in enumerate(items):
        yield path + (i,), it
        if isinstance(it, gen.Block):
            yield from _walk(it.items, path + (i,))


_FLAGS_RE = re.compile(r"^(.*\S)\s+\[([^\]]*)\]$")


def _line_flags(line):
    if not line.startswith(("RewriteRule ", "RewriteCond ")):
        return []
    m = _FLAGS_RE.match(line)
    return m.group(2).split(",") if m else []


def _drop_flag(line, flag):
    m = _FLAGS_RE.match(line)
    rest = [f for f in m.group(2).split(",") if f != flag]
    return m.group(1) + (" [%s]" % ",".join(rest) if rest else "")


def sections(st):
    yield "server", st.server
    yield "vhost", st.case.vhost
    for d in sorted(st.case.htaccess):
        yield "ht:" + d, st.case.htaccess[d]


def section_items(st, sec):
    if sec == "server":
        return st.server
    if sec == "vhost":
        return st.case.vhost
    return st.case.htaccess[sec[3:]]


def candidate_ops(st):
    ops = []
    for sec, items in sections(st):
        if sec.startswith("ht:"):
            ops.append(("delht", sec[3:]))
        for path, it in _walk(items):
            if gen.AVOID and sec != "server" and isinstance(it, str) and \
                    it.lower().startswith("rewriteengine"):
                continue    # dropping it would turn the repro into A1
            ops.append(("del", sec, path))
            if not isinstance(it, gen.Block):
                for f in _line_flags(it):
                    ops.append(("flag", sec, path, f))
    conf = "\n".join(gen.render(st.case.vhost) + gen.render(st.server))
    for i, e in enumerate(st.tree):
        if "@DOCROOT@/" + e[1] not in conf and not (e[1] == "m.txt" and "m.dbm" in conf):     # a map file stays with its RewriteMap
            ops.append(("tree", e[1]))
    if not st.case.requests:        # a config check: nothing to send
        return ops
    q = st.case.requests[0]
    for h in q.headers:
        ops.append(("hdr", h))
    if "?" in q.target:
        ops.append(("noquery",))
    if q.method != "GET":
        ops.append(("get",))
    if q.proto != "HTTP/1.1":
        ops.append(("proto",))
    if q.target.startswith("http://"):
        ops.append(("origin",))
    return ops


def apply_ops(st, ops):
    st = st.copy()
    q = st.case.requests[0] if st.case.requests else None
    dels = []
    for op in ops:
        k = op[0]
        if k == "flag":
            items = _items_at(section_items(st, op[1]), op[2])
            line = items[op[2][-1]]
            if op[3] in _line_flags(line):
                items[op[2][-1]] = _drop_flag(line, op[3])
        elif k == "tree":
            st.tree = [e for e in st.tree if e[1] != op[1]]
        elif k == "hdr":
            q.headers = [h for h in q.headers if h != op[1]]
        elif k == "noquery":
            q.target = q.target.split("?", 1)[0]
        elif k == "get":
            q.method = "GET"
            q.headers = [h for h in q.headers if not h.startswith("Content-Length")]
        elif k == "proto":
            q.proto = "HTTP/1.1"
        elif k == "origin":
            q.target = "/" + q.target.split("/", 3)[3] if q.target.count("/") >= 3 else "/"
        elif k in ("del", "delht"):
            dels.append(op)
    for op in sorted((o for o in dels if o[0] == "del"), key=lambda o: (o[1], o[2]),
                     reverse=True):
        items = _items_at(section_items(st, op[1]), op[2])
        if op[2][-1] < len(items):
            del items[op[2][-1]]
    for op in dels:
        if op[0] == "delht":
            st.case.htaccess.pop(op[1], None)
    return st


def state_size(st):
    n = len(st.tree) + sum(len(q.headers) for q in st.case.requests[:1])
    for sec, items in sections(st):
        for _, it in _walk(items):
            n += 1 + len(_line_flags(it) if isinstance(it, str) else [])
    return n


def reduce(runner, st, sig, deadline, log=print):
    """Greedy reduction: every round tries each single removal (one server
    start pair for all of them that share the server section), then the
    successful ones together (all, halves, quarters; one more start pair).
    Keeps a state whose signature is sig."""
    rounds = 0
    while time.time() < deadline:
        rounds += 1
        ops = candidate_ops(st)
        cands = [(op, apply_ops(st, [op])) for op in ops]
        good = test_states(runner, [c for _, c in cands], sig)
        ok_ops = [op for (op, _), g in zip(cands, good) if g]
        if not ok_ops:
            break
        if len(ok_ops) > 1:
            # several removals at once, in one server start: all of them,
            # and halves and quarters from either end; the largest that
            # keeps the difference wins
            n = len(ok_ops)
            subsets = [ok_ops]
            for k in sorted({n * 3 // 4, n // 2, n // 4}, reverse=True):
                if 1 < k < n:
                    subsets.extend([ok_ops[:k], ok_ops[n - k:]])
            combined = [apply_ops(st, sub) for sub in subsets]
            good = test_states(runner, combined, sig)
            best = [i for i, g in enumerate(good) if g]
            if best:
                st = combined[max(best, key=lambda i: len(subsets[i]))]
                continue
        st = [c for (op, c) in cands if op == ok_ops[0]][0]
    log("#   reduced in %d rounds to %d units" % (rounds, state_size(st)))
    return st


def test_states(runner, states, sig):
    """Whether each state still shows the difference sig (its one request)."""
    result = [False] * len(states)
    groups = {}
    for i, st in enumerate(states):
        key = "\n".join(gen.render(st.server))
        groups.setdefault(key, []).append(i)
    for key, idxs in groups.items():
        for lo in range(0, len(idxs), 60):
            chunk = idxs[lo:lo + 60]
            named = [("fzr%d" % i, states[i]) for i in chunk]
            if states[chunk[0]].case.configtest:
                for i in chunk:
                    result[i] = configtest_sig(runner.configtest(states[i], "fzr%d" % i)) == sig
                continue
            pending = list(chunk)
            while pending:
                named = [("fzr%d" % i, states[i]) for i in pending]
                out, errors = runner.serve_pair(states[pending[0]].server, named)
                if not errors:
                    for i in pending:
                        a, b = out["fzr%d" % i][0]
                        result[i] = signature(a, b) == sig
                    break
                # a candidate broke the config: leave it out (it keeps False)
                bad = {n for _, n in errors.values() if n}
                if True:
                    print("#   candidate refused: %s" % " ".join(
                        e.splitlines()[1][:200] for e, _ in errors.values()
                        if len(e.splitlines()) > 1))
                if not bad:
                    if len(pending) > 1:
                        pending = pending[:1]   # try at least the first alone
                        continue
                    break
                pending = [i for i in pending if "fzr%d" % i not in bad]
    return result


def configtest_sig(r):
    rs, ms, ro, mo = r
    if (rs != 0) == (ro != 0):
        return None
    return "configtest stock %s / ours %s" % ("ok" if rs == 0 else "refused",
                                              "ok" if ro == 0 else "refused")


# ----------------------------------------------------------------------
# reporting


def features(st):
    """What a reduced repro is made of: the key that groups findings."""
    f = set()
    for sec, items in sections(st):
        where = "ht" if sec.startswith("ht:") else sec
        for _, it in _walk(items):
            if isinstance(it, gen.Block):
                f.add("%s:<%s>" % (where, it.head[1:].split()[0].rstrip(">")))
                continue
            words = it.split()
            f.add("%s:%s" % (where, words[0]))
            for fl in _line_flags(it):
                f.add("flag:" + re.split(r"[=:]", fl)[0].upper())
            if words[0] == "RewriteCond" and len(words) > 2:
                p = words[2].lstrip('!"')
                kind = p if p.startswith("-") else p[:2] if p[:1] in "<>=" else "regex"
                f.add("cond:" + kind.rstrip("="))
            for m in re.findall(r"%\{([A-Z_]+(?::[^}]*)?)\}|\$\{(\w+):", it):
                f.add("var:" + (m[0] or "map"))
    q = st.case.requests[0]
    if q.method != "GET":
        f.add("req:" + q.method)
    return frozenset(f)


def case_text(st, name, sig, origin, a=None, b=None):
    L = ["# fuzz-diff %s: %s" % (origin, sig)]
    if a is not None:
        L.append("# stock: %s" % summary(a))
        L.append("# ours:  %s" % summary(b))
        d = rd.compare(a, b)
        ta = [t for n, t in a.norm if n in LEVELS]
        tb = [t for n, t in b.norm if n in LEVELS]
        if ta != tb:
            d += ["trace (stock -> ours):"] + ["  " + l for l in rd.trace_diff(ta, tb)]
        L.extend("#   " + l[:300] for l in d[:40])
    if any("m.dbm" in l for l in gen.render(st.case.vhost)):
        L.append("# (uses @DOCROOT@/m.dbm: httxt2dbm -f SDBM -i m.txt -o m.dbm)")
    if st.server or "shtml" in "\n".join(
            gen.render(st.case.vhost) + [e[1] for e in st.tree] +
            [st.case.requests[0].target if st.case.requests else ""]):
        L.append("### server")
        L.extend(server_lines(st.server))
    L.append("### vhost")
    L.extend(gen.render(st.case.vhost))
    for kind, rel, data, mode in st.tree:
        if kind == "file":
            L.append("### file %s%s" % (rel, " mode=0755" if mode == 0o755 else ""))
            L.extend(data.rstrip("\n").split("\n") if data.strip() else [])
        elif kind == "dir":
            L.append("### dir " + rel)
        else:
            L.append("### symlink %s -> %s" % (rel, data))
    for d, items in sorted(st.case.htaccess.items()):
        L.append("### file %s.htaccess" % (d + "/" if d else ""))
        L.extend(gen.render(items))
    if st.case.configtest:
        L.append("### configtest")
    else:
        L.append("### requests")
        L.extend(st.case.requests[0].lines())
    return "\n".join(L) + "\n"


def summary(resp):
    s = [resp.status]
    for h in rd.COMPARED:
        v = resp.get(h)
        if v:
            s.append("%s: %s" % (h, " / ".join(v)))
    body = resp.body[:160].decode("latin-1").replace("\n", "\\n")
    s.append("body: " + body)
    return " | ".join(s)


# ----------------------------------------------------------------------
# main loop


class Fuzzer:
    def __init__(self, args, runner):
        self.args = args
        self.runner = runner
        self.configs = 0
        self.checks = 0
        self.compared = 0
        self.diffs = 0
        self.classes = {}          # class key -> count
        self.raw_sigs = {}         # signature -> reductions done
        self.gen_refused = 0
        self.generated = 0
        self.answer_diffs = 0
        self.found = []            # (class key, case text)

    def batch_rng(self, b):
        return gen.random.Random("%d-%d" % (self.args.seed, b))

    def make_batch(self, b):
        rng = self.batch_rng(b)
        server = gen.gen_server(rng, self.args.avoid_known)
        server_engine = any(isinstance(i, str) and i.lower() == "rewriteengine on"
                            for i in server)
        cases = []
        for i in range(self.args.batch):
            name = "fz%d%s-%d-%d" % (self.args.seed, "k" if gen.AVOID else "", b, i)
            if rng.random() < self.args.invalid:
                cases.append(gen.gen_configtest(rng, name))
            else:
                cases.append(gen.gen_case(rng, name, self.args.avoid_known, server_engine))
        return server, cases

    def run_batch(self, b, only=None):
        batch = self.make_batch(b)
        self.report_batch(b, self.serve_batch(b, only, batch), only, batch)

    def serve_batch(self, b, only=None, batch=None):
        """The serving half of batch b (a lane may run it: see Lanes): the
        configuration checks and the servers.  Returns the events that
        report_batch() turns into counts, DIFF lines and reductions:
        ("cfg", name, configtest result), ("err", serve errors, the case
        name they point at), ("ok", names, serve_pair's answers)."""
        server, cases = batch or self.make_batch(b)
        if only is not None:
            cases = [c for c in cases if c.name.endswith("-%d" % only)]
        tree = tree_entries()
        events = []
        for c in cases:
            if c.configtest:
                events.append(("cfg", c.name, self.runner.configtest(State([], c, tree),
                                                                     c.name)))
        cases = [c for c in cases if not c.configtest]
        while cases:
            named = [(c.name, State(server, c, tree)) for c in cases]
            out, errors = self.runner.serve_pair(server, named)
            if errors:
                bad = None
                for which, (err, name) in errors.items():
                    bad = bad or name
                events.append(("err", errors, bad))
                if bad is None:
                    return events
                cases = [c for c in cases if c.name != bad]
                continue
            events.append(("ok", [c.name for c in cases], out))
            break
        return events

    def report_batch(self, b, events, only=None, batch=None):
        server, cases = batch or self.make_batch(b)
        if only is not None:
            cases = [c for c in cases if c.name.endswith("-%d" % only)]
        self.generated += len(cases)
        tree = tree_entries()
        byname = {c.name: c for c in cases}
        for ev in events:
            if ev[0] == "cfg":
                _, name, r = ev
                self.checks += 1
                st = State([], byname[name], tree)
                sig = configtest_sig(r)
                if sig:
                    self.divergence(st, sig, name, cfg=r)
            elif ev[0] == "err":
                _, errors, bad = ev
                if "stock" in errors:
                    self.gen_refused += 1
                    print("# generator: stock refused the config (%s): %s"
                          % (bad or "batch", " ".join(errors["stock"][0].splitlines()[:3])[:400]))
                elif bad in byname:
                    self.divergence(State(server, byname[bad], tree), "config start: ours", bad,
                                    cfg=(0, "", 1, errors["ours"][0]))
            else:
                _, names, out = ev
                self.configs += len(names)
                for name in names:
                    c = byname[name]
                    for i, pair in enumerate(out[c.name]):
                        self.compared += 1
                        if pair is None:        # (a lane found them the same)
                            continue
                        a, bb = pair
                        sig = signature(a, bb)
                        if sig is None:
                            continue
                        one = c.copy()
                        one.requests = [c.requests[i]]
                        self.divergence(State(server, one, tree), sig, "%s#%d" % (c.name, i),
                                        a, bb)

    def divergence(self, st, sig, origin, a=None, b=None, cfg=None):
        self.diffs += 1
        if not sig.startswith("trace"):
            self.answer_diffs += 1
        rq = st.case.requests[0].lines()[0] if st.case.requests else "configtest"
        print("DIFF %s %s: %s" % (origin, rq, sig))
        sys.stdout.flush()
        if self.args.no_reduce:
            return
        if sig.startswith("trace") and not self.args.trace:
            return
        done = self.raw_sigs.get(sig, 0)
        if done >= (1 if sig.startswith("trace") else self.args.max_reduce):
            return
        self.raw_sigs[sig] = done + 1
        if sig.startswith("config start"):
            red = st
        else:
            red = reduce(self.runner, st, sig, time.time() + self.args.reduce_seconds)
        key = (sig, features(red))
        n = self.classes.get(key, 0)
        self.classes[key] = n + 1
        if n:
            print("#   same class as an earlier finding")
            return
        # answers of the reduced repro on a fresh server
        if not red.case.configtest and a is not None:
            o, e = self.runner.serve_pair(red.server, [("fzx", red)])
            if not e:
                a, b = o["fzx"][0]
        text = case_text(red, "", sig, "seed %d %s" % (self.args.seed, origin), a, b)
        if cfg:
            text = text.rstrip("\n") + "\n" + "".join(
                "# %s: %s\n" % (w, l) for w, l in (("stock", cfg[1]), ("ours", cfg[3]))
                if l for l in [l.splitlines()[0][:300]])
        self.found.append((key, text))
        name = "fz-" + hashlib.sha1(repr(sorted(key[1])).encode() +
                                    sig.encode()).hexdigest()[:8]
        print("NEW CLASS %s: %s\n%s" % (name, sig, "".join("    " + l + "\n"
                                                            for l in text.splitlines())))
        if self.args.out:
            os.makedirs(self.args.out, exist_ok=True)
            rd.write(os.path.join(self.args.out, name + ".case"), text)
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description="Differential fuzzer, stock mod_rewrite vs ours.")
    ap.add_argument("--seed", type=int, default=None, help="run seed (default: from the clock)")
    ap.add_argument("--count", type=int, default=None, help="configurations to generate")
    ap.add_argument("--seconds", type=float, default=None, help="stop starting batches after this")
    ap.add_argument("--batch", type=int, default=30, help="configurations per server start")
    ap.add_argument("--first-batch", type=int, default=0, help="batch number to start at")
    ap.add_argument("--invalid", type=float, default=0.04,
                    help="share of invalid configurations (apache2 -t only)")
    ap.add_argument("--ours", help="module under test (default $RW_MODULE or "
                    "./.libs/mod_rewrite.so)", default=os.environ.get("RW_MODULE") or
                    os.path.join(rd.REPO, ".libs", "mod_rewrite.so"))
    ap.add_argument("--stock", help="the stock module (default: the one "
                    "tools/stock-module finds, Debian's own)")
    ap.add_argument("--out", help="write each new class's reduced case file here")
    ap.add_argument("--no-reduce", action="store_true", help="report raw differences only")
    ap.add_argument("--max-reduce", type=int, default=2,
                    help="reductions per raw difference signature (default 2)")
    ap.add_argument("--reduce-seconds", type=float, default=150,
                    help="time limit of one reduction")
    ap.add_argument("--no-trace", dest="trace", action="store_false",
                    help="do not reduce trace-only differences")
    ap.add_argument("--avoid-known", action="store_true",
                    help="steer around the classes already filed (issue 12, F1-F8): "
                         "see gen.KNOWN")
    ap.add_argument("-j", "--jobs", type=int, default=4,
                    help="requests in flight at a time per server (default 4; 1: as run-diff)")
    ap.add_argument("--lanes", type=int, default=2,
                    help="batches served at a time, each by a process with its own "
                         "servers, port and tree (default 2; 1: one after the other); "
                         "the report is the same")
    ap.add_argument("--seeds", metavar="FIRST-LAST",
                    help="run seeds FIRST..LAST, --count configurations each "
                         "(default: one batch)")
    ap.add_argument("--seeds-file", metavar="PATH",
                    help="run the seeds listed in PATH (one per line, # comments), "
                         "--count configurations each")
    ap.add_argument("--workdir", help="server tree here (kept)")
    ap.add_argument("--only", metavar="SEED-BATCH-N",
                    help="run one generated configuration again (its id as printed: SEED[k]-BATCH-N, k = --avoid-known)")
    ap.add_argument("--invalid-all", action="store_true",
                    help="config checks only: every invalid line of the generator once")
    ap.add_argument("--self-test", action="store_true",
                    help="smoke test for make test: stock against stock, fixed seed, "
                         "no difference allowed, generation deterministic")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.stock is None:
        args.stock = rd.find_stock()
        if args.stock is None:
            print("fuzz-diff: refusing to run without Debian's stock module "
                  "(see above)", file=sys.stderr)
            return 2
    selftest_fail = 0
    if args.self_test:
        args.ours = args.stock
        args.seed = 1 if args.seed is None else args.seed
        args.count = args.count or 40
        args.batch = 20
        args.no_reduce = True
        selftest_fail = check_determinism(args)
    if args.only:
        m = re.match(r"^(?:fz)?(\d+)(k?)-(\d+)-(\d+)(?:#\d+)?$", args.only)
        if not m:
            print("fuzz-diff: --only wants SEED-BATCH-N, e.g. 7-0-23", file=sys.stderr)
            return 2
        args.seed, args.first_batch = int(m.group(1)), int(m.group(3))
        args.avoid_known = args.avoid_known or m.group(2) == "k"
        # configurations are generated in order: a smaller batch is a prefix
        args.batch = max(args.batch, int(m.group(4)) + 1)
    if args.seed is None:
        args.seed = int(time.time()) % 100000
    gen.AVOID = args.avoid_known
    seeds = [args.seed]
    if args.seeds:
        m = re.match(r"^(\d+)-(\d+)$", args.seeds)
        if not m:
            print("fuzz-diff: --seeds wants FIRST-LAST, e.g. 1-300", file=sys.stderr)
            return 2
        seeds = list(range(int(m.group(1)), int(m.group(2)) + 1))
        args.seed = seeds[0]
        if args.count is None:
            args.count = args.batch
    if args.seeds_file:
        with open(args.seeds_file) as f:
            seeds = [int(l.split("#")[0]) for l in f if l.split("#")[0].strip()]
        if not seeds:
            print("fuzz-diff: no seed in %s" % args.seeds_file, file=sys.stderr)
            return 2
        args.seed = seeds[0]
        if args.count is None:
            args.count = args.batch
    if args.count is None and args.seconds is None:
        args.count = 200
    stock = os.path.abspath(args.stock)
    ours = os.path.abspath(args.ours)
    if not os.path.exists(ours):
        print("fuzz-diff: module not found: %s" % ours, file=sys.stderr)
        return 2
    if args.workdir:
        root = os.path.abspath(args.workdir)
        os.makedirs(root, exist_ok=True)
    else:
        root = rh.scratch_dir("rw-fuzz-")
    rd.WORK = rd.Work(root, rd.free_port())
    rd.setup_tree(root)
    rd.check_access(root)
    runner = Runner(stock, ours, args.verbose, args.jobs)
    if args.jobs > 1:
        SERVE_EXTRA[:] = ["StartServers %d" % (args.jobs + 1),
                          "MinSpareServers %d" % (args.jobs + 1),
                          "MaxSpareServers %d" % (2 * args.jobs + 1)]
    fz = Fuzzer(args, runner)
    print("# fuzz-diff seed %d  stock %s  ours %s" % (args.seed, stock, ours))
    print("# work %s  port %d" % (root, rd.WORK.port))
    sys.stdout.flush()
    t0 = time.time()
    nbatches = 0
    lanes = None
    try:
        if args.invalid_all:
            seeds = []
            rng = gen.random.Random(args.seed)
            for i, bad in enumerate(gen.BAD_LINES):
                c = gen.gen_configtest(rng, "fzbad-%d" % i, bad)
                st = State([], c, tree_entries())
                fz.checks += 1
                r = runner.configtest(st, c.name)
                sig = configtest_sig(r)
                if sig:
                    fz.divergence(st, sig, c.name, cfg=r)
                else:
                    print("ok configtest both %s: %s" % ("accept" if r[0] == 0 else "refuse",
                                                         bad.replace("\n", " \\n ")))
        if args.only:
            fz.run_batch(args.first_batch, int(args.only.split("#")[0].split("-")[2]))
            nbatches = 1
            seeds = []
        lanes = Lanes(args, stock, ours) if args.lanes > 1 and not args.verbose and seeds \
            else None
        nbatches += run_seeds(fz, seeds, t0, lanes)
    finally:
        if lanes is not None:
            lanes.close()
        rd.stop_all()
        if not args.workdir and not args.verbose:
            shutil.rmtree(root, ignore_errors=True)
    el = time.time() - t0
    print("# %d batches, %d configurations, %d config checks, %d requests compared, "
          "%d server starts, %.0f s (%.0f requests/s both modules)"
          % (nbatches, fz.configs, fz.checks, fz.compared, runner.starts, el,
             runner.requests / max(el, 0.001)))
    if fz.gen_refused:
        print("# generator: %d configurations refused by stock" % fz.gen_refused)
    print("# %d differences (%d in the answer, %d in the trace only), %d classes"
          % (fz.diffs, fz.answer_diffs, fz.diffs - fz.answer_diffs, len(fz.classes)))
    passed = fz.compared + fz.checks - fz.diffs
    failed = fz.diffs + fz.gen_refused + selftest_fail
    if args.self_test:
        ok = check_noop(args)
        passed += ok
        failed += 1 - ok
    print("fuzz-diff: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def batch_jobs(args, seeds):
    """(seed, batch number, last of its seed) of every batch to run, in
    order: --count configurations a seed (or until --seconds)."""
    for seed in seeds:
        if args.count is None:
            n = None
        else:
            n = max(1, -(-args.count // args.batch)) if args.count > 0 else 0
        b = args.first_batch
        while n is None or b < args.first_batch + n:
            yield seed, b, n is not None and b == args.first_batch + n - 1
            b += 1


def run_seeds(fz, seeds, t0, lanes=None):
    """Runs the batches of every seed; with lanes, up to lanes.n of them
    are served at a time, and reported in order as each is done.  Returns
    the number of batches."""
    args = fz.args
    jobs = batch_jobs(args, seeds)
    pending = []
    nbatches = 0
    start = {}
    timed_out = False
    while True:
        while not timed_out and len(pending) < (lanes.n if lanes else 1):
            if args.seconds is not None and time.time() - t0 >= args.seconds:
                timed_out = True
                if pending:     # the seed of the last batch started ends there
                    pending[-1] = pending[-1][:2] + (True,) + pending[-1][3:]
                break
            job = next(jobs, None)
            if job is None:
                break
            seed, b, last = job
            pending.append((seed, b, last, lanes.submit(seed, b) if lanes else None))
        if not pending:
            break
        seed, b, last, fut = pending.pop(0)
        args.seed = seed
        start.setdefault(seed, fz.generated)
        if fut is None:
            fz.run_batch(b)
        else:
            lines, events, starts, requests = fut.result()
            for line in lines:
                print(line)
            fz.runner.starts += starts
            fz.runner.requests += requests
            fz.report_batch(b, events)
        nbatches += 1
        if last and len(seeds) > 1:
            print("# seed %d done: %d configurations, %d differences so far"
                  % (seed, fz.generated - start[seed], fz.diffs))
            sys.stdout.flush()
    return nbatches


# ----------------------------------------------------------------------
# lanes: batches served in parallel by worker processes (forked: they
# share the generator settings), each with its own work tree and port,
# stock then ours on the same port as always; the main process reports
# (and reduces) in batch order, so the output does not depend on them

_LANE = {}


def _lane_init(args, stock, ours):
    import multiprocessing.util
    root = rh.scratch_dir("rw-fuzz-lane-")
    rd.WORK = rd.Work(root, rd.free_port())
    rd.setup_tree(root)
    runner = Runner(stock, ours, False, args.jobs)
    _LANE["runner"] = runner
    _LANE["fz"] = Fuzzer(argparse.Namespace(**vars(args)), runner)
    # a worker ends with os._exit: no atexit
    multiprocessing.util.Finalize(None, rh.stop_all, exitpriority=20)
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(root,),
                                  kwargs={"ignore_errors": True}, exitpriority=10)


def _lane_serve(seed, b):
    fz, runner = _LANE["fz"], _LANE["runner"]
    fz.args.seed = seed
    lines = []
    runner.say = lines.append
    starts, requests = runner.starts, runner.requests
    events = fz.serve_batch(b)
    # only the answers that differ travel back (a looping rule's trace can
    # be tens of megabytes); the same ones become None
    for ev in events:
        if ev[0] == "ok":
            out = ev[2]
            for name in out:
                out[name] = [p if signature(*p) is not None else None for p in out[name]]
    return lines, events, runner.starts - starts, runner.requests - requests


class Lanes:
    def __init__(self, args, stock, ours):
        import multiprocessing
        self.n = args.lanes
        self.pool = concurrent.futures.ProcessPoolExecutor(
            self.n, multiprocessing.get_context("fork"), _lane_init, (args, stock, ours))

    def submit(self, seed, b):
        return self.pool.submit(_lane_serve, seed, b)

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


def check_noop(args):
    """A module that accepts the directives and does nothing must differ
    from stock in the answer (not only the trace) on most requests."""
    build = tempfile.mkdtemp(prefix="rw-fuzz-noop-")
    try:
        shutil.copy(os.path.join(HERE, "noop", "mod_rewrite.c"), build)
        p = subprocess.run([os.environ.get("APXS", "apxs"), "-c", "mod_rewrite.c"], cwd=build,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        so = os.path.join(build, ".libs", "mod_rewrite.so")
        if p.returncode != 0 or not os.path.exists(so):
            print("FAIL the no-op module did not build: %s"
                  % p.stdout.decode("utf-8", "replace")[-500:])
            return 0
        root = rh.scratch_dir("rw-fuzz-")
        rd.WORK = rd.Work(root, rd.free_port())
        rd.setup_tree(root)
        a = argparse.Namespace(**vars(args))
        a.invalid = 0
        fz = Fuzzer(a, Runner(os.path.abspath(args.stock), so))
        quiet = open(os.devnull, "w")
        old, sys.stdout = sys.stdout, quiet
        try:
            fz.run_batch(0)
        finally:
            sys.stdout = old
            quiet.close()
            rd.stop_all()
            shutil.rmtree(root, ignore_errors=True)
        n = max(fz.compared, 1)
        ok = fz.diffs >= 0.5 * n and fz.answer_diffs >= 0.25 * n
        print("%s the no-op module differs on %d of %d requests (%.0f%%), in the answer "
              "on %d (%.0f%%)" % ("ok" if ok else "FAIL", fz.diffs, fz.compared,
                                  100.0 * fz.diffs / n, fz.answer_diffs,
                                  100.0 * fz.answer_diffs / n))
        return 1 if ok else 0
    finally:
        shutil.rmtree(build, ignore_errors=True)


def check_determinism(args):
    """The same seed must give the same configurations and requests."""
    texts = []
    for _ in range(2):
        fz = Fuzzer(args, None)
        out = []
        for b in range(3):
            server, cases = fz.make_batch(b)
            for c in cases:
                st = State(server, c, tree_entries())
                out.append(case_text(st, c.name, "", c.name))
                out.extend(r.key() for r in c.requests)
        texts.append("\n".join(out))
    if texts[0] != texts[1]:
        print("FAIL generation is not deterministic for seed %d" % args.seed)
        return 1
    print("ok generation is deterministic (seed %d, 3 batches)" % args.seed)
    return 0


def run():
    """The entry point (t/diff/fuzz/fuzz-diff)."""
    os.umask(0o022)
    sys.exit(main())
