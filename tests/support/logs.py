"""Log checks shared by tests: refusals of hostile input are one line, never a traceback."""


def no_tracebacks(caplog):
    """Fail when any captured record carries an exception (a traceback in the server log)."""
    assert [r for r in caplog.records if r.exc_info] == []
