// The page across a full server restart (a new history epoch: ids begin
// again at 1) and "who is online" while the WebSocket is down.
//
//   node --test t/browser/restart.test.mjs

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {startServer, USERS} from "./server.mjs";
import {launch, openPage, login, loginAndConnect, waitState, shown,
        waitShown, notices, shot, sleep} from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_RESTART || 2203);

/* The names "who is online" shows, whether it is marked stale, and the
 * note under it. */
function online(page) {
    return page.evaluate(() => ({
        who: [...document.querySelectorAll("#clients .who")]
            .map((e) => e.textContent).sort(),
        stale: document.getElementById("clients").classList
            .contains("stale"),
        note: document.getElementById("clients-stale")?.hidden === false
            ? document.getElementById("clients-stale").textContent : null,
    }));
}

describe("full restart and a lost connection", () => {
    let server, browser;
    const pages = [];

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

    it("who is online is marked stale while the socket is down, and "
       + "refreshed at the reconnection", async () => {
        // the test sits between the page and nginx: it can cut the socket
        // and hold the next one back
        let hold = false;
        const held = [];
        let live = null;
        const context = await browser.newContext();
        await context.routeWebSocket(/\/api\/connect/, (ws) => {
            if (hold) {
                held.push(ws);
                return;
            }
            live = {page: ws, server: ws.connectToServer()};
        });
        const alice = await context.newPage();
        alice.setDefaultTimeout(15000);
        alice.problems = [];
        alice.on("pageerror", (e) => alice.problems.push(e.message));
        pages.push(alice);
        await alice.goto(server.baseUrl + "/");
        await loginAndConnect(alice, "alice", USERS.alice);
        await alice.waitForFunction(() => [...document.querySelectorAll(
            "#clients .who")].some((e) => e.textContent === "alice"));
        assert.deepEqual(await online(alice),
                         {who: ["alice"], stale: false, note: null});

        hold = true;
        await live.server.close({code: 1000});
        await live.page.close({code: 4000, reason: "cut by the test"});
        await waitState(alice, /reconnecting/);
        await alice.waitForFunction(() => document.getElementById("clients")
            .classList.contains("stale"));
        let o = await online(alice);
        assert.equal(o.stale, true);
        assert.match(o.note, /out of date.*Reconnecting/);
        await shot(alice, "restart-01-online-stale.png");

        // someone comes while alice is away: her list does not pretend
        // to know, however long she stays away (she is told of nobody)
        const bob = await openPage(browser, server.baseUrl);
        pages.push(bob);
        await loginAndConnect(bob, "bob", USERS.bob);
        await sleep(6000);
        o = await online(alice);
        assert.equal(o.stale, true, "still stale while disconnected");
        assert.deepEqual(o.who, ["alice"], "not refreshed while down");

        // back: the list is current at once
        hold = false;
        for (const ws of held) {
            ws.connectToServer();
        }
        await waitState(alice, /resumed/);
        await alice.waitForFunction(() => [...document.querySelectorAll(
            "#clients .who")].some((e) => e.textContent === "bob"));
        o = await online(alice);
        assert.equal(o.stale, false);
        assert.equal(o.note, null);
        assert.deepEqual(o.who, ["alice", "bob"]);
        await bob.context().close();
        pages.splice(pages.indexOf(bob), 1);
        await context.close();
        pages.splice(pages.indexOf(alice), 1);
    });

    it("logged in again after a full restart, the page shows the new "
       + "messages whose ids repeat old ones", async () => {
        const alice = await openPage(browser, server.baseUrl);
        pages.push(alice);
        await loginAndConnect(alice, "alice", USERS.alice);
        let carol = await server.httpUser("carol");
        const before = [await carol.post("before the restart 1"),
                        await carol.post("before the restart 2")];
        await waitShown(alice, "before the restart 2");

        // a full restart: the sessions and the history are gone
        await server.down();
        await waitState(alice, /reconnecting/);
        await server.up();
        await alice.getByText("Your session has ended. Log in again.")
            .waitFor();

        // logged in again, without reloading the page
        await login(alice, "alice", USERS.alice);
        await waitState(alice, /connected|resumed/);
        carol = await server.httpUser("carol");
        const after = [await carol.post("after the restart 1"),
                       await carol.post("after the restart 2")];
        assert.deepEqual(after, before, "the ids begin again");
        await waitShown(alice, "after the restart 2");
        const m = await shown(alice);
        assert.deepEqual(m.map((x) => [x.id, x.text, x.verified]),
                         [[after[0], "after the restart 1", true],
                          [after[1], "after the restart 2", true]]);
        const reset = await notices(alice, "reset");
        assert.equal(reset.length, 1);
        assert.match(reset[0], /history was reset/);
        await shot(alice, "restart-02-history-reset.png");

        // and it goes on: the next one, live
        const third = await carol.post("after the restart 3");
        await waitShown(alice, "after the restart 3");
        assert.equal((await shown(alice)).at(-1).id, third);
    });
});
