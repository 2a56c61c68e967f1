from starlette.concurrency import run_in_threadpool

from app.db import Database, cache, get_db_session, get_session, render_pdf, sync_load_user

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


async def checkout(session, order, invoice):
    user = await run_in_threadpool(sync_load_user, session, order.user_id)  # error: ASQ910
    pdf = await run_in_threadpool(render_pdf, invoice)  # not sync session code
    cache.ping_legacy()  # its rule is switched off (severity: off)
    return user, pdf, order.total_price()  # error: ASQ911
