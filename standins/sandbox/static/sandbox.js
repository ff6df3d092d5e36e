// The sandbox page: a chat client of the local Slack and Teams stand-ins. It shows what they hold
// for the person chosen in "Acting as", and every click, form and command goes to the sandbox's API,
// which sends cxloop exactly the signed request Slack or the Bot Connector would.
"use strict";

const S = {
  world: null,
  platform: "slack",
  as: "U0ALICE",
  slackChannel: null,
  teamsConversation: null,
  thread: null, // Slack: the parent's ts; Teams: the root activity's id
  view: null, // the last answer of /api/{slack,teams}/view
  drawn: {}, // JSON of what is on screen, to redraw only what changed
  modalValues: {}, // view or dialog id -> what the person typed, kept across redraws
  localErrors: {}, // view id -> required inputs left empty (never sent, as in Slack)
  homeOpened: null,
};

const $ = (id) => document.getElementById(id);
const el = BlockKit.el;

// --- the API ------------------------------------------------------------------------------------

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({as: S.as, ...body}),
  });
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) throw new Error((data && data.error) || `${path} answered ${r.status}`);
  return data;
}

function toast(text, kind) {
  const t = $("toast");
  t.textContent = text;
  t.className = kind || "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

const person = (id) => (S.world.people.find((p) => p.id === id) || {});
const peopleById = () => Object.fromEntries(S.world.people.map((p) => [p.id, p]));

function renderCtx(extra) {
  return {people: peopleById(), peopleList: S.world.people, tz: person(S.as).tz || S.world.timezone,
    now: new Date(S.world.clock.now), ...extra};
}

function when(iso) {
  if (!iso) return "";
  const tz = person(S.as).tz || S.world.timezone;
  const d = new Date(iso);
  const sameDay = (a, b) => a.toLocaleDateString("en-GB", {timeZone: tz}) === b.toLocaleDateString("en-GB", {timeZone: tz});
  const time = d.toLocaleTimeString("en-GB", {timeZone: tz, hour: "2-digit", minute: "2-digit"});
  return sameDay(d, new Date(S.world.clock.now)) ? time : `${d.toLocaleDateString("en-GB", {timeZone: tz, weekday: "short", day: "numeric", month: "short"})} ${time}`;
}

// --- location (kept in the URL hash, so a reload or a link opens the same place) --------------

function readHash() {
  const [platform, as, place] = decodeURIComponent(location.hash.slice(1)).split("/");
  if (platform === "slack" || platform === "teams") S.platform = platform;
  if (as) S.as = as;
  if (place) { if (S.platform === "slack") S.slackChannel = place; else S.teamsConversation = place; }
}

function writeHash() {
  const place = S.platform === "slack" ? S.slackChannel : S.teamsConversation;
  writeHash.last = `#${S.platform}/${S.as}/${encodeURIComponent(place || "")}`;
  history.replaceState(null, "", writeHash.last);
}

// --- start --------------------------------------------------------------------------------------

async function start() {
  readHash();
  S.world = await api("/api/world");
  if (!S.world.people.some((p) => p.id === S.as)) S.as = S.world.people[0].id;
  S.slackChannel = S.slackChannel || S.world.teams[0].slack_channel;
  S.teamsConversation = S.teamsConversation || S.world.teams[0].teams_channel;
  fillPeople();
  fillCustomer();
  wire();
  await switchPlatform(S.platform);
  listen();
}

function fillPeople() {
  const sel = $("person");
  sel.innerHTML = "";
  for (const p of S.world.people) {
    const what = p.role === "admin" ? "admin" : p.role === "manager" ? `manager · ${p.manages.join(", ")}` : `agent · ${p.teams.join(", ")}`;
    sel.appendChild(new Option(`${p.name} — ${what}`, p.id));
  }
  sel.value = S.as;
}

function fillCustomer() {
  const sel = $("customer-touchpoint");
  sel.innerHTML = "";
  for (const t of S.world.teams) {
    const g = document.createElement("optgroup");
    g.label = t.title;
    for (const tp of t.touchpoints) g.appendChild(new Option(tp, tp));
    sel.appendChild(g);
  }
  sel.value = "phone";
}

function wire() {
  // A link or the browser's back button changes the hash: follow it.
  window.addEventListener("hashchange", () => {
    if (location.hash === writeHash.last) return;
    readHash();
    $("person").value = S.as;
    S.homeOpened = null;
    switchPlatform(S.platform);
  });
  $("platform-slack").onclick = () => switchPlatform("slack");
  $("platform-teams").onclick = () => switchPlatform("teams");
  $("person").onchange = () => { S.as = $("person").value; S.thread = null; S.homeOpened = null; S.drawn = {}; writeHash(); refresh(true); };
  $("menu").onclick = () => document.body.classList.toggle("drawer-open");
  $("thread-close").onclick = () => { S.thread = null; refresh(true); };
  $("composer").onsubmit = (ev) => { ev.preventDefault(); send(); };
  $("clock-button").onclick = () => openPanel("clock-panel");
  $("customer-button").onclick = () => openPanel("customer-panel");
  for (const b of document.querySelectorAll("[data-close]")) b.onclick = () => closePanel(b.dataset.close);
  $("overlay").onclick = () => { closePanel("clock-panel"); closePanel("customer-panel"); document.body.classList.remove("drawer-open"); };
  $("clock-run").onclick = moveClock;
  $("customer-form").onsubmit = (ev) => { ev.preventDefault(); sendAnswer(false); };
  $("customer-repeat").onclick = () => sendAnswer(true);
  $("customer-survey").onchange = () => {
    const nps = $("customer-survey").value === "nps";
    $("customer-score").min = nps ? 0 : 1; $("customer-score").max = nps ? 10 : 5;
  };
}

async function switchPlatform(platform) {
  S.platform = platform;
  S.thread = null;
  S.drawn = {};
  document.body.classList.toggle("platform-slack", platform === "slack");
  document.body.classList.toggle("platform-teams", platform === "teams");
  $("platform-slack").setAttribute("aria-selected", String(platform === "slack"));
  $("platform-teams").setAttribute("aria-selected", String(platform === "teams"));
  writeHash();
  await refresh(true);
}

// Updates arrive as server-sent events; a page that loses the stream polls until it is back.
function listen() {
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(() => refresh(false), 80); };
  const es = new EventSource("/api/events");
  es.addEventListener("change", soon);
  es.onerror = () => { if (!listen.poll) listen.poll = setInterval(soon, 2000); };
  es.onopen = () => { clearInterval(listen.poll); listen.poll = null; };
  setInterval(() => refresh(false), 30000); // the clock in the top bar runs on between changes
}

