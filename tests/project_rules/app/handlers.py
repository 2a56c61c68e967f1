from app.db import Database, get_db_session, get_session

db = Database("sqlite://")  # error: ASQ902
other = Databases()


def read(user_service, user_repo):
    session = get_db_session()  # error: ASQ901
    with get_db_session(autocommit=False) as s:  # error: ASQ901
        s.flush()
    rows = user_service.fetch_all(limit=10, offset=0)  # error: ASQ903
    more = user_repo.fetch_all()  # another kind of object: not the deprecated service method
    get_db_session  # a reference, not a call
    session2 = get_session()
    local = Database("sqlite://")  # inside a function: a test's own instance
    legacy = get_db_session()  # noqa: ASQ901
    return rows, more, session, session2, local, legacy


class Repository:
    def items(self, order_service):
        # "get_db_session()" in a comment or a string is no call
        text = "get_db_session()"
        return order_service.fetch_all(), text  # error: ASQ903
