// securechat client library: docs/PROTOCOL.md over fetch, WebSocket and
// WebCrypto.  One ES module, no dependencies, the same code in the browser
// (html/app.js) and in Node 20 (tools/securechat-cli.mjs, t/js).
//
// Pure helpers (base64url, the signed byte strings, the header parser) and
// the cryptographic steps (verifyHello, openMessage, sealChat) are exported
// on their own so the test vectors can drive them; SecureChatClient ties
// them to the HTTP routes and the WebSocket.

const enc = new TextEncoder();
const MAX_SAFE = Number.MAX_SAFE_INTEGER;         // 2^53 - 1

export const PROTOCOL_VERSION = 2;
// until rooms scope delivery, the one room every message is posted in
export const ROOM_GENERAL = "general";
export const WRAP_ALG = "RSA-OAEP-SHA256";
export const ENC_ALG = "AES-256-GCM";
export const KW_ALG = "AES-256-KW";
export const SIG_ALGS = ["RSA-PSS-SHA256", "Ed25519"];

/* An error with a machine-readable code, and the HTTP status when it came
 * from an answer. */
export class SecureChatError extends Error {
    constructor(code, message, extra = {}) {
        super(message || code);
        this.name = "SecureChatError";
        this.code = code;
        Object.assign(this, extra);
    }
}

function fail(code, message) {
    throw new SecureChatError(code, message);
}

// -- base64url (RFC 4648 section 5, no padding, strict) --------------------

const B64U = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64U_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
    B64U_INDEX[B64U.charCodeAt(i)] = i;
}

export function b64uEncode(bytes) {
    bytes = toBytes(bytes);
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
        const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63]
               + B64U[n & 63];
    }
    if (bytes.length - i === 1) {
        const n = bytes[i] << 16;
        out += B64U[n >> 18] + B64U[(n >> 12) & 63];
    } else if (bytes.length - i === 2) {
        const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
        out += B64U[n >> 18] + B64U[(n >> 12) & 63] + B64U[(n >> 6) & 63];
    }
    return out;
}

/* Refuses padding, other alphabets, whitespace, an impossible length and
 * non-zero unused bits: one encoding per byte string, as the server. */
export function b64uDecode(s) {
    if (typeof s !== "string" || s.length % 4 === 1) {
        fail("bad_base64", "not base64url");
    }
    const out = new Uint8Array(Math.floor(s.length * 3 / 4));
    let o = 0, acc = 0, bits = 0;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        const v = c < 128 ? B64U_INDEX[c] : -1;
        if (v < 0) {
            fail("bad_base64", "not base64url");
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (acc >> bits) & 0xff;
        }
        acc &= (1 << bits) - 1;
    }
    if (acc !== 0) {
        fail("bad_base64", "non-zero trailing bits");
    }
    return out;
}

function toBytes(x) {
    if (x instanceof Uint8Array) {
        return x;
    }
    if (x instanceof ArrayBuffer) {
        return new Uint8Array(x);
    }
    if (ArrayBuffer.isView(x)) {
        return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    }
    if (typeof x === "string") {
        return enc.encode(x);
    }
    throw new TypeError("bytes expected");
}

function concat(parts) {
    let len = 0;
    for (const p of parts) {
        len += p.length;
    }
    const out = new Uint8Array(len);
    let o = 0;
    for (const p of parts) {
        out.set(p, o);
        o += p.length;
    }
    return out;
}

// -- the byte strings of PROTOCOL.md ---------------------------------------

/* F(x): 32-bit big-endian length, then x. */
export function field(x) {
    const b = toBytes(x);
    const out = new Uint8Array(4 + b.length);
    new DataView(out.buffer).setUint32(0, b.length);
    out.set(b, 4);
    return out;
}

export function u64(n) {
    if (!Number.isSafeInteger(n) || n < 0) {
        throw new RangeError("u64 out of range");
    }
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n));
    return out;
}

/* A history epoch (16 lowercase hex digits) as its u64 bytes. */
export function epochBytes(epoch, code = "bad_hello") {
    if (typeof epoch !== "string" || !/^[0-9a-f]{16}$/.test(epoch)) {
        fail(code, "malformed epoch");
    }
    const out = new Uint8Array(8);
    for (let i = 0; i < 8; i++) {
        out[i] = parseInt(epoch.slice(2 * i, 2 * i + 2), 16);
    }
    return out;
}

/* Hello signed bytes (section 6); wrappedSk as raw bytes. */
export function helloSignedBytes(h, wrappedSk) {
    return concat([
        field("securechat v2 hello"), field(h.conn), u64(h.ts),
        epochBytes(h.epoch), field(h.server_key_id), field(h.client_key_id),
        field(h.sig_alg),
        field(WRAP_ALG), field(wrappedSk),
    ]);
}

/* Message signed bytes (section 7). */
export function messageSignedBytes(hdr, iv, ct, tag) {
    return concat([field("securechat v2 message"), field(hdr), field(iv),
                   field(ct), field(tag)]);
}

/* Room event signed bytes (section 9a). */
export function eventSignedBytes(e, serverKeyId) {
    return concat([field("securechat v2 event"), field(serverKeyId),
                   u64(e.id), u64(e.ts), epochBytes(e.epoch, "bad_event"),
                   field(e.room), field(e.event), field(e.user), field(e.by),
                   field(e.role ?? e.title ?? "")]);
}

