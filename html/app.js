// The chat page: html/securechat.js plus the DOM.  Text from the server is
// only ever set with textContent, never parsed as HTML.

import {SecureChatClient, describeLastIds} from "./securechat.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "securechat.session";
const CLIENTS_EVERY_MS = 5000;
const MESSAGE_MAX_BYTES = 4096;     // if GET /api/ does not say (the default)

const client = new SecureChatClient({history: true});
let clientsTimer = null;
let myUser = null;
let ready = null;           // the first start(): server key, client key

// -- small helpers -----------------------------------------------------------

function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
}

function setStatus(state, text) {
    const s = $("status");
    s.dataset.state = state;
    s.textContent = text;
}

function showAlert(text, trust) {
    $("alert-text").textContent = text;
    $("alert-trust").hidden = !trust;
    $("alert").hidden = false;
}

function hideAlert() {
    $("alert").hidden = true;
}

function fmtTime(ms) {
    return new Date(ms).toLocaleTimeString([], {hour: "2-digit",
                                                minute: "2-digit"});
}

function fmtFull(ms) {
    return new Date(ms).toLocaleString();
}

function nearBottom(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function append(li) {
    const list = $("messages");
    const stick = nearBottom(list);
    list.append(li);
    if (stick) list.scrollTop = list.scrollHeight;
}

function saveSession(s) {
    try {
        sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
    } catch (e) {
        // storage disabled: a reload asks to log in again
    }
}

function loadSession() {
    try {
        return JSON.parse(sessionStorage.getItem(SESSION_KEY));
    } catch (e) {
        return null;
    }
}

function forgetSession() {
    try {
        sessionStorage.removeItem(SESSION_KEY);
    } catch (e) {
        // nothing kept
    }
}

// -- views -------------------------------------------------------------------

function showLogin(message) {
    clearInterval(clientsTimer);
    clientsTimer = null;
    clientsStale(null);
    $("chat-view").hidden = true;
    $("account").hidden = true;
    $("login-view").hidden = false;
    $("messages").replaceChildren();
    $("clients").replaceChildren();
    $("login-error").textContent = message ?? "";
    setStatus("offline", "Not connected");
    $("username").focus();
}

function showChat(user) {
    myUser = user;
    $("me").textContent = user;
    $("login-view").hidden = true;
    $("account").hidden = false;
    $("chat-view").hidden = false;
    $("login-error").textContent = "";
    $("message").focus();
    clearInterval(clientsTimer);
    clientsTimer = null;
    pollClients();
}

// -- login -------------------------------------------------------------------

const LOGIN_ERRORS = {
    invalid_credentials: () => "Wrong user name or password.",
    throttled: (e) => "Too many failed attempts. Wait "
        + (e.retryAfter ? `${e.retryAfter} seconds` : "a moment")
        + " and try again.",
    invalid_public_key: (e) => "The server refused this browser's key: "
        + e.message,
    zone_full: () => "The server is full right now; try again in a minute.",
    busy: () => "The server is busy; try again in a moment.",
    network: () => "The server cannot be reached. Check your connection.",
    server_key_changed: () => "The server's signing key has changed; see "
        + "the warning above.",
};

async function onLogin(ev) {
    ev.preventDefault();
    const user = $("username").value.trim();
    const password = $("password").value;
    if (!user || !password) {
        $("login-error").textContent = "Enter your user name and password.";
        return;
    }
    $("login-button").disabled = true;
    $("login-error").textContent = "Logging in…";
    try {
        // the key pair may still be in the making (RSA takes a moment)
        try {
            await ready;
        } catch (e) {
            ready = start();
            await ready;
        }
        const s = await client.login(user, password);
        $("password").value = "";
        saveSession(s);
        showChat(s.user);
        client.connect();
    } catch (e) {
        const f = LOGIN_ERRORS[e.code];
        $("login-error").textContent = f ? f(e)
            : `Login failed: ${e.message}`;
        $("password").focus();
    } finally {
        $("login-button").disabled = false;
    }
}

async function onLogout() {
    forgetSession();
    try {
        await client.logout();
    } catch (e) {
        // the session may have ended already; either way we are out
    }
    showLogin("You have logged out.");
}

// -- messages ----------------------------------------------------------------

function onMessage(m) {
    const li = el("li", "msg");
    li.dataset.id = String(m.id);
    if (m.sender === myUser) li.classList.add("mine");
    const meta = el("p", "meta");
    if (m.room !== "general") meta.append(el("span", "room", `#${m.room}`), " ");
    meta.append(el("span", "sender", m.sender), " ");
    const t = el("time", "time", fmtTime(m.ts));
    t.dateTime = new Date(m.ts).toISOString();
    t.title = fmtFull(m.ts);
    meta.append(t, " ");
    const v = el("span", "verified", "✓ verified");
    v.title = "Signature checked against the server key "
        + client.server.keyId + "; decrypted for this connection";
    meta.append(v);
    li.append(meta, el("p", "text", m.text));
    append(li);
}

function notice(kind, text) {
    const li = el("li", `notice notice-${kind}`, text);
    append(li);
}

function onReset() {
    // the ids shown belong to a history the server no longer has; what
    // its new history holds follows this notice
    $("messages").replaceChildren();
    notice("reset", "The server's history was reset (the server "
           + "restarted): earlier messages are gone and message numbers "
           + "start again.");
}

function onRejected(r) {
    // the id of a frame that failed is not to be believed: not shown
    notice("rejected", "⚠ A message failed verification and is not "
           + "shown: " + r.reason + ".");
}

// a room's membership or settings changed: not signed, shown as a notice
function onRoomEvent(e) {
    const by = e.by !== e.user ? ` (by ${e.by})` : "";
    const more = e.role ? `: ${e.role}` : e.title !== null ? `: ${e.title}` : "";
    notice("event", `#${e.room}: ${e.event} ${e.user}${by}${more}`);
}

function onGap(g) {
    const what = g.from === g.to ? `Message ${g.from} was`
        : `Messages ${g.from} to ${g.to} were`;
    notice("gap", `${what} not delivered: the server no longer holds `
           + "them, or this browser fell behind.");
    setStatus("gap", `Connected — gap: messages ${g.from}–${g.to} missing`);
}

const SERVER_ERRORS = {
    empty_message: "The message was empty.",
    no_such_room: "The server has no such room.",
    bad_characters: "The message has control characters the server "
        + "refuses.",
    throttled: "The server is overloaded: that message was dropped. Try "
        + "again.",
    too_long: "The message is too long.",
    internal_error: "The server had an internal error.",
};

function onServerError(e) {
    $("send-error").textContent = SERVER_ERRORS[e.code]
        ?? `The server refused: ${e.message || e.code}`;
}

// -- connection state --------------------------------------------------------

function onState(s) {
    switch (s.state) {
    case "connecting":
        setStatus("connecting", "Connecting…");
        clientsStale("Connecting…");
        break;
    case "connected":
        setStatus("connected", "Connected");
        $("send-error").textContent = "";
        pollClients();
        break;
    case "resumed":
        setStatus("resumed", "Connected — resumed"
                  + (describeLastIds(s.lastIds) !== null
                     ? ` after ${describeLastIds(s.lastIds)}` : ""));
        $("send-error").textContent = "";
        pollClients();
        break;
    case "reconnecting":
        clientsStale("Not connected: this list may be out of date. "
                     + "Reconnecting…");
        if (s.delay === undefined) {
            setStatus("reconnecting", "Reconnecting…");
        } else if (s.code === 1012) {
            setStatus("reconnecting", "Server restarting — reconnecting "
                      + "shortly…");
        } else {
            setStatus("reconnecting", "Connection lost — reconnecting in "
                      + `${Math.ceil(s.delay / 1000)} s…`);
        }
        break;
    case "closed":
        break;
    }
}

function onClosed(c) {
    clearInterval(clientsTimer);
    clientsTimer = null;
    clientsStale("Not connected: this list may be out of date.");
    if (c.reason === "session ended") {
        forgetSession();
        showLogin("Your session has ended. Log in again.");
        return;
    }
    if (c.reason === "hello failed verification") {
        setStatus("closed", "Disconnected: the server's greeting failed "
                  + "verification");
        showAlert("The server's greeting could not be verified, so this "
                  + "connection was not used. Reload the page to try again.",
                  false);
        return;
    }
    setStatus("closed", "Disconnected by the server (this connection was "
              + "closed, e.g. from another tab). Reload the page or press "
              + "Send to reconnect.");
    // a session that ended cannot reconnect: find out now
    client.listClients().catch((e) => {
        if (e.status === 401) {
            forgetSession();
            showLogin("Your session has ended. Log in again.");
        }
    });
}

// -- sending -----------------------------------------------------------------

async function onSend(ev) {
    ev.preventDefault();
    const box = $("message");
    const text = box.value;
    if (text.trim() === "") return;
    // the server says its limit in GET /api/; older servers do not
    const max = (client.serverInfo && client.serverInfo.message_max)
        || MESSAGE_MAX_BYTES;
    if (new TextEncoder().encode(text).length > max) {
        $("send-error").textContent = "The message is too long (at most "
            + `${max} bytes).`;
        return;
    }
    if (client.stopped && client.session) {
        client.connect();
        $("send-error").textContent = "Reconnecting; send again once "
            + "connected.";
        return;
    }
    try {
        await client.send(text);
        box.value = "";
        $("send-error").textContent = "";
    } catch (e) {
        $("send-error").textContent = e.code === "not_connected"
            ? "Not connected: the message was not sent. It is still in the "
              + "box; send it again once connected."
            : `Not sent: ${e.message}`;
    }
    box.focus();
}

function onKey(ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        $("send-form").requestSubmit();
    }
}

