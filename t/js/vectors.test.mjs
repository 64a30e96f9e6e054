// html/securechat.js against docs/vectors.json: the same functions the
// page and the CLI use, with Node 20's WebCrypto.
//
//   node --test t/js

import {test} from "node:test";
import assert from "node:assert/strict";
import {readFileSync} from "node:fs";
import {webcrypto} from "node:crypto";
import {
    b64uEncode, b64uDecode, field, u64, helloSignedBytes,
    messageSignedBytes, chatAad, parseHeader, pemToDer, keyId,
    importServerKey, describeClientKey, deriveSessionKeys, verifyHello,
    eventSignedBytes, verifyEvent,
    openMessage, sealChat, generateClientKey, SecureChatClient,
    memoryPinStore, memoryKeyStore,
} from "../../html/securechat.js";

const V = JSON.parse(readFileSync(
    new URL("../../docs/vectors.json", import.meta.url), "utf8"));
// Node 18 (Debian 12's) has WebCrypto only under node:crypto
globalThis.crypto ??= webcrypto;
const subtle = globalThis.crypto.subtle;
const hex = (b) => Buffer.from(b).toString("hex");

const SERVERS = {server_ed25519: "Ed25519", server_rsa: "RSA-PSS-SHA256"};

async function serverKey(name) {
    const k = V.keys[name];
    return importServerKey({alg: k.alg, key_id: k.key_id, pem: k.public_pem});
}

/* The server's private key, to sign what the vectors leave unsigned
 * (RSA-PSS is randomized) and to make tampered frames with valid
 * signatures. */
async function serverSigner(name) {
    const k = V.keys[name];
    const der = pemToDer(k.private_pem, "PRIVATE KEY");
    if (k.alg === "Ed25519") {
        const key = await subtle.importKey("pkcs8", der, {name: "Ed25519"},
                                           false, ["sign"]);
        return async (b) => new Uint8Array(
            await subtle.sign({name: "Ed25519"}, key, b));
    }
    const key = await subtle.importKey("pkcs8", der,
        {name: "RSA-PSS", hash: "SHA-256"}, false, ["sign"]);
    return async (b) => new Uint8Array(
        await subtle.sign({name: "RSA-PSS", saltLength: 32}, key, b));
}

/* A client as the library holds it, from the vector's key pair: the
 * private key imported non-extractable, as a browser would keep it. */
async function clientKey(letter) {
    const k = V.keys[`client_${letter}`];
    const priv = await subtle.importKey(
        "pkcs8", pemToDer(k.private_pem, "PRIVATE KEY"),
        {name: "RSA-OAEP", hash: "SHA-256"}, false, ["decrypt", "unwrapKey"]);
    const pub = await subtle.importKey(
        "spki", pemToDer(k.public_pem), {name: "RSA-OAEP", hash: "SHA-256"},
        true, ["encrypt", "wrapKey"]);
    return describeClientKey(priv, pub);
}

function session(letter) {
    return V.sessions.find((s) => s.client === letter);
}

/* Session keys straight from the vector's SK, as verifyHello derives
 * them. */
async function sessionKeys(letter) {
    const sk = await subtle.importKey("raw", b64uDecode(session(letter).sk),
                                      "HKDF", false, ["deriveKey"]);
    return deriveSessionKeys(sk);
}

function flipBit(s, bit) {
    const b = b64uDecode(s);
    b[bit >> 3] ^= 1 << (bit & 7);
    return b64uEncode(b);
}

test("base64url: round trip and strictness", () => {
    for (let n = 0; n < 70; n++) {
        const b = new Uint8Array(n).map((_, i) => (i * 37 + n) & 255);
        assert.equal(hex(b64uDecode(b64uEncode(b))), hex(b));
        assert.equal(b64uEncode(b), Buffer.from(b).toString("base64url"));
    }
    for (const bad of ["AA==", "A", "AB+/", "AB C", "AAB", "AAF", "Zh", "Zg=",
                       "é", "AA\n"]) {
        assert.throws(() => b64uDecode(bad), {code: "bad_base64"}, bad);
    }
    assert.equal(hex(b64uDecode("AAA")), "0000");
});

