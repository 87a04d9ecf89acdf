#!/usr/bin/env python3
"""Benchmark suite: the stock mod_rewrite.so against ours, same run, same
configs, same requests.  See bench/README.md.  Python 3 stdlib only.

Per workload it
  1. starts a prefork server with each module and checks that every distinct
     request gets the same status and Location from both;
  2. runs wrk against each (stock, ours, stock, ours) and reads the peak RSS
     of every server process afterwards;
  3. runs `apache2 -X` under callgrind with each module and with no rewrite
     module at all (the floor), and takes the marginal instruction cost per
     request between two request counts, for the whole server and for the
     module (inclusive cost of its translate_name and fixups hooks, plus the
     directive handlers httpd calls while it reads an .htaccess).
The servers are tools/rwharness.py's (shared with run-diff, the fuzzer
and rewrite-test).
"""

import argparse
import concurrent.futures
import datetime
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
WLDIR = os.path.join(BENCH, 'workloads')
sys.path.insert(0, os.path.join(TOP, 'tools'))
import rwharness as rh  # noqa: E402

HTTPD = rh.HTTPD
MODDIR = rh.MODDIR
DEFAULT_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
DEFAULT_HOST = 'example.com'
# the callgrind dumps are triggered by a request to mod_status on a second
# port (a vhost without rewrite rules): its handler is the only caller of
# ap_get_loadavg, an exported (so named) function of the stripped httpd
MARKER_FN = 'ap_get_loadavg'
AS_ROOT = rh.IS_ROOT
LOCKDIR = '/tmp/bench-helper'

# ports: 8500-8599 only, allocated in pairs (main, marker) as servers are
# set up.  Apache::Test (make test) takes 8529 and up, so 8500-8528 first.
PORT_CANDIDATES = list(range(8500, 8529)) + list(range(8599, 8528, -1))


def alloc_ports():
    ports = rh.pick_ports(2, PORT_CANDIDATES, bind=False)
    if len(ports) < 2:
        rh.release_ports(*ports)
        raise RuntimeError('no free ports left in 8500-8599')
    return ports[0], ports[1]


release_ports = rh.release_ports


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- ELF

