"""serve, key create|list|revoke: the gateway and its keys (written as the local operator)."""

from __future__ import annotations

from core.display import when


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="run the gateway (OpenAI-compatible endpoints, OTLP and usage ingest)",
        description="Run the gateway: POST /v1/chat/completions, /v1/embeddings, GET /v1/models, "
        "POST /v1/traces (OTLP/HTTP), POST /v1/usage, GET /healthz, GET /metrics.",
    )
    p.add_argument(
        "--host",
        help="address to listen on (default GATEWAY_HOST, 127.0.0.1); another address than "
        "loopback needs at least one gateway key",
    )
    p.add_argument("--port", type=int, help="port (default GATEWAY_PORT, 8787)")
    p.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port (default GATEWAY_WORKERS; 0: one per CPU core, at most 8)",
    )
    p.add_argument("--access-log", action="store_true", help="log one line per request (method, path, status)")
    p.set_defaults(func=_serve)

    k = sub.add_parser(
        "key",
        help="gateway keys (apps send them as Authorization: Bearer <key>)",
        description="Create, list or revoke gateway keys. A key decides the company (and brand) "
        "of the calls made with it; only its hash is stored.",
    )
    ks = k.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = ks.add_parser(
        "create",
        help="create a key (printed once, on the last line)",
        description="Create a gateway key; the key is printed alone on the last line, once.",
    )
    p.add_argument("--company", required=True, help="company the key's calls belong to (created if new)")
    p.add_argument("--brand", help="brand of every call made with the key (default: the app's own)")
    p.add_argument("--label", help="a note to tell keys apart (an app's name)")
    p.add_argument("--rpm", help="requests per minute allowed to the key (default: no limit)")
    p.set_defaults(func=_create)
    p = ks.add_parser("list", help="list keys", description="List gateway keys (never the keys themselves).")
    p.add_argument("--company", help="only this company's keys")
    p.add_argument("--active", action="store_true", help="leave revoked keys out")
    p.set_defaults(func=_list)
    p = ks.add_parser("revoke", help="revoke a key", description="Revoke a key by its key id (or the key itself).")
    p.add_argument("key_id")
    p.set_defaults(func=_revoke)


def _serve(args) -> int:
    from core.server.run import serve

    return serve(args.host, args.port, access_log=args.access_log, workers=args.workers)


def _create(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.server.keys import create_key

    key, row = create_key(
        args.company, brand=args.brand, label=args.label, requests_per_minute=args.rpm, actor=LOCAL_OPERATOR
    )
    print(
        f"gateway key {row['key_id']} created for {row['company']}"
        + (f", brand {row['brand']}" if row["brand"] else "")
        + (f", {row['requests_per_minute']} requests/minute" if row["requests_per_minute"] else "")
        + ". It is shown once; keep it now:"
    )
    print(key)
    return 0


def _list(args) -> int:
    from core.server.keys import list_keys

    rows = list_keys(company=args.company, include_revoked=not args.active)
    if not rows:
        print("(no gateway key: python -m core key create --company NAME)")
    for r in rows:
        state = "active" if r["active"] else f"revoked {when(r['revoked_at'])} by {r['revoked_by']}"
        print(
            f"{r['key_id']}  {r['company']:<20} {r['brand'] or '-':<12} {r['label'] or '-':<20} "
            f"{(str(r['requests_per_minute']) + '/min') if r['requests_per_minute'] else '-':<10} "
            f"created {when(r['created_at'])}  {state}"
        )
    return 0


def _revoke(args) -> int:
    from core.access.users import LOCAL_OPERATOR
    from core.server.keys import revoke_key

    ok = revoke_key(args.key_id, actor=LOCAL_OPERATOR)
    print("key revoked" if ok else "no active key with that id")
    return 0 if ok else 2