test("field and u64 encodings", () => {
    assert.equal(hex(field("abc")), "00000003616263");
    assert.equal(hex(field(new Uint8Array(0))), "00000000");
    assert.equal(hex(u64(1700000000000)), "0000018bcfe56800");
    assert.equal(hex(u64(Number.MAX_SAFE_INTEGER)), "001fffffffffffff");
    assert.throws(() => u64(-1));
    assert.throws(() => u64(2 ** 53));
});

test("key ids of every vector key", async () => {
    for (const [name, k] of Object.entries(V.keys)) {
        assert.equal(await keyId(pemToDer(k.public_pem)), k.key_id, name);
    }
    for (const name of Object.keys(SERVERS)) {
        const s = await serverKey(name);
        assert.equal(s.keyId, V.keys[name].key_id);
        assert.equal(s.alg, SERVERS[name]);
    }
    for (const c of ["a", "b"]) {
        const ck = await clientKey(c);
        assert.equal(ck.keyId, V.keys[`client_${c}`].key_id);
        // the PEM the library sends at login is the canonical one
        assert.equal(ck.pem.trim(), V.keys[`client_${c}`].public_pem.trim());
    }
    await assert.rejects(importServerKey({
        alg: "Ed25519", key_id: V.keys.server_rsa.key_id,
        pem: V.keys.server_ed25519.public_pem}), {code: "bad_server_key"});
});

test("Ed25519 works in this Node's WebCrypto", async () => {
    const pair = await subtle.generateKey({name: "Ed25519"}, false,
                                          ["sign", "verify"]);
    const sig = await subtle.sign({name: "Ed25519"}, pair.privateKey,
                                  new Uint8Array([1, 2, 3]));
    assert.ok(await subtle.verify({name: "Ed25519"}, pair.publicKey, sig,
                                  new Uint8Array([1, 2, 3])));
});

test("session keys: HKDF from SK gives the vectors' keys", async () => {
    // derive extractable copies to compare the bytes
    for (const s of V.sessions) {
        const sk = await subtle.importKey("raw", b64uDecode(s.sk), "HKDF",
                                          false, ["deriveBits"]);
        const bits = async (info) => b64uEncode(new Uint8Array(
            await subtle.deriveBits({name: "HKDF", hash: "SHA-256",
                                     salt: new Uint8Array(0),
                                     info: new TextEncoder().encode(info)},
                                    sk, 256)));
        assert.equal(await bits("securechat v1 wrap key"), s.wrap_key);
        assert.equal(await bits("securechat v1 chat key"), s.chat_key);
    }
});

for (const h of V.hello) {
    test(`hello ${h.server} → client ${h.client}: signed bytes, verify, `
         + "unwrap", async () => {
        const server = await serverKey(h.server);
        const client = await clientKey(h.client);
        const s = session(h.client);
        const frame = h.frame ? JSON.parse(h.frame) : {
            type: "hello", v: 2, conn: h.conn, ts: h.ts, epoch: h.epoch,
            server_key_id: server.keyId, client_key_id: client.keyId,
            sig_alg: server.alg, wrap_alg: "RSA-OAEP-SHA256",
            wrapped_sk: s.wrapped_sk};
        const signed = helloSignedBytes(frame, b64uDecode(frame.wrapped_sk));
        assert.equal(b64uEncode(signed), h.signed);
        if (!h.frame) {
            frame.sig = b64uEncode(await (await serverSigner(h.server))(
                signed));
        }
        const got = await verifyHello(frame, server, client);
        assert.equal(got.conn, h.conn);
        assert.equal(got.ts, h.ts);
        assert.equal(got.epoch, h.epoch);
        assert.equal(frame.epoch, "0123456789abcdef");

        // the derived chat key is the vector's: seal with both, compare
        const ref = await subtle.importKey("raw", b64uDecode(s.chat_key),
                                           "AES-GCM", false, ["encrypt"]);
        const iv = new Uint8Array(12).fill(9);
        assert.deepEqual(
            await sealChat(got.chatKey, h.conn, "general", 5, "x", iv),
            await sealChat(ref, h.conn, "general", 5, "x", iv));

        // a flipped bit anywhere in the signed part fails
        for (const k of ["sig", "wrapped_sk"]) {
            const len = b64uDecode(frame[k]).length * 8;
            for (const bit of [0, 7, len >> 1, len - 1]) {
                await assert.rejects(
                    verifyHello({...frame, [k]: flipBit(frame[k], bit)},
                                server, client),
                    /signature|unwrap/, `${k} bit ${bit}`);
            }
        }
        await assert.rejects(verifyHello({...frame, ts: frame.ts + 1},
                                         server, client),
                             {code: "bad_signature"});
        await assert.rejects(verifyHello({...frame, conn: "conn-x"},
                                         server, client),
                             {code: "bad_signature"});
        // the epoch is signed: another history cannot be claimed
        await assert.rejects(verifyHello({...frame,
                                          epoch: "0123456789abcdee"},
                                         server, client),
                             {code: "bad_signature"});
        for (const epoch of [undefined, 81985529216486895, "0123456789ABCDEF",
                             "0123456789abcde", "0123456789abcdef0"]) {
            await assert.rejects(verifyHello({...frame, epoch}, server,
                                             client),
                                 {code: "bad_hello"}, `epoch ${epoch}`);
        }
        // checks before the signature
        const other = await clientKey(h.client === "a" ? "b" : "a");
        await assert.rejects(verifyHello(frame, server, other),
                             {code: "wrong_client_key"});
        const otherServer = await serverKey(
            h.server === "server_rsa" ? "server_ed25519" : "server_rsa");
        await assert.rejects(verifyHello(frame, otherServer, client),
                             {code: "wrong_server_key"});
        await assert.rejects(verifyHello({...frame, v: 1}, server, client),
                             {code: "bad_hello"});
        await assert.rejects(verifyHello({...frame, wrap_alg: "RSA-OAEP"},
                                         server, client),
                             {code: "bad_hello"});
    });
}

