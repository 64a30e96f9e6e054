#!/usr/bin/env node
// securechat command-line client: the same html/securechat.js as the web
// page, with Node's fetch and WebCrypto and the `ws` package.
//
//   securechat-cli.mjs [--url URL] [--user NAME] [--history]
//                      [--pin-file FILE] [--accept-new-key]
//
// The password comes from SECURECHAT_PASSWORD, else a prompt (hidden) on
// the terminal.  Verified messages are printed as "[time] sender: text";
// each line typed is sent as a chat message; end of input logs out.
// Everything else (state, gaps, rejected frames) goes to stderr.  When the
// session ends (expired, logged out elsewhere) it logs in again, with the
// same password or by asking again, and resumes where it was.

import {createInterface} from "node:readline";
import {readFileSync, writeFileSync, mkdirSync, renameSync} from "node:fs";
import {dirname, join} from "node:path";
import {homedir} from "node:os";
import {webcrypto} from "node:crypto";
import {fileURLToPath} from "node:url";
import {SecureChatClient, memoryKeyStore, describeLastIds}
    from "../html/securechat.js";

// Node 18 (Debian 12's) has WebCrypto only under node:crypto
globalThis.crypto ??= webcrypto;

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const USAGE = `usage: securechat-cli.mjs [options]
  --url URL          server (env SECURECHAT_URL, default http://127.0.0.1:8000)
  --user NAME        user name (env SECURECHAT_USER, else asked)
  --history          show the history the server holds, then live messages
  --pin-file FILE    where the server key id is pinned
                     (env SECURECHAT_PIN_FILE, default
                     ~/.config/securechat/pins.json)
  --accept-new-key   the server key changed on purpose: pin the new one
  --utc              print times in UTC
password: env SECURECHAT_PASSWORD, else prompted for on the terminal`;

function parseArgs(argv) {
    const o = {
        url: process.env.SECURECHAT_URL || "http://127.0.0.1:8000",
        user: process.env.SECURECHAT_USER || "",
        pinFile: process.env.SECURECHAT_PIN_FILE
            || join(homedir(), ".config", "securechat", "pins.json"),
        history: false, acceptNewKey: false, utc: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const val = () => {
            if (i + 1 >= argv.length) {
                die(`${a} needs a value\n${USAGE}`);
            }
            return argv[++i];
        };
        if (a === "--url") o.url = val();
        else if (a === "--user") o.user = val();
        else if (a === "--pin-file") o.pinFile = val();
        else if (a === "--history") o.history = true;
        else if (a === "--accept-new-key") o.acceptNewKey = true;
        else if (a === "--utc") o.utc = true;
        else if (a === "-h" || a === "--help") {
            console.log(USAGE);
            process.exit(0);
        } else die(`unknown argument ${a}\n${USAGE}`);
    }
    return o;
}

function die(msg, code = 2) {
    process.stderr.write(`securechat: ${msg}\n`);
    process.exit(code);
}

const note = (msg) => process.stderr.write(`-- ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* The one npm dependency: missing, say how to get it (no stack trace). */
async function loadWebSocket() {
    try {
        return (await import("ws")).default;
    } catch (e) {
        if (e && e.code === "ERR_MODULE_NOT_FOUND") {
            die("the npm package \"ws\" is missing: run `npm ci` in "
                + `${ROOT} (or \`make browser-deps\` there)`);
        }
        throw e;
    }
}

/* The pinned server key ids, one JSON file: {"origin": "key id"}. */
function filePinStore(file) {
    const read = () => {
        try {
            return JSON.parse(readFileSync(file, "utf8"));
        } catch (e) {
            return {};
        }
    };
    return {
        async get(origin) { return read()[origin] ?? null; },
        async set(origin, id) {
            const all = read();
            all[origin] = id;
            mkdirSync(dirname(file), {recursive: true, mode: 0o700});
            writeFileSync(file + ".tmp", JSON.stringify(all, null, 1) + "\n",
                          {mode: 0o600});
            renameSync(file + ".tmp", file);
        },
    };
}

/* Asks on the terminal; hidden input for the password. */
function ask(question, hidden) {
    return new Promise((resolve) => {
        const rl = createInterface({input: process.stdin,
                                    output: process.stderr, terminal: true});
        if (hidden) {
            rl._writeToOutput = (s) => {
                if (s.includes(question)) rl.output.write(s);
            };
        }
        rl.question(question, (ans) => {
            rl.close();
            if (hidden) process.stderr.write("\n");
            resolve(ans);
        });
    });
}

