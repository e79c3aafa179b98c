"""Matching the behaviour properties of spec/properties/ against man page text.

:mod:`.text` splits paragraphs into normalised sentences and reads version
qualifiers; :mod:`.passages` gives each paragraph its topics; :mod:`.match` finds
denials and omissions for a page and a kernel version; :mod:`.evidence` runs the
witness traces. The rules themselves are in :mod:`mmsem.manpages.checks.claims`.
"""

from mmsem.manpages.claims.match import Denial, Omission, PageClaims

__all__ = ["Denial", "Omission", "PageClaims"]
