// The page's rooms UI: the room list with unread badges and the title's
// count, one room shown at a time, sending to the selected room, a private
// room a third user cannot see, a direct room from the members panel, a
// kick on an open page, typing, scroll-back, links in message text.
// Absence is always checked against a general message posted after it
// (delivery is in order), so that a slow delivery is not taken for none.
//
//   node --test t/browser/page-rooms.test.mjs
//
// Port: $BROWSER_TEST_PORT_PAGEROOMS (2207 by default).

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {startServer, USERS} from "./server.mjs";
import {launch, openPage, loginAndConnect, waitShown, waitState, shot, send}
    from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_PAGEROOMS || 2207);
const WAIT = 15000;
const T = {timeout: 90000};

/* The room names in a page's room list. */
function roomList(page) {
    return page.$$eval("#rooms .room-item",
                       (els) => els.map((e) => e.dataset.room));
}

async function waitRoom(page, name, present = true, timeout = WAIT) {
    try {
        await page.waitForFunction(
            ([n, p]) => !!document.querySelector(
                `#rooms .room-item[data-room="${n}"]`) === p,
            [name, present], {timeout});
    } catch (e) {
        e.message += `\n(rooms: ${JSON.stringify(await roomList(page))})`;
        throw e;
    }
}

/* The messages the list shows now (not hidden): [{room, sender, text}]. */
function visible(page) {
    return page.$$eval("#messages .msg", (els) => els
        .filter((e) => !e.hidden && e.offsetParent !== null)
        .map((e) => ({room: e.dataset.room,
                      sender: e.querySelector(".sender")?.textContent,
                      text: e.querySelector(".text")?.textContent})));
}

async function waitVisible(page, text, timeout = WAIT) {
    await page.waitForFunction(
        (t) => [...document.querySelectorAll("#messages .msg")]
            .some((e) => !e.hidden && e.offsetParent !== null
                  && e.querySelector(".text")?.textContent === t),
        text, {timeout});
}

function badge(page, room) {
    return page.$eval(`#rooms .room-item[data-room="${room}"] .badge`,
                      (b) => b.hidden ? 0 : Number(b.textContent));
}

async function selectRoom(page, room) {
    await page.locator(`#rooms .room-item[data-room="${room}"] button`)
        .click();
    await page.waitForFunction(
        (r) => document.querySelector(
            `#rooms .room-item[data-room="${r}"] button`)
            ?.getAttribute("aria-current") === "true", room, {timeout: WAIT});
}

async function must(user, status, method, path, body) {
    const r = await user.call(method, path, body);
    assert.equal(r.status, status,
                 `${user.user}: ${method} ${path} ${JSON.stringify(body)}: `
                 + JSON.stringify(r.body));
    return r.body;
}

/* Opens the public directory (or loads it again); its room names. */
async function directory(page) {
    const box = page.locator("#directory-box");
    if (await box.evaluate((d) => d.open)) {
        await page.getByRole("button", {name: "Refresh the directory"})
            .click();
    } else {
        await page.locator("#directory-box > summary").click();
    }
    await page.waitForFunction(
        () => document.getElementById("directory").dataset.state === "done",
        null, {timeout: WAIT});
    return page.$$eval("#directory .dir-item",
                       (els) => els.map((e) => e.dataset.room ?? null));
}

