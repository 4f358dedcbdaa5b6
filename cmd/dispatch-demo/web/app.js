// The demo page. Everything shown comes from alarms, which are untrusted: it goes into the
// document only as elements and text nodes (el(), mrkdwn() and markdown() below), never through
// innerHTML.
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

// The page renders text as Slack and GitHub would, from a safe subset only. Everything is built as
// elements and text nodes (never innerHTML), so markup in an alarm can only ever show as text.

// EMOJI are the common :names: Slack and GitHub both know; any other stays as typed.
const EMOJI = {
  warning: "\u26a0\ufe0f", rotating_light: "\ud83d\udea8", white_check_mark: "\u2705", heavy_check_mark: "\u2714\ufe0f",
  x: "\u274c", no_entry: "\u26d4", no_entry_sign: "\ud83d\udeab", stop_sign: "\ud83d\uded1", fire: "\ud83d\udd25",
  lock: "\ud83d\udd12", unlock: "\ud83d\udd13", key: "\ud83d\udd11", bell: "\ud83d\udd14", eyes: "\ud83d\udc40",
  point_right: "\ud83d\udc49", information_source: "\u2139\ufe0f", exclamation: "\u2757", question: "\u2753",
  red_circle: "\ud83d\udd34", large_green_circle: "\ud83d\udfe2", green_circle: "\ud83d\udfe2", yellow_circle: "\ud83d\udfe1",
  large_blue_circle: "\ud83d\udd35", tada: "\ud83c\udf89", "+1": "\ud83d\udc4d", thumbsup: "\ud83d\udc4d",
  "-1": "\ud83d\udc4e", thumbsdown: "\ud83d\udc4e", wave: "\ud83d\udc4b", hourglass: "\u231b", alarm_clock: "\u23f0",
  mag: "\ud83d\udd0d", shield: "\ud83d\udee1\ufe0f", bug: "\ud83d\udc1b", rocket: "\ud83d\ude80", construction: "\ud83d\udea7",
  pager: "\ud83d\udcdf", memo: "\ud83d\udcdd", link: "\ud83d\udd17", sos: "\ud83c\udd98", skull: "\ud83d\udc80",
  siren: "\ud83d\udea8", bangbang: "\u203c\ufe0f", heavy_exclamation_mark: "\u2757", calendar: "\ud83d\udcc6",
  email: "\ud83d\udce7", bust_in_silhouette: "\ud83d\udc64", robot_face: "\ud83e\udd16", smile: "\ud83d\ude04",
};

function emoji(name, typed) { return Object.prototype.hasOwnProperty.call(EMOJI, name) ? EMOJI[name] : typed; }

