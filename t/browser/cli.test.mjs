// The command-line client (tools/securechat-cli.mjs): without its npm
// dependency it says how to install it; when its session ends it logs in
// again and goes on; after a full restart of the server it starts afresh.
//
//   node --test t/browser/cli.test.mjs

import {describe, it, before, after} from "node:test";
import assert from "node:assert/strict";
import {spawn} from "node:child_process";
import {copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync}
    from "node:fs";
import {tmpdir} from "node:os";
import {join} from "node:path";
import {startServer, USERS, ROOT} from "./server.mjs";
import {startCli} from "./lib.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_CLI || 2204);

describe("the CLI", () => {
    let server;
    const tmp = mkdtempSync(join(tmpdir(), "securechat-cli-"));

    before(async () => {
        // sessions of 3 s, pinged every second: an expired session's
        // socket is closed (1000) within about a second
        server = await startServer({
            port: PORT, key: "ed25519", workers: 1,
            extra: "    securechat_session_lifetime 3s;\n"
                   + "    securechat_ping_interval 1s;\n"});
    });

    after(async () => {
        const log = server?.errorLog() ?? "";
        await server?.stop();
        rmSync(tmp, {recursive: true, force: true});
        assert.doesNotMatch(log, /\[alert\]|\[emerg\]|AddressSanitizer/);
    });

    it("without the ws package: one line saying how to install it, exit 2",
       async () => {
        // the CLI and its library where no node_modules can be found
        const dir = join(tmp, "no-deps");
        mkdirSync(join(dir, "tools"), {recursive: true});
        mkdirSync(join(dir, "html"));
        copyFileSync(join(ROOT, "tools", "securechat-cli.mjs"),
                     join(dir, "tools", "securechat-cli.mjs"));
        copyFileSync(join(ROOT, "html", "securechat.js"),
                     join(dir, "html", "securechat.js"));
        // ES modules as in the project (Node 18 does not detect them)
        copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
        const p = spawn(process.execPath,
                        [join(dir, "tools", "securechat-cli.mjs"),
                         "--url", server.baseUrl, "--user", "alice"],
                        {env: {...process.env,
                               SECURECHAT_PASSWORD: USERS.alice},
                         stdio: ["ignore", "pipe", "pipe"]});
        let out = "", err = "";
        p.stdout.on("data", (d) => { out += d; });
        p.stderr.on("data", (d) => { err += d; });
        const code = await new Promise((r) => p.on("exit", r));
        assert.equal(code, 2);
        assert.equal(out, "");
        const lines = err.split("\n").filter((l) => l !== "");
        assert.equal(lines.length, 1, `one line, not a stack trace:\n${err}`);
        assert.match(lines[0],
                     /"ws" is missing: run `npm ci` in .*make browser-deps/);
    });

    it("logs in again when its session ends, and goes on", async () => {
        const cli = startCli(["--url", server.baseUrl, "--user", "alice",
                              "--pin-file", join(tmp, "pins.json")],
                             {SECURECHAT_PASSWORD: USERS.alice});
        try {
            await cli.waitErr(/^-- connected/);
            // the server closes the socket at expiry (1000), and the
            // session is gone (401): log in again, reconnect
            await cli.waitErr(/^-- the session ended; logging in again$/);
            await cli.waitErr(/^-- logged in again as alice$/);
            await cli.waitErr(/^-- reconnected/);
            assert.equal(cli.exit, null, "still running");
            const bob = await server.httpUser("bob");
            await bob.post("to alice after her session ended");
            await cli.waitOut(/bob: to alice after her session ended$/);
            cli.end();
            assert.equal(await cli.exited, 0);
        } finally {
            cli.kill();
        }
    });

    it("asked for the password on a terminal, asks again when the session "
       + "ends", {skip: !existsSync("/usr/bin/script") && "no script(1)"},
       async () => {
        // script(1) gives the CLI a terminal (util-linux, in every Debian)
        const cmd = [process.execPath,
                     join(ROOT, "tools", "securechat-cli.mjs"),
                     "--url", server.baseUrl, "--user", "alice",
                     "--pin-file", join(tmp, "pins.json")]
            .map((a) => `'${a}'`).join(" ");
        const env = {...process.env};
        delete env.SECURECHAT_PASSWORD;
        const p = spawn("/usr/bin/script", ["-qfc", cmd, "/dev/null"],
                        {env, stdio: ["pipe", "pipe", "pipe"]});
        let out = "";
        p.stdout.on("data", (d) => { out += d; });
        const wait = async (re) => {
            for (const end = Date.now() + 15000; !re.test(out);) {
                assert.ok(Date.now() < end, `no ${re} in:\n${out}`);
                await new Promise((r) => setTimeout(r, 50));
            }
        };
        try {
            await wait(/password: /);
            p.stdin.write(USERS.alice + "\r");
            await wait(/-- connected/);
            await wait(/the session ended; logging in again[^]*password: /);
            p.stdin.write(USERS.alice + "\r");
            await wait(/-- logged in again as alice[^]*-- reconnected/);
            const bob = await server.httpUser("bob");
            await bob.post("to alice on her terminal");
            await wait(/bob: to alice on her terminal/);
            assert.doesNotMatch(out, new RegExp(USERS.alice),
                                "the password is not echoed");
        } finally {
            p.kill();
        }
    });

    it("across a full restart: logs in again, says the history was reset "
       + "and prints the new messages whose ids repeat old ones", async () => {
        let bob = await server.httpUser("bob");
        const cli = startCli(["--url", server.baseUrl, "--user", "alice",
                              "--pin-file", join(tmp, "pins.json")],
                             {SECURECHAT_PASSWORD: USERS.alice});
        try {
            await cli.waitErr(/^-- connected/);
            const old = await bob.post("before the restart");
            await cli.waitOut(/bob: before the restart$/);
            await server.restart();
            bob = await server.httpUser("bob");
            const id = await bob.post("after the restart");
            assert.ok(id <= old, `id ${id} was seen before the restart`);
            await cli.waitErr(/^-- the server's history was reset/);
            await cli.waitOut(/bob: after the restart$/);
            assert.equal(cli.exit, null, "still running");
            cli.end();
            assert.equal(await cli.exited, 0);
        } finally {
            cli.kill();
        }
    });
});
