// The chat page: html/securechat.js plus the DOM.  Text from the server is
// only ever set with textContent, never parsed as HTML.

import {SecureChatClient, describeLastIds} from "./securechat.js";

const $ = (id) => document.getElementById(id);
const SESSION_KEY = "securechat.session";
const READ_KEY = "securechat.read";
// who is online is asked for again this long after a presence notice,
// so that a burst of them costs one request
const CLIENTS_AFTER_PRESENCE_MS = 300;
const MESSAGE_MAX_BYTES = 4096;     // if GET /api/ does not say (the default)

const client = new SecureChatClient({history: true});
let clientsTimer = null;   // a refresh asked for after presence
let myUser = null;
let ready = null;           // the first start(): server key, client key

// -- rooms state -------------------------------------------------------------
// Every room's messages stay in the one #messages list (each <li> knows
// its room in data-room); only the selected room's are shown.
const GENERAL = "general";
const TYPING_MS = 4000;
const TYPING_SEND_MS = 1500;
const ROLE_RANK = {owner: 3, moderator: 2, member: 1};
let rooms = new Map();      // name -> the room as GET /api/rooms has it
let selected = GENERAL;
let unread = new Map();     // name -> messages come while not selected
let readUpTo = new Map();   // name -> the newest id seen there (kept)
let shownIds = new Map();   // name -> Set of ids in the list
let noOlder = new Set();    // rooms whose scroll-back has reached the end
let firstHelloTs = null;    // before it: the catch-up, not unread
let members = [];           // of the selected room
let membersOf = null;
let banned = [];
const peers = new Map();    // direct room -> the other user
const typers = new Map();   // "room\0user" -> until (ms)
let typingTimer = null;
const typingSent = new Map();   // room -> when this page last said so
let roomsTimer = null;
let membersTimer = null;

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
    if (stick && !li.hidden) list.scrollTop = list.scrollHeight;
}

/* Puts li in room's part of the list (null: every room's) and hides it
 * unless that room is the selected one. */
function tagRoom(li, room, id) {
    if (room !== null && room !== undefined) {
        li.dataset.room = room;
        li.hidden = room !== selected;
        if (id !== undefined && id !== null) {
            let set = shownIds.get(room);
            if (!set) {
                set = new Set();
                shownIds.set(room, set);
            }
            set.add(id);
        }
    }
    return li;
}

/* The text of a message with its http(s) links as <a>: text nodes and
 * element properties only, never HTML. */
const LINK_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
function linkify(p, text) {
    let at = 0;
    for (const m of text.matchAll(LINK_RE)) {
        let url = m[0];
        // trailing punctuation is the sentence's, not the link's
        const trail = /[.,;:!?)\]}]+$/.exec(url);
        if (trail) url = url.slice(0, -trail[0].length);
        let ok = null;
        try {
            const u = new URL(url);
            if (u.protocol === "http:" || u.protocol === "https:") ok = u;
        } catch (e) {
            ok = null;
        }
        if (!ok) continue;
        if (m.index > at) p.append(text.slice(at, m.index));
        const a = document.createElement("a");
        a.href = ok.href;
        a.textContent = url;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        p.append(a);
        at = m.index + url.length;
    }
    if (at < text.length) p.append(text.slice(at));
    return p;
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

// What this tab has read of each room, kept across a reload (as the
// session is): the catch-up after a reload counts the messages after it
// as unread again.
function loadRead(user) {
    try {
        const r = JSON.parse(sessionStorage.getItem(READ_KEY));
        return new Map(r && r.user === user ? Object.entries(r.ids) : []);
    } catch (e) {
        return new Map();
    }
}

function saveRead() {
    try {
        sessionStorage.setItem(READ_KEY, JSON.stringify(
            {user: myUser, ids: Object.fromEntries(readUpTo)}));
    } catch (e) {
        // storage disabled: a reload starts with nothing unread
    }
}

function markRead(room, id) {
    if (!(id > (readUpTo.get(room) ?? -1))) return;
    readUpTo.set(room, id);
    saveRead();
}

function forgetRead() {
    readUpTo = new Map();
    try {
        sessionStorage.removeItem(READ_KEY);
    } catch (e) {
        // nothing kept
    }
}

// -- views -------------------------------------------------------------------

