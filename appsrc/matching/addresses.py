"""Email addresses: normalization and address-list splitting (RFC 5322 §3.4).

The matcher compares addresses and domains as plain strings, so everything goes through
`normalize_address` once: lower-cased, stripped of angle brackets, ``mailto:`` and trailing
dots, and rejected when it is not a plausible addr-spec.
"""

import functools
import re
from dataclasses import dataclass
from email.utils import getaddresses

MAX_ADDRESS_CHARS = 254  # RFC 5321 §4.5.3.1.3 path limit minus the angle brackets
MAX_LOCAL_PART_CHARS = 64  # RFC 5321 §4.5.3.1.1
MAX_DOMAIN_CHARS = 253  # RFC 1035 §2.3.4 minus the root dot

__all__ = ["Address", "domain_of", "normalize_address", "split_address_list"]


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # normalized by `normalize_address`, never ""
    name: str  # display name, decoded, whitespace collapsed, may be ""


# Unquoted local part: RFC 5322 atext plus dots, leniently (consecutive and trailing dots
# occur in the wild, e.g. Japanese carrier mailboxes) and with RFC 6532 UTF-8 allowed.
_LOCAL_ATOMS = re.compile(r'[^\s"(),:;<>@\[\\\]\x00-\x1f\x7f]+\Z')
_QUOTED_LOCAL = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])+"\Z')
# Host names need a dot: single-label hosts ("localhost") never identify an investor.
# \w admits internationalized (U-label) domains; underscores occur in real host names.
_DOMAIN_NAME = re.compile(r"(?:[\w-]{1,63}\.)+[\w-]{1,63}\Z")
_DOMAIN_LITERAL = re.compile(r"\[[^\[\]\\\s]+\]\Z")  # RFC 5321 §4.1.3 address literal


@functools.lru_cache(maxsize=4096)
def normalize_address(value: str) -> str | None:
    """Return the canonical form of an email address, or None when it is not plausible.

    Accepts ``a@b.c``, ``<a@b.c>``, ``mailto:a@b.c?subject=x`` (RFC 6068) and
    ``Name <a@b.c>``. Requires exactly one "@" (so quoted local parts containing "@" are
    rejected) and a dotted domain name or an address literal.
    """
    candidate = value.strip()
    if candidate.endswith(">") and "<" in candidate:
        candidate = candidate[candidate.rfind("<") + 1 : -1].strip()
    if candidate[:7].lower() == "mailto:":
        candidate = candidate[7:].partition("?")[0].strip()
    candidate = candidate.rstrip(".").lower()
    if len(candidate) > MAX_ADDRESS_CHARS or candidate.count("@") != 1:
        return None
    local, _, domain = candidate.partition("@")
    if not local or len(local) > MAX_LOCAL_PART_CHARS or len(domain) > MAX_DOMAIN_CHARS:
        return None
    if not (_LOCAL_ATOMS.match(local) or _QUOTED_LOCAL.match(local)):
        return None
    if not (_DOMAIN_NAME.match(domain) or _DOMAIN_LITERAL.match(domain)):
        return None
    return candidate


def domain_of(address: str) -> str:
    """The normalized domain of an address ("" when the address is not plausible)."""
    normalized = normalize_address(address)
    return normalized.rpartition("@")[2] if normalized else ""


# The common shapes of an address-list element: `addr`, `Name <addr>`, `"Quoted, Name" <addr>`.
# Anything else (comments, groups, routes, quoted local parts) goes to the stdlib parser. A name
# may hold "@": some mailers write `eve@example.com <frank@example.com>` unquoted, and that is
# one mailbox, frank, named "eve@example.com" (the stdlib parser would read two addresses).
_SIMPLE_ADDR_SPEC = r'[^\s<>()\[\]\\,;:@"]+@[^\s<>()\[\]\\,;:@"]+'
_SIMPLE_MAILBOX = re.compile(
    rf"""
    [\s,]*
    (?:
        (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<phrase>[^"<>()\[\]\\,;:]*?))
        \s*<(?P<angle>{_SIMPLE_ADDR_SPEC})>
      | (?P<bare>{_SIMPLE_ADDR_SPEC})
    )
    \s*(?:,|\Z)
    """,
    re.VERBOSE,
)
_QUOTED_PAIR = re.compile(r"\\(.)")


def flatten_comments(value: str) -> tuple[str, bool]:
    """`value` with RFC 5322 comments one level deep, and whether anything had to be mended.

    The stdlib parser reads nested comments by recursion, so a header of a thousand "(" ends in
    RecursionError. Only the outermost comment can matter (an old-style "addr (Name)"), so inner
    parentheses are dropped, an unmatched ")" too, and an unterminated comment is closed. Quoted
    strings and backslash escapes are kept as they are. One linear pass, no recursion.
    """
    opening, closing = value.find("("), value.find(")")
    if opening < 0 and closing < 0:
        return value, False
    if value.count("(") == value.count(")") == 1 and opening < closing and '"' not in value and "\\" not in value:
        return value, False  # one plain comment: nothing the stdlib cannot read
    out: list[str] = []
    depth, quoted, escaped, mended = 0, False, False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"' and depth == 0:
            quoted = True
        elif char == "(":
            depth += 1
            if depth > 1:
                mended = True
                continue
        elif char == ")":
            if depth == 0 or depth > 1:
                mended = True
                depth = max(0, depth - 1)
                continue
            depth = 0
        out.append(char)
    if depth:
        out.append(")")
        mended = True
    return "".join(out), mended


def split_address_list(value: str) -> list[tuple[str, str]]:
    """Split an address-list header value into raw (display name, addr-spec) pairs.

    Names are returned still RFC 2047 encoded: decoding before splitting would let an
    encoded comma or quote change the list structure. The regular-expression fast path
    yields exactly what `email.utils.getaddresses` would for the shapes it accepts (a
    property test checks this) at a fraction of the cost, but for a display name written like
    an address (see `_SIMPLE_MAILBOX`); every other value falls back to the stdlib parser,
    which handles comments (flattened first, see `flatten_comments`), groups and obsolete
    syntax.
    """
    pairs = []
    position = 0
    end = len(value)
    while position < end:
        match = _SIMPLE_MAILBOX.match(value, position)
        if match is None:
            value = flatten_comments(value)[0]
            return [(name, addr) for name, addr in getaddresses([value]) if name or addr]
        quoted, phrase, angle, bare = match.groups()
        if quoted is not None:
            pairs.append((_QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted, angle))
        elif angle is not None:
            pairs.append((phrase, angle))
        else:
            pairs.append(("", bare))
        position = match.end()
    return pairs
