"""rwharness: the private Apache servers of the project's Python tools.

One copy of what rewrite-test, t/diff/run-diff, t/diff/fuzz/fuzz-diff and
bench/bench.py (and tools/stock-module) each need to run a throw-away
httpd on the loopback interface:

  paths      HTTPD, MODDIR (env APACHE2, RW_MODDIR), module(name),
             find_stock(), stock_or_none() - Debian's own mod_rewrite.so,
             checked against apache2-bin's md5sums (the oracle of every
             comparison)
  ports      free_port(), pick_ports(), release_ports(), port_range(),
             port_open(), port_free(), wait_ports(), wait_ports_closed()
  files      write_file(), makedirs_open(), read_text(), tail(),
             scratch_dir(), unreachable_parent()
  config     Conf (lines that remember where user lines came from),
             Conf.prologue() (ServerRoot, PidFile, runtime dir, Mutex,
             ErrorLog, LogLevel, Listen, LoadModule, User/Group),
             config_test() (apache2 -t)
  processes  Apache: start in the foreground (-DFOREGROUND), as one
             process (-X) or as a daemon (-k start), in its own process
             group; wait until every port accepts; graceful(); stop()
             that waits until every process of the group is gone; the
             foreground ones are stopped at exit (stop_all(), and
             stop_at_exit() for SIGINT/SIGTERM/SIGHUP)
  HTTP       request(): one raw request over a socket, the answer read
             to the end (optionally watched), Raw; parse_response();
             dechunk(); KeepAlive, an HTTP/1.1 keep-alive client
  logs       ErrorLog: size, read from an offset, crash lines

Stdlib only; Debian's /usr/bin/python3 (3.11).  Installed with
rewrite-test (make install-tools, the Debian package).
"""

import atexit
import hashlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HTTPD = os.environ.get("APACHE2", "/usr/sbin/apache2")
MODDIR = os.environ.get("RW_MODDIR", "/usr/lib/apache2/modules")
IS_ROOT = os.geteuid() == 0
# where the Debian package (debian/) keeps the stock module it replaces
STOCK_DIVERTED = os.path.join(MODDIR, "mod_rewrite.so.distrib")
LOOPBACK = "127.0.0.1"


def module(name):
    """The path of one of Apache's own modules (mod_dir.so)."""
    return os.path.join(MODDIR, name)


# ----------------------------------------------------------------------
# the stock module

