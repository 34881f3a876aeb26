"""The gateway (`python -m core serve`): an ASGI app on uvicorn that any app reaches with a base URL.

Owns: the OpenAI-compatible endpoints (`proxy`, `routing`, `upstream`), OTLP trace ingest (`otlp`), HTTP usage
ingest (`usage_in`), gateway keys (`keys`), the spool and its ledger writer (`spool`, `writer`), metrics (`metrics`),
the app and its upkeep (`app`) and starting it (`run`).

May import: the shared leaves, `storage`, `pricing`, `ingest`, `providers`, `limits`, `access`. Never streamlit.
"""
