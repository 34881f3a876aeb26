"""A real single sign-on round trip in headless Chromium: st.login against an OIDC provider on loopback, then
the dashboard shows the signed-in user's company only."""

from datetime import UTC, datetime, timedelta

from core.access.users import add_user
from core.usage import record_usage
from tests.fakes.oidc_server import FakeOIDC
from tests.helpers import free_port
from tests.helpers.browser import ARGS, CHROMIUM, MARKS, streamlit_server

pytestmark = MARKS


def test_oidc_login_round_trip(sqlite_db, tmp_path, users_file):
    from playwright.sync_api import expect, sync_playwright

    add_user("carol@example.test", None, role="viewer", companies=["Humari"])
    now = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(4):
        record_usage(
            job_id=f"h{i}",
            company="Humari",
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=100,
            output_tokens=10,
            created_at=now,
        )
    record_usage(
        job_id="q1",
        company="Qadhya",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=100,
        output_tokens=10,
        created_at=now,
    )
    port = free_port()
    with FakeOIDC("carol@example.test") as idp:
        secrets_file = tmp_path / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"\n'
            f'client_id = "{idp.client_id}"\n'
            f'client_secret = "{idp.client_secret}"\n'
            f'server_metadata_url = "{idp.issuer}/.well-known/openid-configuration"\n'
        )
        env = {"DATABASE_URL": sqlite_db, "USERS_FILE": str(users_file), "AUTH_SECRETS_FILE": str(secrets_file)}
        base = f"http://localhost:{port}"  # the redirect_uri's host: the auth cookie is set for it
        with streamlit_server(env, tmp_path / "streamlit.log", "--secrets.files", str(secrets_file), port=port):
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page()
                page.goto(base + "/")
                sign_in = page.get_by_role("button", name="Sign in")
                expect(sign_in).to_be_visible(timeout=30_000)
                assert page.get_by_test_id("stMetricValue").count() == 0  # nothing before signing in
                sign_in.click()
                expect(page.get_by_text("Signed in as carol@example.test · viewer")).to_be_visible(timeout=30_000)
                jobs = page.get_by_test_id("stMetric").filter(has_text="Jobs").get_by_test_id("stMetricValue")
                expect(jobs.first).to_have_text("4", timeout=30_000)  # Humari's 4 calls, not Qadhya's
                browser.close()
            assert idp.token_requests == 1
