"""POST /admin/reload: pick up new, changed and removed model versions without a restart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["admin"])


@router.post("/admin/reload")
async def reload_models(request: Request) -> dict[str, Any]:
    """Rescan the models folder and swap the registry atomically.

    Unchanged versions keep their sessions; requests already holding an old version finish
    on it, and its batcher is drained before it stops.
    """
    result: dict[str, Any] = await request.app.state.reload()
    return result


def diff(old: Any, new: Any) -> dict[str, Any]:
    def keys(reg: Any) -> dict[tuple[str, int], Any]:
        return {(n, v): e for n, vs in reg.models.items() for v, e in vs.items()}

    before, after = keys(old), keys(new)
    return {
        "added": sorted(f"{n}/{v}" for (n, v) in after.keys() - before.keys()),
        "removed": sorted(f"{n}/{v}" for (n, v) in before.keys() - after.keys()),
        "reloaded": sorted(
            f"{n}/{v}"
            for k, e in after.items()
            if k in before and before[k] is not e and e.status == "ready"
            for (n, v) in [k]
        ),
        "failed": [
            {"model": e.name, "version": e.version, "reason": e.reason}
            for e in after.values()
            if e.status != "ready"
        ],
    }
