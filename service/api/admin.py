"""POST /admin/reload: pick up new, changed and removed model versions without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import ManagerDep
from service.api.errors import error_responses

router = APIRouter(tags=["admin"])


@router.post("/admin/reload", responses=error_responses(401))
async def reload_models(manager: ManagerDep) -> dict[str, Any]:
    """Rescan the models folder and swap the registry atomically.

    Unchanged versions keep their sessions; a request already holding a replaced version
    finishes on it, and that version's batcher closes when its last request is done.
    """
    return await manager.reload()
