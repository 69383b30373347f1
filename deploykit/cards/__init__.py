"""Model cards and lineage: every version explains itself and can be rebuilt.

- :mod:`~deploykit.cards.lineage`: where a push came from (notebook, cells hash, git,
  the package lock), captured in the pushing process.
- :mod:`~deploykit.cards.reference`: training rows and the model's answers, to verify.
- :mod:`~deploykit.cards.fields`: the editable fields (intended use, limitations, owners).
- :mod:`~deploykit.cards.render` / :mod:`~deploykit.cards.html`: the card as Markdown / HTML.
- :mod:`~deploykit.cards.document`: a card with its history, as a front end shows it.
- :mod:`~deploykit.cards.diff`: what changed between two versions.
- :mod:`~deploykit.cards.store`: revisions in the registry database (records:
  :class:`deploykit.records.CardRevision`).
- :mod:`~deploykit.cards.verify`: rebuild the environment from the lock and reproduce.

Core: nothing here imports Jupyter or a web framework.
"""

from __future__ import annotations

from deploykit.cards.fields import CARD_FIELDS, check_fields
from deploykit.cards.lineage import KernelContext, capture_lineage

__all__ = ["CARD_FIELDS", "CARD_FORMATS", "KernelContext", "capture_lineage", "check_fields"]

#: What ``card(..., format=...)`` renders.
CARD_FORMATS = ("markdown", "html")
