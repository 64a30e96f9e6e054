// The session cookie as the CLI keeps it (manual cookies, no browser jar):
// plain HTTP names it sc_session, TLS __Host-sc_session; the name sent
// back must be the one the server set, or a TLS server never sees it.
//
//   node --test t/js

import {test} from "node:test";
import assert from "node:assert/strict";
import {SecureChatClient, memoryPinStore, memoryKeyStore}
    from "../../html/securechat.js";

function client() {
    return new SecureChatClient({
        baseUrl: "http://127.0.0.1:1", fetch: () => null, cookies: true,
        keyStore: memoryKeyStore(), pinStore: memoryPinStore(),
    });
}

function answer(...setCookies) {
    return {headers: {getSetCookie: () => setCookies}};
}

test("plain HTTP: sc_session is kept under its name", () => {
    const c = client();
    c.takeCookie(answer("sc_session=abc; Path=/; HttpOnly; SameSite=Strict"));
    assert.equal(c.cookie, "sc_session=abc");
});

test("TLS: __Host-sc_session is kept under its own name", () => {
    const c = client();
    c.takeCookie(answer(
        "__Host-sc_session=xyz; Path=/; Secure; HttpOnly; SameSite=Strict"));
    assert.equal(c.cookie, "__Host-sc_session=xyz");
});

test("a cleared cookie (logout) is forgotten, either name", () => {
    for (const name of ["sc_session", "__Host-sc_session"]) {
        const c = client();
        c.takeCookie(answer(`${name}=v; Path=/`));
        c.takeCookie(answer(`${name}=; Path=/; Max-Age=0`));
        assert.equal(c.cookie, null, name);
    }
});

test("other cookies are not taken for the session", () => {
    const c = client();
    c.takeCookie(answer("x_sc_session=1; Path=/", "other=2"));
    assert.equal(c.cookie ?? null, null);
});
