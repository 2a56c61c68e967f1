"""flake8-async-sqla: lint FastAPI + SQLAlchemy code against the SQLAlchemy 2.x asyncio model."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/flake8-async-sqla/flake8-async-sqla"


def rule_doc_url(code: str) -> str:
    """Where the docs page of rule `code` is published."""
    return f"{PROJECT_URL}/blob/main/docs/rules/{code}.md"
