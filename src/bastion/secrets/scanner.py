"""The one-pass scanner: every detector, one pass over the text.

How a scan works:

1. The text is encoded to UTF-8 once and handed to one Hyperscan database that
   holds every detector pattern, every detector keyword and three "something here
   is encoded" triggers. Hyperscan reports which of them occur (each at most once,
   with the end of its first occurrence). Text without secrets stops here: one
   linear pass whatever the number of detectors.
2. For each detector that fired (and whose keywords, if any, occur), RE2 finds the
   exact matches from just before the first occurrence, and the detector's checks
   (key name, placeholders, entropy, validators) decide which are findings.
3. Overlapping findings merge; the most specific detector names the kind.
4. If a trigger fired and depth allows, base64 / hex / percent-encoded chunks are
   decoded and scanned again (decode.py); a secret found inside marks the whole
   encoded chunk.

RE2 and Hyperscan are both linear-time, so neither a policy author's pattern nor an
agent's payload can make a scan backtrack. A pattern Hyperscan cannot compile
exactly is compiled in its prefilter mode (a superset, confirmed by RE2); one it
cannot compile at all is run by RE2 on every scan.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from bastion.secrets import decode as _decode
from bastion.secrets import markers, validate
from bastion.secrets.spec import DetectorSpec, compile_re2

try:  # pragma: no cover - exercised implicitly; hyperscan is a pinned dependency
    import hyperscan as _hs
except ImportError:  # pragma: no cover
    _hs = None

#: how far before Hyperscan's first reported end RE2 starts looking (whole-text detectors)
MAX_MATCH_WINDOW = 65536
#: a windowed detector reporting more positions than this is confirmed on the whole text instead
MAX_POSITIONS = 4000
#: for anchored detectors: how far before the anchor a match may start
ANCHOR_LOOKBACK = 512
_OVERFLOW: list[int] = []
DEFAULT_DECODE_DEPTH = 2

def _decode_triggers() -> list[tuple[str, bytes, bool]]:
    """(encoding, hyperscan pattern, caseless): spellings of credential words in base64/hex, and %XX."""
    out: list[tuple[str, bytes, bool]] = []
    for enc, literals in _decode.trigger_literals().items():
        for lit in sorted(literals):
            out.append((enc, _escape(lit).encode("ascii"), enc == "hex"))
    # escaped URL delimiters (":", "=", "/", "@", "+", "&", "?"), uppercase as encoders write them;
    # lowercase "%3d" is far more often a printf format than an escape
    out.append(("percent", rb"%(?:3A|3D|2F|40|2B|26|3F)", False))
    return out


_DECODE_ENCODINGS = ("base64", "hex", "percent")


# --------------------------------------------------------------------------- findings


class Finding:
    """One secret found in a text. Holds the secret privately; repr() and str() never show it."""

    __slots__ = ("kind", "detector", "start", "end", "line", "column", "severity", "encoding", "_secret")

    def __init__(
        self,
        kind: str,
        detector: str,
        start: int,
        end: int,
        line: int,
        column: int,
        severity: str,
        secret: str,
        encoding: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.detector = detector
        #: character offsets in the scanned text, end exclusive
        self.start = start
        self.end = end
        #: 1-based
        self.line = line
        self.column = column
        self.severity = severity
        #: encodings peeled off to find it, outermost first (("base64",) for a base64 chunk)
        self.encoding = encoding
        self._secret = secret

    def marker(self, key: bytes | None = None, length: int = markers.DEFAULT_FINGERPRINT_LENGTH) -> str:
        """``[REDACTED:<kind>:<keyed fingerprint>]``; `key` defaults to the process key (markers.py)."""
        return markers.marker(self.kind, self._secret, key if key is not None else markers.default_key()[0], length)

    def fingerprint(self, key: bytes | None = None, length: int = markers.DEFAULT_FINGERPRINT_LENGTH) -> str:
        return markers.fingerprint(self._secret, key if key is not None else markers.default_key()[0], length)

    @property
    def length(self) -> int:
        return self.end - self.start

    def to_dict(self, key: bytes | None = None) -> dict:
        out = {
            "kind": self.kind,
            "detector": self.detector,
            "line": self.line,
            "column": self.column,
            "start": self.start,
            "end": self.end,
            "severity": self.severity,
            "marker": self.marker(key),
        }
        if self.encoding:
            out["encoding"] = list(self.encoding)
        return out

    def __repr__(self) -> str:
        enc = f", encoding={'/'.join(self.encoding)}" if self.encoding else ""
        return f"Finding(kind={self.kind!r}, line={self.line}, column={self.column}, span={self.start}:{self.end}{enc})"

    __str__ = __repr__

    def __reduce__(self):  # never pickle the secret
        raise TypeError("Finding holds a secret and cannot be pickled; use to_dict()")


# --------------------------------------------------------------------------- compiled detectors


@dataclass(slots=True)
class _Detector:
    spec: DetectorSpec
    regex: object  # re2 compiled bytes pattern
    secret_groups: tuple[tuple[int, str], ...]  # (group index, "bare" | "tick" | "")
    key_groups: tuple[int, ...]
    validators: tuple[Callable[[str], bool], ...]
    keyword_ids: tuple[int, ...]
    op_group: int = 0
    confirms: Callable[[str], bool] | None = None


def _compile(spec: DetectorSpec, keyword_index: dict[str, int]) -> _Detector:
    regex = compile_re2(spec.pattern.encode("utf-8"))
    gi = {(n.decode() if isinstance(n, bytes) else n): i for n, i in regex.groupindex.items()}
    secret_groups = tuple(sorted(((i, n.rpartition("_")[2] if "_" in n else "") for n, i in gi.items() if n.startswith("secret")), key=lambda t: t[0]))
    op_group = gi.get("op", 0)
    key_groups = tuple(sorted(i for n, i in gi.items() if n.startswith("key")))
    validators = tuple(validate.get_validator(v) for v in spec.validators)
    kw_ids = tuple(keyword_index[k.lower()] for k in spec.keywords)
    confirms = validate.get_validator(spec.confirms) if spec.confirms else None
    return _Detector(spec, regex, secret_groups, key_groups, validators, kw_ids, op_group, confirms)


# --------------------------------------------------------------------------- prefilter


class _Prefilter:
    """Which detectors, keywords and decode triggers occur in a text; one Hyperscan pass."""

    def __init__(self, patterns: Sequence[bytes], caseless: Sequence[bool], positional: Iterable[int] = (), skip: Iterable[int] = ()) -> None:
        self.n = len(patterns)
        self.always: set[int] = set()
        #: ids whose every end offset is reported (windowed confirmation); the others report once
        self.positional = frozenset(positional)
        self._local = threading.local()
        self.db = None
        # skipped ids (re2_pass detectors) never fire here: the scanner searches for them itself
        skipped = frozenset(skip)
        if _hs is None:  # pragma: no cover
            self.always = set(range(self.n)) - skipped
            return
        # MULTILINE: "^" and "$" also match at line boundaries, so the prefilter over strings
        # joined with "\n" (Redactor's quick check) fires wherever one string alone would
        flags = [
            (0 if i in self.positional else _hs.HS_FLAG_SINGLEMATCH) | (_hs.HS_FLAG_CASELESS if c else 0) | _hs.HS_FLAG_MULTILINE
            for i, c in enumerate(caseless)
        ]
        ok = [i for i in range(self.n) if i not in skipped]
        try:
            self.db = self._build([patterns[i] for i in ok], ok, [flags[i] for i in ok]) if ok else None
            return
        except _hs.error:
            pass
        # find the patterns Hyperscan refuses, retry them in prefilter mode, else run them always
        good: list[int] = []
        for i in ok:
            for extra in (0, _hs.HS_FLAG_PREFILTER):
                try:
                    self._build([patterns[i]], [0], [flags[i] | extra])
                except _hs.error:
                    continue
                flags[i] |= extra
                good.append(i)
                break
            else:
                self.always.add(i)
        self.db = self._build([patterns[i] for i in good], good, [flags[i] for i in good]) if good else None

    @staticmethod
    def _build(patterns: Sequence[bytes], ids: Sequence[int], flags: Sequence[int]):
        db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        db.compile(expressions=list(patterns), ids=list(ids), elements=len(patterns), flags=list(flags))
        return db

    def _scratch(self):
        s = getattr(self._local, "scratch", None)
        if s is None:
            s = _hs.Scratch(self.db)
            self._local.scratch = s
        return s

    def scan(self, data: bytes) -> tuple[dict[int, int], dict[int, list[int]]]:
        """(id -> end offset of its first occurrence, id -> every end offset for positional ids).

        An always-run id reports offset 0. A positional id that fires more than
        `MAX_POSITIONS` times stops recording and is confirmed on the whole text.
        """
        hits: dict[int, int] = dict.fromkeys(self.always, 0)
        positions: dict[int, list[int]] = {}
        if self.db is None or not data:
            return hits, positions
        positional = self.positional

        def on_match(i: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            if i not in hits:
                hits[i] = end
            if i in positional:
                lst = positions.get(i)
                if lst is None:
                    positions[i] = [end]
                elif lst is not _OVERFLOW:
                    if len(lst) >= MAX_POSITIONS:
                        positions[i] = _OVERFLOW
                    else:
                        lst.append(end)

        self.db.scan(data, match_event_handler=on_match, scratch=self._scratch())
        return hits, positions


# --------------------------------------------------------------------------- scanner


@dataclass(slots=True)
class _Cand:
    start: int  # byte offsets
    end: int
    priority: int
    kind: str
    detector: str
    severity: str
    secret: str
    encoding: tuple[str, ...] = ()


class Scanner:
    """All detectors compiled together. Immutable and thread-safe once built."""

    def __init__(self, specs: Iterable[DetectorSpec], decode_depth: int = DEFAULT_DECODE_DEPTH, disabled_kinds: Iterable[str] = ()) -> None:
        specs = [s.check() for s in specs]
        seen: set[str] = set()
        for s in specs:
            if s.id in seen:
                raise ValueError(f"secret detector {s.id!r} ({s.source}): duplicate id")
            seen.add(s.id)
        if not 0 <= int(decode_depth) <= 4:
            raise ValueError("decode_depth must be between 0 and 4")
        self.decode_depth = int(decode_depth)
        self.specs: tuple[DetectorSpec, ...] = tuple(specs)
        self.disabled_kinds = frozenset(disabled_kinds)

        keywords = sorted({k.lower() for s in specs for k in s.keywords})
        n = len(specs)
        keyword_index = {k: n + i for i, k in enumerate(keywords)}
        self._detectors = [_compile(s, keyword_index) for s in specs]
        trigger_base = n + len(keywords)
        triggers = _decode_triggers()
        #: hyperscan id -> the encoding it announces
        self._trigger_enc = {trigger_base + i: enc for i, (enc, _, _) in enumerate(triggers)}
        patterns = [(s.anchor or s.pattern).encode("utf-8") for s in specs]
        patterns += [_keyword_pattern(k) for k in keywords]
        patterns += [p for _, p, _ in triggers]
        caseless = [False] * (n + len(keywords)) + [c for _, _, c in triggers]
        # windowed detectors and decode triggers report every position: the first ones are
        # confirmed on the lines around each, the second ones say which runs to decode
        positional = [i for i, s in enumerate(specs) if s.window] + list(self._trigger_enc)
        #: detectors RE2 searches for in a pass of their own over the whole text (spec.re2_pass)
        self._own_pass = tuple(d for d in self._detectors if d.spec.re2_pass)
        own = [i for i, s in enumerate(specs) if s.re2_pass]
        self._prefilter = _Prefilter(patterns, caseless, positional=positional, skip=own)
        self._n = n
        #: True when the prefilter over several strings joined with "\n" fires wherever it
        #: fires on one of them alone: no pattern anchors to the whole text (\A, \z, \Z)
        self.joinable = not any(a in p for s in specs for p in (s.pattern, s.anchor or "") for a in ("\\A", "\\z", "\\Z"))

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        extra: Iterable[DetectorSpec | dict] = (),
        disabled: Iterable[str] = (),
        decode_depth: int = DEFAULT_DECODE_DEPTH,
        builtin: bool = True,
    ) -> "Scanner":
        """The built-in catalogue plus `extra` detectors, minus `disabled` detector ids or kinds.

        Unknown names in `disabled` are an error: a typo must not silently keep a
        detector that the policy author meant to turn off (or the reverse).
        """
        from bastion.secrets.catalogue import BUILTIN

        base = list(BUILTIN) if builtin else []
        added = [e if isinstance(e, DetectorSpec) else DetectorSpec.from_dict(e) for e in extra]
        all_specs = base + added
        disabled = set(disabled)
        known = {s.id for s in all_specs} | {s.reported_kind for s in all_specs} | set(_DERIVED_KINDS)
        unknown = sorted(disabled - known)
        if unknown:
            raise ValueError(f"cannot disable unknown secret detector(s) {', '.join(map(repr, unknown))}; known ids and kinds: {', '.join(sorted(known))}")
        kept = [s for s in all_specs if s.id not in disabled and s.reported_kind not in disabled]
        return cls(kept, decode_depth=decode_depth, disabled_kinds=disabled)

    @property
    def kinds(self) -> frozenset[str]:
        out = {s.reported_kind for s in self.specs}
        out |= {_DERIVED_KINDS[k] for k in out if k in _DERIVED_KINDS}
        return frozenset(out - self.disabled_kinds)

    # ------------------------------------------------------------------ scanning

    def might_contain(self, text: str) -> bool:
        """Fast check: could `text` hold a secret? False means scan() would find nothing."""
        data = text.encode("utf-8", "surrogatepass")
        hits, _ = self._prefilter.scan(data)
        return (
            any(self._enabled(i, hits) for i in hits if i < self._n)
            or (self.decode_depth > 0 and any(i in self._trigger_enc for i in hits))
            or any(_may_hold(d, data) and d.regex.search(data) is not None for d in self._own_pass)
        )

    def scan(self, text: str, decode_depth: int | None = None) -> list[Finding]:
        """Every secret in `text`, in order, overlaps merged. Never raises on any str input."""
        if not isinstance(text, str):
            raise TypeError(f"scan() takes a str, got {type(text).__name__}")
        if not text:
            return []
        depth = self.decode_depth if decode_depth is None else decode_depth
        data = text.encode("utf-8", "surrogatepass")
        cands = self._scan_text(text, depth, data)
        return self._to_findings(text, cands, data)

    # ------------------------------------------------------------------ internals

    def _enabled(self, i: int, hits: dict[int, int]) -> bool:
        kw = self._detectors[i].keyword_ids
        return not kw or any(k in hits for k in kw)

    def _scan_text(self, text: str, depth: int, data: bytes | None = None) -> list[_Cand]:
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        hits, positions = self._prefilter.scan(data)
        cands: list[_Cand] = []
        for det in self._own_pass:
            if _may_hold(det, data):  # else the RE2 search cannot match: skip it
                self._confirm(det, data, 0, cands)
        if not hits:
            return _merge(cands)
        for i in sorted(k for k in hits if k < self._n):
            if not self._enabled(i, hits):
                continue
            det = self._detectors[i]
            pos = positions.get(i)
            if pos and pos is not _OVERFLOW:
                spans = _lines(data, pos) if det.spec.single_line else _windows(data, pos, det.spec.window or 0, det.spec.anchor is not None)
                for ws, we in spans:
                    self._confirm(det, data, ws, cands, we)
            else:
                self._confirm(det, data, max(0, hits[i] - MAX_MATCH_WINDOW), cands)
        cands = _merge(cands)
        if depth > 0:
            ends: dict[str, list[int]] = {}
            overflow = False
            trigger_enc = self._trigger_enc
            for i, pos in positions.items():
                enc = trigger_enc.get(i)
                if enc is None:
                    continue
                if pos is _OVERFLOW:
                    overflow = True
                    ends.setdefault(enc, [])
                else:
                    ends.setdefault(enc, []).extend(pos)
            if ends:
                cands = _merge(cands + self._scan_decoded(text, data, cands, depth, ends, overflow))
        return cands

    def _confirm(self, det: _Detector, data: bytes, pos: int, out: list[_Cand], endpos: int | None = None) -> None:
        spec = det.spec
        if endpos is None:
            base, matches = 0, (_search_all(det.regex, data, pos) if spec.re2_pass else det.regex.finditer(data, pos))
        else:
            # a window starts at a line break (or the text's start) and ends after one: RE2
            # on the slice sees the same boundaries, and a small slice is faster to search
            base, matches = pos, det.regex.finditer(data[pos:endpos])
        for m in matches:
            span = m.span
            s = e = -1
            style = ""
            for gi, st in det.secret_groups:
                gs, ge = span(gi)
                if gs >= 0:
                    s, e, style = gs + base, ge + base, st
                    break
            if s < 0:
                if det.secret_groups:
                    continue
                s, e = span()
                s, e = s + base, e + base
            if e <= s:
                continue
            secret = data[s:e].decode("utf-8", "replace")
            key = None
            for gi in det.key_groups:
                ks, ke = span(gi)
                if ks >= 0:
                    ks, ke = ks + base, ke + base
                    key = data[ks:ke].decode("utf-8", "replace")
                    if style == "bare" and det.op_group:
                        op = m.group(det.op_group)
                        # "host:port", "group:artifact:version": an unquoted name glued to ':' and a bare value
                        if op == b":" and data[ke : ke + 1] not in (b'"', b"'", b"`", b"]", b"\\") and (
                            b"." in data[ks:ke] or any(c in data[s:e] for c in b".:/")
                        ):
                            key = None
                            s = -1
                    break
            if s < 0:
                continue
            if style == "tick" and any(c.isspace() for c in secret):
                continue  # `command substitution`, not a literal
            if style == "bare" and data[e : e + 1] in (b"(", b"[", b"."):
                continue  # get_password(), cfg[...], obj.attr: code, not a literal
            if style == "bare" and det.op_group:
                op = m.group(det.op_group).strip()
                if op in (b"==", b"!=", b"===", b"!==") and not secret.isdigit():
                    continue  # "if token != current_token": a comparison with a name
                rest = data[e : e + 3].lstrip(b" \t")
                if rest[:1] == b"=" and rest[:2] != b"==":
                    continue  # "a = b = ''": b is assigned to, a name
            if _inside_marker(data, s):
                continue  # our own [REDACTED:kind:fingerprint]
            # "Password=myPassword;" in a connection string is a literal even if it reads like a name
            conn = style == "bare" and det.op_group and m.group(det.op_group) == b"=" and data[e : e + 1] == b";"
            kind = _accept(spec, det, secret, key, style == "bare", bool(conn))
            if kind is None or kind in self.disabled_kinds:
                continue
            severity = "critical" if det.confirms is not None and det.confirms(secret) else spec.severity
            out.append(_Cand(s, e, spec.priority, kind, spec.id, severity, secret))

    def _scan_decoded(self, text: str, data: bytes, found: list[_Cand], depth: int, ends: dict[str, list[int]], overflow: bool) -> list[_Cand]:
        """Decode the runs around the trigger positions of the first pass and scan them again."""
        if overflow:  # too many trigger positions to list: every run of those encodings, as text
            chunks = _decode.find_chunks(text, frozenset(ends))
            if len(data) != len(text):
                chunks = [_decode.Chunk(*_char_to_byte(text, c.start, c.end), c.encoding, c.text) for c in chunks]
        else:
            for lst in ends.values():
                lst.sort()
            chunks = _decode.chunks_at(data, ends)
        if not chunks:
            return []
        covered = [(c.start, c.end) for c in found]
        out: list[_Cand] = []
        for ch in chunks:
            bs, be = ch.start, ch.end
            if any(a <= bs and be <= b for a, b in covered):
                continue  # already redacted as a whole
            inner = self._scan_text(ch.text, depth - 1)
            if not inner:
                continue
            best = max(inner, key=lambda c: (c.priority, c.end - c.start))
            secret = ch.text if len(inner) > 1 else best.secret
            out.append(_Cand(bs, be, best.priority, best.kind, best.detector, best.severity, secret, (ch.encoding,) + best.encoding))
        return out

    def _to_findings(self, text: str, cands: list[_Cand], data: bytes) -> list[Finding]:
        if not cands:
            return []
        # ASCII: byte offsets are character offsets
        conv = None if len(data) == len(text) else _ByteToChar(data)
        out: list[Finding] = []
        line, line_start, bpos, pos = 1, 0, 0, 0
        for c in cands:
            if conv is None:
                s, e = c.start, c.end
            else:
                s, e = conv.span(c.start, c.end)
            # count lines incrementally (findings are sorted by start), in the bytes: faster
            if c.start > bpos:
                nl = data.count(b"\n", bpos, c.start)
                bpos = c.start
                if nl:
                    line += nl
                    line_start = text.rfind("\n", pos, s) + 1
            pos = max(pos, s)
            out.append(Finding(c.kind, c.detector, s, e, line, s - line_start + 1, c.severity, c.secret, c.encoding))
        return out


# --------------------------------------------------------------------------- helpers


_MARKER_OPEN = b"[REDACTED:"


def _inside_marker(data: bytes, pos: int) -> bool:
    """True when `pos` falls inside a ``[REDACTED:kind:fingerprint]`` marker (re-scanning redacted text)."""
    i = data.rfind(_MARKER_OPEN, max(0, pos - 80), pos + 1)
    return i >= 0 and data.find(b"]", i) >= pos


#: (run_of, min_length) -> (translate table marking the run's characters, the run to find)
_RUN_CHECKS: dict[tuple[str, int], tuple[bytes, bytes]] = {}


def _may_hold(det: Any, data: bytes) -> bool:
    """Can `data` hold a match of this separate-pass detector? Long enough, and (when the
    spec says which characters its secret is a run of) holding min_length of them in a row:
    one translate and one substring search, a fraction of an RE2 search on short texts."""
    spec = det.spec
    n = spec.min_length
    if len(data) < n:
        return False
    if not spec.run_of or n < 2:
        return True
    check = _RUN_CHECKS.get((spec.run_of, n))
    if check is None:
        allowed = set(spec.run_of.encode("ascii"))
        check = _RUN_CHECKS[(spec.run_of, n)] = (bytes(1 if b in allowed else 0 for b in range(256)), b"\x01" * n)
    table, run = check
    return run in data.translate(table)


def _search_all(regex, data: bytes, pos: int):
    """Every match, each search resuming on the previous match's last byte: a pattern that
    consumes one boundary byte on each side finds both of two runs one byte apart
    (finditer would have eaten the shared boundary with the first)."""
    while True:
        m = regex.search(data, pos)
        if m is None:
            return
        yield m
        start, end = m.span()
        pos = max(end - 1, start + 1)


def _escape(text: str) -> str:
    return "".join(ch if ch.isalnum() else "\\x%02x" % ord(ch) for ch in text)


def _keyword_pattern(kw: str) -> bytes:
    """A keyword as a word start, case-insensitively: "okta" in OKTA_TOKEN, oktaKey, corpOkta; not in "rookTable"."""
    if not kw[:1].isalpha():
        return f"(?i:{_escape(kw)})".encode("ascii")
    rest = _escape(kw[1:])
    return f"(?:^|[^A-Za-z])(?i:{_escape(kw)})|[a-z]{kw[0].upper()}(?i:{rest})".encode("ascii")

#: kinds a detector may report besides its own (generic names assigned to a password)
_DERIVED_KINDS = {"generic_secret": "generic_password"}


def _accept(spec: DetectorSpec, det: _Detector, secret: str, key: str | None, bare: bool, conn_string: bool = False) -> str | None:
    """Run the detector's checks; return the kind to report, or None to drop the match."""
    kind = spec.reported_kind
    value = secret.strip()
    if not value:
        return None
    if key is not None and spec.key_check:
        strength = validate.key_strength(key)
        if strength == 0:
            return None
        if strength == 1 and not validate.random_token(value):
            return None
        if bare and not conn_string and not validate.bare_value_ok(value, key):
            return None
        if bare and validate.name_like(value, key):
            return None
        if kind == "generic_secret" and validate.is_password_key(key):
            kind = "generic_password"
    if kind == "generic_secret" and len(value) < validate.GENERIC_TOKEN_MIN_LENGTH:
        return None  # tokens and keys are generated: a short value is a name, a flag or a stub
    if spec.min_length and len(value) < spec.min_length:
        return None
    # every check must pass, so the order sets only the cost: a detector's own validators
    # (structural, mostly cheap) reject most candidates before the placeholder checks run
    for check in det.validators:
        if not check(value):
            return None
    if spec.min_entropy is not None and validate.shannon_entropy(value) < spec.min_entropy:
        return None
    if spec.placeholder_check and validate.is_placeholder(value):
        return None
    return kind


