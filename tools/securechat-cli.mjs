#!/usr/bin/env node
// securechat command-line client: the same html/securechat.js as the web
// page, with Node's fetch and WebCrypto and the `ws` package.
//
//   securechat-cli.mjs [--url URL] [--user NAME] [--room NAME] [--history]
//                      [--typing] [--pin-file FILE] [--accept-new-key]
//
// The password comes from SECURECHAT_PASSWORD, else a prompt (hidden) on
// the terminal.  Verified messages are printed as "[time] sender: text"
// (general's) or "[time] #room sender: text"; each line typed is sent as a
// chat message to the current room (--room, else general); a line
// beginning with "/" is a command (/help lists them; "//" sends a line
// beginning with "/"); end of input logs out.  Everything else (state,
// gaps, rejected frames, presence, what commands answer) goes to stderr.
// When the session ends (expired, logged out elsewhere) it logs in again,
// with the same password or by asking again, and resumes where it was.

import {createInterface} from "node:readline";
import {readFileSync, writeFileSync, mkdirSync, renameSync} from "node:fs";
import {dirname, join} from "node:path";
import {homedir} from "node:os";
import {webcrypto} from "node:crypto";
import {fileURLToPath} from "node:url";
import {SecureChatClient, memoryKeyStore, describeLastIds, isRoomName,
        ROOM_GENERAL} from "../html/securechat.js";

// Node 18 (Debian 12's) has WebCrypto only under node:crypto
globalThis.crypto ??= webcrypto;

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const COMMANDS = `  /join NAME         join a room and make it the current one
  /leave [NAME]      leave a room (default the current one)
  /room [NAME]       switch to one of your rooms (without NAME: which)
  /dm USER           the direct room with USER, made when needed; switch
  /rooms             your rooms: name, kind, role, newest id
  /who [NAME]        a room's members (default the current one), * online
  /history [N]       the current room's last N messages (default 20,
                     at most 100), marked "(history)"
  /help              this list
  //text             sends "/text"`;

const USAGE = `usage: securechat-cli.mjs [options]
  --url URL          server (env SECURECHAT_URL, default http://127.0.0.1:8000)
  --user NAME        user name (env SECURECHAT_USER, else asked)
  --room NAME        the room typed lines go to (default general; one of
                     yours: /join it first)
  --history          show the history the server holds, then live messages
  --typing           also note who is typing (not shown by default)
  --pin-file FILE    where the server key id is pinned
                     (env SECURECHAT_PIN_FILE, default
                     ~/.config/securechat/pins.json)
  --accept-new-key   the server key changed on purpose: pin the new one
  --utc              print times in UTC
password: env SECURECHAT_PASSWORD, else prompted for on the terminal
typed lines go to the current room; a line beginning with "/" is a command:
${COMMANDS}`;