let refreshing = null;
async function refresh(force) {
  if (refreshing) { refresh.again = true; return refreshing; }
  refreshing = (async () => {
    try {
      const w = await api("/api/world");
      S.world = w;
      if (changed("people", w.people)) fillPeople(); // a `/cx role` changes what the switcher says
      $("clock-now").textContent = clockLabel(w.clock.now);
      if (S.platform === "slack") await refreshSlack(force); else await refreshTeams(force);
    } catch (e) {
      toast(e.message, "error");
    } finally {
      refreshing = null;
      if (refresh.again) { refresh.again = false; refresh(false); }
    }
  })();
  return refreshing;
}

function clockLabel(iso) {
  return new Date(iso).toLocaleString("en-GB", {timeZone: S.world.timezone, weekday: "short", day: "numeric",
    month: "short", hour: "2-digit", minute: "2-digit"});
}

function changed(key, value) {
  const json = JSON.stringify(value);
  if (S.drawn[key] === json) return false;
  S.drawn[key] = json;
  return true;
}

// --- Slack --------------------------------------------------------------------------------------

async function refreshSlack(force) {
  if (S.slackChannel === "home" && S.homeOpened !== S.as) {
    S.homeOpened = S.as;
    await api("/api/slack/home", {});
  }
  const v = await api(`/api/slack/view?as=${S.as}&channel=${encodeURIComponent(S.slackChannel)}`);
  S.view = v;
  if (changed("sidebar", [v.channels, S.slackChannel, S.platform])) drawSlackSidebar(v.channels);
  const channel = v.channels.find((c) => (S.slackChannel === "dm" ? c.kind === "dm" : c.id === S.slackChannel));
  $("channel-name").textContent = channel ? channel.name : S.slackChannel;
  $("channel-title").textContent = channel ? channel.title : "";
  $("composer").hidden = S.slackChannel === "home";
  $("composer-input").placeholder = channel && channel.kind === "dm" ? "Message cxloop — try /cx mine" : `Message ${channel ? channel.name : ""} — try /cx help`;
  if (S.slackChannel === "home") {
    if (force || changed("home", v.home)) drawHome(v.home);
  } else if (force || changed("messages", [v.messages, S.as, S.thread, S.world.clock.now.slice(0, 16)])) {
    drawSlackMessages(v.messages || []);
  }
  if (force || changed("modal", v.modal)) drawSlackModal(v.modal);
}