// inDemo maps a link of the services the demo stands in for to the card or message on this page
// that it means; anything else is outside the demo, and is not followed.
function inDemo(url) {
  let m = /^https:\/\/github\.com\/([\w.-]+)\/([\w.-]+)\/issues\/(\d+)(?:[#?].*)?$/.exec(url);
  if (m) return `#issue-${m[1]}-${m[2]}-${m[3]}`;
  m = /^https:\/\/fake\.slack\.com\/archives\/([A-Z0-9]+)\/p(\d+)$/.exec(url);
  if (m) return `#msg-${m[1]}-${m[2]}`;
  return null;
}

// link is an anchor to a place on this page, or for any other URL its label and URL as text.
function link(url, label) {
  const to = inDemo(url);
  if (to) return el("a", { href: to }, label || url);
  return el("span", { class: "ext", title: "a link outside the demo: not followed" }, label && label !== url ? `${label} (${url})` : url);
}

// inline renders text by rules: re has one group per rule, in order, and each rule makes the node
// of its match (render renders the inner text by the same rules). Text between matches, and
// everything a rule doesn't take, becomes text nodes through plain().
function inline(s, re, rules, plain) {
  const out = [];
  let last = 0, m;
  re.lastIndex = 0;
  const matches = [];
  while ((m = re.exec(s)) !== null) {
    matches.push(m);
    if (m[0] === "") re.lastIndex++;
  }
  for (const mm of matches) {
    out.push(plain(s.slice(last, mm.index)));
    out.push(rules(mm));
    last = mm.index + mm[0].length;
  }
  out.push(plain(s.slice(last)));
  return out;
}

// Slack's mrkdwn: text escaped as &lt; &gt; &amp;, <url|label> links, <@U…> mentions, *bold*,
// _italics_, ~strike~, `code`, ```blocks``` and :emoji:.
const SLACK_RE = /<([^<>|\s]+)(?:\|([^<>]*))?>|```([\s\S]+?)```|`([^`\n]+)`|\*([^*\n]+)\*|_([^_\n]+)_|~([^~\n]+)~|:([a-z0-9_+-]+):/g;
const unescapeSlack = (t) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
let peopleByID = {};

function mrkdwn(s) {
  return inline(s || "", SLACK_RE, (m) => {
    if (m[1] !== undefined) {
      const target = unescapeSlack(m[1]);
      if (/^@[UW][A-Z0-9]+$/.test(target)) return el("b", { class: "mention" }, `@${peopleByID[target.slice(1)] || target.slice(1)}`);
      if (/^!\w+/.test(target)) return el("b", { class: "mention" }, `@${target.slice(1).split("^")[0]}`);
      return link(target, m[2] !== undefined ? unescapeSlack(m[2]) : "");
    }
    if (m[3] !== undefined) return el("pre", {}, unescapeSlack(m[3]));
    if (m[4] !== undefined) return el("code", {}, unescapeSlack(m[4]));
    if (m[5] !== undefined) return el("b", {}, mrkdwn(m[5]));
    if (m[6] !== undefined) return el("i", {}, mrkdwn(m[6]));
    if (m[7] !== undefined) return el("s", {}, mrkdwn(m[7]));
    return emoji(m[8], m[0]);
  }, unescapeSlack);
}

// GitHub's Markdown, the part dispatch and alarms use: backslash escapes, `code`, **bold**,
// *italics* and _italics_, [label](url) links, :emoji:, and a --- line as a rule. HTML comments
// (dispatch's markers) are hidden, as GitHub hides them; any other HTML shows as text.
const GITHUB_RE = /\\([!-\/:-@\[-`{-~])|`([^`\n]+)`|\*\*((?:\\.|[^*\n])+?)\*\*|\[([^\]\n]+)\]\(([^()\s]+)\)|\*((?:\\.|[^*\n])+?)\*|\b_((?:\\.|[^_\n])+?)_\b|:([a-z0-9_+-]+):/g;

function githubInline(s) {
  return inline(s, GITHUB_RE, (m) => {
    if (m[1] !== undefined) return m[1];
    if (m[2] !== undefined) return el("code", {}, m[2]);
    if (m[3] !== undefined) return el("b", {}, githubInline(m[3]));
    if (m[4] !== undefined) return link(m[5], m[4]);
    if (m[6] !== undefined) return el("i", {}, githubInline(m[6]));
    if (m[7] !== undefined) return el("i", {}, githubInline(m[7]));
    return emoji(m[8], m[0]);
  }, (t) => t);
}

function markdown(s) {
  const text = s.replace(/<!--[\s\S]*?-->/g, "").trim();
  const out = [];
  text.split("\n").forEach((line, i) => {
    if (/^\s*(-{3,}|\*{3,})\s*$/.test(line)) { out.push(el("hr", {})); return; }
    if (i > 0 && !(out.length && out[out.length - 1] instanceof HTMLHRElement)) out.push("\n");
    out.push(...githubInline(line));
  });
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

// status says what the last action did; href, when set, links where to read more on the page.
function status(text, error, href, linkText) {
  const s = document.getElementById("status");
  s.replaceChildren(text, href ? " " : "", href ? el("a", { href: href }, linkText) : "");
  s.className = error ? "error" : "";
}

// pending is the fallback channel's messages when the last alarm was published, until a rejection
// notice comes that was not among them (or the next publish). The notice can't be matched by id:
// with raw delivery it names the SQS message, which the publisher never sees. The page publishes
// one alarm at a time, and dispatch rejects within a second, so the next new rejection is this one's.
let pending = null;

function watchRejection(s) {
  if (!pending) return;
  for (const m of s.fallback) {
    if (pending.has(m.ts) || !/Rejected/.test(m.text)) continue;
    const body = (m.blocks || []).find((b) => b.type === "section" && b.text);
    const reason = unescapeSlack(body ? textOf(body.text).split("\n")[0].replace(/^• /, "") : m.text);
    status(`Rejected by dispatch: ${reason}.`, true, msgAnchor(m), "See the notice in #dispatch-fallback.");
    pending = null;
    return;
  }
}

function msgAnchor(m) { return `#msg-${m.channel}-${m.ts.replace(".", "")}`; }

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
  return el("div", { class: `msg ${reply ? "reply" : ""} ${kind || ""}`, "data-ts": msg.ts, id: msgAnchor(msg).slice(1) }, meta, parts);
}