class Elf:
    """Just enough ELF64 reading to find a module's command table and the
    names callgrind gives its functions (symbol name, or 0x%016x of the
    address when the object is stripped)."""

    def __init__(self, path):
        self.path = path
        with open(path, 'rb') as f:
            self.data = f.read()
        d = self.data
        if d[:4] != b'\x7fELF' or d[4] != 2:
            raise ValueError(path + ': not an ELF64 file')
        shoff, = struct.unpack_from('<Q', d, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3A)
        self.sections = []
        for i in range(shnum):
            (name, typ, flags, addr, off, size, link, info, align,
             entsize) = struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize)
            self.sections.append(dict(name=name, type=typ, addr=addr, off=off,
                                      size=size, link=link, entsize=entsize))
        strtab = self.sections[shstrndx]
        for s in self.sections:
            s['name'] = self._cstr(strtab['off'] + s['name'])
        self.symbols = {}      # name -> value (functions and objects)
        self.funcs = {}        # address -> name (functions)
        for s in self.sections:
            if s['type'] in (2, 11):          # SYMTAB, DYNSYM
                strs = self.sections[s['link']]
                for j in range(s['size'] // 24):
                    nm, info, other, shndx, value, size = struct.unpack_from(
                        '<IBBHQQ', d, s['off'] + j * 24)
                    if not nm or shndx == 0:
                        continue
                    name = self._cstr(strs['off'] + nm)
                    self.symbols.setdefault(name, value)
                    if info & 0xf == 2:       # STT_FUNC
                        # prefer the symtab (static) name; keep the first
                        self.funcs.setdefault(value, name)
        self.relocs = {}       # address -> value after relocation
        for s in self.sections:
            if s['type'] != 4:                # RELA
                continue
            symsec = self.sections[s['link']] if s['link'] else None
            for j in range(s['size'] // 24):
                off, info, addend = struct.unpack_from('<QQq', d, s['off'] + j * 24)
                typ, sym = info & 0xffffffff, info >> 32
                if typ == 8:                  # R_X86_64_RELATIVE
                    self.relocs[off] = addend
                elif typ == 1 and symsec:     # R_X86_64_64
                    nm, inf, oth, shndx, value, size = struct.unpack_from(
                        '<IBBHQQ', d, symsec['off'] + sym * 24)
                    if shndx:
                        self.relocs[off] = value + addend

    def _cstr(self, off):
        end = self.data.index(b'\0', off)
        return self.data[off:end].decode('latin-1')

    def _off(self, va):
        for s in self.sections:
            if s['type'] != 8 and s['addr'] and s['addr'] <= va < s['addr'] + s['size']:
                return s['off'] + va - s['addr']
        raise ValueError('address 0x%x not in a section of %s' % (va, self.path))

    def ptr(self, va):
        if va in self.relocs:
            return self.relocs[va]
        return struct.unpack_from('<Q', self.data, self._off(va))[0]

    def cstr_at(self, va):
        return self._cstr(self._off(va))

    def label(self, va):
        """The function name callgrind prints for the function at va."""
        return self.funcs.get(va) or '0x%016x' % va


def module_info(path):
    """Command table of an httpd module: {callgrind label: directive}, plus
    the labels of its per-directory config create and merge functions."""
    elf = Elf(path)
    mod = elf.symbols.get('rewrite_module')
    if mod is None:
        raise ValueError(path + ': no rewrite_module symbol')
    # struct module_struct (httpd 2.4, 64-bit): ... create_dir_config at 56,
    # merge_dir_config 64, create_server_config 72, merge_server_config 80,
    # cmds 88, register_hooks 96
    info = {'path': path, 'elf': elf, 'handlers': {}, 'config': {}}
    for off, what in ((56, 'create_dir_config'), (64, 'merge_dir_config'),
                      (72, 'create_server_config'), (80, 'merge_server_config')):
        fn = elf.ptr(mod + off)
        if fn:
            info['config'][elf.label(fn)] = what
    cmds = elf.ptr(mod + 88)
    # command_rec: name, func, cmd_data, req_override+args_how, errmsg: 40 bytes
    while cmds:
        name = elf.ptr(cmds)
        if not name:
            break
        func = elf.ptr(cmds + 8)
        info['handlers'][elf.label(func)] = elf.cstr_at(name)
        cmds += 40
    return info


# ------------------------------------------------------------ callgrind

def parse_callgrind(path, module_path):
    """Reads one callgrind dump.  Returns the total Ir, and every call arc
    from outside the module object into it: {(caller, callee): [Ir, calls]}
    with inclusive cost, plus the call count of ap_run_translate_name."""
    module_real = os.path.realpath(module_path) if module_path else None
    names = {'ob': {}, 'fn': {}}
    kind_of = {'ob': 'ob', 'cob': 'ob', 'fn': 'fn', 'cfn': 'fn'}
    total = None
    self_sum = 0
    arcs = {}
    translate_calls = 0
    cur_ob = cur_fn = None
    cob = cfn = None
    pending = None       # (caller_ob, caller_fn, callee_ob, callee_fn, calls)
    name_re = re.compile(r'^\((\d+)\)(?: (.*))?$')

    def resolve(key, val):
        table = names[kind_of[key]]
        m = name_re.match(val)
        if not m:
            return val
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
            return m.group(2)
        return table.get(m.group(1), '?' + m.group(1))

    with open(path, 'r', errors='replace') as f:
        for line in f:
            c = line[0]
            if c.isdigit() or c in '+-*':
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending:
                    c_ob, c_fn, e_ob, e_fn, n = pending
                    pending = None
                    if e_fn == 'ap_run_translate_name':
                        translate_calls += n
                    if module_real and e_ob == module_real and c_ob != module_real:
                        a = arcs.setdefault((c_fn, e_fn), [0, 0])
                        a[0] += cost
                        a[1] += n
                else:
                    self_sum += cost
                continue
            if '=' in line:
                key, _, val = line.rstrip('\n').partition('=')
                if key == 'ob':
                    cur_ob = os.path.realpath(resolve('ob', val))
                elif key == 'fn':
                    cur_fn = resolve('fn', val).split("'")[0]
                    cob = cfn = None
                elif key == 'cob':
                    cob = os.path.realpath(resolve('cob', val))
                elif key == 'cfn':
                    cfn = resolve('cfn', val)
                elif key == 'calls':
                    n = int(val.split()[0])
                    callee_ob = cob if cob else cur_ob
                    callee = cfn.split("'")[0] if cfn else None
                    pending = (cur_ob, cur_fn, callee_ob, callee, n)
                    cob = cfn = None
                continue
            if line.startswith('totals:') or line.startswith('summary:'):
                v = int(line.split()[1])
                if line.startswith('totals:') or total is None:
                    total = v
    return {'total': total if total is not None else self_sum,
            'arcs': arcs, 'translate_calls': translate_calls}


def classify(arcs, minfo):
    """Splits the arcs into the counted parts.  Returns
    {'translate': {fn: Ir}, 'fixups': {...}, 'directives': {...},
     'other': {caller->fn: Ir}}."""
    out = {'translate': {}, 'fixups': {}, 'directives': {}, 'other': {}}
    for (caller, callee), (ir, calls) in arcs.items():
        if caller == 'ap_run_translate_name':
            part, key = 'translate', callee
        elif caller == 'ap_run_fixups':
            part, key = 'fixups', callee
        elif callee in minfo['handlers']:
            part, key = 'directives', callee
        else:
            part, key = 'other', '%s -> %s' % (caller, callee)
        out[part][key] = out[part].get(key, 0) + ir
    return out


# ------------------------------------------------------------ workloads

class Request:
    def __init__(self, kind, path, headers):
        self.kind, self.path, self.headers = kind, path, headers

    def key(self):
        return (self.path, tuple(sorted(self.headers.items())))

    def label(self):
        extra = ' '.join('%s: %s' % (k, v) for k, v in self.headers.items()
                         if (k, v) not in (('Host', DEFAULT_HOST), ('User-Agent', DEFAULT_UA)))
        return self.path + ('  [' + extra + ']' if extra else '')


def read_requests(path):
    reqs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line.strip() or line.startswith('#'):
                continue
            fields = line.split('\t')
            kind, rpath = fields[0], fields[1]
            hdrs = {'Host': DEFAULT_HOST, 'User-Agent': DEFAULT_UA}
            for h in fields[2:]:
                k, _, v = h.partition(':')
                hdrs[k.strip()] = v.strip()
            reqs.append(Request(kind, rpath, hdrs))
    return reqs


def read_files(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith('#')]


def make_request(kind, path, **hdrs):
    h = {'Host': DEFAULT_HOST, 'User-Agent': DEFAULT_UA}
    h.update(hdrs)
    return Request(kind, path, h)


class Workload:
    """name, what it is, server config text (with @DOCROOT@ and @MAPS@),
    optional .htaccess text for the document root, files to create, the
    request list, the kinds measured separately, callgrind rounds."""

    def __init__(self, name, title, conf='', htaccess=None, files=(),
                 requests=(), kinds=('mix',), rounds=(1, 2, 12), quick_rounds=None,
                 target=None, prepare=None, tree=None, warm_min=0):
        self.name, self.title, self.conf, self.htaccess = name, title, conf, htaccess
        self.files, self.requests, self.kinds = list(files), list(requests), list(kinds)
        self.rounds = rounds                # (warm-up rounds, n1 rounds, n2 rounds)
        self.quick_rounds = quick_rounds or rounds
        self.target = target or {}          # kind -> max module ratio
        self.prepare = prepare              # callable(docroot, mapsdir) for big files
        self.tree = tree or name            # workloads sharing one generated tree
        self.warm_min = warm_min            # seconds of wrk warm-up before the 2 s runs


def wl_file(name):
    with open(os.path.join(WLDIR, name)) as f:
        return f.read()


def gen_map_workload():
    """(c): 20 lookups per request in a txt map of 100,000 lines, and one in a
    dbm map made from it with httxt2dbm."""
    nkeys = 100000

    def key(i):
        return 'k%06d' % i

    def val(i):
        return 'v%x' % (i * 2654435761 % 2**32)

    def prepare(docroot, maps):
        txt = os.path.join(maps, 'legacy.txt')
        if not os.path.exists(txt):
            with open(txt, 'w') as f:
                f.write('# legacy ids -> new ids, 100,000 entries\n')
                for i in range(nkeys):
                    if i % 1000 == 0:
                        f.write('\n# block %d\n' % (i // 1000))
                    f.write('%s %s\n' % (key(i), val(i)))
        dbm = os.path.join(maps, 'legacy.dbm')
        if not any(n.startswith('legacy.dbm') for n in os.listdir(maps)):
            subprocess.run(['httxt2dbm', '-i', txt, '-o', dbm], check=True,
                           stdout=subprocess.DEVNULL)

    lines = ['# Workload (c): 20 txt-map lookups and 1 dbm lookup per request.',
             '# Rule i replaces path segment i of /m/... by its value in the',
             '# txt map; the last rule looks up the query string in the dbm map',
             '# and redirects, so the Location shows all 21 results.',
             'RewriteEngine on',
             'RewriteMap legacy "txt:@MAPS@/legacy.txt"',
             'RewriteMap legacydbm "dbm:@MAPS@/legacy.dbm"']
    for i in range(20):
        skip = '(?:[^/]+/){%d}' % i if i else ''
        lines.append('RewriteRule ^/m/(%s)([^/]+)(.*)$ /m/$1${legacy:$2|NONE}$3' % skip)
    lines.append('RewriteCond %{QUERY_STRING} ^d=(.+)$')
    lines.append('RewriteRule ^/m/(.*)$ /done/${legacydbm:%1|NONE}/$1? [R=302,L]')
    conf = '\n'.join(lines) + '\n'
    # 10 distinct requests, keys spread over the whole file, one miss each
    import random
    rng = random.Random(42)
    reqs = []
    for r in range(10):
        ks = [key(rng.randrange(nkeys)) for _ in range(19)] + ['x%05d' % r]
        rng.shuffle(ks)
        reqs.append(make_request('mix', '/m/' + '/'.join(ks) + '?d=' + key(rng.randrange(nkeys))))
    return conf, reqs, prepare


def gen_scaling(n, variant='e1'):
    """(e): n redirect rules the way sites migrate.  Requests hitting the
    first rules (early), the last rules (late), and none.
    e1: exact literals ^/old/page-N$; e2: prefixes with a capture
    ^/catalog/item-N/(.*)$; e3: the same with [NC]; e4: e2's rules with
    one in twenty that has no usable literal (an alternation, a suffix, a
    negated pattern) or a condition."""
    lines = ['# Workload (%s): %d migrated pages, one redirect each.' % (variant, n),
             'RewriteEngine on']
    for i in range(1, n + 1):
        if variant == 'e1':
            lines.append('RewriteRule ^/old/page-%d$ /new/%d [R=301,L]' % (i, i))
        elif variant == 'e4' and i % 20 == 10:
            kind = (i // 20) % 4
            if kind == 0:
                lines.append('RewriteRule ^/(a|b)/x-%d$ /ab/%d [R=301,L]' % (i, i))
            elif kind == 1:
                lines.append(r'RewriteRule \.(gif|jpe?g)-%d$ /img/%d [R=301,L]' % (i, i))
            elif kind == 2:
                lines.append('RewriteRule !^/ /never/%d [R=301,L]' % i)
            else:
                lines.append('RewriteCond %%{HTTP_HOST} ^nomatch-%d$' % i)
                lines.append('RewriteRule ^/catalog/item-%d/(.*)$ /shop/%d/$1 [R=301,L]' % (i, i))
        else:
            lines.append('RewriteRule ^/catalog/item-%d/(.*)$ /shop/%d/$1 [R=301%s,L]'
                         % (i, i, ',NC' if variant == 'e3' else ''))
    conf = '\n'.join(lines) + '\n'

    def url(i):
        if variant == 'e1':
            return '/old/page-%d' % i
        if variant == 'e3':
            return '/Catalog/ITEM-%d/blue/widget' % i
        return '/catalog/item-%d/blue/widget' % i
    reqs = []
    for i in range(1, 5):
        reqs.append(make_request('early', url(i)))
    for i in range(n - 4, n + 1):
        if variant == 'e4' and i % 20 == 10:
            continue
        reqs.append(make_request('late', url(i)))
    for p in ('/', '/products/blue-widget', '/static/app.css', '/about/'):
        reqs.append(make_request('none', p))
    return conf, reqs


def workloads(quick):
    wls = []
    wls.append(Workload(
        'a', '(a) 40 server-context rules, realistic mix',
        conf=wl_file('a-server.conf'), files=read_files(os.path.join(WLDIR, 'a.files')),
        requests=read_requests(os.path.join(WLDIR, 'a.requests')),
        rounds=(1, 2, 12), quick_rounds=(1, 1, 5), target={'mix': 0.5}))
    wls.append(Workload(
        'b', '(b) .htaccess, 31 rules + front controller (WordPress/Drupal style)',
        htaccess=wl_file('b.htaccess'), files=read_files(os.path.join(WLDIR, 'b.files')),
        requests=read_requests(os.path.join(WLDIR, 'b.requests')),
        rounds=(1, 2, 12), quick_rounds=(1, 1, 5), target={'mix': 0.25}))
    if not quick:
        conf, reqs, prep = gen_map_workload()
        wls.append(Workload(
            'c', '(c) maps: 20 txt lookups (100,000 lines) + 1 dbm lookup',
            conf=conf, requests=reqs, prepare=prep, rounds=(2, 2, 12),
            target={'mix': 1.0}, warm_min=30))
        wls.append(Workload(
            'd', '(d) 10 regex-heavy rules, 300-character URLs',
            conf=wl_file('d-server.conf'), files=read_files(os.path.join(WLDIR, 'd.files')),
            requests=read_requests(os.path.join(WLDIR, 'd.requests')),
            rounds=(1, 2, 12), quick_rounds=(1, 1, 4), target={'mix': 0.5}))
    for n, rounds in ((100, (1, 4, 30)), (1000, (1, 2, 12)), (10000, (1, 1, 4))):
        if quick and n != 10000:
            continue
        conf, reqs = gen_scaling(n)
        tgt = {'early': 1.0, 'late': 0.02 if n == 10000 else 1.0,
               'none': 0.02 if n == 10000 else 1.0}
        wls.append(Workload(
            'e%d' % n, '(e1) %d exact-literal redirect rules' % n, conf=conf,
            files=['index.html', 'products/', 'static/app.css', 'about/index.html'],
            requests=reqs, kinds=('early', 'late', 'none'), rounds=rounds,
            quick_rounds=(1, 1, 3), target=tgt))
    # e2-e4: the same scaling on prefix rules with captures, [NC], and a
    # mix with unindexable rules; 100 rules as the base of the 3x target
    what = {'e2': 'prefix rules with a capture', 'e3': 'prefix rules with [NC]',
            'e4': 'prefix rules, 5% without a usable literal'}
    for variant in ('e2', 'e3', 'e4'):
        for n, rounds in ((100, (1, 4, 30)), (10000, (1, 1, 4))):
            if quick and (n != 10000 or variant != 'e2'):
                continue
            conf, reqs = gen_scaling(n, variant)
            tgt = {'early': 1.0, 'late': 0.02 if n == 10000 else 1.0,
                   'none': 0.02 if n == 10000 else 1.0}
            if variant == 'e4' and n == 10000:
                tgt = {'early': 1.0, 'late': 0.1, 'none': 0.1}
            wls.append(Workload(
                '%s-%d' % (variant, n), '(%s) %d %s' % (variant, n, what[variant]),
                conf=conf,
                files=['index.html', 'products/', 'static/app.css', 'about/index.html'],
                requests=reqs, kinds=('early', 'late', 'none'), rounds=rounds,
                quick_rounds=(1, 1, 3), target=tgt))
    return wls


# --------------------------------------------------------------- servers

port_free = rh.port_free


class Tree:
    """The generated document root, maps and .htaccess of a workload,
    shared by all servers of that workload."""

    def __init__(self, base, wl):
        self.dir = os.path.join(base, 'tree-' + wl.tree)
        self.docroot = os.path.join(self.dir, 'htdocs')
        self.maps = os.path.join(self.dir, 'maps')
        self.marker = os.path.join(self.dir, 'marker')
        for d in (self.docroot, self.maps, self.marker):
            os.makedirs(d, exist_ok=True)
        for rel in wl.files:
            p = os.path.join(self.docroot, rel)
            if rel.endswith('/'):
                os.makedirs(p, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, 'w') as f:
                    f.write('%s: content of %s\n' % (wl.name, rel) * 8)
        if wl.htaccess is not None:
            with open(os.path.join(self.docroot, '.htaccess'), 'w') as f:
                f.write(wl.htaccess)
        if wl.prepare:
            wl.prepare(self.docroot, self.maps)
        for root, dirs, files in os.walk(self.dir):
            os.chmod(root, 0o755)
            for n in files:
                os.chmod(os.path.join(root, n), 0o644)


def write_conf(srvdir, tree, wl, module, port, mport):
    """One config for every variant; `module` None is the floor (no rewrite
    module loaded: the rules sit in <IfModule rewrite_module>)."""
    os.makedirs(os.path.join(srvdir, 'logs'), exist_ok=True)
    os.makedirs(os.path.join(srvdir, 'conf'), exist_ok=True)
    rules = wl.conf.replace('@DOCROOT@', tree.docroot).replace('@MAPS@', tree.maps)
    head = rh.Conf()
    head.add('# generated by bench/bench.py for workload %s' % wl.name)
    logs = os.path.join(srvdir, 'logs')
    head.prologue(srvdir, os.path.join(logs, 'error_log'), [port, mport],
                  [('mpm_prefork_module', 'mod_mpm_prefork.so'),
                   ('authz_core_module', 'mod_authz_core.so'),
                   ('mime_module', 'mod_mime.so'),
                   ('dir_module', 'mod_dir.so'),
                   ('status_module', 'mod_status.so')],
                  module, rundir=logs, loglevel=None, log_config=False)
    if not module:
        head.add('# no rewrite module: the floor')
    head.add('ServerName %s' % DEFAULT_HOST)
    conf = head.text() + f"""
# prefork with a fixed pool bigger than wrk's 32 connections, no recycling
StartServers 36
MinSpareServers 1
MaxSpareServers 64
ServerLimit 64
MaxRequestWorkers 64
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
Timeout 30
LogLevel warn
ExtendedStatus Off

TypesConfig /etc/mime.types
DirectoryIndex index.html index.php
<Directory />
    AllowOverride None
    Require all denied
</Directory>
DocumentRoot "{tree.docroot}"
<Directory "{tree.docroot}">
    Options FollowSymLinks
    AllowOverride {'All' if wl.htaccess is not None else 'None'}
    Require all granted
</Directory>

# the marker: mod_status on the second port triggers the callgrind dumps
<VirtualHost 127.0.0.1:{mport}>
    DocumentRoot "{tree.marker}"
    <Directory "{tree.marker}">
        Require all granted
    </Directory>
    <Location /server-status>
        SetHandler server-status
    </Location>
</VirtualHost>

<IfModule rewrite_module>
{rules}
</IfModule>
"""
    path = os.path.join(srvdir, 'conf', 'httpd.conf')
    with open(path, 'w') as f:
        f.write(conf)
    if AS_ROOT:
        for root, dirs, files in os.walk(srvdir):
            os.chmod(root, 0o755)
        shutil.chown(os.path.join(srvdir, 'logs'), 'nobody', 'nogroup')
    return path


class Server:
    def __init__(self, base, wl, tree, variant, module, single=False):
        self.variant, self.module = variant, module
        key = ('cg-' if single else '') + variant
        self.port, self.mport = alloc_ports()
        self.dir = os.path.join(base, 'srv-%s-%s' % (wl.name, key))
        self.conf = write_conf(self.dir, tree, wl, module, self.port, self.mport)
        self.pidfile = os.path.join(self.dir, 'logs', 'httpd.pid')
        self.errlog = os.path.join(self.dir, 'logs', 'error_log')
        self.apache = rh.Apache(self.conf, [self.port, self.mport], 'daemon',
                                errlog=self.errlog, pidfile=self.pidfile)

    def check(self):
        r = subprocess.run([HTTPD, '-t', '-f', self.conf], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def start(self):
        for p in (self.port, self.mport):
            if not port_free(p):
                raise RuntimeError('port %d is in use' % p)
        if not self.apache.start(60, 0.2):
            raise RuntimeError('%s server did not start: %s\n%s' % (
                self.variant, self.apache.start_output.strip(), self.errors()))
        time.sleep(0.5)
        self.apache.ppid = self.apache.parent()

    def parent(self):
        return self.apache.parent()

    def children(self):
        return self.apache.children()

    def stop(self):
        self.apache.stop()
        self.release()

    def release(self):
        release_ports(self.port, self.mport)

    def errors(self):
        return self.apache.error_lines()


def proc_mem(pid):
    """VmRSS and VmHWM (peak RSS), and from smaps_rollup Pss (shared pages
    divided among their users) and Anonymous, in KiB.  RSS counts every
    shared page in full in every process; Pss and Anonymous show what a
    process adds."""
    res = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(('VmRSS:', 'VmHWM:')):
                    res[line.split(':')[0]] = int(line.split()[1])
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith(('Pss:', 'Anonymous:')):
                    res[line.split(':')[0]] = int(line.split()[1])
    except OSError:
        pass
    return res


# ----------------------------------------------------------- HTTP client

class Conn(rh.KeepAlive):
    """Keep-alive HTTP/1.1 client; returns (status, Location)."""

    def request(self, req, port, close=False):
        status, headers = self.get(req.path, dict(req.headers), close)
        loc = headers.get('location')
        if loc:
            loc = loc.replace(':%d/' % port, ':PORT/').replace(':%d' % port, ':PORT')
        return status, loc


def fetch_once(port, req):
    c = Conn(port, timeout=30)
    try:
        return c.request(req, port, close=True)
    except (OSError, ValueError, IndexError) as e:
        return 'error: %s' % e, None
    finally:
        c.close()


def send_many(port, reqs, count):
    """Sends reqs in order, round after round, `count` requests, on
    keep-alive connections."""
    c = None
    i = 0
    while i < count:
        if c is None:
            c = Conn(port)
        try:
            c.request(reqs[i % len(reqs)], port)
            i += 1
        except (ConnectionError, socket.timeout, OSError):
            c.close()
            c = None
    if c:
        c.close()


def marker(port):
    c = Conn(port)
    try:
        st, _ = c.request(make_request('marker', '/server-status?auto'), port, close=True)
    finally:
        c.close()
    if st != 200:
        raise RuntimeError('marker request answered %s' % st)


# ------------------------------------------------------------------ wrk

def lua_str(s):
    return '"' + ''.join(c if c.isalnum() or c in ' /-_.,:;=&?%()[]{}+!*@#~^|<>\'' else
                         '\\%03d' % ord(c) for c in s) + '"'


def write_lua(path, reqs):
    out = ['-- generated by bench/bench.py: the request list, round after round',
           'local list = {']
    for r in reqs:
        hs = ', '.join('[%s] = %s' % (lua_str(k), lua_str(v)) for k, v in r.headers.items())
        out.append('  {%s, {%s}},' % (lua_str(r.path), hs))
    out.append('}')
    out.append('''local reqs, idx, count = {}, 0, 0
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local nthread = 0
function setup(thread)
  thread:set("offset", nthread * 7)
  nthread = nthread + 1
end
function init(args)
  for i, r in ipairs(list) do reqs[i] = wrk.format("GET", r[1], r[2]) end
  idx = (tonumber(offset) or 0) % #reqs
end
function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
if limit > 0 then
  function response(status, headers, body)
    count = count + 1
    if count >= limit then wrk.thread:stop() end
  end
end
''')
    with open(path, 'w') as f:
        f.write('\n'.join(out))


def run_wrk(port, lua, seconds, threads, conns, limit=0):
    env = dict(os.environ)
    if limit:
        env['BENCH_LIMIT'] = str(limit)
    cmd = ['wrk', '-t%d' % threads, '-c%d' % conns, '-d%ds' % seconds, '--timeout', '10s',
           '-s', lua, 'http://127.0.0.1:%d/' % port]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    out = r.stdout
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    n = re.search(r'(\d+) requests in', out)
    errs = re.search(r'Socket errors: (.*)', out)
    return {'rps': float(m.group(1)) if m else 0.0,
            'requests': int(n.group(1)) if n else 0,
            'errors': errs.group(1).strip() if errs else '',
            'raw': out + r.stderr}


# -------------------------------------------------------------- phases

def distinct(reqs):
    seen, out = set(), []
    for r in reqs:
        if r.key() not in seen:
            seen.add(r.key())
            out.append(r)
    return out


def phase_live(base, wl, tree, mods, opts, res):
    """Response check, wrk, RSS (and the soak for one workload)."""
    servers = {v: Server(base, wl, tree, v, mods[v]) for v in ('stock', 'ours')}
    r = res.setdefault(wl.name, {})
    for v, s in servers.items():
        ok, msg = s.check()
        if not ok:
            r['config_error_' + v] = msg
            log('  %s: config check failed: %s' % (v, msg))
    started = []
    try:
        for v, s in servers.items():
            try:
                s.start()
                started.append(s)
            except RuntimeError as e:
                r['start_error_' + v] = str(e)
                log('  ' + str(e))
        if len(started) < 2:
            return
        # 1. same responses
        diffs = []
        dl = distinct(wl.requests)
        for q in dl:
            a = fetch_once(servers['stock'].port, q)
            b = fetch_once(servers['ours'].port, q)
            if a != b:
                diffs.append((q.label(), a, b))
        r['distinct'] = len(dl)
        r['diffs'] = diffs
        log('  responses: %d distinct, %d differ' % (len(dl), len(diffs)))
        # 2. wrk, interleaved: stock ours stock ours
        lua = os.path.join(base, 'wrk-%s.lua' % wl.name)
        write_lua(lua, wl.requests)
        runs = {'stock': [], 'ours': []}
        # warm-up, not counted: 2 s runs until two in a row agree within
        # 25% (at most 8): every process fills its caches (the stock
        # module's txt map cache in workload c takes a while)
        warm = {}
        for v in ('stock', 'ours'):
            last = None
            if wl.warm_min:
                run_wrk(servers[v].port, lua, wl.warm_min, opts.threads, opts.conns)
            for i in range(8):
                w = run_wrk(servers[v].port, lua, 2, opts.threads, opts.conns)['rps']
                if last and w and abs(w - last) / max(w, last) < 0.25:
                    break
                last = w
            warm[v] = i + 1
        r['wrk_warmups'] = warm
        order = ['stock', 'ours', 'stock', 'ours'] if not opts.quick else ['stock', 'ours', 'stock']
        for v in order:
            w = run_wrk(servers[v].port, lua, opts.wrk_seconds, opts.threads, opts.conns)
            runs[v].append(w)
            log('  wrk %-5s %10.0f req/s  %s' % (v, w['rps'], w['errors']))
        r['wrk'] = runs
        # 3. memory after the runs
        mem = {}
        for v, s in servers.items():
            kids = [proc_mem(p) for p in s.children()]
            par = proc_mem(s.parent()) if s.parent() else {}
            mem[v] = {'children': len(kids),
                      'peak': max((k.get('VmHWM', 0) for k in kids), default=0),
                      'rss_sum': sum(k.get('VmRSS', 0) for k in kids),
                      'pss_sum': sum(k.get('Pss', 0) for k in kids),
                      'anon_sum': sum(k.get('Anonymous', 0) for k in kids),
                      'parent_peak': par.get('VmHWM', 0)}
        r['mem'] = mem
        # 4. soak: RSS before/after a long run
        if opts.soak and wl.name == opts.soak_workload:
            soak = {}
            for v, s in servers.items():
                if v == 'stock' and not opts.soak_both:
                    continue
                before = {p: proc_mem(p).get('VmRSS', 0) for p in s.children()}
                # wrk's Lua can stop its threads after a count, but wrk
                # itself runs for -d: size -d from the measured rate, and
                # top up until the count is reached
                rate = max(100.0, min(x['rps'] for x in runs[v]))
                done, t_soak = 0, time.time()
                while done < opts.soak_requests and time.time() - t_soak < 600:
                    left = opts.soak_requests - done
                    secs = int(math.ceil(left / rate * 1.25)) + 1
                    per_thread = int(math.ceil(left / opts.threads))
                    w = run_wrk(s.port, lua, secs, opts.threads, opts.conns, limit=per_thread)
                    done += w['requests']
                    if w['requests'] == 0:
                        break
                w = {'requests': done, 'secs': time.time() - t_soak}
                after = {p: proc_mem(p).get('VmRSS', 0) for p in s.children()}
                common = [p for p in before if p in after]
                growth = [after[p] - before[p] for p in common]
                soak[v] = {'requests': w['requests'], 'secs': w['secs'],
                           'before': sum(before[p] for p in common),
                           'after': sum(after[p] for p in common),
                           'max_growth': max(growth, default=0),
                           'processes': len(common),
                           'replaced': len(set(before) ^ set(after))}
                log('  soak %-5s %d requests, RSS sum %d -> %d KiB' % (
                    v, w['requests'], soak[v]['before'], soak[v]['after']))
            r['soak'] = soak
    finally:
        for s in servers.values():
            if s not in started:
                s.release()
                continue
            errs = s.errors()
            if errs:
                r.setdefault('error_log', {})[s.variant] = errs[:5]
            s.stop()


def callgrind_one(base, wl, tree, variant, module, rounds):
    """One `apache2 -X` under callgrind; returns {kind: {...per request...}}."""
    s = Server(base, wl, tree, variant, module, single=True)
    cg = os.path.join(s.dir, 'cg')
    shutil.rmtree(cg, ignore_errors=True)
    os.makedirs(cg)
    out = os.path.join(cg, 'cg.out')
    open(out, 'w').close()
    if AS_ROOT:
        shutil.chown(cg, 'nobody', 'nogroup')
        shutil.chown(out, 'nobody', 'nogroup')
        os.chmod(out, 0o666)
    vg = rh.Apache(s.conf, [s.port, s.mport], 'single',
                   os.path.join(s.dir, 'logs', 'valgrind.log'),
                   wrapper=['valgrind', '--tool=callgrind', '--vgdb=no',
                            '--dump-before=' + MARKER_FN, '--callgrind-out-file=' + out])
    segments = []
    try:
        if not vg.start(600, 0.2):
            raise RuntimeError('%s: apache2 -X under callgrind did not start (%s)' % (
                variant, os.path.join(s.dir, 'logs')))
        warm, r1, r2 = rounds
        allreqs = wl.requests
        marker(s.mport)                      # dump 1: start-up
        segments.append(('startup', None, None))
        marker(s.mport)                      # dump 2: one marker request
        segments.append(('cold', 'M', 0))
        send_many(s.port, allreqs, len(allreqs))
        marker(s.mport)                      # dump 3: first round, cold caches
        segments.append(('cold', 'C', len(allreqs)))
        if warm > 1:
            send_many(s.port, allreqs, (warm - 1) * len(allreqs))
            marker(s.mport)
            segments.append(('warm', None, None))
        for kind in wl.kinds:
            kr = [q for q in wl.requests if q.kind == kind]
            for tag, r in (('A', r1), ('B', r2)):
                send_many(s.port, kr, r * len(kr))
                marker(s.mport)
                segments.append((kind, tag, r * len(kr)))
    finally:
        vg.stop(120)
        s.release()
    minfo = module_info(module) if module else None
    results = {}
    dumps = {}
    for i, seg in enumerate(segments, start=1):
        if seg[1] is None:
            continue
        dumps[(seg[0], seg[1])] = (parse_callgrind('%s.%d' % (out, i), module), seg[2])
    (cold, ncold), (mark, _) = dumps[('cold', 'C')], dumps[('cold', 'M')]
    results['cold'] = {'server': (cold['total'] - mark['total']) / ncold}
    if minfo:
        c, m = classify(cold['arcs'], minfo), classify(mark['arcs'], minfo)
        results['cold']['module'] = sum(sum(c[p].values()) - sum(m[p].values()) for p in
                                        ('translate', 'fixups', 'directives')) / ncold
    for kind in wl.kinds:
        (a, na), (b, nb) = dumps[(kind, 'A')], dumps[(kind, 'B')]
        n = nb - na
        rk = {'n': n, 'server': (b['total'] - a['total']) / n,
              'translate_runs': (b['translate_calls'] - a['translate_calls']) / n}
        if minfo:
            ca, cb = classify(a['arcs'], minfo), classify(b['arcs'], minfo)
            parts = {}
            for part in cb:
                keys = set(ca[part]) | set(cb[part])
                parts[part] = {k: (cb[part].get(k, 0) - ca[part].get(k, 0)) / n for k in keys}
            rk['parts'] = parts
            rk['module'] = sum(sum(parts[p].values()) for p in ('translate', 'fixups', 'directives'))
        results[kind] = rk
    return results


def phase_callgrind(base, wl, tree, mods, opts, res, pool):
    rounds = wl.quick_rounds if opts.quick else wl.rounds
    futs = {v: pool.submit(callgrind_one, base, wl, tree, v, mods[v], rounds)
            for v in ('stock', 'ours', 'floor')}
    out = {}
    for v, f in futs.items():
        try:
            out[v] = f.result()
        except Exception as e:          # report, do not stop the suite
            out[v] = {'error': str(e)}
            log('  callgrind %s: %s' % (v, e))
    res.setdefault(wl.name, {})['cg'] = out


# ---------------------------------------------------------------- report

def fmt_n(x):
    if x is None:
        return '-'
    if x >= 100000:
        return '%.0fk' % (x / 1000)
    if x >= 10000:
        return '%.1fk' % (x / 1000)
    return '%.0f' % x


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fmt_r(r):
    return '-' if r is None else '%.2f' % r if r >= 0.1 else '%.3f' % r


def build_table(wls, res, opts):
    rows = []
    hdr = ['workload', 'requests in list', 'same resp. (distinct)',
           'module Ir/req stock', 'ours', 'ours/stock', 'target',
           'server Ir/req stock', 'ours', 'ours/stock', 'floor (no rewrite)',
           'req/s stock', 'ours', 'ours/stock', 'noise',
           'peak RSS/proc stock', 'ours', 'ours/stock']
    flags = []
    for wl in wls:
        r = res.get(wl.name, {})
        cg = r.get('cg', {})
        first = True
        for kind in wl.kinds:
            st = cg.get('stock', {}).get(kind, {})
            ou = cg.get('ours', {}).get(kind, {})
            fl = cg.get('floor', {}).get(kind, {})
            name = wl.name if kind == 'mix' else '%s %s' % (wl.name, kind)
            mr = ratio(ou.get('module'), st.get('module'))
            sr = ratio(ou.get('server'), st.get('server'))
            tgt = wl.target.get(kind)
            met = ''
            if mr is not None and tgt is not None:
                met = ' ok' if round(mr, 2) <= tgt else ' MISSED'
                if round(mr, 2) > tgt:
                    flags.append('%s: module ratio %.2f > target %.2f' % (name, mr, tgt))
            if sr is not None and round(sr, 2) > 1.0:
                flags.append('%s: whole server slower than stock (%.2f)' % (name, sr))
            row = [name, '%d' % len([q for q in wl.requests if q.kind == kind])]
            if first:
                if 'diffs' in r:
                    d = r['diffs']
                    row.append('yes (%d)' % r['distinct'] if not d else
                               'NO: %d of %d differ' % (len(d), r['distinct']))
                    if d:
                        flags.append('%s: %d of %d distinct requests answer differently' % (
                            wl.name, len(d), r['distinct']))
                else:
                    row.append('not run')
            else:
                row.append('')
            row += [fmt_n(st.get('module')), fmt_n(ou.get('module')), fmt_r(mr),
                    ('<= %.2f' % tgt + met) if tgt is not None else '',
                    fmt_n(st.get('server')), fmt_n(ou.get('server')), fmt_r(sr),
                    fmt_n(fl.get('server'))]
            if first and 'wrk' in r:
                s = [w['rps'] for w in r['wrk']['stock']]
                o = [w['rps'] for w in r['wrk']['ours']]
                sm, om = sum(s) / len(s), sum(o) / len(o)
                noise = abs(s[0] - s[-1]) / sm if len(s) > 1 and sm else None
                wr = ratio(om, sm)
                row += ['%.0f' % sm, '%.0f' % om, fmt_r(wr),
                        '±%.0f%%' % (100 * noise) if noise is not None else '-']
                if wr is not None and round(wr, 2) < 1.0:
                    flags.append('%s: wrk ratio %.2f < 1.0 (noise ±%.0f%%)' % (
                        wl.name, wr, 100 * (noise or 0)))
                m = r['mem']
                row += ['%.1f MiB' % (m['stock']['peak'] / 1024),
                        '%.1f MiB' % (m['ours']['peak'] / 1024),
                        fmt_r(ratio(m['ours']['peak'], m['stock']['peak']))]
            else:
                row += [''] * 7
            rows.append(row)
            first = False
        g = r.get('soak', {}).get('ours', {}).get('max_growth', 0)
        if g > 256:
            flags.append('%s: memory grew during the soak (ours: a process grew by %d KiB)' % (
                wl.name, g))
    return hdr, rows, flags


def md_table(hdr, rows):
    out = ['| ' + ' | '.join(hdr) + ' |',
           '|' + '|'.join('---' for _ in hdr) + '|']
    for r in rows:
        out.append('| ' + ' | '.join(r) + ' |')
    return '\n'.join(out)


def describe_functions(wls, res, mods):
    """Which functions were counted, per module, with their cost share."""
    out = []
    infos = {v: module_info(mods[v]) for v in ('stock', 'ours')}
    for v in ('stock', 'ours'):
        mi = infos[v]
        out.append('- **%s** (`%s`): directive handlers from its command table: %s' % (
            v, mods[v], ', '.join('%s=`%s`' % (d, f) for f, d in sorted(
                mi['handlers'].items(), key=lambda x: x[1]))))
    out.append('')
    out.append('Per workload, Ir per request of each counted entry point '
               '(translate_name hooks = callees in the module of '
               '`ap_run_translate_name`, fixups hooks = of `ap_run_fixups`, '
               'directives = the command-table functions called while httpd '
               'parses an .htaccess); "not counted" lists the other calls from '
               'httpd/APR into the module (config create/merge, the handler hook, '
               'pool cleanups) for information:')
    out.append('')
    for wl in wls:
        cg = res.get(wl.name, {}).get('cg', {})
        for kind in wl.kinds:
            for v in ('stock', 'ours'):
                rk = cg.get(v, {}).get(kind)
                if not rk or 'parts' not in rk:
                    continue
                p = rk['parts']
                segs = []
                for part in ('translate', 'fixups', 'directives'):
                    items = []
                    for k, x in sorted(p[part].items(), key=lambda kv: -kv[1]):
                        if abs(x) < 0.5:
                            continue
                        d = infos[v]['handlers'].get(k)
                        items.append('`%s`%s %s' % (k, ' (%s)' % d if d else '', fmt_n(x)))
                    segs.append('%s: %s' % (part, ', '.join(items) if items else '-'))
                other = ['`%s` %s' % (k, fmt_n(x)) for k, x in
                         sorted(p['other'].items(), key=lambda kv: -kv[1]) if abs(x) >= 0.5]
                segs.append('not counted: %s' % (', '.join(other[:6]) if other else '-'))
                out.append('- %s %s %s: %s; translate_name runs/request %.2f' % (
                    wl.name, kind, v, '; '.join(segs), rk['translate_runs']))
    return '\n'.join(out)


def git_state():
    def g(*a):
        r = subprocess.run(['git', '-C', TOP] + list(a), capture_output=True, text=True)
        return r.stdout.rstrip()
    commit = g('rev-parse', '--short', 'HEAD') or 'unknown'
    dirty = [l[3:] for l in g('status', '--porcelain', '--untracked-files=no').splitlines()]
    return commit, dirty


def sha(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        h.update(f.read())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='~3 minute subset')
    ap.add_argument('--ours', default=os.environ.get('RW_MODULE', os.path.join(TOP, '.libs', 'mod_rewrite.so')))
    ap.add_argument('--stock', help="default: the one tools/stock-module finds, Debian's own")
    ap.add_argument('--only', action='append', help='workload name (a b c d e100 e1000 e10000 e2-100 e2-10000 e3-100 e3-10000 e4-100 e4-10000), repeatable')
    ap.add_argument('--no-wrk', action='store_true', help='skip responses/wrk/RSS')
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--wrk-seconds', type=int, default=None)
    ap.add_argument('--threads', type=int, default=4)
    ap.add_argument('--conns', type=int, default=32)
    ap.add_argument('--soak-requests', type=int, default=100000)
    ap.add_argument('--soak-workload', default='b')
    ap.add_argument('--soak-both', action='store_true',
                    help='soak the stock server too (for reference; about a minute more)')
    ap.add_argument('--workdir', default='/tmp/bench-helper/run')
    ap.add_argument('--results', default=os.path.join(BENCH, 'RESULTS.md'),
                    help='markdown file the table is written to ("" for none)')
    ap.add_argument('--from-json', metavar='PATH',
                    help='only print the report of an earlier run (WORKDIR/results.json)')
    opts = ap.parse_args()
    if opts.from_json:
        with open(opts.from_json) as f:
            saved = json.load(f)
        meta, res = saved['meta'], saved['res']
        opts.quick, opts.only = meta['quick'], meta['only']
        opts.wrk_seconds = meta['wrk_seconds']
        opts.threads, opts.conns = meta['threads'], meta['conns']
        opts.no_callgrind = not any('cg' in r for r in res.values())
        wls = [w for w in workloads(opts.quick) if w.name in res]
        mods = {'stock': meta['stock'], 'floor': None,
                'ours': os.path.join(os.path.dirname(opts.from_json), 'ours', 'mod_rewrite.so')}
        render(wls, res, mods, opts, meta)
        return
    if opts.wrk_seconds is None:
        opts.wrk_seconds = 4 if opts.quick else 10
    opts.soak = not opts.quick and not opts.no_wrk

    for tool in ([HTTPD, 'valgrind', 'wrk', 'httxt2dbm']):
        if not shutil.which(tool):
            sys.exit('bench: %s not found (see bench/README.md)' % tool)
    if opts.stock is None:
        opts.stock = rh.stock_or_none()
        if opts.stock is None:
            sys.exit("bench: refusing to run without Debian's stock module (see above)")
    for m in (opts.ours, opts.stock):
        if not os.path.isfile(m):
            sys.exit('bench: module not found: %s' % m)

    # one run at a time: a second one would wipe the work dir under the
    # first, and both would disturb each other's timings anyway
    os.makedirs(LOCKDIR, exist_ok=True)
    lockf = open(os.path.join(LOCKDIR, 'bench.lock'), 'a+')
    try:
        fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lockf.seek(0)
        sys.exit('bench: another benchmark run is in progress (%s); wait for it to finish'
                 % lockf.read().strip())
    lockf.seek(0)
    lockf.truncate()
    lockf.write('pid %d, started %s' % (os.getpid(), time.strftime('%H:%M:%S')))
    lockf.flush()

    t0 = time.time()
    base = opts.workdir
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    os.chmod(base, 0o755)
    parent = os.path.dirname(base)
    if AS_ROOT:
        # the children (nobody) must get through; only add the bits: a
        # --workdir right under /tmp must not take /tmp's 1777 away
        os.chmod(parent, os.stat(parent).st_mode | 0o055)
    # snapshot of our module: a rebuild during the run changes nothing
    mods = {'stock': opts.stock, 'floor': None,
            'ours': os.path.join(base, 'ours', 'mod_rewrite.so')}
    os.makedirs(os.path.dirname(mods['ours']))
    shutil.copy2(opts.ours, mods['ours'])
    os.chmod(os.path.dirname(mods['ours']), 0o755)

    commit, dirty = git_state()
    meta = {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
            'commit': commit, 'dirty': dirty, 'ours': opts.ours, 'stock': opts.stock,
            'ours_sha': sha(mods['ours']), 'stock_sha': sha(opts.stock),
            'ours_built': datetime.datetime.fromtimestamp(
                os.path.getmtime(mods['ours'])).strftime('%Y-%m-%d %H:%M'),
            'httpd': subprocess.run([HTTPD, '-v'], capture_output=True, text=True)
            .stdout.split('\n')[0].replace('Server version: ', ''),
            'load': ' '.join(open('/proc/loadavg').read().split()[:3]),
            'quick': opts.quick, 'only': opts.only, 'wrk_seconds': opts.wrk_seconds,
            'threads': opts.threads, 'conns': opts.conns}

    wls = workloads(opts.quick)
    if opts.only:
        wls = [w for w in wls if w.name in opts.only]
    res = {}
    trees = {}
    for wl in wls:
        trees[wl.name] = Tree(base, wl)
    if not opts.no_wrk:
        for wl in wls:
            log('[%4.0fs] %s: responses, wrk, memory' % (time.time() - t0, wl.title))
            phase_live(base, wl, trees[wl.name], mods, opts, res)
    if not opts.no_callgrind:
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            for wl in wls:
                log('[%4.0fs] %s: callgrind' % (time.time() - t0, wl.title))
                phase_callgrind(base, wl, trees[wl.name], mods, opts, res, pool)

    meta['elapsed'] = time.time() - t0
    with open(os.path.join(base, 'results.json'), 'w') as f:
        json.dump({'meta': meta, 'res': res}, f, indent=1)
    render(wls, res, mods, opts, meta)


def render(wls, res, mods, opts, meta):
    hdr, rows, flags = build_table(wls, res, opts)
    head = []
    head.append('Run %s, commit %s%s, %s mode, %.0f s.' % (
        meta['date'], meta['commit'],
        (' + uncommitted changes in ' + ', '.join(meta['dirty'])) if meta['dirty'] else '',
        'QUICK' if opts.quick else 'full', meta['elapsed']))
    head.append('Ours: `%s` (built %s, sha256 %s); stock: `%s` (sha256 %s); httpd: %s.' % (
        meta['ours'], meta['ours_built'], meta['ours_sha'], meta['stock'], meta['stock_sha'],
        meta['httpd']))
    head.append('Machine: %d cores, shared (load average %s at the start); wrk -t%d -c%d -d%ds, '
                'keep-alive, prefork; noise = spread of the two stock wrk runs.' % (
                    os.cpu_count(), meta['load'], opts.threads, opts.conns, opts.wrk_seconds))
    notes = []
    notes.append('Instructions (Ir) are callgrind counts on `apache2 -X`, marginal per '
                 'request: (I(n2) - I(n1)) / (n2 - n1) with both counts whole rounds of '
                 'the request list, after a warm-up round.  "module" = inclusive cost of '
                 'the module\'s translate_name and fixups hooks plus the rewrite directive '
                 'handlers run while httpd reads an .htaccess (PCRE, APR and httpd '
                 'callbacks included); "server" = everything the process executed; '
                 '"floor" = the same server and requests without mod_rewrite loaded.  '
                 'req/s and peak RSS (VmHWM, the largest over the prefork children) come '
                 'from the multi-process server with the whole request list of the '
                 'workload; targets are on the module ratio.')
    body = []
    body.append(md_table(hdr, rows))
    body.append('')
    if flags:
        body.append('Flags:')
        body += ['- ' + f for f in flags]
    else:
        body.append('Flags: none (every target met, nothing slower than stock).')
    body.append('')
    body.append('Notes:')
    for wl in wls:
        r = res.get(wl.name, {})
        for d in r.get('diffs', []):
            body.append('- %s differs: %s -> stock %s, ours %s' % (wl.name, d[0], d[1], d[2]))
        for k in list(r):
            if k.startswith(('config_error', 'start_error')):
                body.append('- %s %s: %s' % (wl.name, k, r[k]))
        for v, errs in r.get('error_log', {}).items():
            body.append('- %s %s error_log: %s' % (wl.name, v, ' | '.join(errs)))
        for v, c in r.get('cg', {}).items():
            if 'error' in c:
                body.append('- %s callgrind %s: %s' % (wl.name, v, c['error']))
        if 'wrk' in r and 'mem' in r:
            m = r['mem']
            body.append('- %s wrk runs (req/s, in order stock, ours, ...; after %s%s 2-s warm-up '
                        'runs): stock %s; ours %s.  '
                        'RSS after them: parent peak stock %.1f MiB, ours %.1f MiB; '
                        'sum over %d children stock %.0f MiB, ours %.0f MiB' % (
                            wl.name, '%d s + ' % wl.warm_min if wl.warm_min else '',
                            '/'.join(str(r.get('wrk_warmups', {}).get(v, '?'))
                                              for v in ('stock', 'ours')),
                            ', '.join('%.0f' % w['rps'] for w in r['wrk']['stock']),
                            ', '.join('%.0f' % w['rps'] for w in r['wrk']['ours']),
                            m['stock']['parent_peak'] / 1024, m['ours']['parent_peak'] / 1024,
                            m['ours']['children'], m['stock']['rss_sum'] / 1024,
                            m['ours']['rss_sum'] / 1024)
                        + ('; PSS summed stock %.1f MiB, ours %.1f MiB; anonymous '
                           'memory summed stock %.1f MiB, ours %.1f MiB' % (
                               m['stock']['pss_sum'] / 1024, m['ours']['pss_sum'] / 1024,
                               m['stock']['anon_sum'] / 1024, m['ours']['anon_sum'] / 1024)
                           if 'pss_sum' in m['stock'] and 'pss_sum' in m['ours'] else ''))
            errs = [w['errors'] for v in ('stock', 'ours') for w in r['wrk'][v] if w['errors']]
            if errs:
                body.append('- %s wrk socket errors: %s' % (wl.name, '; '.join(errs)))
        cg = r.get('cg', {})
        if all('cold' in cg.get(v, {}) for v in ('stock', 'ours', 'floor')):
            body.append('- %s first round of the list (cold caches, each request once): '
                        'module Ir/req stock %s, ours %s; '
                        'server stock %s, ours %s, floor %s' % (
                            wl.name, fmt_n(cg['stock']['cold'].get('module')),
                            fmt_n(cg['ours']['cold'].get('module')),
                            fmt_n(cg['stock']['cold']['server']),
                            fmt_n(cg['ours']['cold']['server']),
                            fmt_n(cg['floor']['cold']['server'])))
        if 'soak' in r:
            for v, s in r['soak'].items():
                body.append('- memory soak on %s, %s: %d requests in %.0f s; RSS of %d '
                            'children %d KiB before, %d KiB after (%+d KiB; largest per-process '
                            'growth %+d KiB; %d processes replaced)' % (
                                wl.name, v, s['requests'], s['secs'], s['processes'],
                                s['before'], s['after'], s['after'] - s['before'],
                                s['max_growth'], s['replaced']))
    funcs = describe_functions(wls, res, mods) if not opts.no_callgrind else ''
    text = '\n'.join(head) + '\n\n' + '\n'.join(body) + '\n\n' + '\n'.join(notes) + '\n'
    print()
    print(text)
    if funcs:
        print('Functions counted as inside the module:\n')
        print(funcs)
    if opts.results:
        cmd = 'make bench' + (' QUICK=1' if opts.quick else '')
        with open(opts.results, 'w') as f:
            f.write('# Benchmark results: stock mod_rewrite vs ours\n\n')
            f.write('Command: `%s` (bench/run-all%s).  See bench/README.md for what is '
                    'measured and how.\n\n' % (cmd, ' --quick' if opts.quick else ''))
            f.write(text)
            if funcs:
                f.write('\n## Functions counted as inside the module\n\n' + funcs + '\n')
        log('table written to %s' % opts.results)


if __name__ == '__main__':
    main()
