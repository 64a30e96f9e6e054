// Delivery by room (docs/PROTOCOL.md, section 9a) seen from the page and
// the CLI: a private room's messages reach only its members' sockets, in
// every worker; its events (join, removed) come as notices on the page and
// as notes on the CLI's stderr; a removed member gets nothing more of it.
// Absence is always checked against a general message posted after it
// (delivery is in order), so that a slow delivery is not taken for none.
//
//   node --test t/browser/rooms.test.mjs
//
// Ports: $BROWSER_TEST_PORT_ROOMS (page) and that plus one (CLI).

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {startServer, USERS} from "./server.mjs";
import {SecureChatClient, memoryKeyStore, memoryPinStore}
    from "../../html/securechat.js";
import {launch, openPage, loginAndConnect, waitShown, notices, shown, shot,
        startCli, sleep} from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_ROOMS || 2205);
const WAIT = 15000;
// no test may hang: each has a bound of its own
const T = {timeout: 90000};

/* The messages on a page with the room label of their meta line (null
 * for general's, which have none). */
function withRooms(page) {
    return page.$$eval("#messages .msg", (els) => els.map((e) => ({
        sender: e.querySelector(".sender")?.textContent,
        text: e.querySelector(".text")?.textContent,
        room: e.querySelector(".meta .room")?.textContent ?? null,
        verified: !!e.querySelector(".verified"),
    })));
}

/* Waits (bounded) for an event notice with exactly this text. */
async function waitNotice(page, text, timeout = WAIT) {
    try {
        await page.waitForFunction(
            (t) => [...document.querySelectorAll("#messages .notice-event")]
                .some((e) => e.textContent === t), text, {timeout});
    } catch (e) {
        e.message += `\n(no event notice "${text}"; notices: `
            + JSON.stringify(await notices(page, "event").catch(() => []))
            + ")";
        throw e;
    }
}

/* A room route that must answer status: the parsed body. */
async function must(user, status, method, path, body) {
    const r = await user.call(method, path, body);
    assert.equal(r.status, status,
                 `${user.user}: ${method} ${path} ${JSON.stringify(body)}: `
                 + JSON.stringify(r.body));
    return r.body;
}