function showLogin(message) {
    clearTimeout(clientsTimer);
    clientsTimer = null;
    clientsStale(null);
    $("chat-view").hidden = true;
    $("account").hidden = true;
    $("login-view").hidden = false;
    $("messages").replaceChildren();
    $("clients").replaceChildren();
    resetRooms();
    $("login-error").textContent = message ?? "";
    setStatus("offline", "Not connected");
    $("username").focus();
}

function showChat(user) {
    myUser = user;
    readUpTo = loadRead(user);
    $("me").textContent = user;
    $("login-view").hidden = true;
    $("account").hidden = false;
    $("chat-view").hidden = false;
    $("login-error").textContent = "";
    $("message").focus();
    clearTimeout(clientsTimer);
    clientsTimer = null;
    refreshClientsNow();
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
    forgetRead();
    try {
        await client.logout();
    } catch (e) {
        // the session may have ended already; either way we are out
    }
    showLogin("You have logged out.");
}

// -- messages ----------------------------------------------------------------

function messageItem(m) {
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
    li.append(meta, linkify(el("p", "text"), m.text));
    return tagRoom(li, m.room, m.id);
}

function onMessage(m) {
    if (shownIds.get(m.room)?.has(m.id)) return;
    append(messageItem(m));
    // live, or caught up after a reload past what this tab had read
    const live = firstHelloTs !== null && m.ts >= firstHelloTs;
    const missed = !live && readUpTo.has(m.room)
        && m.id > readUpTo.get(m.room);
    if (m.room === selected) {
        markRead(m.room, m.id);
    } else if (m.sender !== myUser && (live || missed)) {
        // a room's first unread message sets where reading starts
        if (!readUpTo.has(m.room)) markRead(m.room, m.id - 1);
        unread.set(m.room, (unread.get(m.room) ?? 0) + 1);
        renderUnread();
    }
    if (!rooms.has(m.room)) scheduleRooms();
    // a message ends its sender's typing
    if (typers.delete(`${m.room}\0${m.sender}`)) renderTyping();
}

function notice(kind, text, room = null, id = null) {
    const li = el("li", `notice notice-${kind}`, text);
    if (id !== null) li.dataset.id = String(id);
    append(tagRoom(li, room, id));
}

