"""The web console in a real browser: sign in, locks, a lock's timeline and codes,
offline locks, deletion, workspace isolation, CSRF, the event feed and webhooks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from pinwarden.store.tables import ApiKey
from tests.conftest import Harness
from tests.console.conftest import shot, sign_in


def _lock(server: Harness, api_key: str, device_type: str = "august_lock") -> str:
    seam = server.seam(api_key)
    return str(seam.devices.list(device_type=device_type)[0].device_id)


def test_sign_in_shows_the_seeded_locks_and_a_bad_key_is_refused(
    page: Page, server: Harness
) -> None:
    _, key = server.workspace()
    page.goto(f"{server.endpoint}/console/locks")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.fill("#api_key", "seam_test0000_nope")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("invalid API key")

    page.fill("#api_key", key)
    with page.expect_response(re.compile(r"/console/locks$")) as answer:
        page.click("button[type=submit]")
    page.wait_for_url("**/console/locks")
    headers = answer.value.headers
    assert headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    rows = page.locator("table.locks tbody tr[data-device-id]")
    expect(rows).to_have_count(9)
    for name in ("Front Door", "Back Door"):
        expect(page.locator("table.locks")).to_contain_text(name)
    expect(page.locator("table.locks")).to_contain_text("online")
    expect(page.locator("table.locks")).to_contain_text("90%")
    cookie = next(c for c in page.context.cookies() if c["name"] == "pinwarden_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    shot(page, "locks")

    page.fill("input[name=q]", "schlage")
    page.click("form.filters button")
    expect(rows).to_have_count(1)


def test_a_time_bound_code_appears_on_the_timeline_and_turns_set(
    page: Page, server: Harness
) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    form = page.locator("#new-code")
    form.locator("input[name=name]").fill("Guest Smith")
    form.locator("input[value=time_bound]").check()
    # The defaults: from the next full hour for a day, in the lock's time zone.
    assert form.locator("input[name=starts_at]").input_value()
    form.get_by_role("button", name="Create code").click()
    expect(page.get_by_role("status")).to_contain_text("Code “Guest Smith” created")

    bar = page.locator(".tl-bar", has_text="Guest Smith")
    expect(bar).to_have_count(1)
    expect(bar).to_have_attribute("data-status", "unset")
    expect(bar).to_contain_text("(unset)")
    pin = page.locator("table.codes tr", has_text="Guest Smith").locator("td[data-label=PIN]")
    expect(pin).to_contain_text("••••")
    expect(pin).not_to_contain_text(re.compile(r"\d{4}"))

    server.advance(timedelta(hours=2))
    page.reload()
    expect(bar).to_have_attribute("data-status", "set")
    expect(bar).to_contain_text("Guest Smith (set)")
    row = page.locator("table.codes tr", has_text="Guest Smith")
    expect(row.locator(".status")).to_have_text("set")
    expect(page.locator(".tl-now")).to_have_count(1)
    shot(page, "lock")

    # The week view shows the same bar.
    page.get_by_role("link", name="Week").click()
    expect(page.locator(".tl-bar", has_text="Guest Smith")).to_have_attribute("data-status", "set")

    # Revealing the PIN shows it and leaves an event in the log.
    row.get_by_role("button", name=re.compile("Reveal")).click()
    code = server.seam(key).access_codes.list(device_id=device_id)[0]
    expect(page.locator("[data-revealed]")).to_have_text(str(code.code))
    events = server.seam(key).events.list(since="2020-01-01T00:00:00Z")
    revealed = [e for e in events if e.event_type == "access_code.code_revealed"]
    assert len(revealed) == 1 and revealed[0].access_code_id == code.access_code_id


def test_an_api_error_is_shown_in_words(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key, "nuki_lock")  # 6 digits, no zeros
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    form = page.locator("#new-code")
    form.locator("input[name=name]").fill("Bad PIN")
    form.locator("input[name=code]").fill("102030")
    form.locator("input[value=ongoing]").check()
    form.get_by_role("button", name="Create code").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Error:")
    message = alert.inner_text()
    assert "0" in message or "zero" in message.lower(), message
    # The form keeps what was typed, and nothing was created.
    expect(form.locator("input[name=name]")).to_have_value("Bad PIN")
    assert server.seam(key).access_codes.list(device_id=device_id) == []


def test_a_lock_taken_offline_gets_the_attention_marker(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key, "schlage_lock")
    server.seam(key).access_codes.create(device_id=device_id, name="Resident", code="4812")
    server.settle()
    sign_in(page, server, key)
    row = page.locator(f"tr[data-device-id='{device_id}']")
    expect(row.locator(".attention-marker")).to_have_count(0)

    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    page.get_by_role("button", name="Take offline").click()
    expect(page.get_by_role("status")).to_contain_text("Lock taken offline")
    server.settle()

    page.goto(f"{server.endpoint}/console/locks")
    expect(row.locator(".attention-marker")).to_have_text("⚠ needs attention")
    expect(row).to_contain_text("offline")
    page.select_option("select[name=show]", "attention")
    page.click("form.filters button")
    expect(page.locator("table.locks tbody tr[data-device-id]")).to_have_count(1)
    shot(page, "locks-attention")

    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    expect(page.locator(".facts")).to_contain_text("offline")
    expect(page.locator("table.codes tr", has_text="Resident")).to_contain_text("offline")
    page.get_by_role("button", name="Bring online").click()
    server.settle()
    page.goto(f"{server.endpoint}/console/locks")
    expect(row.locator(".attention-marker")).to_have_count(0)


def test_deleting_a_code(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    seam = server.seam(key)
    made = seam.access_codes.create(device_id=device_id, name="Contractor", code="5521")
    server.advance(timedelta(seconds=5))
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("table.codes tr", has_text="Contractor").get_by_role(
        "button", name="Delete"
    ).click()
    expect(page.get_by_role("status")).to_contain_text("Code “Contractor” deleted")
    expect(page.locator("table.codes tr", has_text="Contractor").locator(".status")).to_have_text(
        "removing"
    )
    server.advance(timedelta(seconds=5))  # the simulated lock takes a second to remove it
    page.reload()
    expect(page.locator("table.codes")).not_to_contain_text("Contractor")
    assert all(
        c.access_code_id != made.access_code_id for c in seam.access_codes.list(device_id=device_id)
    )


def test_another_workspaces_ids_answer_404(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    _, other_key = server.workspace()
    theirs = _lock(server, other_key)
    their_code = server.seam(other_key).access_codes.create(device_id=theirs, code="7731")
    sign_in(page, server, key)
    for path in (f"locks/{theirs}", f"codes/{their_code.access_code_id}/edit"):
        response = page.goto(f"{server.endpoint}/console/{path}")
        assert response is not None and response.status == 404, path
        expect(page.locator("h1")).to_have_text("Not found")
    # Nor can a form of ours act on their lock.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = page.request.post(
        f"{server.endpoint}/console/codes/{their_code.access_code_id}/delete",
        form={"csrf_token": token or ""},
    )
    assert answer.status == 404
    assert len(server.seam(other_key).access_codes.list(device_id=theirs)) == 1
    response = page.goto(f"{server.endpoint}/console/no/such/page")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Not found")


def test_a_post_without_the_csrf_token_is_refused(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    seam = server.seam(key)
    sign_in(page, server, key)
    url = f"{server.endpoint}/console/locks/{device_id}/door"
    for form in ({"action": "unlock"}, {"action": "unlock", "csrf_token": "forged"}):
        answer = page.request.post(url, form=form)
        assert answer.status == 403, form
        assert "CSRF" in answer.text()
    server.settle()
    assert seam.locks.get(device_id=device_id).properties.locked is True
    # With the page's own token the same request goes through.
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    page.get_by_role("button", name="Unlock", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Unlock requested")
    server.settle()
    assert seam.locks.get(device_id=device_id).properties.locked is False


def test_the_event_feed_shows_new_events_live(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/events?device_id={device_id}")
    feed = page.locator("#feed tbody")
    expect(feed).not_to_contain_text("access_code.created")
    server.seam(key).access_codes.create(device_id=device_id, name="Walker", code="9182")
    expect(feed.locator("tr", has_text="access_code.created")).to_contain_text("Walker")
    server.advance(timedelta(seconds=5))  # the simulated lock takes a second
    expect(feed.locator("tr", has_text="access_code.set_on_device")).to_have_count(1)
    # Filtering by type.
    page.fill("input[name=event_type]", "access_code.set_on_device")
    page.click("form.filters button")
    expect(feed.locator("tr")).to_have_count(1)
    shot(page, "events")


def test_webhooks_create_log_replay_delete(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/webhooks")
    page.fill("input[name=url]", "not a url")
    page.fill("input[name=event_types]", "access_code.created")
    page.evaluate("document.querySelector('input[name=url]').type = 'text'")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_role("alert")).to_contain_text("url must be an absolute http(s) URL")

    page.fill("input[name=url]", "http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook created")
    server.seam(key).access_codes.create(device_id=device_id, name="Hooked", code="6617")
    server.settle()
    page.reload()
    log = page.locator("table tbody tr", has_text="access_code.created")
    expect(log).to_have_count(1)
    log.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text("Replay queued (1 delivery)")
    expect(page.locator("table tbody tr", has_text="access_code.created")).to_have_count(2)
    shot(page, "webhook")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook deleted")
    expect(page.locator("table")).to_contain_text("No webhooks.")


@pytest.mark.parametrize("width", [390])
def test_pages_fit_a_phone(page: Page, server: Harness, width: int) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    server.seam(key).access_codes.create(device_id=device_id, name="Phone test", code="3344")
    server.settle()
    page.set_viewport_size({"width": width, "height": 844})
    sign_in(page, server, key)
    for path, name in (("locks", "phone-locks"), (f"locks/{device_id}", "phone-lock")):
        page.goto(f"{server.endpoint}/console/{path}")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width + 1, (path, scroll)
        shot(page, name)
    # Keyboard: the skip link is the first stop and leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_a_busy_lock_page(page: Page, server: Harness) -> None:
    """Several codes in each state, a keypad unlock and an unmanaged code on one lock: the
    picture in the README (docs/console.png) comes from this test."""
    _, key = server.workspace()
    device_id = _lock(server, key)
    seam = server.seam(key)
    now = server.clock.now()
    seam.access_codes.create(device_id=device_id, name="Resident", code="2468")
    seam.access_codes.create(
        device_id=device_id,
        name="Guest Smith",
        code="1357",
        starts_at=(now + timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
    )
    seam.access_codes.create(
        device_id=device_id,
        name="Cleaner",
        code="8642",
        starts_at=(now + timedelta(hours=6)).isoformat(),
        ends_at=(now + timedelta(hours=9)).isoformat(),
    )
    gone = seam.access_codes.create(device_id=device_id, name="Last week's guest", code="9753")
    server.advance(timedelta(hours=2))
    seam.access_codes.delete(access_code_id=gone.access_code_id)
    seam.access_codes.create(device_id=device_id, name="Dog walker", code="3141")
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    sim = page.locator("form", has=page.locator("input[value=keypad]"))
    sim.locator("input[name=code]").fill("2468")
    sim.get_by_role("button", name="Type it").click()
    expect(page.get_by_role("status")).to_contain_text("PIN typed at the keypad")
    unmanaged = page.locator("form", has=page.locator("input[value=unmanaged]"))
    unmanaged.locator("input[name=name]").fill("Old keypad code")
    unmanaged.locator("input[name=code]").fill("5050")
    unmanaged.get_by_role("button", name="Program at the keypad").click()
    server.settle()
    page.goto(f"{server.endpoint}/console/locks/{device_id}")

    states = {
        "Resident": "set",
        "Guest Smith": "set",
        "Cleaner": "unset",
        "Last week's guest": "removing",
        "Dog walker": "setting",
    }
    for name, status in states.items():
        row = page.locator("table.codes tr", has_text=name)
        expect(row.locator(".status")).to_have_text(status)
        expect(page.locator(".tl-bar", has_text=name)).to_have_attribute("data-status", status)
    expect(page.locator("table.events")).to_contain_text("lock.unlocked")
    expect(page.locator("table.events tr", has_text="lock.unlocked")).to_contain_text(
        "code: Resident"
    )
    expect(page.locator("#unmanaged-title + p + .table-wrap")).to_contain_text("Old keypad code")
    page.set_viewport_size({"width": 1100, "height": 900})
    shot(page, "busy-lock")
    page.set_viewport_size({"width": 1000, "height": 860})
    shot(page, "readme", full_page=False)


def test_editing_a_code_and_an_edit_the_api_refuses(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    seam = server.seam(key)
    now = server.clock.now()
    made = seam.access_codes.create(
        device_id=device_id,
        name="Plumber",
        code="4455",
        starts_at=(now + timedelta(hours=3)).isoformat(),
        ends_at=(now + timedelta(hours=5)).isoformat(),
    )
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    page.locator("table.codes tr", has_text="Plumber").get_by_role("link", name="Edit").click()
    expect(page.locator("h1")).to_have_text("Edit “Plumber”")
    page.fill("input[name=code]", "12")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("Error:")
    assert seam.access_codes.get(access_code_id=made.access_code_id).code == "4455"

    page.fill("input[name=code]", "")
    page.fill("input[name=name]", "Plumber (all week)")
    page.locator("input[value=ongoing]").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Code “Plumber (all week)” updated")
    after = seam.access_codes.get(access_code_id=made.access_code_id)
    assert (after.name, after.type, after.code) == ("Plumber (all week)", "ongoing", "4455")


def test_a_code_the_lock_rejects_shows_failed(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key, "yale_lock")
    seam = server.seam(key)
    seam.client.post("/devices/simulate/faults", json={"device_id": device_id, "reject_rate": 1.0})
    seam.access_codes.create(device_id=device_id, name="Rejected", code="6071")
    for _ in range(3):
        server.advance(timedelta(seconds=5))
    sign_in(page, server, key)
    expect(page.locator(f"tr[data-device-id='{device_id}'] .attention-marker")).to_have_count(1)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    row = page.locator("table.codes tr", has_text="Rejected")
    expect(row.locator(".status")).to_have_text("failed")
    expect(row.locator("td[data-label=Issues]")).to_contain_text("error:")
    expect(page.locator(".tl-bar", has_text="Rejected")).to_have_attribute("data-status", "failed")


def test_converting_an_unmanaged_code(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key, "schlage_lock")
    seam = server.seam(key)
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    form = page.locator("form", has=page.locator("input[value=unmanaged]"))
    form.locator("input[name=name]").fill("Found at the door")
    form.locator("input[name=code]").fill("8080")
    form.get_by_role("button", name="Program at the keypad").click()
    server.advance(timedelta(seconds=5))
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    found = page.locator("tr", has_text="Found at the door").get_by_role(
        "button", name="Convert to managed"
    )
    found.click()
    expect(page.get_by_role("status")).to_contain_text("converted to a managed code")
    server.advance(timedelta(seconds=5))
    page.reload()
    expect(page.locator("table.codes")).to_contain_text("Found at the door")
    assert [c.name for c in seam.access_codes.list(device_id=device_id)] == ["Found at the door"]
    assert seam.access_codes.unmanaged.list(device_id=device_id) == []


def test_signing_out_and_a_revoked_key(page: Page, server: Harness) -> None:
    _, key = server.workspace()
    sign_in(page, server, key)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.goto(f"{server.endpoint}/console/locks")
    expect(page).to_have_url(re.compile(r"/console/login"))

    sign_in(page, server, key)
    with server.service.db.write() as session:
        row = session.get(ApiKey, key.removeprefix("seam_").partition("_")[0])
        assert row is not None
        row.revoked_at = server.clock.now()
    page.goto(f"{server.endpoint}/console/locks")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_a_recurring_code_is_created_and_shown_with_its_next_occurrence(
    page: Page, server: Harness
) -> None:
    _, key = server.workspace()
    device_id = _lock(server, key)
    sign_in(page, server, key)
    page.goto(f"{server.endpoint}/console/locks/{device_id}")
    form = page.locator("#new-code")
    form.locator("input[name=name]").fill("Cleaner")
    form.locator("input[value=ongoing]").check()
    form.locator("input[name=repeat_days][value=mon]").check()
    form.locator("input[name=repeat_days][value=thu]").check()
    form.locator("input[name=repeat_from]").fill("10:00")
    form.locator("input[name=repeat_to]").fill("09:00")  # refused by the API, in its words
    form.get_by_role("button", name="Create code").click()
    expect(page.locator(".error, [role=alert]").first).to_contain_text("recurrence")
    form.locator("input[name=repeat_to]").fill("14:00")
    form.get_by_role("button", name="Create code").click()
    expect(page.get_by_role("status")).to_contain_text("Code “Cleaner” created")
    window = page.locator("table.codes tr", has_text="Cleaner").locator("td[data-label=Window]")
    expect(window).to_contain_text("every Mon, Thu 10:00–14:00")
    expect(window).to_contain_text("next ")
    made = server.seam(key).client.get("/access_codes/list", params={"device_id": device_id})
    [code] = made["access_codes"]
    assert code["recurrence"]["weekly"] == [
        {"days": ["mon", "thu"], "from": "10:00", "to": "14:00"}
    ]
    shot(page, "recurring")