/* Presence signed bytes (section 9b). */
export function presenceSignedBytes(p, serverKeyId) {
    return concat([field("securechat v2 presence"), field(serverKeyId),
                   u64(p.ts), epochBytes(p.epoch, "bad_presence"),
                   field(p.user), new Uint8Array([p.online ? 1 : 0])]);
}

/* Chat AAD (section 8). */
export function chatAad(conn, room, n) {
    return concat([field("securechat v2 chat"), field(conn), field(room),
                   u64(n)]);
}

/* A room name: 1 to 64 of a-z 0-9 . _ -, neither "." nor "..". */
export function isRoomName(s) {
    return typeof s === "string" && /^[a-z0-9._-]{1,64}$/.test(s)
           && s !== "." && s !== "..";
}

/* The message header (section 7): version, id, ts, epoch, then six fields
 * and nothing after them. */
export function parseHeader(bytes) {
    const b = toBytes(bytes);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (b.length < 25 || b[0] !== PROTOCOL_VERSION) {
        fail("bad_header", "header version or length");
    }
    const id = dv.getBigUint64(1), ts = dv.getBigUint64(9);
    if (id > BigInt(MAX_SAFE) || ts > BigInt(MAX_SAFE)) {
        fail("bad_header", "header integer out of range");
    }
    // a string, as in the hello: 64 bits do not fit a Number
    const epoch = Array.from(b.subarray(17, 25),
                             (x) => x.toString(16).padStart(2, "0")).join("");
    const dec = new TextDecoder("utf-8", {fatal: true});
    const fields = [];
    let o = 25;
    for (let i = 0; i < 6; i++) {
        if (o + 4 > b.length) {
            fail("bad_header", "header field runs past the end");
        }
        const len = dv.getUint32(o);
        o += 4;
        if (len > b.length - o) {
            fail("bad_header", "header field runs past the end");
        }
        fields.push(dec.decode(b.subarray(o, o + len)));
        o += len;
    }
    if (o !== b.length) {
        fail("bad_header", "data after the header");
    }
    return {v: b[0], id: Number(id), ts: Number(ts), epoch, room: fields[0],
            sender: fields[1], server_key_id: fields[2], enc_alg: fields[3],
            wrap_alg: fields[4], sig_alg: fields[5]};
}

// -- keys --------------------------------------------------------------------

const subtle = () => globalThis.crypto.subtle;