function onReset() {
    // the ids shown belong to a history the server no longer has; what
    // its new history holds follows this notice
    $("messages").replaceChildren();
    shownIds = new Map();
    noOlder = new Set();
    unread = new Map();
    forgetRead();
    renderUnread();
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
function eventText(e) {
    const by = e.by !== e.user ? ` (by ${e.by})` : "";
    const more = e.role ? `: ${e.role}`
        : e.title !== null && e.title !== undefined ? `: ${e.title}` : "";
    return `#${e.room}: ${e.event} ${e.user}${by}${more}`;
}

function onRoomEvent(e) {
    if (shownIds.get(e.room)?.has(e.id)) return;
    notice("event", eventText(e), e.room, e.id);
    if (e.room === selected) markRead(e.room, e.id);
    const mine = e.user === myUser;
    if (e.event === "deleted"
        || (mine && ["leave", "removed", "banned"].includes(e.event))) {
        if (rooms.has(e.room) && e.by !== myUser) {
            $("rooms-note").textContent = e.event === "deleted"
                ? `#${e.room} was deleted by ${e.by}.`
                : `You were ${e.event} from #${e.room} by ${e.by}.`;
        }
        dropRoom(e.room);
        return;
    }
    if (mine && e.event === "join") {
        scheduleRooms();
    }
    const r = rooms.get(e.room);
    if (r && e.event === "title" && e.title !== null) {
        r.title = e.title;
        renderRooms();
    }
    if (r && mine && e.event === "role") {
        r.role = e.role;
    }
    if (r && mine && e.event === "transfer") {
        r.role = "owner";
    }
    if (r && e.event === "transfer" && e.by === myUser) {
        r.role = "moderator";
    }
    if (e.room === selected) scheduleMembers();
}

function onGap(g) {
    const what = g.from === g.to ? `Message ${g.from} was`
        : `Messages ${g.from} to ${g.to} were`;
    notice("gap", `${what} not delivered: the server no longer holds `
           + "them, or this browser fell behind.", g.room);
    setStatus("gap", `Connected — gap: messages ${g.from}–${g.to} missing`);
}

const SERVER_ERRORS = {
    empty_message: "The message was empty.",
    no_such_room: "The server has no such room.",
    not_member: "You are not a member of this room (any more).",
    muted: "You are muted in this room: you may read, not write.",
    banned: "You are banned from this room.",
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
        refreshClientsNow();
        refreshRooms();
        break;
    case "resumed":
        setStatus("resumed", "Connected — resumed"
                  + (describeLastIds(s.lastIds) !== null
                     ? ` after ${describeLastIds(s.lastIds)}` : ""));
        $("send-error").textContent = "";
        refreshClientsNow();
        refreshRooms();
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
    clearTimeout(clientsTimer);
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
        await client.send(text, selected);
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

// -- rooms -------------------------------------------------------------------

function resetRooms() {
    rooms = new Map();
    selected = GENERAL;
    unread = new Map();
    shownIds = new Map();
    noOlder = new Set();
    firstHelloTs = null;
    members = [];
    membersOf = null;
    typers.clear();
    $("rooms").replaceChildren();
    $("members").replaceChildren();
    $("room-admin").hidden = true;
    $("directory").replaceChildren();
    $("rooms-note").textContent = "";
    $("typing").textContent = "";
    renderUnread();
    showSelected();
}

function roomLabel(name) {
    const r = rooms.get(name);
    if (r?.kind === "direct" || name.startsWith("dm-")) {
        const p = peers.get(name);
        return p ? `@${p}` : "direct room";
    }
    return `#${name}`;
}

function scheduleRooms() {
    clearTimeout(roomsTimer);
    roomsTimer = setTimeout(refreshRooms, 150);
}

async function refreshRooms() {
    clearTimeout(roomsTimer);
    roomsTimer = null;
    if (!client.session) return;
    let list;
    try {
        list = (await client.rooms("GET")).rooms ?? [];
    } catch (e) {
        $("rooms-error").textContent = `Could not load the rooms: ${
            e.message}`;
        return;
    }
    $("rooms-error").textContent = "";
    rooms = new Map(list.map((r) => [r.name, r]));
    // a room new to this tab: what it held before is not unread
    for (const r of list) {
        if (!readUpTo.has(r.name)) markRead(r.name, r.last_id ?? 0);
    }
    for (const r of list) {
        if (r.kind === "direct" && !peers.has(r.name)) findPeer(r.name);
    }
    if (!rooms.has(selected) && selected !== GENERAL) {
        select(GENERAL);
    } else {
        renderRooms();
        showSelected();
        if (membersOf !== selected) scheduleMembers();
    }
}

async function findPeer(name) {
    try {
        const m = await client.rooms("GET",
                                     `/${encodeURIComponent(name)}/members`);
        const other = (m.members ?? []).find((x) => x.user !== myUser);
        if (other) {
            peers.set(name, other.user);
            renderRooms();
            if (name === selected) showSelected();
        }
    } catch (e) {
        // shown as "direct room"
    }
}

function dropRoom(name) {
    rooms.delete(name);
    unread.delete(name);
    renderUnread();
    if (selected === name) {
        select(GENERAL);
    } else {
        renderRooms();
    }
}

function renderRooms() {
    const items = [...rooms.values()].map((r) => {
        const li = el("li", "room-item");
        li.dataset.room = r.name;
        const b = el("button", "room-button");
        b.type = "button";
        if (r.name === selected) b.setAttribute("aria-current", "true");
        b.append(el("span", "room-name", roomLabel(r.name)));
        if (r.kind === "private") b.append(el("span", "room-kind", "private"));
        const n = unread.get(r.name) ?? 0;
        const badge = el("span", "badge", String(n));
        badge.hidden = n === 0;
        badge.setAttribute("aria-label", `${n} unread`);
        b.append(badge);
        b.addEventListener("click", () => select(r.name));
        li.append(b);
        return li;
    });
    $("rooms").replaceChildren(...items);
}

function renderUnread() {
    let total = 0;
    for (const n of unread.values()) total += n;
    document.title = total > 0 ? `(${total}) securechat` : "securechat";
    $("rooms-unread").textContent = String(total);
    $("rooms-unread").hidden = total === 0;
    renderRooms();
}

function select(name) {
    selected = name;
    unread.delete(name);
    const seen = shownIds.get(name);
    if (seen?.size) markRead(name, Math.max(...seen));
    renderUnread();
    for (const li of $("messages").children) {
        if (li.dataset.room !== undefined) {
            li.hidden = li.dataset.room !== name;
        }
    }
    showSelected();
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
    $("send-error").textContent = "";
    $("older-error").textContent = "";
    members = [];
    membersOf = null;
    $("members").replaceChildren();
    $("room-admin").hidden = true;
    $("admin-note").textContent = "";
    $("admin-error").textContent = "";
    renderTyping();
    refreshMembers();
}

function showSelected() {
    const r = rooms.get(selected);
    const title = roomLabel(selected);
    $("room-title").textContent = title;
    $("room-subtitle").textContent = r && r.title && r.title !== r.name
        && r.kind !== "direct" ? r.title : "";
    $("leave-room").hidden = !r || r.kind === "direct" || selected === GENERAL;
    const older = $("load-older");
    older.disabled = noOlder.has(selected);
    older.textContent = noOlder.has(selected) ? "No older messages"
        : "Load older messages";
    $("message").setAttribute("aria-description", `to ${title}`);
}

async function onCreate(ev) {
    ev.preventDefault();
    const name = $("room-name").value.trim();
    const kind = $("room-kind").value;
    if (!/^[a-z0-9._-]{1,64}$/.test(name)) {
        $("create-error").textContent = "A room name is 1 to 64 of a–z, "
            + "0–9, dot, dash and underscore.";
        return;
    }
    $("create-button").disabled = true;
    try {
        const r = await client.rooms("POST", "", {name, kind});
        $("room-name").value = "";
        $("create-error").textContent = "";
        rooms.set(r.room.name, r.room);
        select(r.room.name);
        await refreshRooms();
    } catch (e) {
        $("create-error").textContent = {
            room_exists: "There is a room of that name already.",
            bad_room_name: "That name is not allowed.",
            too_many_rooms: "You are in too many rooms.",
            rooms_limit: "The server has as many rooms as it may.",
        }[e.code] ?? `Could not create the room: ${e.message}`;
    } finally {
        $("create-button").disabled = false;
    }
}

async function refreshDirectory() {
    let list;
    $("directory").dataset.state = "loading";
    $("directory").setAttribute("aria-busy", "true");
    try {
        list = (await client.rooms("GET", "/directory")).rooms ?? [];
    } catch (e) {
        $("directory").dataset.state = "failed";
        $("directory").setAttribute("aria-busy", "false");
        $("directory-error").textContent = `Could not load the directory: ${
            e.message}`;
        return;
    }
    $("directory-error").textContent = "";
    const items = list.map((r) => {
        const li = el("li", "dir-item");
        li.dataset.room = r.name;
        li.append(el("span", "room-name", `#${r.name}`));
        if (r.title && r.title !== r.name) {
            li.append(el("span", "room-title-small", ` ${r.title}`));
        }
        li.append(el("span", "count", ` (${r.members})`), " ");
        const b = el("button", "small", r.role ? "Open" : "Join");
        b.type = "button";
        b.setAttribute("aria-label", `${r.role ? "Open" : "Join"} #${r.name}`);
        b.addEventListener("click", () => r.role ? select(r.name)
            : joinRoom(r.name, b));
        li.append(b);
        return li;
    });
    $("directory").replaceChildren(...items);
    if (items.length === 0) {
        $("directory").append(el("li", "dir-item empty", "No public rooms."));
    }
    $("directory").dataset.state = "done";
    $("directory").setAttribute("aria-busy", "false");
}

async function joinRoom(name, button) {
    button.disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/join`, {});
        await refreshRooms();
        select(name);
    } catch (e) {
        $("directory-error").textContent = {
            banned: "You are banned from that room.",
            room_full: "That room is full.",
            too_many_rooms: "You are in too many rooms.",
        }[e.code] ?? `Could not join: ${e.message}`;
    }
    refreshDirectory();
}

async function leaveRoom() {
    const name = selected;
    if (name === GENERAL) return;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/leave`, {});
        dropRoom(name);
    } catch (e) {
        $("rooms-error").textContent = e.code === "not_allowed"
            ? "The owner must transfer or delete the room before leaving."
            : `Could not leave: ${e.message}`;
    }
}

