#!/usr/bin/env bash
# Start the worker and the gateway in the background and the dashboard in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
ADDRESS="${DASHBOARD_ADDRESS:-127.0.0.1}"
PORT="${DASHBOARD_PORT:-8501}"
GATEWAY_ADDRESS="${GATEWAY_HOST:-127.0.0.1}"
GATEWAY_PORT="${GATEWAY_PORT:-8787}"

case "$ADDRESS" in
  127.0.0.1|localhost|::1) ;;
  *)
    # No login configured: the dashboard must not be reachable from other machines.
    if ! "$PY" -c "import sys; from core.access.users import login_mode; sys.exit(login_mode() == 'local')"; then
      echo "refusing DASHBOARD_ADDRESS=$ADDRESS: no login is configured (python -m core user add … or [auth] in .streamlit/secrets.toml)" >&2
      exit 2
    fi ;;
esac

"$PY" worker.py &
WORKER=$!
# The gateway refuses by itself an address other than loopback while no gateway key exists.
"$PY" -m core serve --host "$GATEWAY_ADDRESS" --port "$GATEWAY_PORT" &
GATEWAY=$!
cleanup() {
  kill -TERM "$WORKER" "$GATEWAY" 2>/dev/null || true
  wait "$WORKER" "$GATEWAY" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

echo "Dashboard: http://localhost:${PORT}  (worker pid ${WORKER}, gateway pid ${GATEWAY}; Ctrl-C stops all three)"
# app.py serves dashboard.py and warms the Overview's figures when the server starts (ui.warmup).
"$PY" -m streamlit run app.py --server.address "$ADDRESS" --server.port "$PORT"