function drawSlackSidebar(channels) {
  const side = $("sidebar");
  side.innerHTML = "";
  side.appendChild(el("div", "workspace", "Acme CX (sandbox)"));
  const sections = [["Channels", channels.filter((c) => c.kind === "channel")],
    ["Apps", channels.filter((c) => c.kind !== "channel")]];
  for (const [title, list] of sections) {
    side.appendChild(el("div", "side-title", title));
    for (const c of list) {
      const id = c.kind === "dm" ? "dm" : c.id; // "dm": whoever is acting's own DM with cxloop
      const b = el("button", "side-item" + (S.slackChannel === id ? " active" : ""), c.name);
      b.dataset.channel = id;
      b.onclick = () => { S.slackChannel = id; S.thread = null; S.homeOpened = null; document.body.classList.remove("drawer-open"); writeHash(); refresh(true); };
      side.appendChild(b);
    }
  }
}

function slackMessageNode(m, where, {inThread} = {}) {
  const n = el("article", "msg" + (m.ephemeral ? " ephemeral" : ""));
  n.dataset.ts = m.ts;
  const avatar = el("div", "avatar", m.by && !m.ephemeral && m.command ? initials(person(m.by).name) : "cx");
  const body = el("div", "msg-body");
  const head = el("div", "msg-head");
  head.append(el("strong", null, "cxloop"), el("span", "badge", "APP"), el("time", "msg-time", when(m.at)));
  if (m.edited) head.appendChild(el("span", "edited", "(edited)"));
  body.appendChild(head);
  if (m.ephemeral) body.appendChild(el("div", "only-you", "👁 Only visible to you"));
  if (m.command) body.appendChild(el("div", "used-command", m.ephemeral ? m.command : `${person(m.by).name} used ${m.command}`));
  if (m.subtype === "thread_broadcast" && !inThread) body.appendChild(el("div", "broadcast", "replied to a thread, also sent to the channel"));
  const ctx = renderCtx({onAction: (e, block, extra) => slackAction({...where, ts: m.ts, kind: m.ephemeral ? "ephemeral" : where.kind}, e, extra)});
  if (m.blocks && m.blocks.length) body.appendChild(BlockKit.blocks(m.blocks, ctx));
  else if (m.text) body.appendChild(BlockKit.mrkdwn(m.text, ctx));
  for (const f of m.files || []) {
    const fig = el("figure", "file");
    if ((f.mimetype || "").startsWith("image/")) {
      const img = el("img");
      img.src = f.url_private; img.alt = f.alt_txt || f.title || f.name;
      fig.appendChild(img);
    }
    fig.appendChild(el("figcaption", null, f.title || f.name));
    body.appendChild(fig);
  }
  if (!inThread && m.reply_count) {
    const r = el("button", "replies", `${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}`);
    r.onclick = () => { S.thread = m.ts; refresh(true); };
    body.appendChild(r);
  }
  n.append(avatar, body);
  return n;
}

function initials(name) {
  return (name || "?").split(/\s+/).map((w) => w[0]).slice(0, 2).join("").toUpperCase();
}

function keepScroll(box, draw) {
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const top = box.scrollTop;
  draw();
  box.scrollTop = atBottom ? box.scrollHeight : top;
}

function drawSlackMessages(messages) {
  const box = $("messages");
  const where = {kind: "message", channel: S.slackChannel};
  const top = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts || m.subtype === "thread_broadcast" || m.ephemeral || m.command);
  keepScroll(box, () => {
    box.innerHTML = "";
    if (!top.length) box.appendChild(el("p", "empty", "No messages yet."));
    for (const m of top) box.appendChild(slackMessageNode(m, where));
  });
  const pane = $("thread");
  const parent = S.thread && messages.find((m) => m.ts === S.thread);
  pane.hidden = !parent;
  document.body.classList.toggle("thread-open", !!parent);
  if (parent) {
    const list = $("thread-messages");
    keepScroll(list, () => {
      list.innerHTML = "";
      list.appendChild(slackMessageNode(parent, where, {inThread: true}));
      const replies = messages.filter((m) => m.thread_ts === parent.ts && m.ts !== parent.ts && !m.ephemeral);
      list.appendChild(el("div", "thread-count", `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`));
      for (const m of replies) list.appendChild(slackMessageNode(m, where, {inThread: true}));
    });
  }
}