// -- members of the selected room ---------------------------------------------

function scheduleMembers() {
    clearTimeout(membersTimer);
    membersTimer = setTimeout(refreshMembers, 150);
}

async function refreshMembers() {
    clearTimeout(membersTimer);
    membersTimer = null;
    const name = selected;
    if (!client.session || !rooms.has(name)) {
        if (!rooms.has(name)) $("members").replaceChildren();
        return;
    }
    let doc;
    try {
        doc = await client.rooms("GET", `/${encodeURIComponent(name)}/members`);
    } catch (e) {
        if (name === selected) {
            $("members-error").textContent = `Could not load the members: ${
                e.message}`;
        }
        return;
    }
    if (name !== selected) return;
    $("members-error").textContent = "";
    members = doc.members ?? [];
    banned = doc.banned ?? [];
    membersOf = name;
    const me = members.find((m) => m.user === myUser);
    const r = rooms.get(name);
    if (r && me) r.role = me.role;
    renderMembers();
}

function canModerate(mine, theirs) {
    const r = rooms.get(selected);
    if (!r || r.kind === "direct") return false;
    return (mine === "owner" || mine === "moderator")
        && ROLE_RANK[mine] > ROLE_RANK[theirs];
}

function renderMembers() {
    const myRole = members.find((m) => m.user === myUser)?.role;
    const items = members.map((m) => {
        const li = el("li", "member");
        li.dataset.user = m.user;
        li.dataset.online = String(!!m.online);
        const mark = el("span", "online-mark", m.online ? "●" : "○");
        mark.setAttribute("aria-label", m.online ? "online" : "offline");
        mark.title = m.online ? "online" : "offline";
        li.append(mark, " ", el("span", "who", m.user));
        if (m.role !== "member") li.append(el("span", "role", ` ${m.role}`));
        if (m.muted) li.append(el("span", "muted", " muted"));
        const acts = el("span", "acts");
        if (m.user !== myUser) {
            acts.append(action("Message", `Message ${m.user}`,
                               (b) => openDirect(m.user, b), "dm"));
        }
        if (m.user !== myUser && myRole === "owner" && !isDirect()) {
            acts.append(
                m.role === "moderator"
                    ? action("Make member", `Make ${m.user} a member`,
                             (b) => setRole(m.user, "member", b), "owner")
                    : action("Make moderator", `Make ${m.user} a moderator`,
                             (b) => setRole(m.user, "moderator", b), "owner"),
                action("Make owner", `Transfer the room to ${m.user}`,
                       (b) => transfer(m.user, b), "owner"));
        }
        if (m.user !== myUser && canModerate(myRole, m.role)) {
            acts.append(
                action("Remove", `Remove ${m.user} from the room`,
                       (b) => moderate("remove", m.user, b), "mod"),
                action("Ban", `Ban ${m.user} from the room`,
                       (b) => moderate("ban", m.user, b), "mod"),
                m.muted
                    ? action("Unmute", `Unmute ${m.user}`,
                             (b) => moderate("unmute", m.user, b), "mod")
                    : action("Mute", `Mute ${m.user}`,
                             (b) => moderate("mute", m.user, b), "mod"));
        }
        li.append(acts);
        return li;
    });
    for (const u of (canModerate(myRole, "member") ? banned : [])) {
        const li = el("li", "member banned");
        li.dataset.user = u;
        li.append(el("span", "who", u), el("span", "role", " banned"));
        li.append(action("Unban", `Unban ${u}`,
                         (b) => moderate("unban", u, b), "mod"));
        items.push(li);
    }
    $("members").replaceChildren(...items);
    renderAdmin(myRole);
}