def _merge(cands: list[_Cand]) -> list[_Cand]:
    """Sort and merge overlapping candidates; the highest priority (then longest) names the kind."""
    if len(cands) < 2:
        return cands
    cands.sort(key=lambda c: (c.start, -c.end))
    out: list[_Cand] = [cands[0]]
    for c in cands[1:]:
        last = out[-1]
        if c.start < last.end:  # overlap
            if (c.priority, c.end - c.start) > (last.priority, last.end - last.start):
                winner = c
            else:
                winner = last
            start, end = min(last.start, c.start), max(last.end, c.end)
            out[-1] = _Cand(start, end, winner.priority, winner.kind, winner.detector, winner.severity, winner.secret, winner.encoding)
        else:
            out.append(c)
    return out


def _lines(data: bytes, ends: list[int]) -> list[tuple[int, int]]:
    """The lines holding the byte before each reported end, from one byte before the line
    start (left-boundary classes see the newline) to after its newline; merged."""
    n = len(data)
    out: list[tuple[int, int]] = []
    last_end = -1
    for p in ends:
        q = max(p - 1, 0)
        if q < last_end:
            continue  # on the line already taken
        ws = max(data.rfind(b"\n", 0, q), 0)
        nl = data.find(b"\n", q)
        we = n if nl < 0 else nl + 1
        if out and ws <= out[-1][1]:
            out[-1] = (out[-1][0], we)
        else:
            out.append((ws, we))
        last_end = we
    return out