function drawHome(home) {
  const box = $("messages");
  $("thread").hidden = true;
  box.innerHTML = "";
  const tab = el("div", "home");
  if (!home) { tab.appendChild(el("p", "empty", "Opening cxloop's Home…")); box.appendChild(tab); return; }
  tab.appendChild(BlockKit.blocks(home.blocks, renderCtx({onAction: (e, block, extra) => slackAction({kind: "home"}, e, extra)})));
  box.appendChild(tab);
}

async function slackAction(where, element, extra) {
  try {
    await api("/api/slack/action", {where, action_id: element.action_id, ...extra});
  } catch (e) { toast(e.message, "error"); }
}

function drawSlackModal(modal) {
  const root = $("modal-root");
  root.innerHTML = "";
  if (!modal) return;
  // What the person typed survives a redraw (an error shown), not a views.update (a new hash).
  const key = `${modal.id}:${modal.hash || ""}`;
  const values = S.modalValues[key] = S.modalValues[key] || {};
  const back = el("div", "sk-modal-back");
  const box = el("div", "sk-modal");
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", modal.title ? modal.title.text : "Modal");
  const head = el("div", "sk-modal-title");
  head.append(el("span", null, modal.title ? modal.title.text : ""));
  const x = el("button", "icon", "✕"); x.setAttribute("aria-label", "Close"); x.onclick = () => closeModal(modal);
  head.appendChild(x);
  const body = el("div", "sk-modal-body");
  const errors = {...modal.errors, ...(S.localErrors[modal.id] || {})};
  body.appendChild(BlockKit.blocks(modal.blocks, renderCtx({values, errors,
    onAction: (e, block, extra) => slackAction({kind: "modal"}, e, extra)})));
  const foot = el("div", "sk-modal-foot");
  const cancel = el("button", "sk-button", modal.close ? modal.close.text : "Cancel");
  cancel.onclick = () => closeModal(modal);
  foot.appendChild(cancel);
  if (modal.submit) {
    const ok = el("button", "sk-button primary", modal.submit.text);
    ok.onclick = async () => {
      // As the Slack client does: a required input left empty is flagged here and nothing is sent.
      const missing = modal.blocks.filter((b) => b.type === "input" && !b.optional && isEmpty(values[b.block_id]));
      S.localErrors[modal.id] = Object.fromEntries(missing.map((b) => [b.block_id, "Please complete this required field."]));
      if (missing.length) { drawSlackModal(modal); return; }
      ok.disabled = true;
      try {
        const answer = await api("/api/slack/submit", {view_id: modal.id, values});
        if (answer.closed) delete S.modalValues[key];
      } catch (e) { toast(e.message, "error"); }
      S.drawn.modal = null;
      await refresh(false);
    };
    foot.appendChild(ok);
  }
  box.append(head, body, foot);
  back.appendChild(box);
  root.appendChild(back);
}

const isEmpty = (v) => v === undefined || v === null || v === "" || v === false;

async function closeModal(modal) {
  delete S.modalValues[`${modal.id}:${modal.hash || ""}`];
  await api("/api/slack/close", {view_id: modal.id}).catch((e) => toast(e.message, "error"));
  refresh(false);
}

// --- Teams --------------------------------------------------------------------------------------

async function refreshTeams(force) {
  const v = await api(`/api/teams/view?as=${S.as}&conversation=${encodeURIComponent(S.teamsConversation)}`);
  S.view = v;
  if (changed("sidebar", [v.conversations, S.teamsConversation, S.platform])) drawTeamsSidebar(v.conversations);
  const conv = v.conversations.find((c) => (S.teamsConversation === "chat" ? c.kind === "chat" : c.id === S.teamsConversation));
  $("channel-name").textContent = conv ? (conv.kind === "chat" ? "cxloop" : conv.name) : "";
  $("channel-title").textContent = conv ? (conv.kind === "chat" ? "Chat with cxloop" : `${conv.team} › ${conv.name}`) : "";
  $("composer").hidden = false;
  $("composer-input").placeholder = conv && conv.kind === "chat" ? "Type a command — try cx mine" : "Start a post to @cxloop — try cx help";
  if (!TeamsCards.available()) $("composer-note").textContent = "The Adaptive Cards renderer is not installed: run `make sandbox`.";
  if (force || changed("messages", [v.messages, S.as, S.thread, S.world.clock.now.slice(0, 16)])) drawTeamsMessages(v.messages || []);
  if (force || changed("modal", v.dialog)) drawTeamsDialog(v.dialog);
}

