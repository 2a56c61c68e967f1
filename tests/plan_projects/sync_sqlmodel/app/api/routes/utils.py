from fastapi import APIRouter

router = APIRouter(prefix="/utils")


@router.get("/health-check/")
def health_check() -> bool:
    return True
