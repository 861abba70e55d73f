/*
 * The operator's inbox page: plain JavaScript against the liauto API
 * (no build step). Tokens live in sessionStorage; every change the
 * realtime stream (GET /api/v1/inbox/stream, read with fetch so that the
 * Authorization header can be sent, which EventSource cannot) reports
 * reloads the list and the open thread. Each (re)connection of the stream
 * reloads them too, so while the stream is unavailable the page still
 * catches up every few seconds.
 */
"use strict";

const API = "/api/v1";
const RECONNECT_MS = 3000;

const state = {
    access: sessionStorage.getItem("liauto.access"),
    refresh: sessionStorage.getItem("liauto.refresh"),
    me: null,
    selected: null,
    lastEventId: null,
    stream: null,
    reload: null
};

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
}

function saveTokens(t) {
    state.access = t ? t.access_token : null;
    state.refresh = t ? t.refresh_token : null;
    for (const [k, v] of [["liauto.access", state.access],
                          ["liauto.refresh", state.refresh]]) {
        if (v) sessionStorage.setItem(k, v); else sessionStorage.removeItem(k);
    }
}

async function post(path, body, headers) {
    return fetch(API + path, {
        method: "POST",
        headers: Object.assign({ "Content-Type": "application/json" },
                               headers || {}),
        body: JSON.stringify(body || {})
    });
}

/* New tokens from the refresh token (rotated); false when it is refused. */
async function renew() {
    if (!state.refresh) return false;
    const res = await post("/auth/refresh", { refresh_token: state.refresh });
    if (!res.ok) return false;
    saveTokens(await res.json());
    return true;
}

/* The API with the access token; one renewal on 401, then log in again. */
async function api(method, path, body, headers) {
    for (let attempt = 0; attempt < 2; attempt++) {
        const h = Object.assign({ Authorization: "Bearer " + state.access },
                                headers || {});
        const init = { method, headers: h };
        if (body !== undefined) {
            h["Content-Type"] = "application/json";
            init.body = JSON.stringify(body);
        }
        const res = await fetch(API + path, init);
        if (res.status === 401 && attempt === 0 && await renew()) continue;
        if (res.status === 401) {
            showLogin();
            throw new Error("please log in again");
        }
        const data = res.status === 204 ? null : await res.json();
        if (!res.ok) throw new Error(data && data.message || res.statusText);
        return data;
    }
}

/* ------------------------------------------------------------ rendering */

function title(c) {
    const p = c.participants.find((x) => x.role === "attendee");
    return (p && (p.display_name || p.public_identifier || p.provider_id))
           || c.external_chat_id;
}

function renderList(list) {
    const ul = $("conversations");
    ul.replaceChildren();
    for (const c of list.data) {
        const li = el("li");
        li.dataset.id = c.id;
        if (c.id === state.selected) li.classList.add("selected");
        if (c.unread_count > 0) li.append(el("span", "badge", c.unread_count));
        li.append(el("div", "name", title(c)));
        li.append(el("div", "preview",
                     c.last_message ? c.last_message.text : ""));
        li.append(el("div", "state", c.status
                     + (c.assigned_to_user_id === state.me.id ? " · mine"
                        : c.assigned_to_user_id ? " · assigned" : "")));
        li.addEventListener("click", () => select(c.id));
        ul.append(li);
    }
}

function renderThread(c, messages) {
    $("thread").hidden = false;
    $("title").textContent = title(c);
    $("meta").textContent = c.status + (c.assigned_to_user_id
        ? (c.assigned_to_user_id === state.me.id ? " · assigned to you"
                                                 : " · assigned")
        : " · unassigned");
    $("assign-me").disabled = c.assigned_to_user_id === state.me.id;
    $("mark-read").disabled = c.unread_count === 0;
    const ol = $("messages");
    ol.replaceChildren();
    for (const m of messages) {
        const li = el("li", m.direction + " " + m.status, m.text);
        li.dataset.id = m.id;
        li.dataset.status = m.status;
        li.append(el("span", "status",
                     m.direction === "outbound"
                     ? m.status + (m.error ? ": " + m.error : "")
                     : (m.sender_name || "") + " " + (m.sent_at || "")));
        ol.append(li);
    }
    ol.scrollTop = ol.scrollHeight;
}

/* ----------------------------------------------------------------- data */