function drawTeamsSidebar(conversations) {
  const side = $("sidebar");
  side.innerHTML = "";
  const channels = conversations.filter((c) => c.kind === "channel");
  side.appendChild(el("div", "side-title", "Teams"));
  side.appendChild(el("div", "team-name", channels.length ? channels[0].team : ""));
  const item = (c, label) => {
    const id = c.kind === "chat" ? "chat" : c.id; // "chat": whoever is acting's own chat with cxloop
    const b = el("button", "side-item" + (S.teamsConversation === id ? " active" : ""), label);
    b.dataset.conversation = id;
    b.onclick = () => { S.teamsConversation = id; S.thread = null; document.body.classList.remove("drawer-open"); writeHash(); refresh(true); };
    return b;
  };
  for (const c of channels) side.appendChild(item(c, c.name));
  side.appendChild(el("div", "side-title", "Chat"));
  for (const c of conversations.filter((c) => c.kind === "chat")) side.appendChild(item(c, "cxloop"));
}

function teamsNode(a, {reply} = {}) {
  const n = el("article", "post" + (reply ? " reply" : "") + (a.bot ? " from-bot" : ""));
  n.dataset.activity = a.id;
  const head = el("div", "msg-head");
  head.append(el("span", "avatar small", a.bot ? "cx" : initials(a.from && a.from.name)),
    el("strong", null, a.bot ? "cxloop" : (a.from && a.from.name) || ""), el("time", "msg-time", when(a.at)));
  if (a.edited) head.appendChild(el("span", "edited", "Edited"));
  n.appendChild(head);
  if (a.text) {
    const t = el("div", "post-text");
    // What a person typed: <at>Name</at> mentions shown as Teams shows them, the rest as plain text.
    a.text.split(/(<at>.*?<\/at>)/).forEach((bit) => {
      const m = /^<at>(.*)<\/at>$/.exec(bit);
      t.appendChild(m ? el("span", "mention", m[1]) : document.createTextNode(bit));
    });
    n.appendChild(t);
  }
  if (a.card) {
    n.appendChild(TeamsCards.render(a.card, {people: S.world.people, onSubmit: (action) => teamsClick(a, action)}));
  }
  return n;
}

function drawTeamsMessages(messages) {
  const box = $("messages");
  $("thread").hidden = true;
  document.body.classList.remove("thread-open");
  const roots = messages.filter((m) => !m.threadRoot);
  keepScroll(box, () => {
    box.innerHTML = "";
    if (!roots.length) box.appendChild(el("p", "empty", S.teamsConversation === "chat" ? "No messages yet: type cx help below." : "No posts yet."));
    for (const root of roots) {
      const wrap = el("div", "post-wrap");
      wrap.appendChild(teamsNode(root));
      const replies = messages.filter((m) => m.threadRoot === root.id);
      if (replies.length) {
        const open = S.thread === root.id;
        const t = el("button", "replies", open ? "Hide replies" : `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`);
        t.onclick = () => { S.thread = open ? null : root.id; S.drawn.messages = null; refresh(true); };
        wrap.appendChild(t);
        if (open) { const list = el("div", "reply-list"); for (const r of replies) list.appendChild(teamsNode(r, {reply: true})); wrap.appendChild(list); }
      }
      box.appendChild(wrap);
    }
  });
}

async function teamsClick(activity, action) {
  try {
    const answer = await api("/api/teams/click", {conversation: S.teamsConversation, activity: activity.id, title: action.title});
    showTeamsAnswer(answer);
  } catch (e) { toast(e.message, "error"); }
  refresh(false);
}

// cxloop answers a button or a form with a dialog (a form card), a one-line message only the
// clicker sees, or nothing (the dialog closes).
function showTeamsAnswer(answer) {
  if (answer.message) drawTeamsMessageDialog(answer.message);
  if (answer.refused) toast(answer.refused, "error");
  S.drawn.modal = null;
}

function drawTeamsMessageDialog(text) {
  const root = $("modal-root");
  root.innerHTML = "";
  const back = el("div", "sk-modal-back teams");
  const box = el("div", "sk-modal teams-dialog small");
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "cxloop");
  const head = el("div", "sk-modal-title");
  head.append(el("span", null, "cxloop"));
  const body = el("div", "sk-modal-body teams-message", text);
  const foot = el("div", "sk-modal-foot");
  const ok = el("button", "sk-button primary", "Close");
  ok.onclick = () => { root.innerHTML = ""; S.drawn.modal = null; S.messageDialog = false; };
  foot.appendChild(ok);
  box.append(head, body, foot);
  back.appendChild(box);
  root.appendChild(back);
  S.messageDialog = true;
}