describe("rooms on the page: delivery only to members, events as notices",
         () => {
    let server, browser, alice, carol, bob;
    const pages = [];
    const page = async () => {
        const p = await openPage(browser, server.baseUrl);
        pages.push(p);
        return p;
    };

    before(async () => {
        // two workers: alice's and carol's sockets may sit in either
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

    it("the routes answer: bob makes private room team, invites alice", T,
       async () => {
        alice = await page();
        await loginAndConnect(alice, "alice", USERS.alice);
        carol = await page();
        await loginAndConnect(carol, "carol", USERS.carol);
        bob = await server.httpUser("bob");

        const made = await must(bob, 201, "POST", "/api/rooms",
                                {name: "team", kind: "private"});
        assert.equal(made.room.name, "team");
        assert.equal(made.room.kind, "private");
        assert.equal(made.room.role, "owner");
        await must(bob, 200, "POST", "/api/rooms/team/invite",
                   {user: "alice"});
        const m = await must(bob, 200, "GET", "/api/rooms/team/members");
        assert.deepEqual(m.members.map((x) => x.user).sort(),
                         ["alice", "bob"]);
    });

    it("alice's page shows her join as a notice, carol's does not", T,
       async () => {
        await waitNotice(alice, "#team: join alice (by bob)");
        // carol is not in team and the event is not about her; a general
        // message after it is the marker that she would have had it
        await bob.post("marker after the invite");
        await waitShown(carol, "marker after the invite");
        assert.deepEqual((await notices(carol, "event"))
                         .filter((t) => t.startsWith("#team")), []);
    });

    it("a team message reaches alice labelled #team, never carol", T,
       async () => {
        const id = await bob.post("for the team only", "team");
        assert.ok(Number.isSafeInteger(id));
        await waitShown(alice, "for the team only");
        const a = (await withRooms(alice))
            .find((x) => x.text === "for the team only");
        assert.deepEqual(a, {sender: "bob", text: "for the team only",
                             room: "#team", verified: true});

        // the general message right after it reaches carol (and alice,
        // without a label): carol had time to get the team one too
        await bob.post("general after the team message");
        await waitShown(carol, "general after the team message");
        await waitShown(alice, "general after the team message");
        const c = await withRooms(carol);
        assert.equal(c.some((x) => x.text === "for the team only"), false,
                     "carol never sees team's message");
        assert.equal(c.some((x) => x.room !== null), false,
                     "carol sees no other room's message");
        assert.deepEqual(
            (await withRooms(alice))
                .find((x) => x.text === "general after the team message"),
            {sender: "bob", text: "general after the team message",
             room: null, verified: true});
        // order kept on alice's page: team's message before the marker
        const texts = (await shown(alice)).map((x) => x.text);
        assert.ok(texts.indexOf("for the team only")
                  < texts.indexOf("general after the team message"));
        await shot(alice, "rooms-01-alice-team.png");
        await shot(carol, "rooms-02-carol-general.png");
    });

    it("a non-member may not post to team (403 not_member or 404)", T,
       async () => {
        const c = await server.httpUser("carol");
        const r = await c.call("POST", "/api/chat",
                               {message: "carol into team", room: "team"});
        assert.ok(r.status === 403 || r.status === 404,
                  `refused: ${r.status} ${JSON.stringify(r.body)}`);
        await bob.post("marker after carol's try");
        await waitShown(alice, "marker after carol's try");
        assert.equal((await shown(alice)).some(
            (x) => x.text === "carol into team"), false);
    });

    it("bob removes alice: she sees the notice, then no more of team", T,
       async () => {
        await must(bob, 200, "POST", "/api/rooms/team/remove",
                   {user: "alice"});
        await waitNotice(alice, "#team: removed alice (by bob)");
        // the notice comes after the earlier team message, not instead
        const before = (await shown(alice)).length;

        await bob.post("team after alice left", "team");
        await bob.post("general after the removal");
        await waitShown(alice, "general after the removal");
        await waitShown(carol, "general after the removal");
        const a = await withRooms(alice);
        assert.equal(a.some((x) => x.text === "team after alice left"),
                     false, "alice gets nothing more of team");
        assert.equal(a.length, before + 1, "only the general marker");
        assert.equal((await withRooms(carol)).some(
            (x) => x.text === "team after alice left"), false);
        assert.deepEqual((await notices(carol, "event"))
                         .filter((t) => t.startsWith("#team")), []);
        // and she may no longer post there
        const alone = await server.httpUser("alice");
        const r = await alone.call("POST", "/api/chat",
                                   {message: "alice after removal",
                                    room: "team"});
        assert.ok(r.status === 403 || r.status === 404,
                  `refused: ${r.status} ${JSON.stringify(r.body)}`);
        await shot(alice, "rooms-03-alice-removed.png");
    });

    it("a fresh page's history holds no room its user is not in", T,
       async () => {
        // the catch-up path, not the live one: carol logs in again
        const carol2 = await page();
        await loginAndConnect(carol2, "carol", USERS.carol);
        await waitShown(carol2, "general after the removal");
        const c = await withRooms(carol2);
        assert.ok(c.some((x) => x.text === "general after the team message"),
                  "general's history is there");
        assert.equal(c.some((x) => x.room !== null), false,
                     "nothing of team");
        assert.deepEqual((await notices(carol2, "event"))
                         .filter((t) => t.startsWith("#team")), []);
        await carol2.context().close();
        pages.splice(pages.indexOf(carol2), 1);
    });

    it("alice's reloaded page catches up on the events about her, once "
       + "each, and on none of team's messages; so across nginx -s reload",
       T, async () => {
        // PROTOCOL.md 9a: a catching-up connection gets the rooms its user
        // is a member of now, and the events about its user
        const team = ["#team: join alice (by bob)",
                      "#team: removed alice (by bob)"];
        await alice.reload();
        await waitShown(alice, "general after the removal");
        await waitNotice(alice, team[1]);
        const ofTeam = async () => (await notices(alice, "event"))
            .filter((t) => t.startsWith("#team: ") && /alice/.test(t));
        assert.deepEqual(await ofTeam(), team);
        const a = await withRooms(alice);
        assert.equal(a.some((x) => x.room !== null), false,
                     "none of team's messages: " + JSON.stringify(a));
        assert.ok(a.some((x) => x.text === "general after the team message"));

        // a resume after a reload of nginx repeats nothing
        await server.reload();
        await bob.post("general after the nginx reload");
        await waitShown(alice, "general after the nginx reload", 20000);
        assert.deepEqual(await ofTeam(), team);
        const texts = (await shown(alice)).map((x) => x.text);
        assert.equal(new Set(texts).size, texts.length, "no duplicate");
    });
});

describe("rooms on the CLI: #room lines and event notes", () => {
    let server, bob;
    const tmp = mkdtempSync(join(tmpdir(), "securechat-cli-rooms-"));

    before(async () => {
        server = await startServer({port: PORT + 1, key: "ed25519",
                                    workers: 2});
    });

    after(async () => {
        const log = server?.errorLog() ?? "";
        await server?.stop();
        rmSync(tmp, {recursive: true, force: true});
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("prints #team bob: ..., the join and removal notes, and nothing of "
       + "team after the removal", T, async () => {
        const cli = startCli(["--url", server.baseUrl, "--user", "alice",
                              "--pin-file", join(tmp, "pins.json")],
                             {SECURECHAT_PASSWORD: USERS.alice});
        try {
            await cli.waitErr(/^-- connected/, WAIT);
            bob = await server.httpUser("bob");
            await must(bob, 201, "POST", "/api/rooms",
                       {name: "team", kind: "private"});
            await must(bob, 200, "POST", "/api/rooms/team/invite",
                       {user: "alice"});
            await cli.waitErr(/^-- #team: join alice \(by bob\)$/, WAIT);

            await bob.post("team line for the terminal", "team");
            const line = await cli.waitOut(/team line for the terminal$/,
                                           WAIT);
            assert.match(line, /^\[\d\d:\d\d:\d\d\] #team bob: team line for the terminal$/);
            await bob.post("general line for the terminal");
            const g = await cli.waitOut(/general line for the terminal$/,
                                        WAIT);
            assert.match(g, /^\[\d\d:\d\d:\d\d\] bob: general line for the terminal$/);

            await must(bob, 200, "POST", "/api/rooms/team/remove",
                       {user: "alice"});
            await cli.waitErr(/^-- #team: removed alice \(by bob\)$/, WAIT);
            await bob.post("team line after the removal", "team");
            await bob.post("general line after the removal");
            await cli.waitOut(/bob: general line after the removal$/, WAIT);
            assert.equal(cli.out.some((l) => /team line after the removal/
                                      .test(l)), false,
                         "nothing of team after the removal:\n"
                         + cli.out.join("\n"));
            // each event noted once, in order
            const ev = cli.err.filter((l) => l.startsWith("-- #team"));
            assert.deepEqual(ev, ["-- #team: join alice (by bob)",
                                  "-- #team: removed alice (by bob)"]);
            assert.equal(cli.exit, null, "still running");
            cli.end();
            assert.equal(await Promise.race([
                cli.exited, sleep(WAIT).then(() => "still running")]), 0);
        } finally {
            cli.kill();
        }
    });
});

describe("the client library scrolls back a room", () => {
    let server;

    before(async () => {
        server = await startServer({port: PORT + 2, key: "rsa", workers: 1});
    });

    after(async () => {
        const log = server?.errorLog() ?? "";
        await server?.stop();
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("history(): pages of verified, decrypted messages and events, "
       + "oldest first, each opened with the client's own key", T,
       async () => {
        const bob = await server.httpUser("bob");
        await must(bob, 201, "POST", "/api/rooms",
                   {name: "hist", kind: "private"});
        await must(bob, 200, "POST", "/api/rooms/hist/invite",
                   {user: "alice"});
        for (const t of ["one", "two", "three"]) {
            await bob.post(`hist ${t}`, "hist");
        }
        const alice = new SecureChatClient({
            baseUrl: server.baseUrl, fetch: globalThis.fetch,
            origin: server.baseUrl, cookies: true,
            keyStore: memoryKeyStore(), pinStore: memoryPinStore()});
        await alice.login("alice", USERS.alice);

        const last = await alice.history("hist", null, 2);
        assert.deepEqual(last.items.map((m) => `${m.kind} ${m.text} #${m.id}`),
                         ["message hist two #4", "message hist three #5"]);
        assert.ok(last.items.every((m) => m.sender === "bob"
                                   && m.room === "hist"));
        assert.equal(last.more, true);
        const earlier = await alice.history("hist", last.items[0].id, 10);
        assert.deepEqual(earlier.items.map((m) => m.kind === "event"
            ? `event ${m.event} ${m.user} #${m.id}`
            : `message ${m.text} #${m.id}`),
                         ["event join bob #1", "event join alice #2",
                          "message hist one #3"]);
        assert.equal(earlier.more, false);
        assert.equal(earlier.dropped, false);

        // carol is not a member: the route says so, the library throws
        const carol = new SecureChatClient({
            baseUrl: server.baseUrl, fetch: globalThis.fetch,
            origin: server.baseUrl, cookies: true,
            keyStore: memoryKeyStore(), pinStore: memoryPinStore()});
        await carol.login("carol", USERS.carol);
        await assert.rejects(carol.history("hist"), {code: "no_such_room"});
    });
});
