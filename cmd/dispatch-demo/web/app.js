// The demo page. Everything shown comes from alarms, which are untrusted: it goes into the
// document only as text nodes (el() and mrkdwn() below), never through innerHTML.
"use strict";

function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") n.addEventListener("click", v);
    else n.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

// mrkdwn turns Slack's text (escaped &lt; &gt; &amp;, <url|label> links, *bold*, `code`) into
// nodes. Only http(s) links become anchors.
function mrkdwn(s) {
  const out = [];
  const unescape = (t) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const re = /<([^<>|]+)(?:\|([^<>]*))?>|\*([^*\n]+)\*|`([^`\n]+)`/g;
  let last = 0, m;
  while ((m = re.exec(s)) !== null) {
    out.push(unescape(s.slice(last, m.index)));
    if (m[1] !== undefined) {
      const url = unescape(m[1]), label = unescape(m[2] || m[1]);
      out.push(/^https?:\/\//.test(url) ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, label) : label);
    } else if (m[3] !== undefined) out.push(el("b", {}, unescape(m[3])));
    else out.push(el("code", {}, unescape(m[4])));
    last = re.lastIndex;
  }
  out.push(unescape(s.slice(last)));
  return out;
}

function textOf(t) { return t && typeof t === "object" ? t.text || "" : t || ""; }

function api(path, body) {
  return fetch(path, {
    method: body ? "POST" : "GET",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  }).then(async (r) => {
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || r.statusText);
    return j;
  });
}

function status(text, error) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = error ? "error" : "";
}

function button(user, msg, b) {
  const cls = b.style === "primary" ? "primary" : b.style === "danger" ? "danger" : "";
  const btn = el("button", { type: "button", class: cls, "data-action-id": b.action_id || "" }, textOf(b.text));
  btn.addEventListener("click", () => {
    btn.disabled = true;
    api("/api/click", { user: user, channel: msg.channel, ts: msg.ts, actionId: b.action_id })
      .then(() => status(`${user} clicked “${textOf(b.text)}”`))
      .catch((e) => { status(`click failed: ${e.message}`, true); btn.disabled = false; })
      .finally(refresh);
  });
  return btn;
}

function renderMessage(user, msg, kind) {
  const parts = [];
  let blocks = [];
  if (Array.isArray(msg.blocks)) blocks = msg.blocks;
  for (const b of blocks) {
    if (b.type === "header") parts.push(el("p", { class: "header" }, textOf(b.text)));
    if (b.type === "section") {
      if (b.text) parts.push(el("p", {}, mrkdwn(textOf(b.text))));
      for (const f of b.fields || []) parts.push(el("p", {}, mrkdwn(textOf(f))));
      if (b.accessory && b.accessory.type === "button") parts.push(el("div", { class: "actions" }, button(user, msg, b.accessory)));
    }
    if (b.type === "context") parts.push(el("p", { class: "context" }, (b.elements || []).map((e) => mrkdwn(textOf(e.text)))));
    if (b.type === "actions") {
      const btns = (b.elements || []).filter((e) => e.type === "button").map((e) => button(user, msg, e));
      parts.push(el("div", { class: "actions" }, btns));
    }
  }
  if (parts.length === 0) parts.push(el("p", {}, mrkdwn(msg.text)));
  const reply = msg.threadTs && msg.threadTs !== msg.ts;
  const when = new Date(msg.posted).toLocaleTimeString();
  const meta = el("div", { class: "meta" }, `${when}${msg.updated ? " · edited" : ""}${kind === "ephemeral" ? " · only visible to you" : ""}${reply ? " · in thread" : ""}`);
  return el("div", { class: `msg ${reply ? "reply" : ""} ${kind || ""}`, "data-ts": msg.ts }, meta, parts);
}

function renderPeople(people) {
  return people.map((p) => {
    const msgs = p.dms.map((m) => renderMessage(p.id, m)).concat(p.ephemerals.map((m) => renderMessage(p.id, m, "ephemeral")));
    return el("div", { class: "person", id: `person-${p.id}` },
      el("div", { class: "who" }, el("b", {}, `@${p.name}`), el("small", {}, `${p.realName} · ${p.email} · ${p.id}`)),
      el("div", { class: "messages" }, msgs.length ? msgs : el("div", { class: "empty" }, "no messages")));
  });
}

// markdown shows issue text as GitHub renders it in one respect: HTML comments (dispatch's
// markers) are not shown. The rest stays plain text.
function markdown(s) { return s.replace(/<!--[\s\S]*?-->/g, "").trim(); }

function renderIssues(issues) {
  if (!issues.length) return [el("div", { class: "empty" }, "no issues yet")];
  return issues.map((is) => el("div", { class: "card issue", "data-number": is.number },
    el("div", { class: "title" }, el("span", { class: `state ${is.state}` }, is.state), `${is.repo}#${is.number} `, is.title),
    el("ul", { class: "labels" }, is.labels.map((l) => el("li", { class: l.startsWith("dispatch:") ? "dispatch" : "" }, l))),
    is.assignees.length ? el("div", { class: "meta" }, `assigned to ${is.assignees.join(", ")}`) : null,
    is.body ? el("div", { class: "body" }, markdown(is.body)) : null,
    is.comments.map((c) => el("div", { class: "comment" }, el("b", {}, c.author), ` · ${new Date(c.created).toLocaleTimeString()}\n`, markdown(c.body)))));
}

function renderIncidents(incidents) {
  if (!incidents.length) return [el("div", { class: "empty" }, "no incidents yet")];
  return incidents.map((i) => el("div", { class: "card incident" },
    el("div", { class: "title" }, el("span", { class: `state ${i.status}` }, i.status), i.summary),
    el("div", { class: "meta" }, `${i.service} · dedup key ${i.dedupKey} · ${i.events} event${i.events === 1 ? "" : "s"}`),
    i.links.map((l) => el("div", {}, /^https?:\/\//.test(l.href) ? el("a", { href: l.href, target: "_blank", rel: "noopener noreferrer" }, l.text || l.href) : l.href))));
}

let last = "";
function refresh() {
  return fetch("/api/state").then((r) => r.text()).then((t) => {
    if (t === last) return;
    last = t;
    const s = JSON.parse(t);
    document.getElementById("people").replaceChildren(...renderPeople(s.people));
    document.getElementById("issues").replaceChildren(...renderIssues(s.issues));
    document.getElementById("incidents").replaceChildren(...renderIncidents(s.incidents));
    const fb = s.fallback.map((m) => renderMessage("", m));
    document.getElementById("fallback").replaceChildren(...(fb.length ? fb : [el("div", { class: "empty" }, "nothing announced")]));
  }).catch((e) => status(`cannot reach the demo: ${e.message}`, true));
}

function setup() {
  const sel = document.getElementById("example"), ta = document.getElementById("alarm");
  api("/api/examples").then((ex) => {
    const names = Object.keys(ex).sort();
    const first = names.includes("self-service.json") ? "self-service.json" : names[0];
    for (const n of names) sel.append(el("option", { value: n }, n));
    sel.value = first;
    ta.value = ex[first] || "";
    sel.addEventListener("change", () => { ta.value = ex[sel.value]; });
  }).catch((e) => status(`examples: ${e.message}`, true));
  const send = document.getElementById("send");
  send.addEventListener("click", () => {
    send.disabled = true;
    api("/api/publish", { alarm: ta.value })
      .then((r) => status(`published to SNS as message ${r.messageId}`))
      .catch((e) => status(`publish failed: ${e.message}`, true))
      .finally(() => { send.disabled = false; });
  });
  refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", setup);
