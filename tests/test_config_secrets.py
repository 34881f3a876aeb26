"""A refused setting never echoes its value: DSNs and keys carry passwords."""
import subprocess
import sys
from pathlib import Path

from core.redact import redact

ROOT = Path(__file__).resolve().parent.parent


def test_bad_database_url_does_not_print_the_password():
    env = {"DATABASE_URL": "mysql://user:s3cretPW@db/x", "PATH": "/usr/bin:/bin"}
    for cmd in ([sys.executable, "worker.py", "--once", "alerts"], [sys.executable, "-m", "core", "budget", "list"]):
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode != 0
        assert "s3cretPW" not in proc.stdout + proc.stderr
        assert "DATABASE_URL" in proc.stdout + proc.stderr


def test_redaction_of_notification_urls_and_dsns():
    assert redact("mailtos://host?user=x&pass=SECRET") == "mailtos://***"
    assert redact("tgram://bot:TOKEN/chat failed") == "tgram://*** failed"
    assert redact("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert redact("key sk-proj-abcdefghijkl and AIzaSyA1234567890abcdefghij") == "key sk-*** and AIza***"
    assert redact("https://x.test/v1?key=abc&x=1") == "https://x.test/v1?key=***&x=1"
