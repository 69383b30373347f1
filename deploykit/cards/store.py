"""Lineage and card revisions in the registry database (tables of migration ``0006``).

:func:`write_push` runs inside the push's transaction (called by
``MetadataStore.insert_version``), so a version never exists without its lineage and
first card. :class:`CardStore` reads them and writes amendments, each a new revision
plus a ``card`` event in the audit log, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from deploykit.cards.fields import check_fields
from deploykit.cards.render import render_card
from deploykit.errors import InvalidInputError, NotFoundError
from deploykit.records import CardRevision, ModelVersion, utcnow
from deploykit.registry import events as event_log
from deploykit.registry.database import run_in_transaction
from deploykit.registry.rows import as_utc, insert_row
from deploykit.registry.tables import (
    card_revisions,
    models,
    version_lineage,
    version_profiles,
    versions,
)

__all__ = ["CardRevision", "CardStore", "write_push"]


def write_push(
    connection: sa.Connection,
    version_id: int,
    record: ModelVersion,
    *,
    lineage: Mapping[str, Any] | None,
    reference: Mapping[str, Any] | None,
    profile: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    actor: str,
) -> None:
    """Store the lineage of a new version and its card's first revision."""
    connection.execute(
        version_lineage.insert().values(
            version_id=version_id,
            lineage=dict(lineage) if lineage is not None else None,
            reference=dict(reference) if reference is not None else None,
        )
    )
    markdown = render_card(
        record,
        fields=fields,
        lineage=lineage,
        profile=profile,
        revision=1,
        revised_at=record.created_at,
        revised_by=actor,
    )
    connection.execute(
        card_revisions.insert().values(
            version_id=version_id,
            revision=1,
            fields=dict(fields),
            markdown=markdown,
            created_at=record.created_at,
            actor=actor,
        )
    )


class CardStore:
    """Reads of lineage and cards, and amendments, for one registry database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _version_id(self, connection: sa.Connection, name: str, number: int) -> int:
        return int(
            connection.execute(
                sa.select(versions.c.id)
                .select_from(versions.join(models, models.c.id == versions.c.model_id))
                .where(models.c.name == name, versions.c.version == number)
            ).scalar_one()
        )

    def lineage(self, version: ModelVersion) -> dict[str, Any] | None:
        """``{"lineage": ..., "reference": ...}`` of ``version``; None if pushed before cards."""
        with self.engine.connect() as connection:
            version_id = self._version_id(connection, version.model, version.version)
            row = connection.execute(
                sa.select(version_lineage.c.lineage, version_lineage.c.reference).where(
                    version_lineage.c.version_id == version_id
                )
            ).first()
        if row is None:
            return None
        return {"lineage": row.lineage, "reference": row.reference}

    def revision(self, version: ModelVersion, revision: int | None = None) -> CardRevision:
        """Revision ``revision`` (the latest if None) of the card of ``version``."""
        if revision is not None and (
            isinstance(revision, bool) or not isinstance(revision, int) or revision < 1
        ):
            raise InvalidInputError(
                f"The 'revision' parameter must be a card revision number (1, 2, ...). "
                f"Got {revision!r} instead."
            )
        with self.engine.connect() as connection:
            version_id = self._version_id(connection, version.model, version.version)
            query = sa.select(card_revisions).where(card_revisions.c.version_id == version_id)
            if revision is None:
                query = query.order_by(card_revisions.c.revision.desc()).limit(1)
            else:
                query = query.where(card_revisions.c.revision == revision)
            row = connection.execute(query).first()
            if row is None and revision is None:  # pushed before cards: render it now
                return self._legacy(connection, version, version_id)
            if row is None:
                latest = connection.execute(
                    sa.select(sa.func.max(card_revisions.c.revision)).where(
                        card_revisions.c.version_id == version_id
                    )
                ).scalar()
                raise NotFoundError(
                    f"The card of {version.ref} has no revision {revision} "
                    f"(latest is {latest or 'none'})."
                )
        return CardRevision(
            model=version.model,
            version=version.version,
            revision=int(row.revision),
            created_at=as_utc(row.created_at),
            actor=row.actor,
            fields=dict(row.fields or {}),
            markdown=row.markdown,
        )

    def _legacy(
        self, connection: sa.Connection, version: ModelVersion, version_id: int
    ) -> CardRevision:
        profile = _profile(connection, version_id)
        markdown = render_card(
            version,
            fields={},
            lineage=None,
            profile=profile,
            revision=0,
            revised_at=version.created_at,
            revised_by=version.author,
        )
        return CardRevision(
            version.model, version.version, 0, version.created_at, version.author, {}, markdown
        )

    def amend(
        self,
        version: ModelVersion,
        changes: Mapping[str, Any],
        *,
        actor: str,
        reason: str | None,
    ) -> CardRevision:
        """A new revision of ``version``'s card with ``changes`` applied (``None`` or ``""``
        clears a field), recorded as a ``card`` event; the version itself is untouched."""
        if not isinstance(changes, Mapping) or not changes:
            raise InvalidInputError(
                "An amendment needs at least one card field to change, such as "
                f"{{'limitations': '...'}}. Got {changes!r:.80} instead."
            )
        check_fields({k: v for k, v in changes.items() if v not in (None, "")}, parameter="fields")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 2000):
            raise InvalidInputError(
                "The 'reason' parameter must be text of at most 2000 characters. "
                f"Got {reason!r:.80}."
            )

        def work(connection: sa.Connection) -> CardRevision:
            now = utcnow()
            version_id = self._version_id(connection, version.model, version.version)
            last = connection.execute(
                sa.select(card_revisions)
                .where(card_revisions.c.version_id == version_id)
                .order_by(card_revisions.c.revision.desc())
                .limit(1)
            ).first()
            fields = dict(last.fields or {}) if last is not None else {}
            for key, value in changes.items():
                fields.pop(key, None)
                if value not in (None, "", []):
                    fields[key] = value
            fields = check_fields(fields, parameter="fields")
            number = (int(last.revision) if last is not None else 0) + 1
            row = connection.execute(
                sa.select(version_lineage.c.lineage).where(
                    version_lineage.c.version_id == version_id
                )
            ).first()
            markdown = render_card(
                version,
                fields=fields,
                lineage=row.lineage if row is not None else None,
                profile=_profile(connection, version_id),
                revision=number,
                revised_at=now,
                revised_by=actor,
            )
            insert_row(
                connection,
                card_revisions,
                version_id=version_id,
                revision=number,
                fields=fields,
                markdown=markdown,
                created_at=now,
                actor=actor,
            )
            event_log.append_event(
                connection,
                at=now,
                actor=actor,
                action="card",
                model=version.model,
                to_version=version.version,
                reason=reason,
                details={"revision": number, "changed": sorted(changes)},
            )
            return CardRevision(
                version.model, version.version, number, now, actor, fields, markdown
            )

        return run_in_transaction(self.engine, work)


def _profile(connection: sa.Connection, version_id: int) -> dict[str, Any] | None:
    return connection.execute(
        sa.select(version_profiles.c.profile).where(version_profiles.c.version_id == version_id)
    ).scalar()
