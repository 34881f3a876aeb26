"""An exception carrying a DSN with a password, raised inside a page: the password appears 0 times in the
rendered page and in the logs."""
import logging

from streamlit.testing.v1 import AppTest

SECRET = "hunter2-very-secret"


def test_dsn_password_never_reaches_the_page_or_the_log(caplog):
    def page():
        from ui.errors import guard

        def broken():
            secret = "hunter2-very-secret"
            raise RuntimeError(f"could not connect to postgresql+psycopg://aium:{secret}@db.internal:5432/usage "
                               f"(key sk-proj-{secret})")
        guard(broken)

    with caplog.at_level(logging.DEBUG):
        at = AppTest.from_function(page, default_timeout=30).run()
    shown = [e.value for e in at.error] + [m.value for m in at.markdown] + [t.value for t in at.text] + [
        str(e.value) for e in at.exception]
    assert [e.value.split(":")[0] for e in at.error] == ["Something went wrong (RuntimeError)"]
    assert "aium:***@db.internal" in at.error[0].value  # the message stays useful
    assert SECRET not in " ".join(shown)
    assert not at.exception  # no traceback element
    assert "dashboard error" in caplog.text and "Traceback" in caplog.text
    assert SECRET not in caplog.text
