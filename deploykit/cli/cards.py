"""``deploykit card`` and ``deploykit verify``: read, amend and diff cards; rebuild a version.

Registered on the Typer app by :mod:`deploykit.cli.app`; the work is here so that file
stays a table of commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploykit.errors import InvalidInputError

if TYPE_CHECKING:
    from deploykit.backend import Backend

__all__ = ["card_command", "parse_settings", "verify_command"]


def parse_settings(pairs: list[str]) -> dict[str, Any]:
    """``["owners=ana,bob", "limitations=..."]`` as card fields (``key=`` clears one)."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(
                f"--set takes FIELD=VALUE, such as --set limitations='not for minors'. "
                f"Got {pair!r} instead."
            )
        key = key.strip()
        if key == "owners":
            fields[key] = [o.strip() for o in value.split(",") if o.strip()] or None
        else:
            fields[key] = value or None
    return fields


def card_command(
    backend: Backend,
    name: str,
    version: str,
    *,
    diff: str | None,
    revision: int | None,
    html: bool,
    settings: list[str],
    reason: str | None,
    output: Path | None,
) -> None:
    ref: int | str = int(version) if version.isdigit() else version
    if settings:
        if diff is not None or revision is not None:
            raise InvalidInputError(
                "--set amends the latest card: leave out --diff and --revision."
            )
        amended = backend.amend_card(name, ref, parse_settings(settings), reason=reason)
        print(f"{amended.model}:{amended.version}: card revision {amended.revision} written.")
        return
    if diff is not None:
        from deploykit.cards.diff import card_diff, render_diff

        other: int | str = int(diff) if diff.isdigit() else diff
        a, b = backend.version(name, ref), backend.version(name, other)
        la, lb = backend.lineage(name, a.version), backend.lineage(name, b.version)
        text = render_diff(
            card_diff(
                a,
                b,
                lineage_a=(la or {}).get("lineage"),
                lineage_b=(lb or {}).get("lineage"),
            )
        )
        if html:
            from deploykit.cards.html import to_html

            text = to_html(text, standalone=True)
    else:
        text = backend.card(name, ref, revision=revision, format="html" if html else "markdown")
        if html:
            text = text.replace("<style>", '<!doctype html><meta charset="utf-8"><style>', 1)
    if output is not None:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def verify_command(
    backend: Backend,
    name: str,
    version: str,
    *,
    full: bool,
    cache_dir: Path | None,
    env_cache: Path | None,
    as_json: bool,
) -> bool:
    from deploykit.cards.verify import verify

    ref: int | str = int(version) if version.isdigit() else version
    log = None if as_json else (lambda message: print(f"… {message}", file=sys.stderr))
    report = verify(
        backend, name, ref, full=full, cache_dir=cache_dir, env_cache=env_cache, log=log
    )
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(report)
    return report.ok
