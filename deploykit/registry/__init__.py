"""The model registry: versions, aliases and events over SQL, artifacts by digest.

    from deploykit.registry import Registry
    reg = Registry()                       # SQLite + a folder under ~/.deploykit
    v = reg.push(model, name="churn", X=X_train)
    reg.deploy("churn", v.version)
    reg.rollback("churn", reason="recall dropped")

Modules: ``registry`` (the facade), ``drafts`` (a version before its number),
``metadata`` (all SQL), ``history`` (alias moves as a stack), ``events`` (audit
log), ``tables`` + ``migrate`` + ``migrations/`` (schema), ``database`` (engine,
locking, retries), ``artifacts`` (content-addressed bytes).
"""

from deploykit.registry.drafts import VersionDraft, prepare_draft
from deploykit.registry.registry import Registry

__all__ = ["Registry", "VersionDraft", "prepare_draft"]