// -- who is online -----------------------------------------------------------

/* While the WebSocket is down the list is only what was true before: greyed
 * with why (text), until a refresh on a live connection; null: current. */
function clientsStale(text) {
    $("clients").classList.toggle("stale", text !== null);
    $("clients").setAttribute("aria-busy", String(text !== null));
    $("clients-stale").textContent = text ?? "";
    $("clients-stale").hidden = text === null;
}

/* Now and every CLIENTS_EVERY_MS (a connection after a close restarts it). */
function pollClients() {
    refreshClients();
    if (clientsTimer === null) {
        clientsTimer = setInterval(refreshClients, CLIENTS_EVERY_MS);
    }
}

async function refreshClients() {
    // polled only while connected: it is refreshed at the reconnection
    if (!client.session || !client.connected) return;
    let list;
    try {
        list = (await client.listClients()).clients ?? [];
    } catch (e) {
        if (e.status === 401) {
            forgetSession();
            client.stop();
            showLogin("Your session has ended. Log in again.");
            return;
        }
        $("clients-error").textContent = "Could not load who is online.";
        return;
    }
    if (!client.connected) {
        return;             // lost while asking: still stale
    }
    $("clients-error").textContent = "";
    clientsStale(null);
    const mine = client.conn?.conn;
    list.sort((a, b) => (a.user.localeCompare(b.user)) || a.since - b.since);
    const items = list.map((c) => {
        const li = el("li", "client");
        li.dataset.id = c.id;
        const who = el("span", "who", c.user);
        const since = el("span", "since", ` since ${fmtTime(c.since)}`);
        li.append(who, since);
        if (c.id === mine) li.append(el("span", "this-tab", " (this tab)"));
        if (c.own) {
            const b = el("button", "disconnect", "Disconnect");
            b.type = "button";
            b.setAttribute("aria-label", `Disconnect ${c.user}'s connection `
                           + `from ${fmtTime(c.since)}`
                           + (c.id === mine ? " (this tab)" : ""));
            b.addEventListener("click", () => disconnect(c.id, b));
            li.append(" ", b);
        }
        return li;
    });
    $("clients").replaceChildren(...items);
    if (items.length === 0) {
        $("clients").append(el("li", "client empty", "Nobody is connected."));
    }
}