function renderPeople(people) {
  return people.map((p) => {
    const msgs = p.dms.map((m) => renderMessage(p.id, m)).concat(p.ephemerals.map((m) => renderMessage(p.id, m, "ephemeral")));
    return el("div", { class: "person", id: `person-${p.id}` },
      el("div", { class: "who" }, el("b", {}, `@${p.name}`), el("small", {}, `${p.realName} · ${p.email} · ${p.id}`)),
      el("div", { class: "messages" }, msgs.length ? msgs : el("div", { class: "empty" }, "no messages")));
  });
}

function renderIssues(issues) {
  if (!issues.length) return [el("div", { class: "empty" }, "no issues yet")];
  return issues.map((is) => el("div", { class: "card issue", "data-number": is.number, id: `issue-${is.repo.replace("/", "-")}-${is.number}` },
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
    i.links.map((l) => el("div", {}, link(l.href, l.text)))));
}

// renderPushes is the Duo Mobile panel: each push waiting for an answer, as the phone shows it, with
// its Approve and Deny buttons.
function renderPushes(pushes) {
  if (!pushes.length) return [el("div", { class: "empty" }, "no pushes waiting")];
  return pushes.map((p) => {
    const who = p.person ? `@${p.person}` : p.username;
    const answer = (label, a, cls) => {
      const btn = el("button", { type: "button", class: cls, "data-answer": a }, label);
      btn.addEventListener("click", () => {
        for (const b of card.querySelectorAll("button")) b.disabled = true;
        api("/api/duo", { id: p.id, answer: a })
          .then(() => status(`${who} ${a === "approve" ? "approved" : "denied"} Duo push ${p.id}`))
          .catch((e) => { status(`Duo answer failed: ${e.message}`, true); for (const b of card.querySelectorAll("button")) b.disabled = false; })
          .finally(refresh);
      });
      return btn;
    };
    const card = el("div", { class: "card push", id: `push-${p.id}`, "data-id": p.id },
      el("div", { class: "title" }, `Duo push for ${who}`, el("small", {}, ` ${p.username}`)),
      el("div", { class: "meta" }, `${p.type} · ${p.id} · sent ${new Date(p.sent).toLocaleTimeString()}, times out at ${new Date(p.expires).toLocaleTimeString()}`),
      el("dl", {}, p.details.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("div", { class: "actions" }, answer("Approve", "approve", "primary"), answer("Deny", "deny", "danger")));
    return card;
  });
}

let last = "", lastState = null;
function refresh() {
  return fetch("/api/state").then((r) => r.text()).then((t) => {
    if (t === last) return;
    last = t;
    const s = JSON.parse(t);
    lastState = s;
    peopleByID = Object.fromEntries(s.people.map((p) => [p.id, p.name]));
    document.getElementById("people").replaceChildren(...renderPeople(s.people));
    document.getElementById("duo").replaceChildren(...renderPushes(s.duoPushes));
    document.getElementById("issues").replaceChildren(...renderIssues(s.issues));
    document.getElementById("incidents").replaceChildren(...renderIncidents(s.incidents));
    const fb = s.fallback.map((m) => renderMessage("", m));
    document.getElementById("fallback").replaceChildren(...(fb.length ? fb : [el("div", { class: "empty" }, "nothing announced")]));
    watchRejection(s);
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
    const before = new Set((lastState ? lastState.fallback : []).map((m) => m.ts));
    pending = null;
    api("/api/publish", { alarm: ta.value })
      .then((r) => {
        pending = before;
        status(`Published to SNS as message ${r.messageId}. dispatch is routing it; if it rejects it, this line says why.`);
        if (lastState) watchRejection(lastState);
      })
      .catch((e) => status(`publish failed: ${e.message}`, true))
      .finally(() => { send.disabled = false; });
  });
  refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", setup);