function drawTeamsDialog(dialog) {
  const root = $("modal-root");
  if (!dialog) { if (!S.messageDialog) root.innerHTML = ""; return; }
  S.messageDialog = false;
  root.innerHTML = "";
  const back = el("div", "sk-modal-back teams");
  const box = el("div", "sk-modal teams-dialog");
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", dialog.title || "Dialog");
  const head = el("div", "sk-modal-title");
  head.append(el("span", null, dialog.title || ""));
  const x = el("button", "icon", "✕"); x.setAttribute("aria-label", "Close");
  x.onclick = async () => { await api("/api/teams/close", {dialog: dialog.id}).catch(() => {}); refresh(false); };
  head.appendChild(x);
  const body = el("div", "sk-modal-body");
  body.appendChild(TeamsCards.render(dialog.card, {people: S.world.people, onSubmit: async (action, inputs) => {
    try {
      showTeamsAnswer(await api("/api/teams/submit", {dialog: dialog.id, inputs}));
    } catch (e) { toast(e.message, "error"); }
    refresh(false);
  }}));
  box.append(head, body);
  back.appendChild(box);
  root.appendChild(back);
}

// --- the composer -------------------------------------------------------------------------------

async function send() {
  const input = $("composer-input");
  const text = input.value.trim();
  if (!text) return;
  $("composer-note").textContent = "";
  try {
    if (S.platform === "slack") {
      await api("/api/slack/command", {channel: S.slackChannel, text});
    } else {
      await api("/api/teams/message", {conversation: S.teamsConversation, text});
    }
    input.value = "";
  } catch (e) {
    $("composer-note").textContent = e.message;
  }
  refresh(false);
}

// --- panels: the clock and the customer ---------------------------------------------------------

function openPanel(id) {
  $(id).hidden = false;
  $("overlay").hidden = false;
  if (id === "clock-panel") fillClock();
}

function closePanel(id) {
  $(id).hidden = true;
  if ($("clock-panel").hidden && $("customer-panel").hidden) $("overlay").hidden = true;
}

function localInput(iso, tz) {
  const d = new Date(iso);
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {timeZone: tz, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false}).formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}T${p.hour === "24" ? "00" : p.hour}:${p.minute}`;
}

function fillClock() {
  const tz = S.world.timezone;
  $("clock-zone").textContent = `(${tz}, the workspace's time zone)`;
  $("clock-at").value = localInput(S.world.clock.now, tz);
  const box = $("clock-presets");
  box.innerHTML = "";
  for (const p of S.world.clock.presets) {
    const b = el("button", "chip", p.label);
    b.type = "button";
    b.onclick = () => { $("clock-at").value = localInput(p.at, tz); };
    box.appendChild(b);
  }
}

async function moveClock() {
  const at = $("clock-at").value;
  if (!at) return;
  $("clock-result").textContent = "Running due work…";
  try {
    const r = await api("/api/clock", {at});
    const q = r.summary.queued || {};
    const done = Object.entries(typeof q === "object" ? q : {queued: q}).filter(([, n]) => n).map(([k, n]) => `${k}: ${n}`);
    $("clock-result").textContent = `It is now ${clockLabel(r.now)}.\nQueued ${done.length ? done.join(", ") : "nothing"}; delivered ${r.summary.delivered}.`;
  } catch (e) { $("clock-result").textContent = e.message; }
  refresh(true);
}

async function sendAnswer(repeat) {
  const f = $("customer-form");
  const data = repeat ? {repeat: true} : Object.fromEntries(new FormData(f).entries());
  try {
    const r = await api("/api/customer", data);
    const a = r.answer || {};
    const what = r.status === 202 ? (a.case_id ? `stored; case #${a.case_id} opened` : "stored; no case (not a detractor)")
      : r.status === 200 ? "already stored: no second case, no second alert" : JSON.stringify(a);
    $("customer-result").textContent = `POST /webhooks/generic → ${r.status}: ${what}`;
  } catch (e) { $("customer-result").textContent = e.message; }
  refresh(false);
}

start().catch((e) => toast(e.message, "error"));
