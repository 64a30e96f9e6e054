// An Ed25519 server key (WebCrypto's "Ed25519" in Chromium and Node), one
// worker, and trust on first use: a changed server key is reported by the
// page and by the CLI, and nothing is connected until someone accepts it.

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {mkdtempSync, writeFileSync, readFileSync} from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {startServer, USERS} from "./server.mjs";
import {launch, openPage, login, loginAndConnect, send, shown, waitShown,
        shot, startCli} from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_ED || 2202);
const WRONG = "A".repeat(43);

describe("Ed25519 server key; pinning", () => {
    let server, browser, page, keyId;
    const pinDir = mkdtempSync(join(tmpdir(), "securechat-pins-"));

    before(async () => {
        server = await startServer({port: PORT, key: "ed25519", workers: 1});
        browser = await launch();
        keyId = (await (await fetch(server.baseUrl + "/api/")).json())
            .signing_key.key_id;
    });

    after(async () => {
        assert.deepEqual(page?.problems ?? [], []);
        await browser?.close();
        const log = server?.errorLog() ?? "";
        await server?.stop();
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("the page warns when the pinned key differs, and refuses to log in",
       async () => {
        page = await openPage(browser, server.baseUrl);
        // first use pinned the real key
        assert.equal(await page.evaluate((o) => localStorage.getItem(
            "securechat.pin." + o), server.baseUrl), keyId);
        await page.evaluate(([o, w]) => localStorage.setItem(
            "securechat.pin." + o, w), [server.baseUrl, WRONG]);
        await page.reload();
        const alert = page.locator("#alert");
        await alert.waitFor();
        assert.match(await alert.textContent(),
                     /signing key has changed.*impersonating/s);
        await login(page, "alice", USERS.alice);
        await page.getByText("The server's signing key has changed; see the "
                             + "warning above.").waitFor();
        assert.equal(await page.locator("#chat-view").isHidden(), true);
        await shot(page, "11-key-changed.png");
        await page.getByRole("button", {name: "I trust the new key"}).click();
        await alert.waitFor({state: "hidden"});
        assert.equal(await page.evaluate((o) => localStorage.getItem(
            "securechat.pin." + o), server.baseUrl), keyId);
    });

    it("page and CLI exchange verified messages over Ed25519", async () => {
        await loginAndConnect(page, "alice", USERS.alice);
        assert.match(await page.locator("#server-key").textContent(),
                     /\(Ed25519\)/);
        const pins = join(pinDir, "ok.json");
        const cli = startCli(["--url", server.baseUrl, "--user", "bob",
                              "--pin-file", pins],
                             {SECURECHAT_PASSWORD: USERS.bob});
        try {
            await cli.waitErr(/^-- connected/);
            assert.deepEqual(JSON.parse(readFileSync(pins, "utf8")),
                             {[server.baseUrl]: keyId});
            await send(page, "ed25519 from the page");
            await cli.waitOut(/\] alice: ed25519 from the page$/);
            cli.line("ed25519 from the terminal");
            await waitShown(page, "ed25519 from the terminal");
            const m = (await shown(page)).find(
                (x) => x.text === "ed25519 from the terminal");
            assert.deepEqual([m.sender, m.verified], ["bob", true]);
            cli.end();
            assert.equal(await cli.exited, 0);
        } finally {
            cli.kill();
        }
    });

    it("the CLI stops loudly on a changed key, goes on when told to",
       async () => {
        const pins = join(pinDir, "changed.json");
        writeFileSync(pins, JSON.stringify({[server.baseUrl]: WRONG}));
        const env = {SECURECHAT_PASSWORD: USERS.bob};
        const args = ["--url", server.baseUrl, "--user", "bob",
                      "--pin-file", pins];
        const refused = startCli(args, env);
        assert.equal(await refused.exited, 1);
        assert.ok(refused.err.some(
            (l) => /THE SERVER'S SIGNING KEY HAS CHANGED/.test(l)));
        assert.equal(refused.out.length, 0);

        const accepted = startCli([...args, "--accept-new-key"], env);
        try {
            await accepted.waitErr(/^-- connected/);
            assert.equal(JSON.parse(readFileSync(pins, "utf8"))[
                server.baseUrl], keyId);
            accepted.end();
            assert.equal(await accepted.exited, 0);
        } finally {
            accepted.kill();
        }
    });
});