for (const m of V.message) {
    test(`message ${m.server}: verify → unwrap → decrypt, both clients`,
         async () => {
        const server = await serverKey(m.server);
        const sign = await serverSigner(m.server);
        const hdr = parseHeader(b64uDecode(m.hdr));
        assert.deepEqual(
            {v: hdr.v, id: hdr.id, ts: hdr.ts, epoch: hdr.epoch,
             room: hdr.room, sender: hdr.sender, key: hdr.server_key_id,
             alg: hdr.sig_alg},
            {v: 2, id: m.id, ts: m.ts, epoch: m.epoch, room: m.room,
             sender: m.sender, key: V.keys[m.server].key_id,
             alg: SERVERS[m.server]});
        assert.equal(m.epoch, "0123456789abcdef");
        assert.equal(m.room, "general");
        const signed = messageSignedBytes(b64uDecode(m.hdr),
                                          b64uDecode(m.iv), b64uDecode(m.ct),
                                          b64uDecode(m.tag));
        assert.equal(b64uEncode(signed), m.signed);

        for (const r of m.recipients) {
            const {wrapKey} = await sessionKeys(r.client);
            const frame = r.frame ? JSON.parse(r.frame) : {
                type: "message", v: 2, id: m.id, room: m.room,
                epoch: m.epoch, hdr: m.hdr, iv: m.iv,
                ct: m.ct, tag: m.tag, sig: b64uEncode(await sign(signed)),
                wk: r.wk};
            const got = await openMessage(frame, server, wrapKey);
            assert.deepEqual(got, {id: m.id, ts: m.ts, epoch: m.epoch,
                                   room: m.room, sender: m.sender,
                                   text: m.text});
            assert.deepEqual(await openMessage(frame, server, wrapKey,
                                               undefined,
                                               {epoch: m.epoch,
                                                room: "general"}), got);

            // a message of another history or room, replayed into this one
            await assert.rejects(openMessage(frame, server, wrapKey,
                                             undefined,
                                             {epoch: "0123456789abcdee"}),
                                 {code: "bad_header"});
            await assert.rejects(openMessage(frame, server, wrapKey,
                                             undefined, {room: "lobby"}),
                                 {code: "bad_header"});

            // duplicates are dropped after the signature, before decrypting
            assert.deepEqual(await openMessage(frame, server, wrapKey,
                                               (id) => id === m.id),
                             {duplicate: true, id: m.id});

            // every bit of every member, flipped, fails (the signed ones
            // at the signature, wk at the unwrap)
            for (const k of ["hdr", "iv", "ct", "tag", "sig", "wk"]) {
                const len = b64uDecode(frame[k]).length * 8;
                for (let bit = 0; bit < len; bit++) {
                    await assert.rejects(
                        openMessage({...frame, [k]: flipBit(frame[k], bit)},
                                    server, wrapKey),
                        {code: k === "wk" ? "bad_unwrap" : "bad_signature"},
                        `${r.client} ${k} bit ${bit}`);
                }
            }
            // the other client's wk does not unwrap here
            const other = m.recipients.find((o) => o.client !== r.client);
            await assert.rejects(openMessage({...frame, wk: other.wk},
                                             server, wrapKey),
                                 {code: "bad_unwrap"});
            // the unsigned copies must agree with the signed header
            await assert.rejects(openMessage({...frame, id: m.id + 1},
                                             server, wrapKey),
                                 {code: "bad_frame"});
            await assert.rejects(openMessage({...frame, room: "lobby"},
                                             server, wrapKey),
                                 {code: "bad_frame"});
            await assert.rejects(openMessage({...frame,
                                              epoch: "0123456789abcdee"},
                                             server, wrapKey),
                                 {code: "bad_frame"});
            await assert.rejects(openMessage({...frame, v: 1}, server,
                                             wrapKey),
                                 {code: "bad_frame"});
            // a message signed by another key
            const otherServer = await serverKey(
                m.server === "server_rsa" ? "server_ed25519" : "server_rsa");
            await assert.rejects(openMessage(frame, otherServer, wrapKey),
                                 {code: "bad_signature"});
        }
    });

    test(`message ${m.server}: validly signed but broken inside`,
         async () => {
        // what the signature cannot catch alone: a server (or test) that
        // signs a bad header or a ciphertext that does not decrypt
        const server = await serverKey(m.server);
        const sign = await serverSigner(m.server);
        const {wrapKey} = await sessionKeys("a");
        const wk = m.recipients.find((r) => r.client === "a").wk;
        const make = async (hdr, ct, tag) => {
            const s = messageSignedBytes(hdr, b64uDecode(m.iv), ct, tag);
            return {type: "message", v: 2, id: m.id, room: m.room,
                    epoch: m.epoch, hdr: b64uEncode(hdr),
                    iv: m.iv, ct: b64uEncode(ct), tag: b64uEncode(tag),
                    sig: b64uEncode(await sign(s)), wk};
        };
        const hdr = b64uDecode(m.hdr), ct = b64uDecode(m.ct),
              tag = b64uDecode(m.tag);
        const ct2 = ct.slice(); ct2[0] ^= 1;
        await assert.rejects(openMessage(await make(hdr, ct2, tag), server,
                                         wrapKey), {code: "bad_tag"});
        const long = new Uint8Array(hdr.length + 1); long.set(hdr);
        await assert.rejects(openMessage(await make(long, ct, tag), server,
                                         wrapKey), {code: "bad_header"});
        const v1 = hdr.slice(); v1[0] = 1;
        await assert.rejects(openMessage(await make(v1, ct, tag), server,
                                         wrapKey), {code: "bad_header"});
    });
}

