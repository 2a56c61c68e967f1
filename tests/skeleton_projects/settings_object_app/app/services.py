from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.database import async_session
from app.models import Note


async def count_notes(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Note)) or 0


async def archive_note(note_id: int) -> None:
    # Runs after the response, so it opens its own session.
    async with async_session() as session, session.begin():
        note = await session.get(Note, note_id)
        if note is not None:
            await session.delete(note)
