// Block Kit, drawn as Slack draws it: the blocks and elements cxloop sends (header, section with
// mrkdwn text, fields and an accessory, context, divider, image, actions with buttons, selects,
// overflow menus and user pickers) and the inputs of its modals. Text is Slack's mrkdwn: *bold*,
// _italic_, ~strike~, `code`, > quotes, <@U…> mentions, <url|links> and <!date^…> dates shown in
// the reader's own time zone. Everything is built with DOM calls: no string of the message is
// ever parsed as HTML.
"use strict";

const BlockKit = (() => {
  const el = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = text;
    return n;
  };

  // Slack escapes only these three in message text.
  const unescape = (s) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

  // --- dates: <!date^epoch^{token} …|fallback> ------------------------------------------------

  function parts(date, tz) {
    const f = new Intl.DateTimeFormat("en-GB", {timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit"});
    const p = Object.fromEntries(f.formatToParts(date).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}`;
  }

  function formatDate(epoch, template, ctx) {
    const d = new Date(epoch * 1000);
    const tz = ctx.tz || "UTC";
    const fmt = (opts) => new Intl.DateTimeFormat("en-GB", {timeZone: tz, ...opts}).format(d);
    const today = ctx.now ? parts(ctx.now, tz) : null;
    const day = parts(d, tz);
    const dayOffset = today ? Math.round((Date.parse(day) - Date.parse(today)) / 86400000) : null;
    const pretty = (fallback) => dayOffset === 0 ? "today" : dayOffset === -1 ? "yesterday" : dayOffset === 1 ? "tomorrow" : fallback;
    const tokens = {
      date_num: day,
      date: fmt({day: "numeric", month: "long", year: "numeric"}),
      date_short: fmt({day: "numeric", month: "short", year: "numeric"}),
      date_long: fmt({weekday: "long", day: "numeric", month: "long", year: "numeric"}),
      time: fmt({hour: "2-digit", minute: "2-digit", hour12: false}),
      time_secs: fmt({hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false}),
    };
    tokens.date_pretty = pretty(tokens.date);
    tokens.date_short_pretty = pretty(tokens.date_short);
    tokens.date_long_pretty = pretty(tokens.date_long);
    return template.replace(/\{(\w+)\}/g, (m, k) => (k in tokens ? tokens[k] : m));
  }

  // --- mrkdwn ---------------------------------------------------------------------------------

  // One <…> entity as a node.
  function entity(inner, ctx) {
    const [target, label] = splitOnce(inner, "|");
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const person = (ctx.people || {})[id];
      return el("span", "mention", "@" + (person ? person.name : (label || id)));
    }
    if (target.startsWith("#")) return el("span", "mention channel", "#" + (label || target.slice(1)));
    if (target.startsWith("!date^")) {
      const [, epoch, template] = target.split("^");
      const n = el("time", "date", formatDate(Number(epoch), template || "{date_short}", ctx));
      n.title = unescape(label || "");
      return n;
    }
    if (target.startsWith("!")) return el("span", "mention", "@" + target.slice(1).split("^")[0]);
    const a = el("a", "link", unescape(label || target));
    if (/^https?:\/\//i.test(target)) { a.href = target; a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return a;
  }

  function splitOnce(s, sep) {
    const i = s.indexOf(sep);
    return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
  }

  // Inline styles inside one line (entities already replaced by \u0000N\u0000 placeholders).
  const STYLES = [
    ["code", /`([^`\n]+)`/],
    ["b", /(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?!\w)/],
    ["i", /(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?!\w)/],
    ["s", /(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?!\w)/],
  ];

  function inline(text, nodes, parent) {
    // The earliest styled span wins; text before it is plain, the rest is styled recursively.
    let best = null;
    for (const [tag, re] of STYLES) {
      const m = re.exec(text);
      if (!m) continue;
      const lead = tag === "code" ? "" : m[1];
      const start = m.index + lead.length;
      if (!best || start < best.start) best = {tag, start, end: m.index + m[0].length, inner: tag === "code" ? m[1] : m[2]};
    }
    if (!best) { plain(text, nodes, parent); return; }
    plain(text.slice(0, best.start), nodes, parent);
    const node = el(best.tag);
    if (best.tag === "code") plain(best.inner, nodes, node); else inline(best.inner, nodes, node);
    parent.appendChild(node);
    inline(text.slice(best.end), nodes, parent);
  }

  function plain(text, nodes, parent) {
    const bits = text.split(/\u0000(\d+)\u0000/);
    bits.forEach((bit, i) => {
      if (i % 2) parent.appendChild(nodes[Number(bit)]);
      else if (bit) parent.appendChild(document.createTextNode(unescape(bit)));
    });
  }

  function mrkdwn(text, ctx) {
    const root = el("div", "mrkdwn");
    const nodes = [];
    const src = String(text || "").replace(/<([^<>\n]+)>/g, (m, inner) => {
      nodes.push(entity(inner, ctx));
      return `\u0000${nodes.length - 1}\u0000`;
    });
    // ``` preformatted blocks first, then lines (quotes are runs of lines starting with "> ").
    const chunks = src.split(/```/);
    chunks.forEach((chunk, i) => {
      if (i % 2) { const pre = el("pre", "pre"); plain(chunk.replace(/^\n/, ""), nodes, pre); root.appendChild(pre); return; }
      let quote = null;
      chunk.split("\n").forEach((line, j, all) => {
        const q = /^(?:>|&gt;)\s?(.*)$/.exec(line);
        if (q) {
          if (!quote) { quote = el("blockquote"); root.appendChild(quote); } else quote.appendChild(el("br"));
          inline(q[1], nodes, quote);
          return;
        }
        quote = null;
        const span = el("span", "line");
        inline(line, nodes, span);
        root.appendChild(span);
        if (j < all.length - 1) root.appendChild(el("br"));
      });
    });
    return root;
  }

  function textObject(t, ctx) {
    if (!t) return el("span");
    if (t.type === "mrkdwn") return mrkdwn(t.text, ctx);
    return el("span", "plain", t.text);
  }

  // --- interactive elements -------------------------------------------------------------------

  function peopleOptions(select, ctx, placeholder) {
    select.appendChild(new Option(placeholder || "Choose someone", ""));
    for (const p of ctx.peopleList || []) select.appendChild(new Option(p.name, p.id));
  }

  function element(e, block, ctx) {
    const act = (extra) => ctx.onAction && ctx.onAction(e, block, extra || {});
    if (e.type === "button") {
      const b = el("button", "sk-button" + (e.style ? " " + e.style : ""), e.text ? e.text.text : "");
      b.type = "button";
      b.dataset.actionId = e.action_id;
      b.addEventListener("click", () => {
        if (e.confirm) {
          confirmDialog(e.confirm, ctx).then((ok) => ok && act());
        } else act();
      });
      return b;
    }
    if (e.type === "static_select" || e.type === "users_select" || e.type === "conversations_select") {
      const s = el("select", "sk-select");
      s.dataset.actionId = e.action_id;
      s.setAttribute("aria-label", e.placeholder ? e.placeholder.text : e.action_id);
      if (e.type === "users_select") peopleOptions(s, ctx, e.placeholder && e.placeholder.text);
      else {
        s.appendChild(new Option(e.placeholder ? e.placeholder.text : "Choose…", ""));
        for (const o of e.options || []) s.appendChild(new Option(o.text.text, o.value));
        for (const g of e.option_groups || []) {
          const og = el("optgroup"); og.label = g.label.text;
          for (const o of g.options) og.appendChild(new Option(o.text.text, o.value));
          s.appendChild(og);
        }
      }
      s.addEventListener("change", () => {
        if (!s.value) return;
        act(e.type === "users_select" ? {selected_user: s.value} : {selected_option: s.value});
      });
      return s;
    }
    if (e.type === "overflow") {
      const wrap = el("span", "sk-overflow");
      const b = el("button", "sk-button", "⋯");
      b.type = "button";
      b.setAttribute("aria-label", "More actions");
      const menu = el("div", "sk-menu");
      menu.hidden = true;
      for (const o of e.options || []) {
        const item = el("button", "sk-menu-item", o.text.text);
        item.type = "button";
        item.addEventListener("click", () => { menu.hidden = true; act({selected_option: o.value}); });
        menu.appendChild(item);
      }
      b.addEventListener("click", () => { menu.hidden = !menu.hidden; });
      wrap.append(b, menu);
      return wrap;
    }
    if (e.type === "image") {
      const img = el("img", "sk-accessory-image");
      img.src = e.image_url; img.alt = e.alt_text || "";
      return img;
    }
    if (e.type === "datepicker") {
      const d = el("input", "sk-input");
      d.type = "date";
      if (e.initial_date) d.value = e.initial_date;
      d.addEventListener("change", () => act({selected_date: d.value}));
      return d;
    }
    return el("span", "sk-unsupported", `[${e.type}]`);
  }

  function confirmDialog(c, ctx) {
    return new Promise((resolve) => {
      const back = el("div", "sk-modal-back");
      const box = el("div", "sk-modal small");
      box.setAttribute("role", "dialog");
      box.append(el("div", "sk-modal-title", c.title ? c.title.text : "Are you sure?"));
      const body = el("div", "sk-modal-body");
      body.append(textObject(c.text, ctx));
      const foot = el("div", "sk-modal-foot");
      const no = el("button", "sk-button", c.deny ? c.deny.text : "Cancel");
      const yes = el("button", "sk-button primary", c.confirm ? c.confirm.text : "Yes");
      const done = (v) => { back.remove(); resolve(v); };
      no.onclick = () => done(false); yes.onclick = () => done(true);
      foot.append(no, yes);
      box.append(body, foot);
      back.append(box);
      document.body.appendChild(back);
    });
  }

  // --- blocks ---------------------------------------------------------------------------------

  function block(b, ctx) {
    const n = el("div", "sk-block sk-" + b.type);
    switch (b.type) {
      case "header":
        n.appendChild(el("h3", null, b.text ? b.text.text : ""));
        break;
      case "section": {
        const main = el("div", "sk-section-main");
        if (b.text) main.appendChild(textObject(b.text, ctx));
        if (b.fields) {
          const grid = el("div", "sk-fields");
          for (const f of b.fields) grid.appendChild(textObject(f, ctx));
          main.appendChild(grid);
        }
        n.appendChild(main);
        if (b.accessory) { const acc = el("div", "sk-accessory"); acc.appendChild(element(b.accessory, b, ctx)); n.appendChild(acc); }
        break;
      }
      case "context":
        for (const e of b.elements || []) {
          if (e.type === "image") { const img = el("img"); img.src = e.image_url; img.alt = e.alt_text || ""; n.appendChild(img); }
          else n.appendChild(textObject(e, ctx));
        }
        break;
      case "divider":
        n.appendChild(el("hr"));
        break;
      case "image": {
        if (b.title) n.appendChild(el("div", "sk-image-title", b.title.text));
        const img = el("img");
        img.src = b.image_url; img.alt = b.alt_text || "";
        n.appendChild(img);
        break;
      }
      case "actions":
        for (const e of b.elements || []) n.appendChild(element(e, b, ctx));
        break;
      case "input":
        n.appendChild(input(b, ctx));
        break;
      default:
        n.appendChild(el("span", "sk-unsupported", `[${b.type} block]`));
    }
    return n;
  }

  function blocks(list, ctx) {
    const frag = el("div", "sk-blocks");
    for (const b of list || []) frag.appendChild(block(b, ctx));
    return frag;
  }

  // --- modal inputs ---------------------------------------------------------------------------

  function localParts(epoch, tz) {
    const d = new Date(epoch * 1000);
    const f = new Intl.DateTimeFormat("en-GB", {timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hour12: false});
    const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
    return [`${p.year}-${p.month}-${p.day}`, `${p.hour === "24" ? "00" : p.hour}:${p.minute}`];
  }

  // Epoch seconds of a wall-clock date and time in a time zone (the picker shows the reader's zone).
  function epochIn(day, clock, tz) {
    const guess = Date.parse(`${day}T${clock}:00Z`) / 1000;
    const [d2, c2] = localParts(guess, tz);
    const shown = Date.parse(`${d2}T${c2}:00Z`) / 1000;
    return guess - (shown - guess);
  }

  function input(b, ctx) {
    const e = b.element;
    const values = ctx.values || {};
    const id = `in-${b.block_id}`;
    const wrap = el("div", "sk-input-block");
    wrap.dataset.blockId = b.block_id;
    const label = el("label", "sk-label", b.label ? b.label.text : b.block_id);
    label.htmlFor = id;
    if (b.optional && !/optional/i.test(label.textContent)) label.appendChild(el("span", "sk-optional", " (optional)"));
    wrap.appendChild(label);
    const set = (v) => { values[b.block_id] = v; };
    const has = Object.prototype.hasOwnProperty.call(values, b.block_id);
    let control;
    if (e.type === "plain_text_input") {
      control = el(e.multiline ? "textarea" : "input", "sk-input");
      if (e.multiline) control.rows = 3;
      if (e.max_length) control.maxLength = e.max_length;
      if (e.placeholder) control.placeholder = e.placeholder.text;
      control.value = has ? (values[b.block_id] || "") : (e.initial_value || "");
      set(control.value);
      control.addEventListener("input", () => set(control.value));
    } else if (e.type === "static_select" || e.type === "users_select") {
      control = el("select", "sk-select");
      if (e.type === "users_select") peopleOptions(control, ctx, e.placeholder && e.placeholder.text);
      else {
        control.appendChild(new Option(e.placeholder ? e.placeholder.text : "Choose…", ""));
        for (const o of e.options || []) control.appendChild(new Option(o.text.text, o.value));
      }
      const initial = e.type === "users_select" ? e.initial_user : (e.initial_option && e.initial_option.value);
      control.value = has ? (values[b.block_id] || "") : (initial || "");
      set(control.value);
      control.addEventListener("change", () => set(control.value));
    } else if (e.type === "checkboxes") {
      control = el("div", "sk-checkboxes");
      const checked = has ? values[b.block_id] : (e.initial_options || []).length > 0;
      (e.options || []).forEach((o, i) => {
        const row = el("label", "sk-check");
        const box = el("input");
        box.type = "checkbox";
        box.id = i === 0 ? id : `${id}-${i}`;
        box.checked = !!checked;
        box.addEventListener("change", () => set(box.checked));
        row.append(box, document.createTextNode(" " + o.text.text));
        control.appendChild(row);
      });
      set(!!checked);
    } else if (e.type === "datetimepicker") {
      control = el("div", "sk-datetime");
      const day = el("input", "sk-input"); day.type = "date"; day.id = id;
      const clock = el("input", "sk-input"); clock.type = "time";
      day.setAttribute("aria-label", "Date"); clock.setAttribute("aria-label", "Time");
      const start = has ? values[b.block_id] : e.initial_date_time;
      if (start) [day.value, clock.value] = localParts(Number(start), ctx.tz || "UTC");
      const update = () => set(day.value && clock.value ? epochIn(day.value, clock.value, ctx.tz || "UTC") : null);
      day.addEventListener("change", update); clock.addEventListener("change", update);
      update();
      control.append(day, clock);
    } else {
      control = el("span", "sk-unsupported", `[${e.type}]`);
    }
    if (control.tagName === "INPUT" || control.tagName === "TEXTAREA" || control.tagName === "SELECT") control.id = id;
    wrap.appendChild(control);
    if (b.hint) wrap.appendChild(el("div", "sk-hint", b.hint.text));
    const error = (ctx.errors || {})[b.block_id];
    if (error) {
      const msg = el("div", "sk-error", error);
      msg.setAttribute("role", "alert");
      wrap.classList.add("has-error");
      wrap.appendChild(msg);
    }
    return wrap;
  }

  return {blocks, block, mrkdwn, formatDate, el};
})();
