"""Creating workspaces (a sandbox one gets its locks from the sandbox integration)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from pinwarden.store.tables import Workspace


def create_workspace(
    session: Session, name: str, is_sandbox: bool, now: datetime, company_name: str | None = None
) -> Workspace:
    """A new workspace row (``is_sandbox`` marks it; seeding its locks is the sandbox
    integration's job)."""
    workspace = Workspace(
        workspace_id=str(uuid.uuid4()),
        name=name,
        company_name=company_name or name,
        is_sandbox=is_sandbox,
        created_at=now,
    )
    session.add(workspace)
    session.flush()
    return workspace
