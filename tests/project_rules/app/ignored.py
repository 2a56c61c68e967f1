from app.db import get_db_session

session = get_db_session()  # per-file-ignores switch ASQ901 off here
