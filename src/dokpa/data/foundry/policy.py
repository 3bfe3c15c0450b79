"""Release policy filters: licences (SPDX), opt-outs, and (re-exported) the toxicity tagger.

Licence policy. ``metadata["licence"]`` holds an SPDX id or expression ("MIT", "CC-BY-SA-4.0",
"CC-BY-NC-4.0 OR GPL-3.0-only", "(MIT AND CC-BY-4.0)"), a ``LicenseRef-*`` id, or "unknown". A few
licences Korean data actually comes under are not on the SPDX list: Creative Commons jurisdiction ports
other than the listed ones (KorQuAD is "CC BY-ND 2.0 KR"; SPDX lists ports such as CC-BY-SA-2.1-JP or
CC-BY-3.0-DE but no -KR one) and the Korea Open Government Licence (공공누리, KOGL types 1-4). Write them
``LicenseRef-CC-BY-ND-2.0-KR`` / ``LicenseRef-KOGL-Type3`` (SPDX style); the bare forms and human spellings
("CC BY-ND 2.0 KR") are accepted too. Any CC-BY* id, port or not, is read from its name.

Why ND is dropped by default (``forbid_nd=True``): whether a trained model is an adaptation of its training
text is unsettled, but the release also ships data (shards, samples in the data card) that this pipeline has
changed (normalised, PII-scrubbed, deduplicated); sharing changed ND text is exactly what ND forbids. Set
``forbid_nd=False`` only for a model-only release after your own legal reading.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from datatrove.data import Document

from dokpa.data.foundry.lean import LeanFilter
from dokpa.data.foundry.text import nfc
from dokpa.data.foundry.toxicity import ToxicityTagger

__all__ = [
    "LicenceInfo",
    "LicencePolicyFilter",
    "OptOutFilter",
    "ToxicityTagger",
    "licence_info",
    "normalize_host",
    "normalize_url",
    "parse_licence",
]


@dataclass(frozen=True)
class LicenceInfo:
    """What a licence allows: commercial use, derivatives (adaptations), and whether it is share-alike."""

    id: str
    commercial: bool
    derivatives: bool
    share_alike: bool


_P, _SA = (True, True, False), (True, True, True)  # permissive; copyleft / share-alike
_PERMISSIVE = (
    "MIT MIT-0 Apache-2.0 BSD-2-Clause BSD-3-Clause ISC 0BSD Unlicense Zlib BSL-1.0 PSF-2.0 Python-2.0 WTFPL "
    "CC0-1.0 CC-PDDC PDDL-1.0 ODC-By-1.0 CDLA-Permissive-1.0 CDLA-Permissive-2.0 Unicode-3.0 KOGL-Type1"
)
_COPYLEFT = (
    "GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later LGPL-2.1-only LGPL-2.1-or-later "
    "LGPL-3.0-only LGPL-3.0-or-later AGPL-3.0-only AGPL-3.0-or-later MPL-2.0 EPL-2.0 ODbL-1.0 "
    "CDLA-Sharing-1.0 GFDL-1.2-only GFDL-1.2-or-later GFDL-1.3-only GFDL-1.3-or-later OFL-1.1"
)
_KNOWN: dict[str, tuple[bool, bool, bool]] = {
    **dict.fromkeys(_PERMISSIVE.split(), _P),
    **dict.fromkeys(_COPYLEFT.split(), _SA),
    "KOGL-Type2": (False, True, False),  # 공공누리 2유형: 출처표시 + 상업적 이용금지
    "KOGL-Type3": (True, False, False),  # 3유형: 출처표시 + 변경금지
    "KOGL-Type4": (False, False, False),  # 4유형: 출처표시 + 상업적 이용금지 + 변경금지
    "All-Rights-Reserved": (False, False, False),
}
_BY_LOWER = {k.lower(): k for k in _KNOWN}
_CC = re.compile(r"cc-by(-nc)?(-nd)?(-sa)?-(\d\.\d)(-[a-z]{2,3})?", re.I)
_GPL_OLD = re.compile(r"(a|l)?gpl-\d\.\d\+?", re.I)  # deprecated "GPL-2.0", "GPL-2.0+" spellings
# Human spellings ("CC BY-NC-SA 2.0 KR"); the port code must not swallow a following AND/OR/WITH.
_HUMAN_CC = re.compile(
    r"\bCC[ _-]BY((?:[ _-](?:NC|ND|SA))*)[ _-](\d\.\d)(?:[ _-](?!(?:AND|OR|WITH)\b)([A-Z]{2,3})\b)?", re.I
)
UNKNOWN = frozenset({"unknown", "noassertion", "none", ""})


def licence_info(licence_id: str) -> LicenceInfo | None:
    """Flags for one SPDX/``LicenseRef-`` id (``id`` in canonical spelling), or None when unrecognised."""
    raw = licence_id.strip()
    ref = raw.lower().startswith("licenseref-")
    bare = raw[len("LicenseRef-") :] if ref else raw
    prefix = "LicenseRef-" if ref else ""
    if bare.lower() in _BY_LOWER:
        return LicenceInfo(prefix + _BY_LOWER[bare.lower()], *_KNOWN[_BY_LOWER[bare.lower()]])
    if m := _CC.fullmatch(bare):
        return LicenceInfo(prefix + bare.upper(), not m[1], not m[2], bool(m[3]))
    if _GPL_OLD.fullmatch(bare):
        return LicenceInfo(prefix + bare.upper(), *_SA)
    return None


def parse_licence(expr: str):
    """Parse an SPDX expression into a tree: an id string, or ("AND"|"OR", [children]).

    ``WITH <exception>`` is kept on the id it qualifies; the exception does not change our flags.
    Raises ValueError on malformed input.
    """

    def spdx_cc(m: re.Match) -> str:
        return "CC-BY" + re.sub(r"[ _]", "-", m[1]) + f"-{m[2]}" + (f"-{m[3]}" if m[3] else "")

    text = _HUMAN_CC.sub(spdx_cc, expr)
    tokens = re.findall(r"\(|\)|[^\s()]+", text)
    pos = 0

    def parse(level: int):
        nonlocal pos
        op = ("OR", "AND")[level] if level < 2 else None
        if op is None:
            if pos >= len(tokens):
                raise ValueError(f"truncated licence expression {expr!r}")
            tok = tokens[pos]
            pos += 1
            if tok == "(":
                node = parse(0)
                if pos >= len(tokens) or tokens[pos] != ")":
                    raise ValueError(f"unbalanced parentheses in {expr!r}")
                pos += 1
                return node
            if tok.upper() in ("AND", "OR", "WITH", ")"):
                raise ValueError(f"unexpected {tok!r} in {expr!r}")
            if pos + 1 < len(tokens) and tokens[pos].upper() == "WITH":
                tok, pos = f"{tok} WITH {tokens[pos + 1]}", pos + 2
            return tok
        children = [parse(level + 1)]
        while pos < len(tokens) and tokens[pos].upper() == op:
            pos += 1
            children.append(parse(level + 1))
        return children[0] if len(children) == 1 else (op, children)

    node = parse(0)
    if pos != len(tokens):
        raise ValueError(f"trailing tokens in licence expression {expr!r}")
    return node


class LicencePolicyFilter(LeanFilter):
    """Drop documents whose licence does not allow the planned release; reason ``licence:{id}``.

    release: "commercial" (drop NC), "research" (NC allowed), "none" (no release: only ``extra_forbidden``
    applies). With a release, ND ids are dropped when ``forbid_nd`` (see module docstring), and unknown or
    unrecognised licences unless ``allow_unknown``. ``extra_forbidden`` lists ids or shell patterns
    ("GPL-*", "LicenseRef-Scraped-*"), matched case-insensitively, that are always dropped. OR needs one
    acceptable branch, AND all; the reason names the first offending id (or the whole OR expression).
    """

    name = "🇰🇷 licence policy"

    def __init__(
        self,
        release: str = "commercial",
        allow_unknown: bool = False,
        forbid_nd: bool = True,
        extra_forbidden: list[str] | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        if release not in ("commercial", "research", "none"):
            raise ValueError(f"release must be commercial, research or none, got {release!r}")
        self.release, self.allow_unknown, self.forbid_nd = release, allow_unknown, forbid_nd
        self.extra_forbidden = [p.lower() for p in extra_forbidden or []]
        self._cache: dict[str, str | None] = {}

    def _leaf_blocker(self, leaf: str) -> str | None:
        base = leaf.split(" WITH ")[0]
        info = None if base.lower() in UNKNOWN else licence_info(base)
        name = info.id if info else base or "unknown"
        if any(fnmatch.fnmatchcase(name.lower(), p) for p in self.extra_forbidden):
            return name
        if self.release == "none":
            return None
        if info is None:
            return None if self.allow_unknown else name
        if self.release == "commercial" and not info.commercial:
            return name
        return None if info.derivatives or not self.forbid_nd else name

    def _blocker(self, node) -> str | None:
        """The id (or OR expression) that blocks release, or None when the expression is acceptable."""
        if isinstance(node, str):
            return self._leaf_blocker(node)
        op, children = node
        blockers = [self._blocker(c) for c in children]
        if op == "AND":
            return next((b for b in blockers if b), None)
        return None if any(b is None for b in blockers) else " OR ".join(blockers)

    def verdict(self, licence: str | None) -> str | None:
        """None when ``licence`` may be released, else the offending id (cached per licence string)."""
        key = (licence or "unknown").strip() or "unknown"
        if key not in self._cache:
            try:
                self._cache[key] = self._blocker(parse_licence(key))
            except ValueError:  # malformed: judged as one unknown id
                self._cache[key] = self._leaf_blocker(key)
        return self._cache[key]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep ``doc`` when its ``metadata["licence"]`` allows the release."""
        blocker = self.verdict(doc.metadata.get("licence"))
        return True if blocker is None else (False, f"licence:{blocker}")