function parseArgs(argv) {
    const o = {
        url: process.env.SECURECHAT_URL || "http://127.0.0.1:8000",
        user: process.env.SECURECHAT_USER || "",
        pinFile: process.env.SECURECHAT_PIN_FILE
            || join(homedir(), ".config", "securechat", "pins.json"),
        room: ROOM_GENERAL, history: false, typing: false,
        acceptNewKey: false, utc: false,
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
        else if (a === "--room") o.room = val();
        else if (a === "--history") o.history = true;
        else if (a === "--typing") o.typing = true;
        else if (a === "--accept-new-key") o.acceptNewKey = true;
        else if (a === "--utc") o.utc = true;
        else if (a === "-h" || a === "--help") {
            console.log(USAGE);
            process.exit(0);
        } else die(`unknown argument ${a}\n${USAGE}`);
    }
    if (!isRoomName(o.room)) {
        die(`not a room name: ${safe(o.room)}`);
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
    // the room typed lines go to; null when in none (left the last)
    let current = o.room;
    const printMessage = (m, mark = "") => {
        // general's as before rooms; another room's names it
        const room = m.room === ROOM_GENERAL ? "" : `#${m.room} `;
        process.stdout.write(`[${fmtTime(m.ts, o.utc)}] ${mark}${room}`
                             + `${safe(m.sender)}: ${safe(m.text)}\n`);
    };
    const describeEvent = (e) => `#${e.room}: ${e.event} ${safe(e.user)}`
        + (e.by !== e.user ? ` (by ${safe(e.by)})` : "")
        + (e.role ? `: ${e.role}` : "")
        + (e.title !== null && e.title !== undefined
           ? `: ${safe(e.title)}` : "");
    client.on("message", (m) => printMessage(m));
    client.on("event", (e) => {
        note(describeEvent(e));
        // put out of the current room (a /leave sees to its own): typed
        // lines would be refused there
        if (e.room === current && (e.event === "deleted"
            || (e.user === user && ["removed", "banned"]
                .includes(e.event)))) {
            current = e.room === ROOM_GENERAL ? null : ROOM_GENERAL;
            note(current === null
                 ? "in no room now: /join or /room one to send"
                 : `typed lines go to #${current} now`);
        }
    });
    client.on("presence", (p) => {
        if (p.user !== user) {
            note(`${safe(p.user)} is ${p.online ? "online" : "offline"}`);
        }
    });
    client.on("typing", (t) => {
        if (o.typing && t.user !== user) {
            note(`${safe(t.user)} is typing in #${t.room}`);
        }
    });
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
    if (current !== ROOM_GENERAL) {
        let mine;
        try {
            mine = (await client.rooms("GET")).rooms ?? [];
        } catch (e) {
            die(`--room ${current}: ${e.code}`, 1);
        }
        if (!mine.some((r) => r.name === current)) {
            await client.logout().catch(() => {});
            die(`--room ${current}: not one of your rooms (join it with `
                + `/join ${current})`, 1);
        }
    }
    note(`typed lines go to #${current} (/help lists the commands)`);

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

    /* My rooms (GET /api/rooms): [{name, kind, role, last_id, ...}]. */
    const myRooms = async () => (await client.rooms("GET")).rooms ?? [];
    const path = (name) => `/${encodeURIComponent(name)}`;
    const switchTo = (name, why) => {
        current = name;
        note(`${why}; typed lines go to #${name}`);
    };

    const commands = {
        async join([name]) {
            if (!isRoomName(name)) {
                throw usage("/join NAME");
            }
            try {
                await client.rooms("POST", `${path(name)}/join`, {});
                switchTo(name, `joined #${name}`);
            } catch (e) {
                if (e.code !== "already_member") throw e;
                switchTo(name, `already in #${name}`);
            }
        },
        async leave([name = current]) {
            if (!isRoomName(name)) {
                throw usage("/leave [NAME]");
            }
            await client.rooms("POST", `${path(name)}/leave`, {});
            note(`left #${name}`);
            if (name === current) {
                const left = await myRooms().catch(() => []);
                const next = left.some((r) => r.name === ROOM_GENERAL)
                    ? ROOM_GENERAL : left[0]?.name ?? null;
                if (next === null) {
                    current = null;
                    note("in no room now: /join or /room one to send");
                } else {
                    switchTo(next, `back in #${next}`);
                }
            }
        },
        async room([name]) {
            if (name === undefined) {
                note(current === null ? "in no room"
                     : `typed lines go to #${current}`);
                return;
            }
            if (!isRoomName(name)) {
                throw usage("/room NAME");
            }
            if (!(await myRooms()).some((r) => r.name === name)) {
                throw Object.assign(new Error("not_member"),
                                    {code: "not_member"});
            }
            switchTo(name, `now in #${name}`);
        },
        async dm([who]) {
            if (!who) {
                throw usage("/dm USER");
            }
            const a = await client.rooms("POST", "/direct", {user: who});
            switchTo(a.room.name, `direct room with ${safe(who)}: `
                     + `#${a.room.name}`);
        },
        async rooms() {
            const list = await myRooms();
            note(`${list.length} room${list.length === 1 ? "" : "s"}:`);
            for (const r of list) {
                note(`  #${r.name}  ${r.kind}  ${r.role}  last_id `
                     + `${r.last_id}${r.name === current ? "  (current)"
                                      : ""}`);
            }
        },
        async who([name = current]) {
            if (!isRoomName(name)) {
                throw usage("/who [NAME]");
            }
            const a = await client.rooms("GET", `${path(name)}/members`);
            const ms = a.members ?? [];
            note(`#${name}: ${ms.length} member${ms.length === 1 ? "" : "s"}`
                 + `, ${ms.filter((m) => m.online).length} online (*)`);
            for (const m of ms) {
                note(`  ${m.online ? "*" : " "} ${safe(m.user)}  ${m.role}`
                     + `${m.muted ? "  muted" : ""}`);
            }
        },
        async history([n = "20"]) {
            if (!/^\d{1,3}$/.test(n) || +n < 1 || +n > 100) {
                throw usage("/history [N], N from 1 to 100");
            }
            if (current === null) {
                throw usage("/history: in no room");
            }
            const room = current;
            const h = await client.history(room, null, Number(n));
            const count = h.items.filter((i) => i.kind === "message").length;
            note(`history of #${room}: ${count} message`
                 + `${count === 1 ? "" : "s"}`
                 + (h.more ? " (more before)" : "")
                 + (h.dropped ? " (earlier ones no longer held)" : ""));
            for (const i of h.items) {
                if (i.kind === "message") {
                    printMessage(i, "(history) ");
                } else {
                    note(`(history) ${describeEvent(i)}`);
                }
            }
            note(`end of the history of #${room}`);
        },
        async help() {
            for (const l of COMMANDS.split("\n")) {
                note(l.trimStart() === l ? l : l.slice(2));
            }
        },
    };
    // a mistake in the command itself: its usage, not a server error
    const usage = (text) => Object.assign(new Error(text), {usage: true});

    const command = async (line) => {
        const [word, ...args] = line.slice(1).trim().split(/\s+/);
        const name = word.toLowerCase();
        const run = Object.hasOwn(commands, name) ? commands[name] : null;
        if (run === null) {
            note(`unknown command /${safe(word)} (/help lists them)`);
            return;
        }
        try {
            await run(args);
        } catch (e) {
            const what = [`/${name}`, ...args].map(safe).join(" ");
            note(e.usage ? `usage: ${e.message}`
                 : `${what}: ${e.code ?? e.message}`);
        }
    };

    let pending = Promise.resolve();
    const readLines = () => {
        const r = createInterface({input: process.stdin, terminal: false});
        rl = r;
        r.on("line", (line) => {
            if (line.trim() === "") return;
            if (line.startsWith("/") && !line.startsWith("//")) {
                pending = pending.then(() => command(line));
                return;
            }
            if (line.startsWith("//")) {
                line = line.slice(1);
            }
            pending = pending.then(async () => {
                // wait out a reconnection rather than drop the line
                for (let i = 0; i < 100 && !client.connected; i++) {
                    await sleep(100);
                }
                if (current === null) {
                    note("not sent: in no room (/join or /room one)");
                    return;
                }
                try {
                    await client.send(line, current);
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