async function disconnect(id, button) {
    button.disabled = true;
    try {
        await client.disconnectClient(id);
    } catch (e) {
        $("clients-error").textContent = {
            not_owner: "That connection is someone else's.",
            unknown_client: "That connection has closed already.",
        }[e.code] ?? `Could not disconnect: ${e.message}`;
    }
    setTimeout(refreshClients, 300);
}

// -- start -------------------------------------------------------------------

async function start() {
    try {
        const info = await client.init();
        $("server-key").textContent = `${info.server.keyId} `
            + `(${info.server.alg})`;
        hideAlert();
        return info;
    } catch (e) {
        if (e.code === "server_key_changed") {
            showAlert("Warning: the server's signing key has changed since "
                + `this browser last saw it (was ${e.pinned}, now `
                + `${e.current}). Someone may be impersonating the server. `
                + "Do not continue unless the operator told you the key "
                + "changed.", true);
        } else {
            showAlert(`The server cannot be used: ${e.message}`, false);
        }
        throw e;
    }
}

async function trustNewKey() {
    try {
        await client.trustServerKey();
        $("server-key").textContent = `${client.server.keyId} `
            + `(${client.server.alg})`;
        hideAlert();
    } catch (e) {
        showAlert(`The server cannot be used: ${e.message}`, false);
    }
}

function wire() {
    $("login-button").disabled = false;
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", onLogout);
    $("send-form").addEventListener("submit", onSend);
    $("message").addEventListener("keydown", onKey);
    $("alert-trust").addEventListener("click", trustNewKey);
    client.on("state", onState);
    client.on("message", onMessage);
    client.on("rejected", onRejected);
    client.on("gap", onGap);
    client.on("event", onRoomEvent);
    client.on("reset", onReset);
    client.on("error", onServerError);
    client.on("closed", onClosed);
}

async function main() {
    wire();
    ready = start();
    try {
        await ready;
    } catch (e) {
        if (!client.session) showLogin();
        return;
    }
    if (client.session) {
        return;             // logged in while the key was being made
    }
    // a reload keeps the session (the cookie is the browser's; the CSRF
    // token is kept for this tab) as long as the key is the same
    const s = loadSession();
    if (s && s.client_key_id === client.clientKey.keyId
        && (!s.expires || s.expires * 1000 > Date.now())) {
        client.resumeSession(s);
        showChat(s.user);
        client.connect();
    } else {
        // the form is already there: only focus it if nothing else is
        forgetSession();
        if (document.activeElement === document.body) $("username").focus();
    }
}

main();
