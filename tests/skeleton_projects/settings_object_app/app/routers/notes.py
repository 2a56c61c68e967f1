from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import get_session
from app.services import archive_note, count_notes

router = APIRouter()
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get("/notes/count")
async def note_count(session: SessionDep) -> int:
    return await count_notes(session)


@router.delete("/notes/{note_id}")
async def delete_note(note_id: int, tasks: BackgroundTasks) -> None:
    tasks.add_task(archive_note, note_id)