function isDirect() {
    return rooms.get(selected)?.kind === "direct";
}

// -- owner's and moderators' settings of the selected room --------------------

function renderAdmin(myRole) {
    const r = rooms.get(selected);
    const box = $("room-admin");
    box.hidden = !r || r.kind === "direct" || selected === GENERAL
        || membersOf !== selected;
    if (box.hidden) return;
    // members invite to a public room, moderators to a private one
    $("invite-form").hidden = r.kind === "private" && myRole === "member";
    $("title-form").hidden = myRole !== "owner";
    $("delete-room").hidden = myRole !== "owner";
    if (document.activeElement !== $("title-input")) {
        $("title-input").value = r.title ?? r.name;
    }
}

const ADMIN_ERRORS = {
    no_such_user: "There is no such user.",
    already_member: "They are a member already.",
    banned: "They are banned from this room: unban them first.",
    not_allowed: "You may not do that in this room.",
    room_full: "The room is full.",
    too_many_rooms: "They are in too many rooms.",
    not_member: "They are not a member of this room.",
    too_long: "That title is too long (128 bytes at most).",
    bad_characters: "That title has characters the server refuses.",
};

function adminError(e, what) {
    $("admin-note").textContent = "";
    $("admin-error").textContent = ADMIN_ERRORS[e.code]
        ?? `Could not ${what}: ${e.message}`;
}

