"""What one mailbox keeps of the mail the matcher lets through — pure, no I/O.

Two rules on top of the matcher's verdict:
- the fund's capture scope: `investors` keeps in full only mail with at least one investor link
  (a participant at an investor's domain, or a contact's address); any other external email
  is kept as a bare sighting (who and when, never what). `all` keeps every external email;
- the mailbox owner's own exclusions: mail with a participant at one of them is not captured
  from their mailbox at all (compared like the fund's exclusions: by match key, and a domain
  covers its subdomains).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from appsrc.matching.matcher import Match, domain_of, match_key, parent_domains

INVESTORS = "investors"
ALL = "all"
SCOPES = (INVESTORS, ALL)


@dataclass(frozen=True)
class CapturePolicy:
    scope: str = ALL
    excluded_addresses: frozenset[str] = frozenset()  # match keys
    excluded_domains: frozenset[str] = frozenset()

    def excludes(self, participants: Iterable[tuple[str, str]]) -> bool:
        """Whether the mailbox's owner keeps mail with these (role, address) pairs out."""
        if not (self.excluded_addresses or self.excluded_domains):
            return False
        for _role, address in participants:
            if match_key(address) in self.excluded_addresses:
                return True
            if any(d in self.excluded_domains for d in parent_domains(domain_of(address))):
                return True
        return False

    def keeps_in_full(self, result: Match) -> bool:
        return self.scope == ALL or bool(result.links)
