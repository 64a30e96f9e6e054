// The command-line client's rooms: --room, the commands typed on stdin
// (/rooms, /join, /dm, /who, /history, /leave, /room, /help, an unknown
// one, a server's error code, "//" for a line beginning with "/"),
// presence notes, and typing notes only with --typing.  Every check is
// against a second party: bob's HTTP session, his CLI, or a library
// client reading the room's history with its own key.
//
//   node --test t/browser/cli-rooms.test.mjs
//
// Port: $BROWSER_TEST_PORT_CLIROOMS (default 2209).

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import WebSocket from "ws";
import {startServer, USERS} from "./server.mjs";
import {SecureChatClient, memoryKeyStore, memoryPinStore}
    from "../../html/securechat.js";
import {startCli, sleep} from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_CLIROOMS || 2209);
const WAIT = 15000;
// no test may hang: each has a bound of its own
const T = {timeout: 60000};

/* A room route that must answer status: the parsed body. */
async function must(user, status, method, path, body) {
    const r = await user.call(method, path, body);
    assert.equal(r.status, status,
                 `${user.user}: ${method} ${path} ${JSON.stringify(body)}: `
                 + JSON.stringify(r.body));
    return r.body;
}

/* Where a CLI's output stands now: wait() only looks at later lines. */
function mark(cli) {
    const at = {out: cli.out.length, err: cli.err.length};
    const wait = (which) => async (re, timeout = WAIT) => {
        const list = cli[which];
        const end = Date.now() + timeout;
        for (;;) {
            const hit = list.slice(at[which]).find((l) => re.test(l));
            if (hit !== undefined) return hit;
            if (cli.exit !== null || Date.now() > end) {
                throw new Error(`CLI: no new line matching ${re}; stdout:\n`
                                + cli.out.join("\n") + "\nstderr:\n"
                                + cli.err.join("\n"));
            }
            await sleep(50);
        }
    };
    return {
        out: wait("out"), err: wait("err"),
        newOut: () => cli.out.slice(at.out),
        newErr: () => cli.err.slice(at.err),
    };
}

/* A library client logged in as user (key pair, so it may scroll back). */
async function libClient(server, user) {
    const c = new SecureChatClient({
        baseUrl: server.baseUrl, fetch: globalThis.fetch, WebSocket,
        origin: server.baseUrl, cookies: true,
        keyStore: memoryKeyStore(), pinStore: memoryPinStore()});
    await c.init();
    await c.login(user, USERS[user]);
    return c;
}

/* Waits (bounded) until room's history, read by c, has a message with
 * this text; returns it. */
async function waitHistory(c, room, text, timeout = WAIT) {
    const end = Date.now() + timeout;
    for (;;) {
        const h = await c.history(room, null, 100);
        const m = h.items.find((i) => i.kind === "message"
                               && i.text === text);
        if (m) return m;
        assert.ok(Date.now() < end, `no "${text}" in #${room}: `
                  + JSON.stringify(h.items.map((i) => i.text ?? i.event)));
        await sleep(100);
    }
}

const texts = async (c, room) => (await c.history(room, null, 100)).items
    .filter((i) => i.kind === "message").map((i) => i.text);