def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def stock_md5():
    """The checksum apache2-bin's package records for its mod_rewrite.so,
    or None."""
    try:
        out = subprocess.run(["dpkg-query", "--control-show", "apache2-bin", "md5sums"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].endswith("modules/mod_rewrite.so"):
            return parts[0]
    return None


def find_stock(copies=(), unverified_ok=False):
    """Debian's own mod_rewrite.so: mod_rewrite.so.distrib where the Debian
    package diverted it, else mod_rewrite.so, either only when its md5 is
    the one apache2-bin recorded (after `make install` the file in Debian's
    place is ours, and every comparison with it would pass).  Then the
    first of `copies` that exists (a copy kept by make install-tools);
    with unverified_ok, MODDIR/mod_rewrite.so when no checksum is known
    at all (not Debian).  Returns (path, None) or (None, why)."""
    inst = os.path.join(MODDIR, "mod_rewrite.so")
    want = stock_md5()
    for path in (STOCK_DIVERTED, inst):
        if want and os.path.isfile(path) and file_md5(path) == want:
            return path, None
    for copy in copies:
        if os.path.isfile(copy):
            return copy, None
    if not want and unverified_ok and os.path.isfile(inst):
        return inst, None
    if not want:
        return None, ("apache2-bin's md5sums name no mod_rewrite.so (apache2-bin is not "
                      "installed?): no stock module to compare with")
    return None, ("neither %s nor %s is apache2-bin's (md5 %s): the stock module was "
                  "replaced (make install?), and comparing with it would prove nothing. "
                  "Put it back with apt-get install --reinstall apache2-bin (the Debian "
                  "package keeps it as mod_rewrite.so.distrib)." % (STOCK_DIVERTED, inst, want))


def stock_or_none(prog="stock-module"):
    """find_stock() for the tools that refuse to run without it: the path,
    or None after saying why on stderr (as tools/stock-module does)."""
    path, why = find_stock()
    if path is None:
        print("%s: %s" % (prog, why), file=sys.stderr)
    return path


# ----------------------------------------------------------------------
# ports

_reserved = set()
_port_lock = threading.Lock()


def free_port():
    """A port the kernel says is free now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, timeout=0.5):
    """True when something accepts connections on the loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((LOOPBACK, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_free(port, timeout=0.3):
    return not port_open(port, timeout)


def pick_ports(count, candidates=None, bind=True):
    """`count` free loopback ports not handed out before by this process
    (until release_ports): from `candidates` (tried in that order) or
    else whatever the kernel hands out.  A candidate is free when it can
    be bound (bind=True; as Apache does, a port in TIME_WAIT is fine) or
    when nothing accepts on it (bind=False).  Returns fewer ports when
    the candidates run out."""
    ports = []
    socks = []
    with _port_lock:
        try:
            if candidates is not None:
                for p in candidates:
                    if p in _reserved or p in ports:
                        continue
                    if bind:
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        try:
                            s.bind((LOOPBACK, p))
                        except OSError:
                            s.close()
                            continue
                        socks.append(s)
                    elif not port_free(p):
                        continue
                    ports.append(p)
                    if len(ports) == count:
                        break
            else:
                while len(ports) < count:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.bind((LOOPBACK, 0))
                    socks.append(s)
                    if s.getsockname()[1] not in _reserved:
                        ports.append(s.getsockname()[1])
        finally:
            for s in socks:
                s.close()
        _reserved.update(ports)
    return ports


def release_ports(*ports):
    with _port_lock:
        _reserved.difference_update(ports)


def port_range(text):
    """'8600-8699' -> the list of ports, or None if it is not a range."""
    m = re.match(r"^(\d+)-(\d+)$", text.strip())
    if not m:
        return None
    return list(range(int(m.group(1)), int(m.group(2)) + 1))


def wait_ports(ports, timeout, proc=None, interval=0.05):
    """Wait until every port accepts; False on timeout or when proc (a
    Popen) exits first."""
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if all(port_open(p) for p in ports):
            return True
        time.sleep(interval)
    return False


def wait_ports_closed(ports, timeout=10.0, interval=0.05):
    end = time.time() + timeout
    while time.time() < end and any(port_open(p) for p in ports):
        time.sleep(interval)


# ----------------------------------------------------------------------
# files

def write_file(path, data, mode=0o644):
    """Write text (UTF-8, surrogates kept) or bytes; the parents are made."""
    d = os.path.dirname(path)
    if d and not os.path.isdir(d):
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    os.chmod(path, mode)


def makedirs_open(path):
    """mkdir -p with mode 0755 on every created level."""
    if os.path.isdir(path):
        return
    makedirs_open(os.path.dirname(path))
    os.mkdir(path)
    os.chmod(path, 0o755)


def read_text(path, errors="replace"):
    """The file as text, "" when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors)
    except OSError:
        return ""


def tail(path, n=30):
    return "\n".join(read_text(path).splitlines()[-n:])


def scratch_dir(prefix):
    """A new private directory for a server tree: under $TMPDIR when set,
    else in /dev/shm when there is one (a server tree is thousands of
    small files and a busy error log: tmpfs makes them 100 times cheaper
    than a disk file system here), else in the system's temporary dir."""
    base = os.environ.get("TMPDIR")
    if not base and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        base = "/dev/shm"
    d = tempfile.mkdtemp(prefix=prefix, dir=base or None)
    os.chmod(d, 0o755)      # (the children run as nobody under root)
    return d


def unreachable_parent(root):
    """As root the server's children run as nobody: the first directory
    above root (itself included) they cannot search, or None."""
    if not IS_ROOT:
        return None
    p = root
    while p not in ("/", ""):
        try:
            if not os.stat(p).st_mode & 0o001:
                return p
        except OSError:
            return None
        p = os.path.dirname(p)
    return None


# ----------------------------------------------------------------------
# configuration

class Conf:
    """httpd.conf lines; remembers where user lines came from, so that
    'Syntax error on line N' can be told in the user's terms."""

    def __init__(self):
        self.lines = []
        self.origin = {}    # conf line number -> whatever add() was given

    def add(self, s="", origin=None):
        for part in s.split("\n"):
            self.lines.append(part)
            if origin:
                self.origin[len(self.lines)] = origin

    def prologue(self, root, errlog, listens, modules, rewrite=None, rundir=None,
                 pidfile=None, loglevel="warn", log_config=True):
        """The lines every private server starts with.  listens: ports or
        'port scheme' strings on the loopback address; modules: (name, file
        in MODDIR) pairs, an MPM first; rewrite: the mod_rewrite.so to load
        as rewrite_module (None: none).  As root, User nobody."""
        rundir = rundir or os.path.join(root, "run")
        self.add('ServerRoot "%s"' % root)
        self.add('PidFile "%s"' % (pidfile or os.path.join(rundir, "httpd.pid")))
        self.add('DefaultRuntimeDir "%s"' % rundir)
        self.add("Mutex file:%s default" % rundir)
        self.add('ErrorLog "%s"' % errlog)
        if loglevel:
            self.add("LogLevel %s" % loglevel)
        for p in listens:
            self.add("Listen %s:%s" % (LOOPBACK, p))
        for name, so in modules:
            self.add('LoadModule %s "%s"' % (name, module(so)))
        if log_config:
            # static in Debian's httpd, a module elsewhere
            self.add("<IfModule !log_config_module>")
            self.add('LoadModule log_config_module "%s"' % module("mod_log_config.so"))
            self.add("</IfModule>")
        if rewrite:
            self.add('LoadModule rewrite_module "%s"' % rewrite)
        if IS_ROOT:
            self.add("User nobody")
            self.add("Group nogroup")

    def text(self):
        return "\n".join(self.lines) + "\n"

    def write(self, path):
        write_file(path, self.text())
        return path

    def line_origin(self, text):
        """(origin, N, message) of 'Syntax error on line N of FILE: message'
        in apache2's output, or (None, None, None)."""
        m = re.search(r"Syntax error on line (\d+) of [^:]+:\s*(.*)", text, re.S)
        if not m:
            return None, None, None
        n = int(m.group(1))
        return self.origin.get(n), n, m.group(2).strip()


def config_test(conf_path, timeout=60):
    """apache2 -t; returns (exit status, output)."""
    p = subprocess.run([HTTPD, "-t", "-f", conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace").strip()


# ----------------------------------------------------------------------
# processes: every server started is tracked here and stopped on any exit
# path (normal end, exception, and with stop_at_exit() SIGINT/SIGTERM/SIGHUP)

_live = {}    # id -> Apache
_live_lock = threading.Lock()


def _group_alive(pgid):
    """True while a live (non-zombie) process is in the process group."""
    if os.path.isdir("/proc/self"):
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d, "rb") as f:
                    st = f.read().decode("latin-1")
            except OSError:
                continue
            fields = st[st.rfind(")") + 2:].split()
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Apache:
    """One private httpd.

    mode: 'foreground' (-DFOREGROUND: the parent and its children),
    'single' (-X: one process), 'daemon' (-k start: httpd forks away;
    found again through its PidFile).  wrapper: a command to run httpd
    under (valgrind).  The foreground modes run in a process group of
    their own, which stop() signals as a whole."""

    def __init__(self, conf, ports, mode="foreground", stderr_path=None, errlog=None,
                 pidfile=None, wrapper=None):
        self.conf = conf
        self.ports = list(ports)
        self.mode = mode
        self.stderr_path = stderr_path
        self.errlog = errlog
        self.pidfile = pidfile
        self.wrapper = list(wrapper or [])
        self.proc = None
        self.ppid = None

    def argv(self, *more):
        flag = {"foreground": ["-DFOREGROUND"], "single": ["-X"]}.get(self.mode, [])
        return self.wrapper + [HTTPD, "-f", self.conf] + flag + list(more)

    def start(self, timeout=15.0, interval=0.05):
        """Start and wait until every port accepts.  Returns True, or False
        with start_exit (httpd's exit status, None if it still ran) and
        start_output (daemon: what -k start said) set; a server that did
        not come up is stopped."""
        self.start_exit = None
        self.start_output = ""
        if self.mode == "daemon":
            r = subprocess.run(self.argv("-k", "start"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               universal_newlines=True)
            self.start_output = r.stderr
            if r.returncode != 0 or not wait_ports(self.ports, timeout, interval=interval):
                self.start_exit = r.returncode
                return False
            self.ppid = self.parent()
            return True
        err = open(self.stderr_path, "wb") if self.stderr_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err, start_new_session=True)
        finally:
            if self.stderr_path:
                err.close()
        with _live_lock:
            _live[id(self)] = self
        if wait_ports(self.ports, timeout, self.proc, interval):
            return True
        self.start_exit = self.proc.poll()
        self.stop()
        return False

    def failure_text(self):
        """Why start() failed: what httpd said on stderr, else the end of
        its error log."""
        text = read_text(self.stderr_path).strip() if self.stderr_path else ""
        if not text and self.errlog:
            text = read_text(self.errlog).strip()[-2000:]
        return text or "apache2 did not start"

    def alive(self):
        if self.mode == "daemon":
            return self.ppid is not None and _pid_alive(self.ppid)
        return self.proc is not None and self.proc.poll() is None

    def exited(self):
        """The exit status of a foreground server that died, else None."""
        return self.proc.poll() if self.proc is not None else None

    def parent(self):
        """The parent's pid (daemon: from the PidFile)."""
        if self.mode != "daemon":
            return self.proc.pid if self.proc else None
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError, TypeError):
            return self.ppid

    def children(self):
        """pids of the parent's children (prefork workers)."""
        ppid = self.parent()
        out = []
        if not ppid:
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                if int(st.rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
        return out

    def graceful(self):
        """Graceful restart: the config is read again, children finish
        their requests (SIGUSR1 to the parent)."""
        pid = self.parent()
        if pid:
            os.kill(pid, signal.SIGUSR1)

    def stop(self, timeout=10.0, wait_group=True):
        """SIGTERM; SIGKILL after timeout.  wait_group: also wait until
        every process of the group (prefork children, CGIs) is gone."""
        if self.mode == "daemon":
            self._stop_daemon()
            return
        p = self.proc
        if p is None:
            return
        pgid = p.pid
        if p.poll() is None:
            _killpg(pgid, signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _killpg(pgid, signal.SIGKILL)
                p.wait()
        if wait_group:
            deadline = time.time() + timeout
            killed = False
            while _group_alive(pgid):
                if time.time() > deadline:
                    if killed:
                        print("# warning: processes of group %d survive SIGKILL" % pgid,
                              file=sys.stderr)
                        break
                    _killpg(pgid, signal.SIGKILL)
                    killed = True
                    deadline = time.time() + timeout
                time.sleep(0.05)
        self.proc = None
        with _live_lock:
            _live.pop(id(self), None)

    def _stop_daemon(self):
        ppid = self.parent()
        r = subprocess.run(self.argv("-k", "stop"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if r.returncode != 0 and ppid:
            try:
                os.kill(ppid, signal.SIGTERM)
            except OSError:
                pass
        end = time.time() + 20
        while ppid and time.time() < end and _pid_alive(ppid):
            time.sleep(0.1)
        wait_ports_closed(self.ports, 10.0, 0.1)

    def error_lines(self, levels=(":error]", ":crit]", ":alert]", ":emerg]")):
        if not self.errlog:
            return []
        return [l for l in read_text(self.errlog).splitlines() if any(x in l for x in levels)]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def stop_all():
    """Stop every server still running (also run at exit)."""
    with _live_lock:
        servers = list(_live.values())
    for srv in servers:
        try:
            srv.stop()
        except Exception:
            pass


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def stop_at_exit():
    """SIGINT, SIGTERM and SIGHUP end the program through SystemExit, so
    that the servers are stopped (atexit) on those paths too."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


atexit.register(stop_all)


# ----------------------------------------------------------------------
# HTTP

class Raw:
    """What one request got: the bytes read (all of them, up to the close),
    a client-side error (timeout, reset, a watch's reason), the local
    port of the connection (the client port the server logs), and
    `aborted` when a watch or the time limit ended it, `exc` the socket
    error that ended it."""
    __slots__ = ("data", "error", "port", "aborted", "exc")

    def __init__(self, data, error=None, port=None, aborted=None, exc=None):
        self.data = data
        self.error = error
        self.port = port
        self.aborted = aborted
        self.exc = exc


def request(port, data, timeout=15.0, half_close=False, tls_host=None, watch=None,
            limit=None, connected=None):
    """Send `data` (bytes) to the loopback port, read the answer until the
    server closes.  half_close: shut down our sending side after the
    request (a server that waits for more ends the request).  tls_host:
    TLS, that SNI name, no verification.  watch: called every 50 ms while
    nothing arrives, may return a reason to give up (a runaway log); so
    may `limit` seconds.  connected(local port): called once connected,
    before anything is sent."""
    t0 = time.time()
    chunks = []
    local = None
    sock = None
    try:
        sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        local = sock.getsockname()[1]
        if connected:
            connected(local)
        if tls_host:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=tls_host)
        sock.sendall(data)
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        while True:
            if watch is not None or limit is not None:
                pending = tls_host and sock.pending()
                if not pending:
                    r, _, _ = select.select([sock], [], [], 0.05)
                    if not r:
                        why = watch() if watch else None
                        if not why and limit is not None and time.time() - t0 > limit:
                            why = "no answer within %d s" % limit
                        if why:
                            return Raw(b"".join(chunks), why, local, why)
                        continue
                try:
                    c = sock.recv(65536)
                except OSError:
                    break
            else:
                c = sock.recv(65536)
            if not c:
                break
            chunks.append(c)
        return Raw(b"".join(chunks), None, local)
    except socket.timeout as e:
        return Raw(b"".join(chunks), "timeout after %ss" % timeout, local, exc=e)
    except OSError as e:
        return Raw(b"".join(chunks), str(e), local, exc=e)
    finally:
        if sock is not None:
            sock.close()


def parse_response(raw):
    """(status line, [(name, value)], body) of a raw HTTP/1.x answer; the
    head ends at the first empty line (CRLF or LF); a chunked body is
    decoded.  status line "" when raw does not start with HTTP/."""
    if not raw.startswith(b"HTTP/"):
        return "", [], raw
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    headers = []
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            headers.append((k.strip(), v.strip()))
    if any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers):
        body = dechunk(body)
    return lines[0], headers, body


def dechunk(body):
    out = b""
    rest = body
    try:
        while True:
            line, _, rest = rest.partition(b"\r\n")
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                return out
            out += rest[:size]
            rest = rest[size + 2:]
    except ValueError:
        return body


class KeepAlive:
    """HTTP/1.1 keep-alive client: get() returns (status, {lowercased
    header: value}); the body is read and dropped."""

    def __init__(self, port, timeout=120):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("connection closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def get(self, path, headers, close=False, method="GET"):
        lines = ["%s %s HTTP/1.1" % (method, path)]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        if close:
            lines.append("Connection: close")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status_line = self._line().decode("latin-1")
        status = int(status_line.split()[1])
        hdrs = {}
        while True:
            line = self._line().decode("latin-1")
            if not line:
                break
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                n = int(self._line().split(b";")[0], 16)
                self._take(n + 2)
                if n == 0:
                    break
        elif "content-length" in hdrs:
            self._take(int(hdrs["content-length"]))
        else:
            try:
                while True:
                    self._fill()
            except ConnectionError:
                pass
            self.buf = b""
        return status, hdrs


# ----------------------------------------------------------------------
# logs

class ErrorLog:
    """A server's error log, read in pieces: size() before a request,
    read(offset) after it."""

    def __init__(self, path):
        self.path = path

    def size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def read(self, offset=0, cap=None, errors="replace"):
        """The text written since offset ("" if unreadable); with cap, at
        most cap bytes, cut after the last whole line."""
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read(cap) if cap else f.read()
        except OSError:
            return ""
        if cap and len(data) == cap:
            data = data[:data.rfind(b"\n") + 1]
        return data.decode("utf-8", errors)

    def crashes(self):
        """Lines about children that died on a signal (read line by line:
        a log can be gigabytes of trace)."""
        out = []
        try:
            with open(self.path, "rb") as f:
                for raw in f:
                    if b"exit signal" in raw or b"AH00052" in raw or \
                            b"seg fault" in raw.lower():
                        out.append(raw.decode("utf-8", "replace").rstrip("\n"))
        except OSError:
            return []
        return out