def normalize_host(host: str) -> str:
    """Lowercase, IDNA (punycode) form of a host name, without a trailing dot."""
    host = nfc(host.strip().lower()).rstrip(".")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # labels too long or otherwise not IDNA-encodable: keep the lowercase form
        return host


def normalize_url(url: str) -> str:
    """Comparable form of a URL: scheme and ``www.`` dropped (http and https are the same page for an
    opt-out), host lowercased/IDNA, default ports, fragment and trailing slash removed, path and query
    percent-decoded to NFC (so ``/%EA%B0%80`` equals ``/가``)."""
    url = url.strip()
    parts = urlsplit(url if "//" in url else "//" + url)
    host = normalize_host(parts.hostname or "")
    host = host[4:] if host.startswith("www.") else host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = nfc(unquote(parts.path)).rstrip("/")
    query = nfc(unquote(parts.query))
    return netloc + path + (f"?{query}" if query else "")


def _host_of(url_or_host: str) -> str:
    value = url_or_host.strip()
    return normalize_host(urlsplit(value if "//" in value else "//" + value).hostname or value)


class OptOutFilter(LeanFilter):
    """Drop documents whose owners opted out; reason ``opt_out:id``, ``opt_out:url`` or ``opt_out:domain``.

    ``ids`` match ``doc.id`` exactly; ``urls`` match ``metadata["url"]`` after ``normalize_url``; ``domains``
    match the URL's host and all its subdomains ("example.co.kr" covers "blog.example.co.kr").
    ``file``: one entry per line, ``id:<doc id>``, ``url:<url>`` or ``domain:<host>``; blank lines and lines
    starting with ``#`` are ignored; anything else is an error (a typo must not silently opt nobody out).
    """

    name = "🇰🇷 opt-out"

    def __init__(
        self,
        ids: list[str] | None = None,
        urls: list[str] | None = None,
        domains: list[str] | None = None,
        file: str | None = None,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        ids, urls, domains = list(ids or []), list(urls or []), list(domains or [])
        if file:
            for n, line in enumerate(Path(file).read_text(encoding="utf-8").splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                kind, sep, value = line.partition(":")
                kind = kind.strip().lower()
                if not sep or kind not in ("id", "url", "domain") or not value.strip():
                    raise ValueError(
                        f"{file}:{n}: expected 'id:...', 'url:...' or 'domain:...', got {line!r}"
                    )
                {"id": ids, "url": urls, "domain": domains}[kind].append(value.strip())
        self.ids = frozenset(ids)
        self.urls = frozenset(normalize_url(u) for u in urls)
        # A domain given as a URL ("https://example.com/") still means its host.
        self.domains = frozenset(_host_of(d) for d in domains)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Keep ``doc`` unless its id, URL or URL's domain is on the opt-out lists."""
        if doc.id in self.ids:
            return False, "opt_out:id"
        url = doc.metadata.get("url")
        if not url:
            return True
        if self.urls and normalize_url(url) in self.urls:
            return False, "opt_out:url"
        if self.domains:
            labels = _host_of(url).split(".")
            if any(".".join(labels[i:]) in self.domains for i in range(len(labels))):
                return False, "opt_out:domain"
        return True