describe("the CLI's rooms: --room and the commands", () => {
    let server, bob, bobLib, carolLib, alice, bobCli, dm;
    const tmp = mkdtempSync(join(tmpdir(), "securechat-cli-rooms-"));
    const clis = [];
    const cli = (user, args = []) => {
        const c = startCli(["--url", server.baseUrl, "--user", user,
                            "--pin-file", join(tmp, "pins.json"), ...args],
                           {SECURECHAT_PASSWORD: USERS[user]});
        clis.push(c);
        return c;
    };
    const ended = (c) => Promise.race([
        c.exited, sleep(WAIT).then(() => "still running")]);

    before(async () => {
        server = await startServer({port: PORT, key: "ed25519", workers: 2});
        bob = await server.httpUser("bob");
        bobLib = await libClient(server, "bob");
        // carol has logged in (her user is known) but has no socket
        carolLib = await libClient(server, "carol");
        // bob's private room with alice in it, his public room without
        await must(bob, 201, "POST", "/api/rooms",
                   {name: "team", kind: "private"});
        await must(bob, 201, "POST", "/api/rooms",
                   {name: "lobby", kind: "public"});
        await bob.post("lobby one", "lobby");
        await bob.post("lobby two", "lobby");
    });

    after(async () => {
        for (const c of clis) c.kill();
        await bobLib?.logout().catch(() => {});
        await carolLib?.logout().catch(() => {});
        const log = server?.errorLog() ?? "";
        await server?.stop();
        rmSync(tmp, {recursive: true, force: true});
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("starts in general, notes bob's presence, and /rooms lists general "
       + "and the room bob invited alice to", T, async () => {
        alice = cli("alice");
        await alice.waitErr(/^-- connected/, WAIT);
        assert.ok(alice.err.includes(
            "-- typed lines go to #general (/help lists the commands)"),
                  alice.err.join("\n"));
        let m = mark(alice);
        await must(bob, 200, "POST", "/api/rooms/team/invite",
                   {user: "alice"});
        await m.err(/^-- #team: join alice \(by bob\)$/);

        // bob's first socket: alice, who shares general, is told
        m = mark(alice);
        bobCli = cli("bob");
        await bobCli.waitErr(/^-- connected/, WAIT);
        await m.err(/^-- bob is online$/);

        m = mark(alice);
        alice.line("/rooms");
        await m.err(/^-- 2 rooms:$/);
        const g = await m.err(/^-- {3}#general /);
        assert.match(g, /^-- {3}#general {2}public {2}member {2}last_id \d+ {2}\(current\)$/);
        const t = await m.err(/^-- {3}#team /);
        // team: bob's join and alice's, ids 1 and 2
        assert.equal(t, "--   #team  private  member  last_id 2");
        assert.equal(m.newOut().length, 0, "nothing on stdout");
    });

    it("/join of bob's public room: joined, and a typed line goes there",
       T, async () => {
        let m = mark(alice);
        alice.line("/join lobby");
        await m.err(/^-- joined #lobby; typed lines go to #lobby$/);
        const members = await must(bob, 200, "GET",
                                   "/api/rooms/lobby/members");
        assert.deepEqual(members.members.map((x) => x.user),
                         ["alice", "bob"]);

        const b = mark(bobCli);
        alice.line("hello lobby from the CLI");
        // bob's terminal labels it #lobby; his key opens it from the
        // room's history too, and it is not in general's
        const line = await b.out(/hello lobby from the CLI$/);
        assert.match(line, /^\[\d\d:\d\d:\d\d\] #lobby alice: hello lobby from the CLI$/);
        const msg = await waitHistory(bobLib, "lobby",
                                      "hello lobby from the CLI");
        assert.equal(msg.sender, "alice");
        assert.equal(msg.room, "lobby");
        assert.equal((await texts(bobLib, "general"))
                     .includes("hello lobby from the CLI"), false);
        // alice's own line comes back to her labelled likewise
        await m.out(/^\[\d\d:\d\d:\d\d\] #lobby alice: hello lobby from the CLI$/);

        // a second /join of it: already in, still the current room
        m = mark(alice);
        alice.line("/join lobby");
        await m.err(/^-- already in #lobby; typed lines go to #lobby$/);
    });

    it("/who shows the members with online marks", T, async () => {
        let m = mark(alice);
        alice.line("/who");
        await m.err(/^-- #lobby: 2 members, 2 online \(\*\)$/);
        assert.equal(await m.err(/^-- {3}[* ] alice /),
                     "--   * alice  member");
        assert.equal(await m.err(/^-- {3}[* ] bob /), "--   * bob  owner");

        // carol has a session but no socket: not online
        m = mark(alice);
        alice.line("/who general");
        await m.err(/^-- #general: 3 members, 2 online \(\*\)$/);
        assert.equal(await m.err(/^-- {3}[* ] carol /), "--     carol  member");
        assert.equal(await m.err(/^-- {3}[* ] bob /), "--   * bob  member");
    });

    it("/history prints the room's earlier messages, marked as history",
       T, async () => {
        const m = mark(alice);
        alice.line("/history 3");
        await m.err(/^-- history of #lobby: \d+ messages?/);
        await m.err(/^-- end of the history of #lobby$/);
        const h = m.newOut();
        // the last three ids of lobby: bob's second message, alice's
        // join, her message (the join is a note, not a message)
        assert.equal(h.length, 2, h.join("\n"));
        assert.match(h[0], /^\[\d\d:\d\d:\d\d\] \(history\) #lobby bob: lobby two$/);
        assert.match(h[1], /^\[\d\d:\d\d:\d\d\] \(history\) #lobby alice: hello lobby from the CLI$/);
        assert.ok(m.newErr().includes("-- history of #lobby: 2 messages "
                                      + "(more before)"), m.newErr().join("\n"));
        assert.ok(m.newErr().includes("-- (history) #lobby: join alice"),
                  m.newErr().join("\n"));

        const all = mark(alice);
        alice.line("/history");
        await all.err(/^-- end of the history of #lobby$/);
        assert.deepEqual(all.newOut().map((l) => l.replace(/^\[[\d:]+\] /, "")),
                         ["(history) #lobby bob: lobby one",
                          "(history) #lobby bob: lobby two",
                          "(history) #lobby alice: hello lobby from the CLI"]);

        const bad = mark(alice);
        alice.line("/history lots");
        await bad.err(/^-- usage: \/history \[N\]/);
    });

    it("/dm carol: the direct room, and a typed line arrives in it", T,
       async () => {
        const m = mark(alice);
        alice.line("/dm carol");
        const n = await m.err(/^-- direct room with carol: /);
        const r = /^-- direct room with carol: #(dm-[0-9a-f]{40}); typed lines go to #(dm-[0-9a-f]{40})$/.exec(n);
        assert.ok(r, n);
        assert.equal(r[1], r[2]);
        dm = r[1];
        alice.line("hello carol, directly");
        const msg = await waitHistory(carolLib, dm, "hello carol, directly");
        assert.equal(msg.sender, "alice");
        // carol's list has it as a direct room; not in lobby or general
        const c = await carolLib.rooms("GET");
        assert.equal(c.rooms.find((x) => x.name === dm)?.kind, "direct");
        assert.equal((await texts(bobLib, "lobby"))
                     .includes("hello carol, directly"), false);
        await m.out(new RegExp(`^\\[[\\d:]+\\] #${dm} alice: hello carol, directly$`));
    });

    it("a server's error: one note with its code, never a stack trace", T,
       async () => {
        const m = mark(alice);
        alice.line("/join nosuchroom");
        await m.err(/^-- \/join nosuchroom: no_such_room$/);
        alice.line("/dm nobody");
        await m.err(/^-- \/dm nobody: no_such_user$/);
        alice.line("/who nosuchroom");
        await m.err(/^-- \/who nosuchroom: no_such_room$/);
        // /room: only a room of one's own
        alice.line("/room nosuchroom");
        await m.err(/^-- \/room nosuchroom: not_member$/);
        alice.line("/join Bad!Name");
        await m.err(/^-- usage: \/join NAME$/);
        alice.line("/rooms");
        await m.err(/^-- 4 rooms:$/);
        // still in the direct room: the errors changed nothing
        assert.ok(m.newErr().some((l) => new RegExp(
            `^-- {3}#${dm} {2}direct {2}member {2}last_id \\d+ {2}\\(current\\)$`)
            .test(l)), m.newErr().join("\n"));
        assert.equal(m.newErr().filter((l) => /^\s+at |Error|\.mjs:\d/
                                       .test(l)).length, 0,
                     m.newErr().join("\n"));
        assert.equal(m.newOut().length, 0);
        assert.equal(alice.exit, null, "still running");
    });

    it("/room switches; an unknown command sends nothing; // sends a line "
       + "beginning with /", T, async () => {
        let m = mark(alice);
        alice.line("/room team");
        await m.err(/^-- now in #team; typed lines go to #team$/);
        alice.line("/room");
        await m.err(/^-- typed lines go to #team$/);
        alice.line("for the team");
        await waitHistory(bobLib, "team", "for the team");

        m = mark(alice);
        const b = mark(bobCli);
        alice.line("/frobnicate the room");
        await m.err(/^-- unknown command \/frobnicate \(\/help lists them\)$/);
        alice.line("//shrug in team");
        const slash = await b.out(/shrug in team$/);
        assert.match(slash, /^\[[\d:]+\] #team alice: \/shrug in team$/);
        const t = await texts(bobLib, "team");
        assert.deepEqual(t, ["for the team", "/shrug in team"],
                         "the unknown command was not sent");
        assert.equal(bobCli.out.some((l) => /frobnicate/.test(l)), false);

        m = mark(alice);
        alice.line("/help");
        await m.err(/^-- \/join NAME /);
        await m.err(/^-- \/\/text /);
    });

    it("/leave: out of the room, back in general, lines go there", T,
       async () => {
        let m = mark(alice);
        alice.line("/room lobby");
        await m.err(/^-- now in #lobby/);
        alice.line("/leave");
        await m.err(/^-- left #lobby$/);
        await m.err(/^-- back in #general; typed lines go to #general$/);
        const members = await must(bob, 200, "GET",
                                   "/api/rooms/lobby/members");
        assert.deepEqual(members.members.map((x) => x.user), ["bob"]);

        const b = mark(bobCli);
        alice.line("back in general after leaving");
        const g = await b.out(/back in general after leaving$/);
        assert.match(g, /^\[[\d:]+\] alice: back in general after leaving$/);

        // by name, not the current one; and again: the server says no
        m = mark(alice);
        alice.line("/leave team");
        await m.err(/^-- left #team$/);
        alice.line("/leave team");
        await m.err(/^-- \/leave team: (not_member|no_such_room)$/);
        alice.line("/room");
        await m.err(/^-- typed lines go to #general$/);
        const team = await must(bob, 200, "GET", "/api/rooms/team/members");
        assert.deepEqual(team.members.map((x) => x.user), ["bob"]);
    });

    it("bob's last socket closes: alice is told he is offline", T,
       async () => {
        const m = mark(alice);
        bobCli.end();
        assert.equal(await ended(bobCli), 0);
        await m.err(/^-- bob is offline$/);
    });

    it("--room: typed lines go to that room from the start; a room not "
       + "one's own is refused", T, async () => {
        await must(bob, 200, "POST", "/api/rooms/team/invite",
                   {user: "alice"});
        const a2 = cli("alice", ["--room", "team"]);
        try {
            await a2.waitErr(/^-- connected/, WAIT);
            assert.ok(a2.err.includes(
                "-- typed lines go to #team (/help lists the commands)"),
                      a2.err.join("\n"));
            a2.line("typed with --room team");
            const msg = await waitHistory(bobLib, "team",
                                          "typed with --room team");
            assert.equal(msg.sender, "alice");
            assert.equal((await texts(bobLib, "general"))
                         .includes("typed with --room team"), false);
            a2.end();
            assert.equal(await ended(a2), 0);
        } finally {
            a2.kill();
        }

        const a3 = cli("alice", ["--room", "lobby"]);
        try {
            assert.equal(await ended(a3), 1);
            // Debian's Node 18 warns that Ed25519 in WebCrypto is
            // experimental: not the CLI's line
            assert.deepEqual(a3.err.filter((l) => !l.startsWith("-- ")
                                           && !/ExperimentalWarning|--trace-warnings/
                                               .test(l)),
                             ["securechat: --room lobby: not one of your "
                              + "rooms (join it with /join lobby)"]);
        } finally {
            a3.kill();
        }
        const a4 = cli("alice", ["--room", "Not A Room"]);
        try {
            assert.equal(await ended(a4), 2);
            assert.deepEqual(a4.err, ["securechat: not a room name: "
                                      + "Not A Room"]);
        } finally {
            a4.kill();
        }
    });

    it("typing is noted only with --typing", T, async () => {
        const quiet = alice;
        const loud = cli("alice", ["--typing"]);
        const bobWs = await libClient(server, "bob");
        try {
            await loud.waitErr(/^-- connected/, WAIT);
            const q = mark(quiet);
            const l = mark(loud);
            const hello = new Promise((r) => bobWs.on("hello", r));
            bobWs.connect();
            await hello;
            assert.ok(bobWs.sendTyping("general"));
            await l.err(/^-- bob is typing in #general$/);
            // a general message after it: the quiet one had time for it
            await bob.post("marker after typing");
            await q.out(/bob: marker after typing$/);
            await l.out(/bob: marker after typing$/);
            assert.equal(q.newErr().some((x) => /typing/.test(x)), false,
                         q.newErr().join("\n"));
            loud.end();
            assert.equal(await ended(loud), 0);
        } finally {
            loud.kill();
            await bobWs.logout().catch(() => {});
        }
        const m = mark(alice);
        alice.end();
        assert.equal(await ended(alice), 0);
        assert.equal(m.newErr().filter((l) => /Error|\s+at /.test(l)).length,
                     0);
    });
});
