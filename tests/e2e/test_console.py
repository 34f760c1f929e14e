"""The console in a real browser (Debian's chromium, driven by Playwright) over the demo's
data served by ``handrail run``: a person signs in with their key, approves and denies
waiting agents (which proceed or are blocked), reads the bad database write's decision
path, lifts a halt, and sees a new alert arrive without a reload. Then what is refused:
pages and actions without a session, decisions without the CSRF token or from another
site, a person the governance file gives no right, SQL that would leave the sandbox,
another host name. The screenshots in docs/console/ are taken here."""

from __future__ import annotations

import base64
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from handrail.console.pages import MAX_LIVE_PER_PERSON
from handrail.console.sessions import sign_in_message
from handrail.producers import Recorder
from handrail.schemas.models import ApprovalRequested
from handrail.settings import AgentIdentity
from tests.support.approvals import channel, pending
from tests.support.console_client import challenge, decide, sign_in
from tests.support.console_site import QUERY_S, Site, WaitingAgent, requested, serve, stop

pytestmark = pytest.mark.timeout(600)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
PAGES = ("/approvals", "/alerts", "/halts", "/workflows", "/workflows/ticket-bad-summary",
         "/agents", "/ledger")  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    found, child = serve(tmp_path_factory.mktemp("console"))
    yield found
    stop(child)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "no chromium on PATH (scripts/test.sh installs Debian's as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium,
                                              args=["--no-sandbox"])  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def page(browser, site: Site):  # type: ignore[no-untyped-def]
    """A new browser context signed in as alice, the way a person does it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.goto(f"{site.url}/approvals")
    assert tab.url.endswith("/signin")  # no session yet: the sign-in page
    shot(tab, "signin")
    tab.set_input_files("#key-file", str(site.keys["alice"]))
    tab.wait_for_url(f"{site.url}/approvals")
    yield tab
    context.close()


def shot(tab, name: str) -> None:  # type: ignore[no-untyped-def]
    DOCS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


def _expect():  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    return expect


# -- in the browser -------------------------------------------------------------------------


def test_an_approver_approves_in_the_browser_and_the_waiting_agent_proceeds(
    page, site: Site
) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    page.evaluate("window.loadedOnce = true")
    agent = WaitingAgent(site.settings, "analyst", "api.search", 6.5, "research-console-1")
    request = pending(site.settings)
    card = page.locator(f"#approval-{request.approval_id}")
    expect(card).to_be_visible(timeout=30_000)  # the request arrives on the open page
    assert page.evaluate("window.loadedOnce") is True  # without a reload
    expect(card).to_contain_text("$6.50")
    expect(card).to_contain_text("api.search")
    shot(page, "approvals")
    page.set_viewport_size({"width": 390, "height": 844})  # an approver on a phone
    expect(card.locator("button.approve")).to_be_in_viewport()
    shot(page, "approvals-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    card.locator("input[name=reason]").fill("checked the query, worth it")
    card.locator("button.approve").click()
    expect(page.locator("#notice")).to_contain_text("signed by alice", timeout=30_000)
    assert agent.result() == "ran"
    decided = channel(site.settings).approvals[request.approval_id]
    assert (decided.state, decided.decided_by) == ("granted", "alice")
    assert decided.decision_reason == "checked the query, worth it"
    expect(card).to_have_count(0, timeout=30_000)  # gone from the inbox


def test_a_denied_request_blocks_the_agent(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    agent = WaitingAgent(site.settings, "analyst", "api.search", 9.0, "research-console-2")
    request = pending(site.settings)
    card = page.locator(f"#approval-{request.approval_id}")
    expect(card).to_be_visible(timeout=30_000)
    card.locator("input[name=reason]").fill("too expensive for this ticket")
    card.locator("button.deny").click()
    expect(page.locator("#notice")).to_contain_text("approval denied", timeout=30_000)
    assert agent.result() == "approval_denied"
    assert channel(site.settings).approvals[request.approval_id].decided_by == "alice"


def test_a_live_update_keeps_what_the_approver_is_typing(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    first = WaitingAgent(site.settings, "analyst", "api.search", 6.0, "research-console-5")
    request = pending(site.settings)
    card = page.locator(f"#approval-{request.approval_id}")
    expect(card).to_be_visible(timeout=30_000)
    card.locator("input[name=reason]").fill("half typed")
    second = WaitingAgent(site.settings, "intake", "api.search", 6.0, "research-console-6")
    expect(page.locator("#count-approvals")).to_have_text("2", timeout=30_000)  # it was told
    expect(card.locator("input[name=reason]")).to_have_value("half typed")  # and kept it
    card.locator("button.deny").click()
    expect(page.locator("article.approval")).to_have_count(1, timeout=30_000)  # the new one
    assert first.result() == "approval_denied"
    (other,) = channel(site.settings).pending()
    alice, token = sign_in(site.url, site.key("alice"))
    assert decide(alice, token, "/approvals/deny", site.key("alice"),
                  approval_id=other.approval_id, reason="test over").status_code == 200  # fmt: skip
    assert second.result() == "approval_denied"


def test_the_bad_write_shows_its_failed_check_and_the_rights_finding(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    page.goto(f"{site.url}/workflows/ticket-bad-summary?focus={site.bad_write}")
    node = page.locator(f"#event-{site.bad_write}")
    expect(node).to_have_class(re.compile(r"\bon-path\b"))
    expect(node).to_contain_text("db.customers.write")
    expect(node.locator(".finding")).to_contain_text("rights")
    expect(node.locator(".finding")).to_contain_text("critical")
    failed = page.locator(".node.on-path .checks .failed")
    expect(failed).to_contain_text("customer_id_matches_thread")
    assert page.locator(".node.on-path").count() >= 5  # the causes, highlighted
    shot(page, "workflow")


def test_a_resumer_lifts_a_halt(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    page.goto(f"{site.url}/halts")
    card = page.locator("#halt-payments-charge-7781")
    expect(card).to_contain_text("retried payments.charge")
    shot(page, "halts")
    card.locator("input[name=reason]").fill("gateway fixed")
    card.locator("button.resume").click()
    expect(page.locator("#notice")).to_contain_text("resume", timeout=30_000)
    expect(card).to_have_count(0, timeout=30_000)
    assert channel(site.settings).in_force(("payments", "charge-7781")) is None


def test_a_new_alert_appears_without_a_reload(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    page.goto(f"{site.url}/alerts")
    page.evaluate("window.loadedOnce = true")
    with Recorder(site.settings, AgentIdentity(name="intake", owner="team-support")) as rec:
        with rec.workflow(f"ticket-live-{uuid.uuid4().hex[:6]}"):
            offer = rec.handoff("summarizer", "summarize", {"ticket_id": "t", "thread": "hi"})
        rec.flush(10)
    row = page.locator("tr.alert", has_text=offer.handoff_id)
    expect(row).to_be_visible(timeout=90_000)  # the 6 s deadline, detection, the next poll
    expect(page.locator("#notice")).to_contain_text("New alert")
    assert page.evaluate("window.loadedOnce") is True  # the same page: no reload
    shot(page, "alerts")


def test_the_other_pages_and_the_sql_box(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    expect = _expect()
    page.goto(f"{site.url}/agents")
    expect(page.locator("svg.chart polyline").first).to_be_attached()
    expect(page.locator("body")).to_contain_text("intake → summarizer")
    shot(page, "agents")
    page.goto(f"{site.url}/workflows")
    expect(page.locator("body")).to_contain_text("ticket-bad-summary")
    shot(page, "workflows")
    page.goto(f"{site.url}/ledger")
    page.locator("textarea[name=sql]").fill(
        "SELECT agent, count() AS n FROM events GROUP BY agent ORDER BY n DESC"
    )
    page.locator("form.sql button").click()
    expect(page.locator("#sql-result")).to_contain_text("summarizer")
    shot(page, "ledger")


def test_an_agents_approval_id_cannot_aim_the_button_at_another_request(page, site: Site) -> None:  # type: ignore[no-untyped-def]
    """An agent names its request so that its card's button would decide another one (a
    path in the id); the button decides the request on its card and nothing else."""
    expect = _expect()
    tag = uuid.uuid4().hex[:6]
    real, decoy = f"real-{tag}", f"decoy-{tag}/../../approvals/real-{tag}"
    with Recorder(site.settings, AgentIdentity(name="analyst", owner="team-data")) as rec:
        with rec.workflow(f"research-decoy-{tag}"):
            for approval_id, reason in ((real, "refund every customer"), (decoy, "a dry run")):
                rec.record(ApprovalRequested(approval_id=approval_id, action="api.search",
                                             reason=reason, cost_usd=9.0))  # fmt: skip
        rec.flush(10)
    requested(site.settings, {real, decoy})
    card = page.locator(f'article[data-subject="{decoy}"]')
    expect(card).to_be_visible(timeout=30_000)
    card.locator("input[name=reason]").fill("a dry run is fine")
    card.locator("button.approve").click()
    expect(page.locator("#notice")).to_contain_text("signed by alice", timeout=30_000)
    state = channel(site.settings)
    assert state.approvals[decoy].state == "granted"
    assert state.approvals[real].state == "pending"
    alice, token = sign_in(site.url, site.key("alice"))
    assert decide(alice, token, "/approvals/deny", site.key("alice"), approval_id=real,
                  reason="never asked for").status_code == 200  # fmt: skip


# -- refused --------------------------------------------------------------------------------


def test_nothing_is_shown_or_done_without_a_session(site: Site) -> None:
    client = httpx.Client(base_url=site.url, follow_redirects=False)
    for path in (*PAGES, "/", "/workflows/ticket-bad-summary?focus=x"):
        answer = client.get(path)
        assert (answer.status_code, answer.headers.get("location")) == (303, "/signin"), path
    client.cookies.set("handrail_console", "forged-token")
    assert client.get("/alerts").status_code == 303
    for path in ("/approvals/approve", "/halts/resume", "/decisions/n", "/ledger",
                 "/signout"):  # fmt: skip
        assert client.post(path, data={"reason": "x"}).status_code == 401, path
    assert client.get("/live").status_code == 401
    bad = client.post("/signin", json={"challenge": "made-up", "signature": "AAAA"})
    assert bad.status_code in (400, 403)
    assert "Traceback" not in bad.text


def test_a_decision_needs_the_sessions_csrf_token_and_this_site(site: Site) -> None:
    alice, token = sign_in(site.url, site.key("alice"))
    other, other_token = sign_in(site.url, site.key("alice"))
    form = {"agent": "researcher", "reason": "x"}
    assert alice.post("/halts/resume", data=form).status_code == 403
    assert alice.post("/halts/resume", data={**form, "csrf": other_token}).status_code == 403
    assert alice.post("/ledger", data={"sql": "SELECT 1"}).status_code == 403
    cross = alice.post("/halts/resume", data={**form, "csrf": token},
                       headers={"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403
    prepared = alice.post("/halts/resume", data={**form, "csrf": token})
    assert prepared.status_code == 200, prepared.text
    url = prepared.json()["url"]
    assert alice.post(url, json={"signature": "x" * 88}).status_code == 403  # no token
    assert (
        other.post(
            url, json={"signature": "x" * 88}, headers={"X-CSRF-Token": other_token}
        ).status_code
        == 404
    )  # not its own
    assert channel(site.settings).in_force(("researcher", None)) is not None


def test_a_person_without_the_right_decides_nothing(site: Site) -> None:
    agent = WaitingAgent(site.settings, "analyst", "api.search", 7.0, "research-console-3")
    request = pending(site.settings)
    bob, bob_token = sign_in(site.url, site.key("bob"))
    refused = decide(bob, bob_token, "/approvals/approve", site.key("bob"),
                     approval_id=request.approval_id, reason="let me")  # fmt: skip
    assert refused.status_code == 403
    assert "bob may not decide" in refused.json()["error"]
    refused = decide(bob, bob_token, "/halts/resume", site.key("bob"), agent="researcher",
                     reason="let me")  # fmt: skip
    assert refused.status_code == 403
    assert "bob may not lift" in refused.json()["error"]
    alice, token = sign_in(site.url, site.key("alice"))
    forged = decide(alice, token, "/approvals/approve", site.key("bob"),
                    approval_id=request.approval_id, reason="signed with another key")  # fmt: skip
    assert forged.status_code == 403
    assert "does not verify" in forged.json()["error"]
    assert channel(site.settings).approvals[request.approval_id].state == "pending"
    page = bob.get("/approvals").text
    assert "does not let you decide" in page
    assert "button" not in page.split("<main")[1]
    denied = decide(alice, token, "/approvals/deny", site.key("alice"),
                    approval_id=request.approval_id, reason="cleaning up")  # fmt: skip
    assert denied.status_code == 200, denied.text
    assert agent.result() == "approval_denied"


def test_two_decisions_on_one_request_record_one(site: Site) -> None:
    """Two approvers (or two tabs) decide the same request at once: one decision is
    recorded, the other refused, even before the channel shows the first."""
    agent = WaitingAgent(site.settings, "analyst", "api.search", 8.0, "research-console-4")
    request = pending(site.settings)
    people = [sign_in(site.url, site.key("alice")) for _ in range(2)]
    prepared = [
        client.post(f"/approvals/{verb}", data={"csrf": token, "approval_id": request.approval_id,
                                                "reason": verb}).json()
        for (client, token), verb in zip(people, ("approve", "deny"), strict=True)
    ]  # fmt: skip

    def send(n: int) -> int:
        (client, token), body = people[n], prepared[n]
        signature = site.key("alice").sign(body["text"].encode()).signature
        return client.post(body["url"], json={"signature": base64.b64encode(signature).decode()},
                           headers={"X-CSRF-Token": token}).status_code  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(send, range(2)))
    assert codes == [200, 409]
    assert agent.result() in ("ran", "approval_denied")


def test_a_slow_query_holds_up_no_page_and_no_other_persons_query(site: Site) -> None:
    slow_client, slow_token = sign_in(site.url, site.key("alice"))
    alice_again, alice_token = sign_in(site.url, site.key("alice"))  # another session
    bob, bob_token = sign_in(site.url, site.key("bob"))
    slow_sql = "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) = 7"
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(
        slow_client.post("/ledger", data={"csrf": slow_token, "sql": slow_sql})))  # fmt: skip
    slow.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the console says the first query runs
        again = alice_again.post("/ledger", data={"csrf": alice_token, "sql": "SELECT 1"})
        if again.status_code == 429:
            break
        time.sleep(0.05)
    assert again.status_code == 429  # one query at a time per person, whatever the session
    assert bob.get("/approvals").status_code == 200
    assert bob.get("/alerts").status_code == 200
    other = bob.post("/ledger", data={"csrf": bob_token, "sql": "SELECT 41 + 1 AS answer"})
    assert 'id="sql-result"' in other.text
    assert "<td>42</td>" in other.text
    assert slow.is_alive()  # the pages and bob's query answered while the slow one ran
    slow.join(QUERY_S * 6)
    assert 'id="sql-error"' in answers[0].text  # stopped at the ledger's read time limit


def test_one_person_takes_no_more_than_their_share_of_live_pages(site: Site) -> None:
    sessions = [sign_in(site.url, site.key("bob"))[0] for _ in range(2)]
    streams = [sessions[n % 2].stream("GET", "/live") for n in range(MAX_LIVE_PER_PERSON)]
    opened = [stream.__enter__() for stream in streams]
    try:
        assert all(r.status_code == 200 for r in opened)
        assert sessions[0].get("/live").status_code == 503  # bob's share is taken
        alice, _ = sign_in(site.url, site.key("alice"))
        with alice.stream("GET", "/live") as mine:
            assert mine.status_code == 200  # alice's is not
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)


def test_signing_in_again_over_a_live_session_works(site: Site) -> None:
    alice, _ = sign_in(site.url, site.key("alice"))
    text = challenge(alice)
    signature = base64.b64encode(site.key("alice").sign(sign_in_message(text)).signature)
    again = alice.post("/signin", json={"challenge": text, "signature": signature.decode()})
    assert again.status_code == 200, again.text


def test_the_sql_box_keeps_the_sandbox(site: Site, tmp_path: Path) -> None:
    alice, token = sign_in(site.url, site.key("alice"))
    before = alice.post("/ledger", data={"csrf": token, "sql": "SELECT count() FROM events"})
    outfile = tmp_path / "leak.tsv"
    for sql in (
        "SELECT * FROM file('/etc/passwd')",
        f"SELECT * FROM events INTO OUTFILE '{outfile}'",
        "INSERT INTO events (type) VALUES ('forged')",
        "SELECT 1; DROP TABLE events",
        "SELECT * FROM url('http://127.0.0.1:1/x', CSV)",
        "SELECT 1 SETTINGS readonly = 0",
        "ALTER TABLE events DELETE WHERE 1",
    ):
        answer = alice.post("/ledger", data={"csrf": token, "sql": sql})
        assert answer.status_code == 200, sql
        assert ('id="sql-error"' in answer.text, 'id="sql-result"' in answer.text) == (
            True,
            False,
        ), sql
    assert not outfile.exists()
    after = alice.post("/ledger", data={"csrf": token, "sql": "SELECT count() FROM events"})
    count = re.compile(r'<table id="sql-result">.*?<td>(\d+)</td>', re.S)
    assert int(count.search(after.text).group(1)) >= int(count.search(before.text).group(1))  # type: ignore[union-attr]
    assert "forged" not in alice.post("/ledger", data={
        "csrf": token, "sql": "SELECT DISTINCT type FROM events"}).text  # fmt: skip


def test_another_host_name_and_errors_say_what_not_how(site: Site) -> None:
    alice, _ = sign_in(site.url, site.key("alice"))
    port = site.url.rsplit(":", 1)[1]
    for host in (f"evil.example:{port}", f"evil.example@127.0.0.1:{port}", "localhost."):
        assert alice.get("/approvals", headers={"Host": host}).status_code == 421, host
    form = "application/x-www-form-urlencoded; charset=utf-7"
    utf7 = alice.post("/ledger", content=b"csrf=x&sql=SELECT+1", headers={"Content-Type": form})
    assert utf7.status_code == 400
    missing = alice.get("/workflows/no-such-workflow")
    assert missing.status_code == 404
    assert "no event, workflow" in missing.text
    assert "Traceback" not in missing.text
    assert 'File "' not in missing.text
    for answer in (alice.get("/alerts"), missing, httpx.get(f"{site.url}/approvals")):
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]  # errors too
        assert answer.headers["X-Frame-Options"] == "DENY"
    for path in PAGES:
        assert alice.get(path).status_code == 200, path
