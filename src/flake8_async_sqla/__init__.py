"""flake8-async-sqla: lint FastAPI + SQLAlchemy code against the SQLAlchemy 2.x asyncio model."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/flake8-async-sqla/flake8-async-sqla"