function adminDone(text) {
    $("admin-error").textContent = "";
    $("admin-note").textContent = text;
}

async function onInvite(ev) {
    ev.preventDefault();
    const name = selected;
    const user = $("invite-user").value.trim();
    if (!user) return;
    $("invite-button").disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/invite`,
                           {user});
        $("invite-user").value = "";
        adminDone(`Invited ${user} to #${name}.`);
    } catch (e) {
        adminError(e, `invite ${user}`);
    } finally {
        $("invite-button").disabled = false;
    }
    if (name === selected) refreshMembers();
}

async function onRetitle(ev) {
    ev.preventDefault();
    const name = selected;
    const title = $("title-input").value.trim();
    if (!title) return;
    $("title-button").disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/title`,
                           {title});
        const r = rooms.get(name);
        if (r) r.title = title;
        adminDone(`#${name} is now titled “${title}”.`);
        $("title-input").blur();
        showSelected();
    } catch (e) {
        adminError(e, "rename the room");
    } finally {
        $("title-button").disabled = false;
    }
}

async function deleteRoom() {
    const name = selected;
    if (!confirm(`Delete #${name} for all its members? Its messages go `
                 + "with it.")) {
        return;
    }
    try {
        await client.rooms("DELETE", `/${encodeURIComponent(name)}`);
        $("rooms-note").textContent = `#${name} was deleted.`;
        dropRoom(name);
    } catch (e) {
        adminError(e, "delete the room");
    }
}

async function setRole(user, role, button) {
    const name = selected;
    button.disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/role`,
                           {user, role});
        adminDone(`${user} is now a ${role} of #${name}.`);
    } catch (e) {
        adminError(e, `make ${user} a ${role}`);
    }
    if (name === selected) refreshMembers();
}

async function transfer(user, button) {
    const name = selected;
    if (!confirm(`Make ${user} the owner of #${name}? You stay on as a `
                 + "moderator.")) {
        return;
    }
    button.disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/transfer`,
                           {user});
        const r = rooms.get(name);
        if (r) r.role = "moderator";
        adminDone(`${user} now owns #${name}.`);
    } catch (e) {
        adminError(e, `transfer the room to ${user}`);
    }
    if (name === selected) refreshMembers();
}

function action(text, label, fn, cls) {
    const b = el("button", `small ${cls}`, text);
    b.type = "button";
    b.setAttribute("aria-label", label);
    b.addEventListener("click", () => fn(b));
    return b;
}

function onPresence(p) {
    scheduleClients();
    // a first login joins general without an event: ask again
    if (p.online && membersOf === selected
        && !members.some((m) => m.user === p.user)) {
        scheduleMembers();
    }
    for (const m of members) {
        if (m.user === p.user) m.online = p.online;
    }
    for (const li of $("members").querySelectorAll(".member")) {
        if (li.dataset.user !== p.user || li.classList.contains("banned")) {
            continue;
        }
        li.dataset.online = String(p.online);
        const mark = li.querySelector(".online-mark");
        mark.textContent = p.online ? "●" : "○";
        mark.setAttribute("aria-label", p.online ? "online" : "offline");
        mark.title = p.online ? "online" : "offline";
    }
}

async function openDirect(user, button) {
    button.disabled = true;
    try {
        const r = await client.rooms("POST", "/direct", {user});
        peers.set(r.room.name, user);
        rooms.set(r.room.name, r.room);
        select(r.room.name);
        await refreshRooms();
    } catch (e) {
        $("members-error").textContent = {
            too_many_rooms: "One of you is in too many rooms.",
            too_fast: "Too many new direct rooms; wait a moment.",
        }[e.code] ?? `Could not open a direct room: ${e.message}`;
    } finally {
        button.disabled = false;
    }
}

