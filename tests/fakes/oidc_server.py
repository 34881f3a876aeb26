"""A small OpenID Connect provider on loopback, enough for a real st.login round trip: discovery, an authorize
endpoint that "logs in" a fixed user and redirects back with a code, a token endpoint returning an RS256-signed
id_token (with the request's nonce), JWKS and userinfo."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from authlib.jose import JsonWebKey, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class FakeOIDC:
    def __init__(self, email: str, client_id: str = "aium-test", client_secret: str = "test-secret"):
        self.email = email
        self.client_id = client_id
        self.client_secret = client_secret
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = JsonWebKey.import_key(
            key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            {"kty": "RSA"},
        )
        self.jwk = public.as_dict() | {"kid": "k1", "use": "sig", "alg": "RS256"}
        self.codes: dict[str, str] = {}  # code -> nonce
        self.token_requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOIDC:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": self.client_id,
            "iat": now,
            "exp": now + 600,
            "nonce": nonce,
            "email": self.email,
            "email_verified": True,
            "name": "Test User",
        }
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self._private_pem).decode()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, body: dict, status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    iss = fake.issuer
                    self._json(
                        {
                            "issuer": iss,
                            "authorization_endpoint": iss + "/authorize",
                            "token_endpoint": iss + "/token",
                            "jwks_uri": iss + "/jwks",
                            "userinfo_endpoint": iss + "/userinfo",
                            "response_types_supported": ["code"],
                            "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "scopes_supported": ["openid", "email", "profile"],
                            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                        }
                    )
                elif url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = secrets.token_urlsafe(16)
                    fake.codes[code] = q.get("nonce", "")
                    self.send_response(302)
                    self.send_header(
                        "Location", q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif url.path == "/jwks":
                    self._json({"keys": [fake.jwk]})
                elif url.path == "/userinfo":
                    self._json({"sub": "user-1", "email": fake.email, "email_verified": True})
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlparse(self.path).path != "/token" or form.get("code") not in fake.codes:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                fake.token_requests += 1
                nonce = fake.codes.pop(form["code"])
                self._json(
                    {
                        "access_token": secrets.token_urlsafe(16),
                        "token_type": "Bearer",
                        "expires_in": 600,
                        "scope": "openid email profile",
                        "id_token": fake.id_token(nonce),
                    }
                )

        return Handler