for (const e of V.event) {
    test(`event ${e.server}: signed bytes, and the frame verifies`,
         async () => {
        const keyId = V.keys[e.server].key_id;
        assert.equal(b64uEncode(eventSignedBytes(e, keyId)), e.signed);
        const server = await serverKey(e.server);
        const sign = await serverSigner(e.server);
        const frame = e.frame !== undefined ? JSON.parse(e.frame)
            : {type: "event", v: 2, id: e.id, ts: e.ts, epoch: e.epoch,
               event: e.event, room: e.room, user: e.user, by: e.by,
               role: e.role,
               sig: b64uEncode(await sign(eventSignedBytes(e, keyId)))};
        const got = await verifyEvent(frame, server, {epoch: e.epoch});
        assert.deepEqual(got, {id: e.id, ts: e.ts, event: e.event,
                               room: e.room, user: e.user, by: e.by,
                               role: e.role, title: null});
        // any member changed: the signature no longer holds
        for (const [k, v] of [["user", "carol"], ["id", e.id + 1],
                              ["room", "other"], ["role", "member"],
                              ["event", "banned"], ["ts", e.ts + 1]]) {
            await assert.rejects(verifyEvent({...frame, [k]: v}, server),
                                 {code: "bad_signature"}, k);
        }
        await assert.rejects(verifyEvent(frame, server, {epoch: "f".repeat(16)}),
                             {code: "bad_event"});
        await assert.rejects(verifyEvent({...frame, sig: undefined}, server),
                             {code: "bad_event"});
    });
}