function fmtTime(ms, utc) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    return utc
        ? `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`
        : `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/* Control characters other than tab and newline are shown escaped, so a
 * message cannot move the cursor or rewrite the terminal. */
function safe(text) {
    return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
        .replace(/\n/g, "\n    ");
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    let base;
    try {
        base = new URL(o.url);
    } catch (e) {
        die(`not a URL: ${o.url}`);
    }
    const WebSocket = await loadWebSocket();
    const tty = process.stdin.isTTY;
    const user = o.user || (tty ? await ask("user: ") : "");
    // kept for logging in again; a prompted one is asked for again
    const fromEnv = process.env.SECURECHAT_PASSWORD !== undefined;
    let password = process.env.SECURECHAT_PASSWORD
        ?? (tty ? await ask("password: ", true) : null);
    if (!user || password === null) {
        die("give --user and SECURECHAT_PASSWORD (no terminal to ask on)");
    }

    const client = new SecureChatClient({
        baseUrl: base.origin, fetch: globalThis.fetch, WebSocket,
        origin: base.origin, cookies: true,
        keyStore: memoryKeyStore(), pinStore: filePinStore(o.pinFile),
        history: o.history, acceptKeyChange: o.acceptNewKey,
    });

    client.on("keychange", ({pinned, current}) => {
        process.stderr.write(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            + "!! THE SERVER'S SIGNING KEY HAS CHANGED\n"
            + `!!   pinned: ${pinned}\n!!   now:    ${current}\n`
            + "!! Someone may be impersonating the server.  If the operator\n"
            + "!! changed the key on purpose, run again with --accept-new-key.\n"
            + "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n");
    });
    client.on("message", (m) => {
        // general's as before rooms; another room's names it
        const room = m.room === "general" ? "" : `#${m.room} `;
        process.stdout.write(`[${fmtTime(m.ts, o.utc)}] ${room}${m.sender}: `
                             + `${safe(m.text)}\n`);
    });
    client.on("event", (e) => note(`#${e.room}: ${e.event} ${safe(e.user)}`
        + (e.by !== e.user ? ` (by ${safe(e.by)})` : "")
        + (e.role ? `: ${e.role}` : "")
        + (e.title !== null ? `: ${safe(e.title)}` : "")));
    client.on("rejected", (r) => {
        process.stderr.write(`!! REJECTED a frame${r.id !== null
            ? ` (id ${r.id})` : ""} that failed verification: ${r.reason}\n`);
    });
    client.on("reset", () => note("the server's history was reset (the "
        + "server restarted): message ids start again; showing its new "
        + "history"));
    client.on("gap", (g) => note(`messages ${g.from} to ${g.to} were not `
                                 + "delivered"));
    client.on("error", (e) => note(`server: ${e.code}${e.message
                                   ? ": " + e.message : ""}`));
    client.on("state", (s) => {
        if (s.state === "connected") note(`connected (${s.conn})`);
        else if (s.state === "resumed") note(`reconnected (${s.conn}), `
            + `resumed after ${describeLastIds(s.lastIds) ?? "no message"}`);
        else if (s.state === "reconnecting" && s.delay !== undefined) {
            note(`${s.code === 1012 ? "server restarting" : "connection lost"}`
                 + ` (${s.code}); reconnecting in `
                 + `${(s.delay / 1000).toFixed(1)} s`);
        }
    });

    let info;
    try {
        info = await client.init();
    } catch (e) {
        die(e.message, 1);
    }
    note(`server key ${info.server.keyId} (${info.server.alg})`);
    const why = (e) => ({
        invalid_credentials: "wrong user name or password",
        throttled: `too many failed logins; try again in `
                   + `${e.retryAfter ?? "a few"} s`,
        invalid_public_key: `the server refused our key: ${e.message}`,
    }[e.code] ?? e.message);
    try {
        await client.login(user, password);
    } catch (e) {
        die(`login failed: ${why(e)}`, 1);
    }
    note(`logged in as ${user}`);

    let ending = false;
    let relogging = false;
    let rl = null;

    /* The session ended under us: log in again and resume (lastId is
     * kept).  A server that is away is waited for; a password that no
     * longer works is asked for again on a terminal, else it is the end. */
    const relogin = async () => {
        relogging = true;
        note("the session ended; logging in again");
        let askAgain = !fromEnv;
        for (let wait = 500; !ending; wait = Math.min(wait * 2, 30000)) {
            if (askAgain) {
                if (!tty) {
                    die("the session ended and there is no terminal to ask "
                        + "for the password on", 1);
                }
                // the line reader would take the password as a message
                const r = rl;
                rl = null;
                r?.close();
                password = await ask("password: ", true);
                askAgain = false;
            }
            try {
                await client.login(user, password);
                break;
            } catch (e) {
                if (e.code === "invalid_credentials" && fromEnv) {
                    die(`login failed: ${why(e)}`, 1);
                }
                note(`login failed: ${why(e)}`);
                if (e.code === "invalid_credentials") {
                    askAgain = true;
                    continue;
                }
                await sleep((e.retryAfter ?? 0) * 1000 || wait);
            }
        }
        if (ending) {
            return;
        }
        note(`logged in again as ${user}`);
        relogging = false;
        if (rl === null) {
            readLines();
        }
        client.connect();
    };

    const end = async (code) => {
        if (ending) return;
        ending = true;
        try {
            await client.outbox;
            await client.logout();
        } catch (e) {
            // the session may be gone already
        }
        process.exit(code);
    };
    client.on("closed", async (c) => {
        if (ending || relogging) {
            return;
        }
        // 1000 is also what an expired session or a logout elsewhere
        // closes with: the session tells which
        let ended = c.reason === "session ended";
        if (!ended && c.code === 1000) {
            try {
                await client.listClients();
            } catch (e) {
                ended = e.status === 401;
            }
        }
        if (ended) {
            await relogin();
            return;
        }
        note(`connection closed: ${c.reason} (${c.code})`);
        process.exit(c.code === 1000 ? 0 : 1);
    });
    const ready = new Promise((resolve) => client.on("hello", resolve));
    client.connect();
    await ready;

    let pending = Promise.resolve();
    const readLines = () => {
        const r = createInterface({input: process.stdin, terminal: false});
        rl = r;
        r.on("line", (line) => {
            if (line.trim() === "") return;
            pending = pending.then(async () => {
                // wait out a reconnection rather than drop the line
                for (let i = 0; i < 100 && !client.connected; i++) {
                    await sleep(100);
                }
                try {
                    await client.send(line);
                } catch (e) {
                    note(`not sent: ${e.message}`);
                }
            });
        });
        r.on("close", () => {
            // closed by relogin() to ask for the password: not the end
            if (rl === r) {
                pending.then(() => end(0));
            }
        });
    };
    readLines();
    process.on("SIGINT", () => end(130));
    process.on("SIGTERM", () => end(143));
}

main().catch((e) => die(e.stack || String(e), 1));