def _windows(data: bytes, ends: list[int], window: int, anchored: bool) -> list[tuple[int, int]]:
    """Merged byte ranges of whole lines around each reported position.

    Full patterns report where a match ends: look back `window` bytes. Anchors fire near
    where a match starts: look back a little and forward `window` bytes. Each range
    starts one byte before a line start so left-boundary classes see the newline.
    """
    n = len(data)
    back, fwd = (ANCHOR_LOOKBACK, window) if anchored else (window, 0)
    out: list[tuple[int, int]] = []
    for p in ends:
        lo = max(0, p - back)
        nl = data.rfind(b"\n", 0, lo)
        ws = max(0, nl)  # include the newline itself
        hi = min(n, p + fwd)
        nl = data.find(b"\n", hi)
        we = n if nl < 0 else nl + 1
        if out and ws <= out[-1][1]:
            if we > out[-1][1]:
                out[-1] = (out[-1][0], we)
        else:
            out.append((ws, we))
    return out


class _ByteToChar:
    """Byte offsets to character offsets for spans in increasing order, in one pass overall."""

    __slots__ = ("data", "byte", "char")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.byte = 0
        self.char = 0

    def _to(self, b: int) -> int:
        data = self.data
        if b < self.byte:  # out of order (merged spans): restart
            self.byte = self.char = 0
        # count characters: every byte that does not continue a UTF-8 sequence starts one
        chunk = data[self.byte : b]
        self.char += len(chunk) - sum(1 for x in chunk if (x & 0xC0) == 0x80) if len(chunk) < 64 else len(chunk.decode("utf-8", "surrogatepass"))
        self.byte = b
        return self.char

    def span(self, bs: int, be: int) -> tuple[int, int]:
        data = self.data
        # snap to character boundaries (a byte pattern may cut a multi-byte character)
        while bs > 0 and (data[bs] & 0xC0) == 0x80:
            bs -= 1
        while be < len(data) and (data[be] & 0xC0) == 0x80:
            be += 1
        s = self._to(bs)
        return s, s + len(data[bs:be].decode("utf-8", "surrogatepass"))


def _char_to_byte(text: str, s: int, e: int) -> tuple[int, int]:
    bs = len(text[:s].encode("utf-8", "surrogatepass"))
    return bs, bs + len(text[s:e].encode("utf-8", "surrogatepass"))