test("chat frame of client a, reproduced from its fixed IV", async () => {
    for (const c of V.chat) {
        assert.equal(b64uEncode(chatAad(c.conn, c.room, c.n)), c.aad);
        const {chatKey} = await sessionKeys(c.client);
        const frame = await sealChat(chatKey, c.conn, c.room, c.n, c.text,
                                     b64uDecode(c.iv));
        assert.equal(JSON.stringify(frame), c.frame);
        // a fresh IV each time otherwise
        const a = await sealChat(chatKey, c.conn, c.room, c.n, c.text);
        const b = await sealChat(chatKey, c.conn, c.room, c.n, c.text);
        assert.notEqual(a.iv, b.iv);
        assert.equal(b64uDecode(a.iv).length, 12);
        // what could be no room's is not sealed
        await assert.rejects(sealChat(chatKey, c.conn, "General", c.n,
                                      c.text), {code: "bad_room"});
    }
});

test("header parser refuses what PROTOCOL.md refuses", () => {
    const good = b64uDecode(V.message[0].hdr);
    assert.equal(parseHeader(good).sender, "alice");
    assert.equal(parseHeader(good).room, "general");
    assert.equal(parseHeader(good).epoch, "0123456789abcdef");
    assert.throws(() => parseHeader(good.subarray(0, good.length - 1)),
                  {code: "bad_header"});
    assert.throws(() => parseHeader(good.subarray(0, 16)),
                  {code: "bad_header"});
    assert.throws(() => parseHeader(good.subarray(0, 24)),
                  {code: "bad_header"});
    const big = good.slice();
    big[1] = 0x00; big[2] = 0x20;          // id >= 2^53
    assert.throws(() => parseHeader(big), {code: "bad_header"});
});

test("client: a fresh key pair exports a PEM the server accepts in form",
     async () => {
    const k = await generateClientKey();
    assert.match(k.pem, /^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PUBLIC KEY-----\n$/);
    assert.equal(k.keyId.length, 43);
    assert.equal(k.privateKey.extractable, false);
    await assert.rejects(subtle.exportKey("pkcs8", k.privateKey));
});

test("client: pins the server key on first use and reports a change",
     async () => {
    const pins = memoryPinStore();
    const keys = memoryKeyStore();
    let signing = {alg: "Ed25519", key_id: V.keys.server_ed25519.key_id,
                   pem: V.keys.server_ed25519.public_pem};
    const fetch = async (url) => new Response(JSON.stringify(
        {message: "hi", name: "securechat", version: "1",
         signing_key: signing}),
        {status: 200, headers: {"Content-Type": "application/json"}});
    const make = (extra = {}) => new SecureChatClient({
        baseUrl: "http://127.0.0.1:1", fetch, pinStore: pins,
        keyStore: keys, ...extra});
    const first = await make().init();
    assert.equal(first.server.keyId, V.keys.server_ed25519.key_id);
    assert.equal(await pins.get("http://127.0.0.1:1"),
                 V.keys.server_ed25519.key_id);
    const again = await make().init();
    assert.equal(again.client.keyId, first.client.keyId, "same client key");

    signing = {alg: "RSA-PSS-SHA256", key_id: V.keys.server_rsa.key_id,
               pem: V.keys.server_rsa.public_pem};
    const c = make();
    const seen = [];
    c.on("keychange", (e) => seen.push(e));
    await assert.rejects(c.init(), {code: "server_key_changed"});
    assert.deepEqual(seen, [{pinned: V.keys.server_ed25519.key_id,
                             current: V.keys.server_rsa.key_id}]);
    assert.equal(await pins.get("http://127.0.0.1:1"),
                 V.keys.server_ed25519.key_id, "pin kept");
    await c.trustServerKey();
    assert.equal(await pins.get("http://127.0.0.1:1"),
                 V.keys.server_rsa.key_id);
});
