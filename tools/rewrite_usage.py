"""rewrite-test --lint --usage FILE: rules a saved statistics dump says were
never hit.

FILE is what the module's status page gives with ?json (RewriteStatistics
On, SetHandler rewrite-status; README "Rule statistics"), e.g.

    curl -s http://localhost/rewrite-status?json > usage.json
    rewrite-test --lint --usage usage.json /etc/apache2/sites-enabled/site.conf

Each RewriteRule of the linted files is looked up in the dump: first at the
same file and line with the same text (pattern, substitution, flags), then
by its text alone, so a copy of the config elsewhere, or lines moved since,
still match.  A rule whose entries in the dump all have 0 hits is marked
"never-hit" (level "info": it does not change the exit status); a rule the
dump does not know is not marked (it may be newer than the dump).
.htaccess entries of the dump carry no flags and are matched by pattern
and substitution.  Python 3 standard library only.
"""

import json
import os


class UsageError(Exception):
    pass


def load(path):
    """The dump at path, checked enough to be used; UsageError otherwise."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError("--usage %s: cannot read a JSON dump: %s" % (path, e))
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list) or not all(
            isinstance(r, dict) and isinstance(r.get("hits"), int) and
            isinstance(r.get("pattern"), str) for r in rules):
        raise UsageError("--usage %s: not a rewrite-status ?json dump (no \"rules\" "
                         "list with pattern and hits)" % path)
    return data


def _real(path):
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return path


def _text(pattern, subst, flags):
    return (pattern, subst or "", flags or "")


class Usage:
    """Index of a dump: by (real path, line) and by rule text."""

    def __init__(self, data, path):
        self.path = path
        self.since = data.get("since") or "the start"
        self.at = {}
        self.by_text = {}
        self.by_text_noflags = {}
        for e in data["rules"]:
            ht = e.get("context") == "htaccess"
            t = _text(e.get("pattern"), e.get("substitution"), "" if ht else e.get("flags"))
            if not ht:
                self.at[(_real(e.get("file", "")), e.get("line"))] = (t, e)
                self.by_text.setdefault(t, []).append(e)
            self.by_text_noflags.setdefault(t[:2], []).append(e)

    def entries(self, file, line, text):
        """The dump's entries for the rule at file:line with that text."""
        hit = self.at.get((_real(file), line))
        if hit and hit[0] == text:
            return [hit[1]]
        if text in self.by_text:
            return self.by_text[text]
        return self.by_text_noflags.get(text[:2], [])


def never_hit(usage, directives):
    """(directive, message) for each RewriteRule of directives (the tool's
    Directive objects) that the dump has, and only with 0 hits."""
    out = []
    for d in directives:
        if d.name != "rewriterule":
            continue
        a = [v for v, _ in d.args]
        text = _text(a[0] if a else "", a[1] if len(a) > 1 else "", a[2] if len(a) > 2 else "")
        es = usage.entries(d.file, d.line, text)
        if es and all(e.get("hits", 0) == 0 for e in es):
            out.append((d, "never hit since %s (0 hits in %s)" % (usage.since, usage.path)))
    return out


def warnings(path, files, make_warning):
    """Warnings of kind "never-hit", level "info", for the linted files:
    [(path, text, htaccess, directives)]; make_warning(file, line, kind,
    message, level) builds one.  Raises UsageError for a bad dump."""
    usage = Usage(load(path), path)
    out = []
    for _, _, _, dirs in files:
        for d, msg in never_hit(usage, dirs):
            out.append(make_warning(d.file, d.line, "never-hit", msg, "info"))
    return out
