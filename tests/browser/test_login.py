"""Logging in and out in a real browser, through the forms a person uses (AC-01, PW-02, SE-03)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import DemoAccount, LiveServer, login, new_context, screenshot, submit_login

pytestmark = pytest.mark.browser

LOGIN_FAILED = "The e-mail or password is not correct, or the account is locked or disabled."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def data_manager(live_server: LiveServer) -> DemoAccount:
    return live_server.logins[RoleCode.DATA_MANAGER]


def expect_home_page_of(page: Page, base_url: str, account: DemoAccount) -> None:
    """A data manager's landing page, the status matrix, showing ``account`` as the one logged in, with a way to
    log out; the home page says who and which study."""
    expect(page).to_have_url(f"{base_url}/matrix/")
    expect(page.locator(".navbar")).to_contain_text(account.full_name)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto(f"{base_url}/")
    expect(page.locator("dt:text-is('Logged in as') + dd")).to_have_text(account.full_name)
    expect(page.locator("dt:text-is('Study') + dd")).to_have_text("JK500")


def expect_login_page(page: Page, base_url: str, query: str = "") -> None:
    expect(page).to_have_url(f"{base_url}/login{query}")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_demo_data_manager_logs_in_through_the_form_and_sees_the_home_page(
    page: Page, live_server: LiveServer
) -> None:
    account = data_manager(live_server)
    login(page, live_server.base_url, account.email, account.password)
    expect_home_page_of(page, live_server.base_url, account)
    expect(page.get_by_role("navigation")).to_contain_text(f"{account.full_name} · Data manager")


def test_the_home_page_after_login_is_saved_as_a_screenshot(page: Page, live_server: LiveServer) -> None:
    account = data_manager(live_server)
    login(page, live_server.base_url, account.email, account.password)
    expect_home_page_of(page, live_server.base_url, account)
    path = screenshot(page, "home-data-manager")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width = int.from_bytes(data[16:20], "big")  # the IHDR chunk follows the signature
    viewport = page.viewport_size
    assert viewport is not None and width == viewport["width"]


def test_AC01_an_anonymous_visitor_is_sent_to_the_login_page_and_back_after_logging_in(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(f"{live_server.base_url}/")
    expect_login_page(page, live_server.base_url, "?next=%2F")
    expect(page.get_by_role("alert")).to_have_text("Please log in.")
    account = data_manager(live_server)
    submit_login(page, account.email, account.password)
    expect(page).to_have_url(f"{live_server.base_url}/")  # back where the visitor was going, not the landing page
    expect(page.locator("dt:text-is('Logged in as') + dd")).to_have_text(account.full_name)


def test_PW02_the_password_is_typed_into_a_masked_field(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.base_url}/login")
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")


def _refused_login(page: Page, base_url: str, email: str) -> str:
    """Log in with a wrong password; check the app refused it; return the text of the page it showed."""
    login(page, base_url, email, "certainly not the password")
    expect_login_page(page, base_url)
    expect(page.get_by_role("alert")).to_have_text(LOGIN_FAILED)
    expect(page.get_by_label("Password")).to_have_value("")  # the password typed is never sent back
    return page.locator("main").inner_text()


def test_a_wrong_password_and_an_unknown_email_get_the_same_message_on_the_login_page(
    page: Page, live_server: LiveServer
) -> None:
    # The monitor's account, so that this failure does not count toward the data manager's lockout.
    wrong_password = _refused_login(page, live_server.base_url, live_server.logins[RoleCode.MONITOR].email)
    unknown_email = _refused_login(page, live_server.base_url, "nobody.at.all@hospital.example")
    assert wrong_password == unknown_email  # nothing on the page tells whether the account exists
    page.goto(f"{live_server.base_url}/")
    expect_login_page(page, live_server.base_url, "?next=%2F")


def test_SE03_logout_ends_the_session_and_its_cookie_no_longer_opens_a_page(
    page: Page, browser: Browser, live_server: LiveServer
) -> None:
    base_url = live_server.base_url
    account = data_manager(live_server)
    login(page, base_url, account.email, account.password)
    expect_home_page_of(page, base_url, account)
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "session")

    def home_opens_with_copied_cookie() -> bool:
        """Another browser given this one's session cookie: does it reach the home page?"""
        with new_context(browser, base_url) as other:
            other.add_cookies([{"name": "session", "value": cookie, "url": base_url}])
            other_page = other.new_page()
            other_page.goto("/")
            return urlsplit(other_page.url).path == "/"

    # The copied cookie works while the session lasts, so its refusal below is the logout's doing.
    assert home_opens_with_copied_cookie()
    page.get_by_role("button", name="Log out").click()
    expect_login_page(page, base_url)
    expect(page.get_by_role("alert")).to_have_text("You have logged out.")
    page.goto(f"{base_url}/")
    expect_login_page(page, base_url, "?next=%2F")
    assert not home_opens_with_copied_cookie()