async function loadList() {
    const q = $("queue").value;
    renderList(await api("GET", "/inbox/conversations?limit=100"
                         + (q ? "&filter[assignee]=" + q : "")));
}

async function loadThread() {
    if (!state.selected) return;
    const id = state.selected;
    const [c, page] = await Promise.all([
        api("GET", "/inbox/conversations/" + id),
        api("GET", "/inbox/conversations/" + id
                   + "/messages?order=desc&limit=100")]);
    if (id === state.selected) renderThread(c, page.data.reverse());
}

/* Coalesces bursts of events into one reload. */
function reloadSoon() {
    if (state.reload) return;
    state.reload = setTimeout(async () => {
        state.reload = null;
        try {
            await Promise.all([loadList(), loadThread()]);
        } catch (e) {
            console.warn("reload failed:", e.message);
        }
    }, 100);
}

async function select(id) {
    state.selected = id;
    $("reply-error").textContent = "";
    for (const li of $("conversations").children) {
        li.classList.toggle("selected", li.dataset.id === id);
    }
    await loadThread();
}

async function act(action, body) {
    await api("POST", "/inbox/conversations/" + state.selected + "/" + action,
              body);
    reloadSoon();
}

/* --------------------------------------------------------------- stream */

/* Parses SSE from a fetch body; resolves when the stream ends. */
async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let m;
        while ((m = buf.match(/\r?\n\r?\n/)) !== null) {
            const block = buf.slice(0, m.index);
            buf = buf.slice(m.index + m[0].length);
            const ev = { id: null, data: "" };
            for (const line of block.split(/\r?\n/)) {
                if (line.startsWith("id:")) ev.id = line.slice(3).trim();
                else if (line.startsWith("data:")) ev.data += line.slice(5).trim();
                else if (line === ": connected") setLive(true);
            }
            if (ev.data) onEvent(ev);
        }
    }
}

function setLive(on) {
    $("live").className = "live " + (on ? "on" : "off");
    $("live").textContent = on ? "live" : "offline";
}

async function stream() {
    const mine = {};
    state.stream = mine;
    while (state.stream === mine && state.access) {
        reloadSoon();       /* catch up on what a reconnect may have missed */
        try {
            const headers = { Authorization: "Bearer " + state.access };
            if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
            const res = await fetch(API + "/inbox/stream", { headers });
            if (res.status === 401) await renew();
            if (res.ok && res.body) {
                await readEvents(res, (ev) => {
                    if (ev.id) state.lastEventId = ev.id;
                    reloadSoon();
                });
            }
        } catch (e) {
            console.warn("stream:", e.message);
        }
        setLive(false);
        await new Promise((r) => setTimeout(r, RECONNECT_MS));
    }
}

/* ---------------------------------------------------------------- login */

function showLogin() {
    state.stream = null;
    saveTokens(null);
    $("app").hidden = true;
    $("logout").hidden = true;
    $("login").hidden = false;
    $("who").textContent = "";
}

async function start() {
    state.me = await api("GET", "/auth/me");
    $("who").textContent = state.me.email + " (" + state.me.role + ")";
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    stream();
}

$("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    $("login-error").textContent = "";
    const res = await post("/auth/login", { email: f.email.value,
                                            password: f.password.value });
    const body = await res.json();
    if (!res.ok) {
        $("login-error").textContent = body.message;
        return;
    }
    saveTokens(body);
    await start();
});

$("logout").addEventListener("click", async () => {
    await api("POST", "/auth/logout", { refresh_token: state.refresh })
        .catch(() => null);
    showLogin();
});

$("reply").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    $("reply-error").textContent = "";
    try {
        /* one key per typed reply: a retried click is not a second send */
        const key = f.dataset.key || (f.dataset.key = crypto.randomUUID());
        await api("POST", "/inbox/conversations/" + state.selected + "/reply",
                  { text: f.text.value }, { "Idempotency-Key": key });
        f.reset();
        delete f.dataset.key;
        reloadSoon();
    } catch (err) {
        $("reply-error").textContent = err.message;
    }
});

$("reply").text.addEventListener("input", (e) => {
    delete e.target.form.dataset.key;
});

$("assign-me").addEventListener("click", () =>
    act("assign", { user_id: state.me.id }));
$("mark-read").addEventListener("click", () => act("read"));
$("queue").addEventListener("change", () => loadList());

if (state.access) {
    start().catch(showLogin);
} else {
    showLogin();
}
