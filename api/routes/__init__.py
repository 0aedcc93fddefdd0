"""One router per resource, gathered into the ``/api/v1`` router."""

from fastapi import APIRouter

from api.routes import artifacts, health, jobs, sarees

api_router = APIRouter()
api_router.include_router(sarees.router)
api_router.include_router(jobs.router)
api_router.include_router(artifacts.router)
api_router.include_router(health.router)

__all__ = ["api_router"]