async function moderate(act, user, button) {
    const name = selected;
    button.disabled = true;
    try {
        await client.rooms("POST", `/${encodeURIComponent(name)}/${act}`,
                           {user});
        $("members-error").textContent = "";
    } catch (e) {
        $("members-error").textContent = e.code === "not_allowed"
            ? `You may not ${act} ${user}.`
            : `Could not ${act} ${user}: ${e.message}`;
    }
    if (name === selected) refreshMembers();
}

// -- typing --------------------------------------------------------------------

function onInput() {
    // the server relays one a room every 3 s: no need to send many more
    const now = Date.now();
    if (now - (typingSent.get(selected) ?? 0) < TYPING_SEND_MS) return;
    if ($("message").value === "") return;
    if (client.sendTyping(selected)) typingSent.set(selected, now);
}

function onTyping(t) {
    if (t.user === myUser) return;
    typers.set(`${t.room}\0${t.user}`, Date.now() + TYPING_MS);
    renderTyping();
}

function renderTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    const now = Date.now();
    const who = [];
    let next = Infinity;
    for (const [k, until] of typers) {
        if (until <= now) {
            typers.delete(k);
            continue;
        }
        const [room, user] = k.split("\0");
        if (room === selected) {
            who.push(user);
            next = Math.min(next, until);
        }
    }
    who.sort();
    $("typing").textContent = who.length === 0 ? ""
        : who.length === 1 ? `${who[0]} is typing…`
        : `${who.slice(0, -1).join(", ")} and ${who.at(-1)} are typing…`;
    if (next !== Infinity) {
        typingTimer = setTimeout(renderTyping, next - now + 20);
    }
}

// -- scroll back -----------------------------------------------------------------

async function loadOlder() {
    const name = selected;
    const ids = shownIds.get(name);
    const before = ids && ids.size > 0 ? Math.min(...ids) : null;
    const button = $("load-older");
    button.disabled = true;
    let page;
    try {
        page = await client.history(name, before, 50);
    } catch (e) {
        $("older-error").textContent = `Could not load older messages: ${
            e.message}`;
        button.disabled = false;
        return;
    }
    $("older-error").textContent = "";
    const list = $("messages");
    const anchor = [...list.children].find((li) => li.dataset.room === name)
        ?? null;
    const keep = list.scrollHeight - list.scrollTop;
    for (const it of page.items) {
        if (shownIds.get(name)?.has(it.id)) continue;
        let li;
        if (it.kind === "event") {
            li = tagRoom(el("li", "notice notice-event", eventText(it)),
                         name, it.id);
            li.dataset.id = String(it.id);
        } else {
            li = messageItem(it);
        }
        li.classList.add("older");
        li.hidden = name !== selected;
        list.insertBefore(li, anchor);
    }
    if (name === selected) list.scrollTop = list.scrollHeight - keep;
    if (!page.more) noOlder.add(name);
    if (name === selected) showSelected();
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

/*
 * Who is online, asked for at each (re)connection, when a presence
 * notice says someone came or went, and with the Refresh button; never
 * polled (presence is pushed).  A user who shares only large rooms
 * sends no presence notice (securechat_presence_members_max): the list
 * learns of them at the next refresh.
 */
function refreshClientsNow() {
    clearTimeout(clientsTimer);
    clientsTimer = null;
    refreshClients();
}

function scheduleClients() {
    if (clientsTimer !== null) return;
    clientsTimer = setTimeout(() => {
        clientsTimer = null;
        refreshClients();
    }, CLIENTS_AFTER_PRESENCE_MS);
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
    $("message").addEventListener("input", onInput);
    $("create-form").addEventListener("submit", onCreate);
    $("directory-box").addEventListener("toggle", () => {
        if (!$("directory-box").open) return;
        refreshDirectory();
    });
    $("leave-room").addEventListener("click", leaveRoom);
    $("directory-refresh").addEventListener("click", refreshDirectory);
    $("load-older").addEventListener("click", loadOlder);
    $("clients-refresh").addEventListener("click", refreshClientsNow);
    $("invite-form").addEventListener("submit", onInvite);
    $("title-form").addEventListener("submit", onRetitle);
    $("delete-room").addEventListener("click", deleteRoom);
    client.on("hello", (h) => {
        if (firstHelloTs === null) firstHelloTs = h.ts;
    });
    client.on("presence", onPresence);
    client.on("typing", onTyping);
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
