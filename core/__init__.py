"""Domain code of the AI Usage Monitor.

Importing it makes every log record of the process leave with its secrets redacted (core.redact), whichever
part of the process logs it and whichever handler writes it.
"""

from core.redact import install_log_redaction

install_log_redaction()
