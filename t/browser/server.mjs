// A real nginx with the module for the browser and CLI tests: its own
// state in a temporary directory (signing key, session secret, users file
// with alice, bob and carol), a configuration modelled on
// conf/securechat.conf, the page from html/.
//
//   NGINX_BIN   nginx binary           (default /usr/sbin/nginx)
//   MODULE_SO   the module             (default build/modules/...so)
//   PASSWD_TOOL securechat-passwd      (default build/bin/securechat-passwd)

import {spawn, execFileSync} from "node:child_process";
import http from "node:http";
import {mkdtempSync, writeFileSync, readFileSync, mkdirSync, rmSync,
        existsSync} from "node:fs";
import {tmpdir} from "node:os";
import {join, resolve} from "node:path";
import {fileURLToPath} from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
// (not NGINX in nginx's own environment: nginx reads that variable as a
// list of inherited sockets)
const NGINX = process.env.NGINX_BIN || "/usr/sbin/nginx";
const MODULE_SO = resolve(ROOT, process.env.MODULE_SO
                          || "build/modules/ngx_http_securechat_module.so");
const PASSWD_TOOL = resolve(ROOT, process.env.PASSWD_TOOL
                            || "build/bin/securechat-passwd");

export const USERS = {
    alice: "alice-password",
    bob: "bob-password",
    carol: "carol-password",
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function csp() {
    return "default-src 'self'; script-src 'self'; style-src 'self'; "
        + "connect-src 'self'; img-src 'self'; base-uri 'none'; "
        + "form-action 'self'; frame-ancestors 'none'";
}

function config(dir, port, opts) {
    return `
load_module ${MODULE_SO};
worker_processes  ${opts.workers ?? 2};
error_log         ${dir}/error.log notice;
pid               ${dir}/nginx.pid;
thread_pool  securechat  threads=2 max_queue=256;

events { worker_connections 256; }

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    access_log    ${dir}/access.log;
    server_tokens off;

    client_body_temp_path  ${dir}/tmp/body;
    proxy_temp_path        ${dir}/tmp/proxy;
    fastcgi_temp_path      ${dir}/tmp/fastcgi;
    uwsgi_temp_path        ${dir}/tmp/uwsgi;
    scgi_temp_path         ${dir}/tmp/scgi;

    securechat_zone             zone=securechat:4m;
    securechat_history          256;
    securechat_message_max      4k;
    securechat_signing_key      ${dir}/signing-key.pem;
    securechat_users            ${dir}/users;
    securechat_session_secret   ${dir}/session-secret;
    securechat_allowed_origin   http://127.0.0.1:${port};
    securechat_thread_pool      securechat;
    securechat_login_free_failures 3;
    securechat_login_max_lockout   10s;
${opts.extra ?? ""}

    server {
        listen       127.0.0.1:${port};
        server_name  localhost;
        root   ${ROOT}/html;

        add_header Content-Security-Policy "${csp()}" always;
        add_header X-Content-Type-Options nosniff always;
        add_header Referrer-Policy no-referrer always;
        add_header X-Frame-Options DENY always;

        location = /api/            { securechat welcome; }
        location = /api/login       { securechat login; }
        location = /api/logout      { securechat logout; }
        location = /api/chat        { securechat chat; }
        location = /api/disconnect  { securechat disconnect; }
        location = /api/connect     { securechat connect; }
        location = /api/clients     { securechat clients; }
        # every room route: /api/rooms, /api/rooms/NAME/join, ...
        location /api/rooms         { securechat rooms; }
        location /api/ {
            return 404 '{"error":"not_found","message":"no such route"}\\n';
            default_type application/json;
        }
    }
}
`;
}

/* Starts nginx; resolves once GET /api/ answers. */
export async function startServer(opts = {}) {
    for (const f of [NGINX, MODULE_SO, PASSWD_TOOL]) {
        if (!existsSync(f)) {
            throw new Error(`${f} is missing: make module tools`);
        }
    }
    const port = opts.port ?? 2200;
    const dir = mkdtempSync(join(tmpdir(), "securechat-browser-"));
    mkdirSync(join(dir, "tmp"));
    const key = join(dir, "signing-key.pem");
    if (opts.key === "ed25519") {
        execFileSync("openssl", ["genpkey", "-algorithm", "ED25519",
                                 "-out", key]);
    } else {
        execFileSync("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt",
                                 "rsa_keygen_bits:2048", "-out", key],
                     {stdio: "ignore"});
    }
    writeFileSync(join(dir, "session-secret"),
                  execFileSync("openssl", ["rand", "-hex", "32"]),
                  {mode: 0o600});
    for (const [u, p] of Object.entries(USERS)) {
        // ln=10 keeps logins fast; the default cost is tested elsewhere
        execFileSync(PASSWD_TOOL, ["-l", "10", join(dir, "users"), u],
                     {input: p + "\n", stdio: ["pipe", "ignore", "pipe"]});
    }
    execFileSync("chmod", ["600", key, join(dir, "users"),
                           join(dir, "session-secret")]);
    const conf = join(dir, "nginx.conf");
    writeFileSync(conf, config(dir, port, opts));

    const baseUrl = `http://127.0.0.1:${port}`;
    let proc, exited;
    const run = async () => {
        proc = spawn(NGINX, ["-p", dir + "/", "-c", conf, "-e",
                             join(dir, "error.log"), "-g", "daemon off;"],
                     {stdio: ["ignore", "inherit", "inherit"],
                      env: nginxEnv()});
        exited = null;
        const mine = proc;
        proc.on("exit", (code, sig) => {
            if (proc === mine) {
                exited = {code, sig};
            }
        });
        for (let i = 0; ; i++) {
            if (exited) {
                throw new Error(`nginx exited ${JSON.stringify(exited)}:\n`
                                + errorLog(dir));
            }
            try {
                const r = await fetch(baseUrl + "/api/");
                if (r.ok) {
                    break;
                }
            } catch (e) {
                if (i > 100) {
                    throw e;
                }
            }
            await sleep(100);
        }
    };
    const quit = async () => {
        if (exited) {
            return;
        }
        const done = new Promise((r) => proc.once("exit", r));
        process.kill(proc.pid, "SIGQUIT");
        const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
        await done;
        clearTimeout(t);
    };
    await run();

    const server = {
        baseUrl, port, dir,
        get proc() { return proc; },
        errorLog: () => errorLog(dir),

        /* A full restart, in two steps when the test wants to look in
         * between: the same state directory and configuration, a new zone
         * (sessions and history gone, ids from 1 again). */
        down: quit,
        up: run,
        async restart() {
            await quit();
            await run();
        },

        /* nginx -s reload: resolves once the new workers run. */
        async reload() {
            const before = countStarts(dir);
            process.kill(proc.pid, "SIGHUP");
            for (let i = 0; i < 100 && countStarts(dir) <= before; i++) {
                await sleep(50);
            }
        },

        async stop() {
            if (exited) {
                return;
            }
            await quit();
            if (!process.env.KEEP_STATE) {
                rmSync(dir, {recursive: true, force: true});
            }
        },

        /* A third party over plain HTTP: login, POST /api/chat (to any
         * room), any other route with call().  One
         * TCP connection per request: a kept-alive one may be closed
         * under it by a worker leaving at a reload. */
        async httpUser(user) {
            const h = {"Content-Type": "application/json", Origin: baseUrl};
            const r = await httpRequest(baseUrl + "/api/login", "POST", h,
                JSON.stringify({username: user, password: USERS[user]}));
            if (r.status !== 200) {
                throw new Error(`login ${user}: ${r.status} ${r.body}`);
            }
            const s = JSON.parse(r.body);
            const cookie = [].concat(r.headers["set-cookie"] ?? [])
                .map((c) => c.split(";")[0])
                .find((c) => c.startsWith("sc_session="));
            const auth = {...h, Cookie: cookie, "X-CSRF-Token": s.csrf_token};
            const call = async (method, path, body) => {
                // GET and DELETE carry no body, hence no Content-Type
                const hdrs = body === undefined
                    ? {Origin: baseUrl, Cookie: cookie,
                       "X-CSRF-Token": s.csrf_token}
                    : auth;
                const p = await httpRequest(baseUrl + path, method, hdrs,
                    body === undefined ? undefined : JSON.stringify(body));
                let parsed = null;
                try {
                    parsed = JSON.parse(p.body);
                } catch (e) {
                    // not JSON (or empty): null
                }
                return {status: p.status, body: parsed};
            };
            return {
                user,
                /* Any route: {status, body (parsed JSON, or null)}. */
                call,
                /* POST /api/chat to general, or to room when given: the
                 * message's id; throws unless 202. */
                async post(message, room) {
                    const p = await call("POST", "/api/chat",
                        room === undefined ? {message} : {message, room});
                    if (p.status !== 202) {
                        throw new Error(`chat: ${p.status} `
                                        + JSON.stringify(p.body));
                    }
                    return p.body.id;
                },
                async clients() {
                    const p = await httpRequest(baseUrl + "/api/clients",
                        "GET", {Cookie: cookie});
                    return JSON.parse(p.body);
                },
            };
        },
    };
    return server;
}

function nginxEnv() {
    const env = {...process.env};
    delete env.NGINX;
    return env;
}

function httpRequest(url, method, headers, body) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, {method, headers, agent: false},
            (res) => {
                let data = "";
                res.setEncoding("utf8");
                res.on("data", (d) => { data += d; });
                res.on("end", () => resolve({status: res.statusCode,
                                             headers: res.headers,
                                             body: data}));
            });
        req.on("error", reject);
        req.end(body);
    });
}

function errorLog(dir) {
    try {
        return readFileSync(join(dir, "error.log"), "utf8");
    } catch (e) {
        return "";
    }
}

function countStarts(dir) {
    return (errorLog(dir).match(/start worker process/g) || []).length;
}
