"""flake8-async-sqla: lint FastAPI + SQLAlchemy code against the SQLAlchemy 2.x asyncio model."""

__version__ = "0.1.0"
