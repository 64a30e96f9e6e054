// Shared pieces of the browser tests: Chromium from Debian, pages that
// record what the console says, the CLI as a child process.

import {spawn} from "node:child_process";
import {mkdirSync} from "node:fs";
import {join} from "node:path";
import {chromium} from "playwright-core";
import {ROOT} from "./server.mjs";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const SHOTS = join(ROOT, "build", "screenshots");
mkdirSync(SHOTS, {recursive: true});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function launch() {
    // never downloads a browser: Debian's chromium, headless
    return chromium.launch({
        executablePath: CHROMIUM, headless: true,
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
}

/* A new context and page; page.problems collects CSP violations and
 * uncaught errors (WebSocket failures while the server restarts are
 * expected and not collected). */
export async function openPage(browser, baseUrl, ctxOpts = {}) {
    const context = await browser.newContext(ctxOpts);
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    page.problems = [];
    page.log = [];
    page.on("console", (m) => page.log.push(`${m.type()}: ${m.text()}`));
    page.on("framenavigated", (f) => page.log.push(`navigated: ${f.url()}`));
    page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) {
            page.problems.push(`console: ${m.text()}`);
        }
    });
    await page.goto(baseUrl + "/");
    return page;
}

export async function login(page, user, password) {
    await page.getByLabel("User name").fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", {name: "Log in"}).click();
}

export async function loginAndConnect(page, user, password) {
    await login(page, user, password);
    await waitState(page, /connected|resumed/);
}

export async function waitState(page, re, timeout = 15000) {
    try {
        await page.waitForFunction(
            ([src, flags]) => new RegExp(src, flags).test(
                document.getElementById("status").dataset.state),
            [re.source, re.flags], {timeout});
    } catch (e) {
        const s = await page.locator("#status").textContent()
            .catch(() => "?");
        const l = await page.locator("#login-error").textContent()
            .catch(() => "?");
        e.message += `\n(status: "${s}", login: "${l}")\n`
            + (page.log ?? []).slice(-20).join("\n");
        await page.screenshot({path: join(SHOTS, `failed-${Date.now()}.png`)})
            .catch(() => {});
        throw e;
    }
}

export async function send(page, text) {
    const box = page.getByRole("textbox", {name: "Message"});
    await box.fill(text);
    await box.press("Enter");
}

/* The messages the page shows: [{id, sender, text, verified}]. */
export function shown(page) {
    return page.$$eval("#messages .msg", (els) => els.map((e) => ({
        id: Number(e.dataset.id),
        sender: e.querySelector(".sender")?.textContent,
        text: e.querySelector(".text")?.textContent,
        verified: !!e.querySelector(".verified"),
    })));
}

export async function waitShown(page, text, timeout = 15000) {
    await page.waitForFunction(
        (t) => [...document.querySelectorAll("#messages .msg .text")]
            .some((e) => e.textContent === t), text, {timeout});
}

export function notices(page, kind) {
    return page.$$eval(`#messages .notice-${kind}`,
                       (els) => els.map((e) => e.textContent));
}

export function shot(page, name) {
    return page.screenshot({path: join(SHOTS, name), fullPage: false});
}

/* tools/securechat-cli.mjs as a child: lines of stdout and stderr kept,
 * waitOut/waitErr wait for a line matching. */
export function startCli(args, env) {
    const p = spawn(process.execPath,
                    [join(ROOT, "tools", "securechat-cli.mjs"), ...args],
                    {env: {...process.env, ...env},
                     stdio: ["pipe", "pipe", "pipe"]});
    const cli = {proc: p, out: [], err: [], exit: null};
    const watch = (stream, into) => {
        let buf = "";
        stream.setEncoding("utf8");
        stream.on("data", (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
                into.push(buf.slice(0, i));
                buf = buf.slice(i + 1);
            }
        });
    };
    watch(p.stdout, cli.out);
    watch(p.stderr, cli.err);
    cli.exited = new Promise((r) => p.on("exit", (code) => {
        cli.exit = code;
        r(code);
    }));
    const waitIn = (list) => async (re, timeout = 15000) => {
        const end = Date.now() + timeout;
        for (;;) {
            const hit = list.find((l) => re.test(l));
            if (hit) return hit;
            if (cli.exit !== null || Date.now() > end) {
                throw new Error(`CLI: no line matching ${re}; stdout:\n`
                                + cli.out.join("\n") + "\nstderr:\n"
                                + cli.err.join("\n"));
            }
            await sleep(50);
        }
    };
    cli.waitOut = waitIn(cli.out);
    cli.waitErr = waitIn(cli.err);
    cli.line = (s) => p.stdin.write(s + "\n");
    cli.end = () => p.stdin.end();
    cli.kill = () => {
        if (cli.exit === null) p.kill("SIGKILL");
    };
    return cli;
}