describe("the page's rooms", () => {
    let server, browser, alice, bob, carol, bobHttp, aliceHttp;
    let dm = null;
    const pages = [];
    const page = async (opts) => {
        const p = await openPage(browser, server.baseUrl, opts);
        // the typing and error frames, to say why when typing fails
        p.frames = [];
        p.on("websocket", (w) => {
            w.on("framereceived", (f) => {
                if (/"typing"|"error"/.test(f.payload)) {
                    p.frames.push(`in ${f.payload}`);
                }
            });
            w.on("framesent", (f) => {
                if (/"typing"/.test(f.payload)) {
                    p.frames.push(`out ${f.payload}`);
                }
            });
        });
        pages.push(p);
        return p;
    };

    before(async () => {
        server = await startServer({port: PORT, key: "ed25519", workers: 2});
        browser = await launch();
    });

    after(async () => {
        for (const p of pages) {
            assert.deepEqual(p.problems, [], "no CSP violation, no page error");
        }
        await browser?.close();
        const log = server?.errorLog() ?? "";
        await server?.stop();
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("lists general, selected, for each user", T, async () => {
        alice = await page();
        await loginAndConnect(alice, "alice", USERS.alice);
        bob = await page();
        await loginAndConnect(bob, "bob", USERS.bob);
        carol = await page();
        await loginAndConnect(carol, "carol", USERS.carol);
        for (const p of [alice, bob, carol]) {
            await waitRoom(p, "general");
            assert.equal(await p.locator("#rooms .room-item[data-room="
                + "\"general\"] button").getAttribute("aria-current"), "true");
            assert.equal(await p.locator("#room-title").textContent(),
                         "#general");
        }
        bobHttp = await server.httpUser("bob");
        aliceHttp = await server.httpUser("alice");
    });

    it("alice makes private room secret on the page; bob is invited; "
       + "carol sees it neither in her list nor in the directory", T,
       async () => {
        await alice.locator("#create-box > summary").click();
        await alice.getByLabel("Room name").fill("secret");
        await alice.getByLabel("Kind").selectOption("private");
        await alice.getByRole("button", {name: "Create room"}).click();
        await waitRoom(alice, "secret");
        await alice.waitForFunction(() => document.getElementById(
            "room-title").textContent === "#secret", null, {timeout: WAIT});
        await must(aliceHttp, 200, "POST", "/api/rooms/secret/invite",
                   {user: "bob"});
        await waitRoom(bob, "secret");
        // bob stays on general
        assert.equal(await bob.locator("#room-title").textContent(),
                     "#general");

        await bobHttp.post("marker after the invite");
        await waitShown(carol, "marker after the invite");
        assert.deepEqual(await roomList(carol), ["general"]);
        const dir = await directory(carol);
        assert.ok(dir.includes("general"), JSON.stringify(dir));
        assert.equal(dir.includes("secret"), false,
                     "not in carol's directory: " + JSON.stringify(dir));
        await shot(alice, "page-rooms-01-alice-secret.png");
    });

    it("a message to a room not selected: badge and title count rise, and "
       + "clear when it is selected; it shows only in its room", T,
       async () => {
        // alice has secret selected: her message goes there
        await send(alice, "secret hello");
        await send(alice, "secret again");
        await waitShown(bob, "secret again");
        await bob.waitForFunction(() => document.title === "(2) securechat",
                                  null, {timeout: WAIT});
        assert.equal(await badge(bob, "secret"), 2);
        assert.equal(await badge(bob, "general"), 0);
        assert.equal((await visible(bob)).some(
            (m) => m.text === "secret hello"), false,
                     "not shown while general is selected");
        await shot(bob, "page-rooms-02-bob-unread.png");

        await selectRoom(bob, "secret");
        await bob.waitForFunction(() => document.title === "securechat",
                                  null, {timeout: WAIT});
        assert.equal(await badge(bob, "secret"), 0);
        await waitVisible(bob, "secret hello");
        const v = await visible(bob);
        assert.deepEqual(v.map((m) => m.text), ["secret hello",
                                                "secret again"]);
        assert.ok(v.every((m) => m.room === "secret" && m.sender === "alice"));

        // nothing of it on carol's page
        await bobHttp.post("marker after the secret ones");
        await waitShown(carol, "marker after the secret ones");
        const all = await carol.$$eval("#messages .msg .text",
                                       (els) => els.map((e) => e.textContent));
        assert.equal(all.some((t) => /^secret /.test(t)), false);
    });

    it("bob's reply in the selected room reaches alice in that room only",
       T, async () => {
        await send(bob, "reply in secret");
        await waitVisible(alice, "reply in secret");
        const m = await alice.$eval(
            "#messages .msg:last-child",
            (e) => ({room: e.dataset.room,
                     label: e.querySelector(".meta .room")?.textContent,
                     sender: e.querySelector(".sender").textContent}));
        assert.deepEqual(m, {room: "secret", label: "#secret", sender: "bob"});
        await selectRoom(alice, "general");
        assert.equal((await visible(alice)).some(
            (x) => x.text === "reply in secret"), false,
                     "not in alice's general view");
        assert.ok((await visible(alice)).some(
            (x) => x.text === "marker after the secret ones"));
        await bobHttp.post("marker after the reply");
        await waitShown(carol, "marker after the reply");
        assert.equal((await carol.$$eval("#messages .msg .text",
            (els) => els.map((e) => e.textContent)))
                     .includes("reply in secret"), false);
    });

    it("a direct room opened from the members panel", T, async () => {
        await selectRoom(alice, "secret");
        const btn = alice.getByRole("button", {name: "Message bob"});
        await btn.waitFor({timeout: WAIT});
        // both members listed, online
        await alice.waitForFunction(() => [...document.querySelectorAll(
            "#members .member")].filter((e) => e.dataset.online === "true")
            .length === 2, null, {timeout: WAIT});
        await btn.click();
        await alice.waitForFunction(() => document.getElementById(
            "room-title").textContent === "@bob", null, {timeout: WAIT});
        dm = await alice.$eval("#rooms .room-button[aria-current=\"true\"]",
                               (b) => b.closest(".room-item").dataset.room);
        assert.match(dm, /^dm-[0-9a-f]{40}$/);
        await send(alice, "dm hi bob");
        await waitRoom(bob, dm);
        await waitShown(bob, "dm hi bob");
        await bob.waitForFunction(
            (d) => document.querySelector(
                `#rooms .room-item[data-room="${d}"] .room-name`)
                ?.textContent === "@alice", dm, {timeout: WAIT});
        assert.equal(await badge(bob, dm), 1);
        await selectRoom(bob, dm);
        await waitVisible(bob, "dm hi bob");
        assert.deepEqual((await visible(bob)).map((x) => x.text),
                         ["dm hi bob"]);
        // carol is not in it
        await bobHttp.post("marker after the dm");
        await waitShown(carol, "marker after the dm");
        assert.equal((await carol.$$eval("#messages .msg .text",
            (els) => els.map((e) => e.textContent)))
                     .includes("dm hi bob"), false);
    });

    it("typing on one page shows on the other, for a few seconds", T,
       async () => {
        // both have the direct room selected
        await bob.getByRole("textbox", {name: "Message"}).pressSequentially(
            "typ", {delay: 30});
        try {
            await alice.waitForFunction(() => document.getElementById(
                "typing").textContent === "bob is typing…", null,
                                        {timeout: WAIT});
        } catch (e) {
            e.message += `\n(alice's typing line: "${await alice.locator(
                "#typing").textContent()}", bob's box: "${await bob.locator(
                "#message").inputValue()}"; frames: ${JSON.stringify(
                {alice: alice.frames, bob: bob.frames})})`;
            throw e;
        }
        await shot(alice, "page-rooms-03-typing.png");
        // and it goes away by itself
        await alice.waitForFunction(() => document.getElementById("typing")
            .textContent === "", null, {timeout: 9000});
        await bob.getByRole("textbox", {name: "Message"}).fill("");
    });

    it("scroll back: a room joined from the directory, then load older "
       + "prepends what came before the join", T, async () => {
        await must(bobHttp, 201, "POST", "/api/rooms",
                   {name: "lobby", kind: "public"});
        for (const t of ["one", "two", "three"]) {
            await bobHttp.post(`lobby ${t}`, "lobby");
        }
        const dir = await directory(carol);
        assert.ok(dir.includes("lobby"), JSON.stringify(dir));
        await carol.getByRole("button", {name: "Join #lobby"}).click();
        await waitRoom(carol, "lobby");
        await carol.waitForFunction(() => document.getElementById(
            "room-title").textContent === "#lobby", null, {timeout: WAIT});
        await bobHttp.post("lobby after carol", "lobby");
        await waitVisible(carol, "lobby after carol");
        assert.deepEqual((await visible(carol)).map((x) => x.text),
                         ["lobby after carol"]);

        await carol.getByRole("button", {name: "Load older messages"})
            .click();
        await waitVisible(carol, "lobby one");
        assert.deepEqual((await visible(carol)).map((x) => x.text),
                         ["lobby one", "lobby two", "lobby three",
                          "lobby after carol"]);
        // the join notices in their places, verified
        const order = await carol.$$eval(
            "#messages li[data-room=\"lobby\"]",
            (els) => els.map((e) => e.classList.contains("msg")
                ? e.querySelector(".text").textContent : e.textContent));
        assert.deepEqual(order, ["#lobby: join bob", "lobby one",
                                 "lobby two", "lobby three",
                                 "#lobby: join carol", "lobby after carol"]);
        await carol.locator("#load-older:disabled").waitFor({timeout: WAIT});
        assert.equal(await carol.locator("#load-older").textContent(),
                     "No older messages");
    });

    it("links are links (http/https only); HTML in a message is text", T,
       async () => {
        await selectRoom(carol, "general");
        const text = "see https://example.com/x?a=1, <b>bold</b> "
            + "javascript:alert(1) <a href=\"https://evil.example/\">x</a>";
        await bobHttp.post(text);
        await waitVisible(carol, text);
        const li = carol.locator("#messages .msg", {hasText: "bold"}).last();
        assert.equal(await li.locator(".text").textContent(), text);
        const links = await li.locator(".text a").evaluateAll(
            (as) => as.map((a) => ({href: a.getAttribute("href"),
                                    text: a.textContent, rel: a.rel})));
        assert.deepEqual(links, [
            {href: "https://example.com/x?a=1", text: "https://example.com/x?a=1",
             rel: "noopener noreferrer"},
            {href: "https://evil.example/", text: "https://evil.example/",
             rel: "noopener noreferrer"}]);
        assert.equal(await carol.locator("#messages b").count(), 0);
        assert.equal(await carol.locator("#messages .text a[href^=javascript]")
            .count(), 0);
        await shot(carol, "page-rooms-04-links.png");
    });

    it("a kick on an open page takes the room out of the list", T,
       async () => {
        await selectRoom(bob, "secret");
        await selectRoom(alice, "secret");
        const remove = alice.getByRole("button",
                                       {name: "Remove bob from the room"});
        await remove.waitFor({timeout: WAIT});
        await remove.click();
        await waitRoom(bob, "secret", false);
        // bob is back on general, told why
        await bob.waitForFunction(() => document.getElementById(
            "room-title").textContent === "#general", null, {timeout: WAIT});
        assert.match(await bob.locator("#rooms-note").textContent(),
                     /removed from #secret by alice/);
        await alice.waitForFunction(() => ![...document.querySelectorAll(
            "#members .member .who")].some((e) => e.textContent === "bob"),
                                    null, {timeout: WAIT});
        await send(alice, "secret after the kick");
        await bobHttp.post("marker after the kick");
        await waitShown(bob, "marker after the kick");
        assert.equal((await bob.$$eval("#messages .msg .text",
            (els) => els.map((e) => e.textContent)))
                     .includes("secret after the kick"), false);
        await shot(bob, "page-rooms-05-kicked.png");
    });

    it("works at phone width: the rooms on top, no sideways scrolling", T,
       async () => {
        const phone = await page({viewport: {width: 375, height: 740},
                                  isMobile: true, hasTouch: true});
        await loginAndConnect(phone, "carol", USERS.carol);
        await waitRoom(phone, "lobby");
        const wide = await phone.evaluate(
            () => document.documentElement.scrollWidth);
        assert.ok(wide <= 375, `no horizontal scrolling (${wide})`);
        const [rooms, msgs] = await phone.evaluate(() => [
            document.getElementById("rooms").getBoundingClientRect().top,
            document.getElementById("messages").getBoundingClientRect().top]);
        assert.ok(rooms < msgs, "the room list above the messages");
        // collapsible
        await phone.locator("#rooms-box > summary").click();
        assert.equal(await phone.locator("#rooms").isVisible(), false);
        await phone.locator("#rooms-box > summary").click();
        await selectRoom(phone, "lobby");
        await waitVisible(phone, "lobby after carol");
        await shot(phone, "page-rooms-06-phone.png");
    });

    it("moderation from the members panel: mute, then ban", T, async () => {
        // bob owns lobby; carol is a member of it
        await waitRoom(bob, "lobby");
        await selectRoom(bob, "lobby");
        await selectRoom(carol, "lobby");
        // a member sees no moderation buttons
        await carol.getByRole("button", {name: "Message bob"})
            .waitFor({timeout: WAIT});
        assert.equal(await carol.locator("#members button.mod").count(), 0);

        await bob.getByRole("button", {name: "Mute carol"}).click();
        await bob.getByRole("button", {name: "Unmute carol"})
            .waitFor({timeout: WAIT});
        await send(carol, "carol while muted");
        await carol.waitForFunction(() => /muted/.test(
            document.getElementById("send-error").textContent), null,
                                    {timeout: WAIT});
        await bobHttp.post("lobby after the muted try", "lobby");
        await waitShown(bob, "lobby after the muted try");
        assert.equal((await visible(bob)).some(
            (m) => m.text === "carol while muted"), false);

        await bob.getByRole("button", {name: "Ban carol from the room"})
            .click();
        await waitRoom(carol, "lobby", false);
        assert.match(await carol.locator("#rooms-note").textContent(),
                     /banned from #lobby by bob/);
        await bob.getByRole("button", {name: "Unban carol"})
            .waitFor({timeout: WAIT});
        await shot(bob, "page-rooms-07-moderation.png");
    });

    it("unread counts come back after a page reload, from what the "
       + "catch-up brings past what the tab had read", T, async () => {
        await must(aliceHttp, 201, "POST", "/api/rooms", {name: "news"});
        await must(bobHttp, 200, "POST", "/api/rooms/news/join", {});
        await waitRoom(bob, "news");
        await selectRoom(bob, "general");
        await must(aliceHttp, 202, "POST", "/api/chat",
                   {message: "unread one", room: "news"});
        await must(aliceHttp, 202, "POST", "/api/chat",
                   {message: "unread two", room: "news"});
        await waitShown(bob, "unread two");
        await bob.waitForFunction(() => document.title === "(2) securechat",
                                  null, {timeout: WAIT});
        await bob.reload();
        await waitState(bob, /connected|resumed/);
        await waitShown(bob, "unread two");
        await bob.waitForFunction(() => document.title === "(2) securechat",
                                  null, {timeout: WAIT});
        assert.equal(await badge(bob, "news"), 2);
        assert.equal(await badge(bob, "general"), 0);

        // read, then reloaded: nothing unread
        await selectRoom(bob, "news");
        await bob.waitForFunction(() => document.title === "securechat",
                                  null, {timeout: WAIT});
        await selectRoom(bob, "general");
        await bob.reload();
        await waitState(bob, /connected|resumed/);
        await waitShown(bob, "unread two");
        await bobHttp.post("marker after the second reload");
        await waitShown(bob, "marker after the second reload");
        assert.equal(await badge(bob, "news"), 0);
        assert.equal(await bob.title(), "securechat");
    });

    it("the owner's settings on the page: invite, rename, make a "
       + "moderator, transfer, and the new owner deletes", T, async () => {
        // opened by the first test: open it only if it is not
        if (!await alice.locator("#create-box").evaluate((d) => d.open)) {
            await alice.locator("#create-box > summary").click();
        }
        await alice.getByLabel("Room name").fill("club");
        await alice.getByLabel("Kind").selectOption("private");
        await alice.getByRole("button", {name: "Create room"}).click();
        await waitRoom(alice, "club");
        await alice.locator("#room-admin > summary").click();
        await alice.getByLabel("Invite a user").fill("bob");
        await alice.getByRole("button", {name: "Invite"}).click();
        await alice.waitForFunction(() => /Invited bob/.test(
            document.getElementById("admin-note").textContent), null,
                                    {timeout: WAIT});
        await waitRoom(bob, "club");

        // a refusal says which rule
        await alice.getByLabel("Invite a user").fill("nobody-such");
        await alice.getByRole("button", {name: "Invite"}).click();
        await alice.waitForFunction(() => /no such user/.test(
            document.getElementById("admin-error").textContent), null,
                                    {timeout: WAIT});

        await alice.getByLabel("Title").fill("The Club");
        await alice.getByRole("button", {name: "Rename"}).click();
        await selectRoom(bob, "club");
        await bob.waitForFunction(() => document.getElementById(
            "room-subtitle").textContent === "The Club", null,
                                  {timeout: WAIT});
        // bob, a member of a private room, has no settings to change
        await bob.locator("#room-admin > summary").click();
        assert.equal(await bob.locator("#invite-form").isVisible(), false);
        assert.equal(await bob.locator("#delete-room").isVisible(), false);

        await alice.getByRole("button", {name: "Make bob a moderator"})
            .click();
        await alice.getByRole("button", {name: "Make bob a member"})
            .waitFor({timeout: WAIT});
        await bob.waitForFunction(() => document.querySelector(
            '#members .member[data-user="bob"] .role')?.textContent
            === " moderator", null, {timeout: WAIT});
        // a moderator of a private room may invite
        await bob.locator("#invite-form").waitFor({timeout: WAIT});

        alice.once("dialog", (d) => d.accept());
        await alice.getByRole("button", {name: "Transfer the room to bob"})
            .click();
        await bob.locator("#delete-room").waitFor({timeout: WAIT});
        await alice.waitForFunction(() => document.querySelector(
            '#members .member[data-user="bob"] .role')?.textContent
            === " owner", null, {timeout: WAIT});
        assert.equal(await alice.locator("#delete-room").isVisible(), false);
        await shot(bob, "page-rooms-08-owner-settings.png");

        bob.once("dialog", (d) => d.accept());
        await bob.getByRole("button", {name: "Delete room"}).click();
        await waitRoom(bob, "club", false);
        await waitRoom(alice, "club", false);
        assert.match(await alice.locator("#rooms-note").textContent(),
                     /#club was deleted by bob/);
        const r = await bobHttp.call("GET", "/api/rooms/club/members");
        assert.equal(r.status, 404, JSON.stringify(r.body));
    });
});