export function pemToDer(pem, label = "PUBLIC KEY") {
    const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)`
                         + `-----END ${label}-----`).exec(pem);
    if (!m) {
        fail("bad_pem", `not a ${label} PEM`);
    }
    const b64 = m[1].replace(/\s+/g, "");
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) {
        out[i] = bin.charCodeAt(i);
    }
    return out;
}

export function derToPem(der, label = "PUBLIC KEY") {
    const b = toBytes(der);
    let bin = "";
    for (let i = 0; i < b.length; i++) {
        bin += String.fromCharCode(b[i]);
    }
    const b64 = btoa(bin).match(/.{1,64}/g).join("\n");
    return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/* Key id: base64url(SHA-256(SPKI DER)), 43 characters. */
export async function keyId(spkiDer) {
    return b64uEncode(new Uint8Array(
        await subtle().digest("SHA-256", toBytes(spkiDer))));
}

function sigParams(alg) {
    if (alg === "RSA-PSS-SHA256") {
        return {name: "RSA-PSS", saltLength: 32};
    }
    if (alg === "Ed25519") {
        return {name: "Ed25519"};
    }
    fail("bad_alg", `unknown signature algorithm ${alg}`);
}

/* The server key from GET /api/'s signing_key: {alg, key_id, pem}.  The
 * key id is computed here, never taken from the answer: it must match. */
export async function importServerKey(signingKey) {
    const {alg, pem} = signingKey;
    const der = pemToDer(pem);
    const params = alg === "RSA-PSS-SHA256"
        ? {name: "RSA-PSS", hash: "SHA-256"}
        : alg === "Ed25519" ? {name: "Ed25519"}
        : fail("bad_alg", `unknown signature algorithm ${alg}`);
    const key = await subtle().importKey("spki", der, params, false,
                                         ["verify"]);
    const id = await keyId(der);
    if (signingKey.key_id !== undefined && signingKey.key_id !== id) {
        fail("bad_server_key", "server key id does not match its key");
    }
    return {alg, key, keyId: id, pem};
}

/* A fresh client key pair; the private key cannot be exported. */
export async function generateClientKey() {
    const pair = await subtle().generateKey(
        {name: "RSA-OAEP", modulusLength: 2048,
         publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256"},
        false, ["encrypt", "decrypt", "wrapKey", "unwrapKey"]);
    return describeClientKey(pair.privateKey, pair.publicKey);
}

/* {privateKey, publicKey, pem, keyId} from a pair of CryptoKeys. */
export async function describeClientKey(privateKey, publicKey) {
    const der = new Uint8Array(await subtle().exportKey("spki", publicKey));
    return {privateKey, publicKey, pem: derToPem(der), keyId: await keyId(der)};
}

// -- the hello, messages and chat frames (section 10) -----------------------

const isStr = (x) => typeof x === "string";
const isId = (x) => Number.isSafeInteger(x) && x >= 0;

function hkdfParams(info) {
    return {name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0),
            info: enc.encode(info)};
}

/* The two session keys from SK, given as an HKDF CryptoKey. */
export async function deriveSessionKeys(skKey) {
    const wrapKey = await subtle().deriveKey(
        hkdfParams("securechat v1 wrap key"), skKey,
        {name: "AES-KW", length: 256}, false, ["unwrapKey"]);
    const chatKey = await subtle().deriveKey(
        hkdfParams("securechat v1 chat key"), skKey,
        {name: "AES-GCM", length: 256}, false, ["encrypt"]);
    return {wrapKey, chatKey};
}

/* Checks a hello (the parsed frame) and returns {conn, ts, epoch, wrapKey,
 * chatKey}; throws a SecureChatError on any failure. */
export async function verifyHello(h, server, client) {
    if (h === null || typeof h !== "object" || h.type !== "hello") {
        fail("bad_hello", "the first frame is not a hello");
    }
    if (h.v !== PROTOCOL_VERSION) {
        fail("bad_hello", "unknown protocol version");
    }
    if (!isStr(h.conn) || !/^[A-Za-z0-9._~-]{1,64}$/.test(h.conn)
        || !isId(h.ts) || !isStr(h.sig) || !isStr(h.wrapped_sk)
        || !isStr(h.epoch) || !/^[0-9a-f]{16}$/.test(h.epoch)) {
        fail("bad_hello", "malformed hello");
    }
    if (h.server_key_id !== server.keyId) {
        fail("wrong_server_key", "hello signed by another server key");
    }
    if (h.client_key_id !== client.keyId) {
        fail("wrong_client_key", "hello made for another client key");
    }
    if (h.sig_alg !== server.alg || h.wrap_alg !== WRAP_ALG) {
        fail("bad_hello", "unexpected algorithms in hello");
    }
    const wrappedSk = b64uDecode(h.wrapped_sk);
    const ok = await subtle().verify(sigParams(server.alg), server.key,
                                     b64uDecode(h.sig),
                                     helloSignedBytes(h, wrappedSk));
    if (!ok) {
        fail("bad_signature", "hello signature does not verify");
    }
    let sk;
    try {
        sk = await subtle().unwrapKey("raw", wrappedSk, client.privateKey,
                                      {name: "RSA-OAEP"}, "HKDF", false,
                                      ["deriveKey"]);
    } catch (e) {
        fail("bad_unwrap", "session key does not unwrap");
    }
    return {conn: h.conn, ts: h.ts, epoch: h.epoch,
            ...(await deriveSessionKeys(sk))};
}

/* Checks and opens a message frame (parsed).  `seen(id)` tells whether
 * that id was shown already; such a frame gives {duplicate: true, id}.
 * `want` may name the epoch (the hello's) and the room the message must
 * be of.  Otherwise {id, ts, epoch, room, sender, text}.  Throws a
 * SecureChatError with the step that failed.  A frame of the scroll-back
 * route carries "ek" (the CEK under the client's RSA key: wrapKey is then
 * the client's private key) instead of "wk". */
export async function openMessage(m, server, wrapKey, seen = () => false,
                                  want = {}) {
    if (m === null || typeof m !== "object" || m.type !== "message"
        || m.v !== PROTOCOL_VERSION) {
        fail("bad_frame", "not a version 2 message");
    }
    const byRsa = m.wk === undefined && isStr(m.ek);
    for (const k of ["hdr", "iv", "ct", "tag", "sig", byRsa ? "ek" : "wk"]) {
        if (!isStr(m[k])) {
            fail("bad_frame", `member ${k} missing`);
        }
    }
    const hdr = b64uDecode(m.hdr), iv = b64uDecode(m.iv),
          ct = b64uDecode(m.ct), tag = b64uDecode(m.tag),
          sig = b64uDecode(m.sig), wk = b64uDecode(byRsa ? m.ek : m.wk);
    if (iv.length !== 12 || tag.length !== 16
        || (!byRsa && wk.length !== 40)) {
        fail("bad_frame", "wrong length of iv, tag or wk");
    }

    // 1. the signature, before anything of the content is believed
    const ok = await subtle().verify(sigParams(server.alg), server.key, sig,
                                     messageSignedBytes(hdr, iv, ct, tag));
    if (!ok) {
        fail("bad_signature", "message signature does not verify");
    }

    // 2. the header
    const h = parseHeader(hdr);
    if (h.server_key_id !== server.keyId || h.enc_alg !== ENC_ALG
        || h.wrap_alg !== KW_ALG || h.sig_alg !== server.alg) {
        fail("bad_header", "unexpected key or algorithms in header");
    }
    if (m.id !== h.id || m.room !== h.room || m.epoch !== h.epoch) {
        fail("bad_frame", "frame id, room or epoch differs from the signed");
    }
    // another history's or another room's message, replayed into this one
    if ((want.epoch !== undefined && h.epoch !== want.epoch)
        || (want.room !== undefined && h.room !== want.room)) {
        fail("bad_header", "message of another history or room");
    }
    if (seen(h.id, h.room)) {
        return {duplicate: true, id: h.id};
    }

    // 3. the content key, 4. the text
    let cek;
    try {
        cek = await subtle().unwrapKey("raw", wk, wrapKey,
                                       byRsa ? {name: "RSA-OAEP"} : "AES-KW",
                                       "AES-GCM", false, ["decrypt"]);
    } catch (e) {
        fail("bad_unwrap", "message key does not unwrap");
    }
    let pt;
    try {
        pt = await subtle().decrypt(
            {name: "AES-GCM", iv, additionalData: hdr, tagLength: 128}, cek,
            concat([ct, tag]));
    } catch (e) {
        fail("bad_tag", "message does not decrypt");
    }
    let text;
    try {
        text = new TextDecoder("utf-8", {fatal: true}).decode(pt);
    } catch (e) {
        fail("bad_utf8", "message text is not UTF-8");
    }
    return {id: h.id, ts: h.ts, epoch: h.epoch, room: h.room,
            sender: h.sender, text};
}

/* A room's event (section 9a): its signature, then its fields; throws
 * {code} like openMessage().  want.epoch: the hello's. */
export async function verifyEvent(f, server, want = {}) {
    const isName = (x) => isStr(x) && /^[A-Za-z0-9._-]{1,64}$/.test(x);
    if (f?.type !== "event" || f.v !== 2 || !isId(f.id) || !isId(f.ts)
        || !isStr(f.event) || !isRoomName(f.room) || !isName(f.user)
        || !isName(f.by) || !isStr(f.sig)
        || (f.role !== undefined && !isStr(f.role))
        || (f.title !== undefined && !isStr(f.title))) {
        fail("bad_event", "malformed event frame");
    }
    const ok = await subtle().verify(sigParams(server.alg), server.key,
                                     b64uDecode(f.sig),
                                     eventSignedBytes(f, server.keyId));
    if (!ok) {
        fail("bad_signature", "event signature does not verify");
    }
    if (want.epoch !== undefined && f.epoch !== want.epoch) {
        fail("bad_event", "event of another history");
    }
    return {id: f.id, ts: f.ts, event: f.event, room: f.room, user: f.user,
            by: f.by, role: f.role ?? null, title: f.title ?? null};
}

/* A presence frame (section 9b): its signature, then its fields. */
export async function verifyPresence(f, server, want = {}) {
    if (f?.type !== "presence" || f.v !== 2 || !isId(f.ts)
        || typeof f.online !== "boolean" || !isStr(f.user) || !isStr(f.sig)
        || !/^[A-Za-z0-9._-]{1,64}$/.test(f.user)) {
        fail("bad_presence", "malformed presence frame");
    }
    const ok = await subtle().verify(sigParams(server.alg), server.key,
                                     b64uDecode(f.sig),
                                     presenceSignedBytes(f, server.keyId));
    if (!ok) {
        fail("bad_signature", "presence signature does not verify");
    }
    if (want.epoch !== undefined && f.epoch !== want.epoch) {
        fail("bad_presence", "presence of another history");
    }
    return {user: f.user, online: f.online, ts: f.ts};
}

/* "12 in general, 3 in team": where a client resumed, for people */
export function describeLastIds(lastIds) {
    const parts = Object.entries(lastIds ?? {})
        .map(([room, id]) => `${id} in ${room}`);
    return parts.length > 0 ? `message ${parts.join(", ")}` : null;
}

/* A chat frame (section 8) for `room` as the object to JSON.stringify;
 * `iv` may be given (tests), otherwise 12 fresh random bytes. */
export async function sealChat(chatKey, conn, room, n, text, iv) {
    if (!isRoomName(room)) {
        fail("bad_room", "not a room name");
    }
    iv = iv ? toBytes(iv) : globalThis.crypto.getRandomValues(
        new Uint8Array(12));
    const out = new Uint8Array(await subtle().encrypt(
        {name: "AES-GCM", iv, additionalData: chatAad(conn, room, n),
         tagLength: 128}, chatKey, enc.encode(text)));
    return {type: "chat", room, n, iv: b64uEncode(iv),
            ct: b64uEncode(out.subarray(0, out.length - 16)),
            tag: b64uEncode(out.subarray(out.length - 16))};
}

// -- storage -----------------------------------------------------------------

/* Where the client key pair lives: IndexedDB in a browser (CryptoKeys are
 * stored as they are, the private one still non-extractable), memory
 * elsewhere.  Any object with async load() and save(pair) will do. */
export function memoryKeyStore() {
    let pair = null;
    return {
        async load() { return pair; },
        async save(p) { pair = p; },
        async clear() { pair = null; },
    };
}

export function indexedDbKeyStore(dbName = "securechat") {
    const open = () => new Promise((resolve, reject) => {
        const req = indexedDB.open(dbName, 1);
        req.onupgradeneeded = () => req.result.createObjectStore("keys");
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
    });
    const run = async (mode, fn) => {
        const db = await open();
        try {
            return await new Promise((resolve, reject) => {
                const tx = db.transaction("keys", mode);
                const req = fn(tx.objectStore("keys"));
                tx.oncomplete = () => resolve(req.result);
                tx.onerror = () => reject(tx.error);
                tx.onabort = () => reject(tx.error);
            });
        } finally {
            db.close();
        }
    };
    return {
        async load() {
            const v = await run("readonly", (s) => s.get("client"));
            return v && v.privateKey && v.publicKey ? v : null;
        },
        async save(p) {
            await run("readwrite", (s) => s.put(
                {privateKey: p.privateKey, publicKey: p.publicKey}, "client"));
        },
        async clear() {
            await run("readwrite", (s) => s.delete("client"));
        },
    };
}

/* Where the pinned server key id lives (trust on first use), per server
 * origin: localStorage in a browser, a file for the CLI (tools/), memory
 * otherwise.  Any object with async get(origin) and set(origin, id). */
export function memoryPinStore() {
    const m = new Map();
    return {
        async get(o) { return m.get(o) ?? null; },
        async set(o, id) { m.set(o, id); },
    };
}

export function localStoragePinStore(prefix = "securechat.pin.") {
    return {
        async get(o) { return localStorage.getItem(prefix + o); },
        async set(o, id) { localStorage.setItem(prefix + o, id); },
    };
}

// -- the client --------------------------------------------------------------

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30000;
const SEEN_MAX = 20000;

/*
 * new SecureChatClient(options)
 *
 *   baseUrl     server root, e.g. "http://127.0.0.1:8000" (browser: the
 *               page's origin)
 *   fetch       a fetch function (default globalThis.fetch)
 *   WebSocket   a WebSocket class (default globalThis.WebSocket; Node: ws)
 *   origin      sent as the Origin header on POSTs and on the upgrade
 *               (Node only: a browser sets it itself)
 *   cookies     true to keep sc_session here and send it as a Cookie
 *               header (Node: fetch keeps no cookies); the upgrade then
 *               passes {headers} as the WebSocket's third argument, which
 *               the ws package understands
 *   keyStore    where the client key pair lives (default: IndexedDB when
 *               present, else memory)
 *   pinStore    where the pinned server key id lives (default:
 *               localStorage when present, else memory)
 *   history     true: the first connection asks for the whole history
 *               of every room (resume=*:0); false: live messages only
 *   acceptKeyChange  re-pin silently when the server key changed (never
 *               set it in a browser)
 *
 * Events (client.on(type, fn)):
 *   state     {state: "connecting"|"connected"|"resumed"|"reconnecting"|
 *              "closed", code, reason, delay, attempt}
 *   hello     {conn, ts, epoch}
 *   reset     {epoch, previous}  the server's history is another one than
 *              the messages seen so far came from (a full restart: ids
 *              begin again at 1); the seen ids are forgotten and what the
 *              new history holds follows
 *   message   {id, ts, room, sender, text, verified: true}; ids are per
 *              room
 *   event     {id, ts, event, room, user, by, role, title,
 *              verified: true}  a room's membership or settings changed
 *              (signed, verified)
 *   rejected  {id, code, reason}   a frame that failed verification
 *   presence  {user, online, ts, verified: true}  a user's first socket
 *              opened or last closed (signed)
 *   typing    {room, user, verified: false}   not signed
 *   gap       {room, from, to}
 *   error     {code, message}      server error frames and local failures
 *   keychange {pinned, current}    the server key is not the pinned one
 *   closed    {code, reason}       no further reconnection
 */
export class SecureChatClient {
    constructor(opts = {}) {
        const g = globalThis;
        this.baseUrl = (opts.baseUrl
                        ?? (g.location ? g.location.origin : "")).replace(
                            /\/+$/, "");
        this.fetch = opts.fetch ?? g.fetch.bind(g);
        this.WebSocket = opts.WebSocket ?? g.WebSocket;
        this.origin = opts.origin ?? null;
        this.manualCookies = !!opts.cookies;
        this.keyStore = opts.keyStore ?? (g.indexedDB
            ? indexedDbKeyStore() : memoryKeyStore());
        this.pinStore = opts.pinStore ?? (g.localStorage
            ? localStoragePinStore() : memoryPinStore());
        this.wantHistory = !!opts.history;
        this.acceptKeyChange = !!opts.acceptKeyChange;
        this.reconnectMin = opts.reconnectMin ?? RECONNECT_MIN_MS;
        this.reconnectMax = opts.reconnectMax ?? RECONNECT_MAX_MS;

        this.handlers = new Map();
        this.server = null;          // {alg, key, keyId, pem}
        this.clientKey = null;       // {privateKey, publicKey, pem, keyId}
        this.session = null;         // {user, csrf_token, expires, ...}
        this.cookie = null;          // "sc_session=..." when manualCookies
        this.ws = null;
        this.conn = null;            // {conn, ts, wrapKey, chatKey}
        this.n = 0;                  // last chat counter used
        this.lastIds = new Map();    // room -> highest id shown
        this.epoch = null;           // the history the ids count in
        this.since = null;           // first hello's ts (live-only start)
        this.seen = new Map();       // room -> ids seen
        this.inbox = Promise.resolve();
        this.outbox = Promise.resolve();
        this.attempt = 0;
        this.timer = null;
        this.stopped = true;
        this.everConnected = false;
    }

    on(type, fn) {
        if (!this.handlers.has(type)) {
            this.handlers.set(type, new Set());
        }
        this.handlers.get(type).add(fn);
        return () => this.handlers.get(type).delete(fn);
    }

    emit(type, detail) {
        for (const fn of this.handlers.get(type) ?? []) {
            try {
                fn(detail);
            } catch (e) {
                // a listener's bug must not break the protocol
                setTimeout(() => { throw e; });
            }
        }
    }

    // -- HTTP --

    headers(extra = {}) {
        const h = {...extra};
        if (this.origin) {
            h["Origin"] = this.origin;
        }
        if (this.manualCookies && this.cookie) {
            h["Cookie"] = this.cookie;
        }
        return h;
    }

    async request(method, path, body) {
        const h = {};
        if (method === "POST") {
            h["Content-Type"] = "application/json";
        }
        if ((method === "POST" || method === "DELETE") && this.session) {
            h["X-CSRF-Token"] = this.session.csrf_token;
        }
        let res;
        try {
            res = await this.fetch(this.baseUrl + path, {
                method, headers: this.headers(h),
                body: body === undefined ? undefined : JSON.stringify(body),
                credentials: "same-origin", cache: "no-store",
            });
        } catch (e) {
            throw new SecureChatError("network", "the server cannot be "
                                      + "reached", {cause: e});
        }
        if (this.manualCookies) {
            this.takeCookie(res);
        }
        let json = null;
        try {
            json = await res.json();
        } catch (e) {
            json = null;
        }
        if (!res.ok) {
            const ra = res.headers.get("Retry-After");
            throw new SecureChatError(
                json?.error ?? `http_${res.status}`,
                json?.message ?? `HTTP ${res.status}`,
                {status: res.status,
                 retryAfter: ra !== null && /^\d+$/.test(ra) ? Number(ra)
                             : null});
        }
        return json;
    }

    takeCookie(res) {
        const list = typeof res.headers.getSetCookie === "function"
            ? res.headers.getSetCookie()
            : [res.headers.get("set-cookie")].filter(Boolean);
        for (const c of list) {
            // over TLS the server names it __Host-sc_session
            const m = /^\s*((?:__Host-)?sc_session)=([^;]*)/.exec(c);
            if (m) {
                this.cookie = m[2] === "" || /max-age=0\b/i.test(c)
                    ? null : `${m[1]}=${m[2]}`;
            }
        }
    }

    /* GET /api/, import and pin the server key, load or make the client
     * key.  Throws SecureChatError "server_key_changed" when the pin does
     * not match (after emitting keychange) unless acceptKeyChange. */
    init() {
        // one at a time: login() waits for an init already under way
        this.initPromise = this.doInit();
        this.initPromise.catch(() => {});
        return this.initPromise;
    }

    async doInit() {
        const info = await this.request("GET", "/api/");
        if (!info || !info.signing_key
            || !SIG_ALGS.includes(info.signing_key.alg)) {
            fail("bad_server", "GET /api/ did not name a known server key");
        }
        const server = await importServerKey(info.signing_key);
        const pinKey = new URL(this.baseUrl + "/").origin;
        const pinned = await this.pinStore.get(pinKey);
        if (pinned && pinned !== server.keyId) {
            this.emit("keychange", {pinned, current: server.keyId});
            if (!this.acceptKeyChange) {
                this.pendingServer = server;
                throw new SecureChatError("server_key_changed",
                    `the server's signing key changed: pinned ${pinned}, `
                    + `now ${server.keyId}`,
                    {pinned, current: server.keyId});
            }
        }
        if (pinned !== server.keyId) {
            await this.pinStore.set(pinKey, server.keyId);
        }
        await this.loadClientKey();
        this.server = server;
        this.serverInfo = info;
        return {server: {alg: server.alg, keyId: server.keyId},
                client: {keyId: this.clientKey.keyId}};
    }

    /* After keychange: the person accepted the new key; pin it. */
    async trustServerKey() {
        if (!this.pendingServer) {
            return;
        }
        const pinKey = new URL(this.baseUrl + "/").origin;
        await this.pinStore.set(pinKey, this.pendingServer.keyId);
        this.pendingServer = null;
        return this.init();
    }

    async loadClientKey() {
        let pair = null;
        try {
            pair = await this.keyStore.load();
        } catch (e) {
            pair = null;
        }
        if (pair) {
            this.clientKey = await describeClientKey(pair.privateKey,
                                                     pair.publicKey);
            return;
        }
        this.clientKey = await generateClientKey();
        try {
            await this.keyStore.save(this.clientKey);
        } catch (e) {
            // private browsing without IndexedDB: the key lives this long
        }
    }

    /* POST /api/login with the client's public key. */
    async login(username, password) {
        if (this.initPromise) {
            await this.initPromise.catch(() => {});
        }
        if (!this.server || !this.clientKey) {
            await this.init();
        }
        this.session = null;
        const s = await this.request("POST", "/api/login", {
            username, password, public_key: this.clientKey.pem});
        if (s.client_key_id !== this.clientKey.keyId) {
            fail("wrong_client_key", "the server bound another key to the "
                 + "session");
        }
        this.session = s;
        return s;
    }

    /* A session kept by the page across a reload (sessionStorage). */
    resumeSession(s) {
        this.session = s;
    }

    async logout() {
        this.stop();
        try {
            if (this.session) {
                await this.request("POST", "/api/logout", {});
            }
        } finally {
            this.session = null;
            this.cookie = null;
        }
    }

    listClients() {
        return this.request("GET", "/api/clients");
    }

    disconnectClient(id) {
        return this.request("POST", "/api/disconnect", {client_id: id});
    }

    /* POST /api/chat: plaintext over HTTP (only TLS protects it). */
    postChat(text, room = null) {
        return this.request("POST", "/api/chat",
                            room === null ? {message: text}
                                          : {message: text, room});
    }

    /* The rooms routes (README, "Rooms"): GET or POST (or DELETE) under
     * /api/rooms; resolves with the answer's JSON, throws its error. */
    rooms(method, path = "", body = undefined) {
        return this.request(method, "/api/rooms" + path,
                            method === "POST" ? (body ?? {}) : undefined);
    }

    // -- the WebSocket --

    connectUrl() {
        const u = new URL(this.baseUrl + "/api/connect");
        u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
        // each room from the last id shown of it (docs/PROTOCOL.md,
        // section 5); every other room from what the history holds when
        // history is wanted or on a reconnection (a room joined meanwhile),
        // dropping what came before the first connection (message())
        const resume = [...this.lastIds].map(([room, id]) => `${room}:${id}`);
        if (this.wantHistory || this.since !== null) {
            resume.push("*:0");
        }
        if (resume.length > 0) {
            u.searchParams.set("resume", resume.join(","));
            if (this.lastIds.size > 0 && this.epoch !== null) {
                // a restarted server has other ids
                u.searchParams.set("epoch", this.epoch);
            }
        }
        return u.toString();
    }

    /* Opens the WebSocket and keeps it open (reconnecting with backoff)
     * until stop(), logout or a close that means the end. */
    connect() {
        if (!this.session) {
            fail("not_logged_in", "log in first");
        }
        this.stopped = false;
        this.open();
    }

    stop() {
        this.stopped = true;
        clearTimeout(this.timer);
        this.timer = null;
        if (this.ws) {
            const ws = this.ws;
            this.ws = null;
            try {
                ws.close(1000);
            } catch (e) {
                // already closed
            }
        }
        this.conn = null;
    }

    get connected() {
        return this.conn !== null;
    }

    open() {
        clearTimeout(this.timer);
        this.timer = null;
        const resuming = this.everConnected;
        this.emit("state", {state: resuming ? "reconnecting" : "connecting",
                            attempt: this.attempt});
        let ws;
        try {
            ws = this.manualCookies || this.origin
                ? new this.WebSocket(this.connectUrl(), [],
                                     {headers: this.headers()})
                : new this.WebSocket(this.connectUrl());
        } catch (e) {
            this.scheduleReconnect(1006, String(e.message ?? e));
            return;
        }
        this.ws = ws;
        this.conn = null;
        this.n = 0;
        const gotHello = {value: false};
        ws.onmessage = (ev) => {
            if (this.ws !== ws) {
                return;
            }
            const data = ev.data;
            this.inbox = this.inbox.then(
                () => this.onFrame(ws, data, gotHello, resuming));
        };
        ws.onclose = (ev) => {
            if (this.ws !== ws) {
                return;
            }
            this.ws = null;
            this.conn = null;
            // the queued frames first, then decide
            this.inbox = this.inbox.then(
                () => this.onClose(ev.code, ev.reason ?? "", gotHello.value));
        };
        ws.onerror = () => {
            // onclose follows with the code
        };
    }

    async onFrame(ws, data, gotHello, resuming) {
        if (this.ws !== ws) {
            return;
        }
        let f;
        try {
            f = JSON.parse(typeof data === "string" ? data
                           : new TextDecoder().decode(data));
        } catch (e) {
            this.emit("rejected", {id: null, code: "bad_json",
                                   reason: "a frame that is not JSON"});
            return;
        }
        if (!gotHello.value) {
            try {
                this.conn = await verifyHello(f, this.server, this.clientKey);
            } catch (e) {
                // never use this connection; a bad hello is no reason to
                // believe the next one will be better: stop
                this.emit("rejected", {id: null, code: e.code ?? "bad_hello",
                                       reason: e.message, hello: true});
                this.emit("error", {code: e.code ?? "bad_hello",
                                    message: e.message});
                this.finish(1008, "hello failed verification");
                return;
            }
            gotHello.value = true;
            if (this.since === null) {
                this.since = this.conn.ts;
            }
            if (this.epoch !== null && this.conn.epoch !== this.epoch) {
                // ids begin again at 1: the seen ones say nothing now, and
                // the server, given our old epoch, sends its whole history
                const previous = this.epoch;
                this.seen.clear();
                this.lastIds.clear();
                this.epoch = this.conn.epoch;
                this.emit("reset", {epoch: this.epoch, previous});
            }
            this.epoch = this.conn.epoch;
            this.attempt = 0;
            this.everConnected = true;
            this.emit("hello", {conn: this.conn.conn, ts: this.conn.ts,
                                epoch: this.conn.epoch});
            this.emit("state", {state: resuming ? "resumed" : "connected",
                                conn: this.conn.conn,
                                lastIds: Object.fromEntries(this.lastIds)});
            return;
        }
        if (f?.type === "message") {
            const conn = this.conn;
            try {
                const m = await openMessage(f, this.server, conn.wrapKey,
                                            (id, room) => this.hasSeen(room,
                                                                       id),
                                            {epoch: conn.epoch});
                if (m.duplicate) {
                    return;
                }
                if (!this.lastIds.has(m.room) && m.ts < this.since
                    && !this.wantHistory) {
                    // a resume before any message of the room: not ours
                    this.remember(m.room, m.id);
                    return;
                }
                this.remember(m.room, m.id);
                this.emit("message", {...m, verified: true});
            } catch (e) {
                this.emit("rejected", {
                    id: Number.isSafeInteger(f.id) ? f.id : null,
                    code: e.code ?? "bad_frame", reason: e.message});
            }
        } else if (f?.type === "event") {
            // a room's membership or settings changed, signed
            let e;
            try {
                e = await verifyEvent(f, this.server,
                                      {epoch: this.conn.epoch});
            } catch (err) {
                this.emit("rejected", {
                    id: Number.isSafeInteger(f.id) ? f.id : null,
                    code: err.code ?? "bad_event", reason: err.message});
                return;
            }
            if (this.hasSeen(e.room, e.id)) {
                return;
            }
            // a resume before anything of the room: not ours to show
            const before = !this.lastIds.has(e.room) && e.ts < this.since
                && !this.wantHistory;
            this.remember(e.room, e.id);
            if (before) {
                return;
            }
            this.emit("event", {...e, verified: true});
        } else if (f?.type === "presence") {
            try {
                const p = await verifyPresence(f, this.server,
                                               {epoch: this.conn.epoch});
                this.emit("presence", {...p, verified: true});
            } catch (err) {
                this.emit("rejected", {id: null, code: err.code ?? "bad_presence",
                                       reason: err.message});
            }
        } else if (f?.type === "typing" && isRoomName(f.room)
                   && isStr(f.user)) {
            // not signed (section 9b): a hint, never shown as fact
            this.emit("typing", {room: f.room, user: f.user, verified: false});
        } else if (f?.type === "gap" && isId(f.from) && isId(f.to)) {
            this.emit("gap", {room: isStr(f.room) ? f.room : null,
                              from: f.from, to: f.to});
        } else if (f?.type === "error") {
            this.emit("error", {code: String(f.code ?? "error"),
                                message: String(f.message ?? "")});
        } else {
            this.emit("rejected", {id: null, code: "bad_frame",
                                   reason: "an unknown frame"});
        }
    }

    hasSeen(room, id) {
        return this.seen.get(room)?.has(id) ?? false;
    }

    remember(room, id) {
        let seen = this.seen.get(room);
        if (!seen) {
            seen = new Set();
            this.seen.set(room, seen);
        }
        seen.add(id);
        if (!this.lastIds.has(room) || id > this.lastIds.get(room)) {
            this.lastIds.set(room, id);
        }
        if (seen.size > SEEN_MAX) {
            // ids only grow: the oldest are the smallest
            const drop = [...seen].sort((a, b) => a - b)
                .slice(0, seen.size - SEEN_MAX / 2);
            for (const d of drop) {
                seen.delete(d);
            }
        }
    }

    async onClose(code, reason, hadHello) {
        if (this.stopped) {
            return;
        }
        if (code === 1000) {
            // logout, /api/disconnect, session expired: the end
            this.finish(code, reason || "closed by the server");
            return;
        }
        if (!hadHello) {
            // refused before the hello (the browser hides the status):
            // ask whether the session is still alive
            try {
                await this.listClients();
            } catch (e) {
                if (e.status === 401) {
                    this.finish(code, "session ended");
                    return;
                }
            }
        }
        this.scheduleReconnect(code, reason);
    }

    scheduleReconnect(code, reason) {
        if (this.stopped) {
            return;
        }
        // 1012: the server restarts on purpose; come back quickly
        const base = code === 1012 ? 200 : this.reconnectMin;
        const delay = Math.min(this.reconnectMax,
                               base * 2 ** Math.min(this.attempt, 16));
        const jitter = Math.floor(Math.random() * delay * 0.2);
        this.attempt++;
        this.emit("state", {state: "reconnecting", code, reason,
                            delay: delay + jitter, attempt: this.attempt});
        this.timer = setTimeout(() => this.open(), delay + jitter);
    }

    finish(code, reason) {
        this.stop();
        this.emit("state", {state: "closed", code, reason});
        this.emit("closed", {code, reason});
    }

    /* Scrolls back: a room's messages and events before id `before`
     * (the newest when null), verified and opened with the client's own
     * key: {items: [{kind: "message"|"event", ...}], more, dropped}. */
    async history(room, before = null, limit = 50) {
        const q = new URLSearchParams({limit: String(limit)});
        if (before !== null) {
            q.set("before", String(before));
        }
        const doc = await this.request("GET", `/api/rooms/${
            encodeURIComponent(room)}/messages?${q}`);
        const items = [];
        for (const f of doc.items ?? []) {
            if (f?.type === "event") {
                items.push({kind: "event",
                            ...await verifyEvent(f, this.server)});
            } else {
                const m = await openMessage(f, this.server,
                                            this.clientKey.privateKey,
                                            () => false, {room});
                items.push({kind: "message", ...m});
            }
        }
        return {items, more: !!doc.more, dropped: !!doc.dropped};
    }

    /* Tells the room's other members this user is typing (the server
     * relays one a room every 3 s at most); false when not connected. */
    sendTyping(room = ROOM_GENERAL) {
        if (!this.ws || !this.conn || !isRoomName(room)) {
            return false;
        }
        this.ws.send(JSON.stringify({type: "typing", room}));
        return true;
    }

    /* Sends a chat frame to room (general by default) on the open
     * connection; resolves once it is written.  Throws "not_connected" when there is none (the caller
     * keeps the text). */
    send(text, room = ROOM_GENERAL) {
        if (!isRoomName(room)) {
            return Promise.reject(new SecureChatError("bad_room_name",
                                                      "no such room name"));
        }
        if (typeof text !== "string" || text === "") {
            return Promise.reject(new SecureChatError("empty_message",
                                                      "nothing to send"));
        }
        const ws = this.ws, conn = this.conn;
        if (!ws || !conn) {
            return Promise.reject(new SecureChatError(
                "not_connected", "not connected: the message was not sent"));
        }
        const n = ++this.n;
        // frames must leave in counter order: one after the other
        const p = this.outbox.then(async () => {
            const frame = await sealChat(conn.chatKey, conn.conn,
                                         room, n, text);
            if (this.ws !== ws || this.conn !== conn) {
                throw new SecureChatError("not_connected", "the connection "
                                          + "closed: the message was not sent");
            }
            ws.send(JSON.stringify(frame));
        });
        this.outbox = p.catch(() => {});
        return p;
    }
}
