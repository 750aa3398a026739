// smsgate console: a small single-page app (vanilla JS, hash routes, no build step).
"use strict";

(() => {
  const view = document.getElementById("view");
  const toastBox = document.getElementById("toast");
  let meta = null; // states, event types, reject reasons, defaults
  let timer = null; // the dashboard's poll

  // --- helpers ------------------------------------------------------------------------------

  // el("tag", {attr: value, onclick: fn}, ...children): text is always inserted as text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "class") node.className = v;
      else if (k === "value") node.value = v;
      else if (v === true) node.setAttribute(k, "");
      else node.setAttribute(k, String(v));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return "";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  const fmtInt = (n) => Number(n || 0).toLocaleString("en-US");
  const badge = (text, cls) => el("span", { class: `badge ${cls || text}` }, text);

  function toast(message, bad = false) {
    toastBox.textContent = message;
    toastBox.className = bad ? "bad" : "";
    toastBox.hidden = false;
    clearTimeout(toast.hide);
    toast.hide = setTimeout(() => { toastBox.hidden = true; }, bad ? 6000 : 3000);
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.message ? `${body.code}: ${body.message}` : `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  // Every call carries X-Smsgate-Console (the CSRF header the server requires on changes).
  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { "X-Smsgate-Console": "1" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(`api/${path}`, options);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.status === 401 && path !== "login") {
      showLogin("Your session has ended; log in again.");
      const ended = new ApiError(401, data);
      ended.sessionEnded = true; // already answered by the login form
      throw ended;
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // Run an action from a form or button: errors go to `errorBox` (and a toast).
  async function attempt(errorBox, action) {
    if (errorBox) errorBox.textContent = "";
    try {
      return await action();
    } catch (exc) {
      if (exc.sessionEnded) return undefined;
      if (errorBox) errorBox.textContent = exc.message;
      toast(exc.message, true);
      return undefined;
    }
  }

  function setView(...children) {
    view.replaceChildren(...children);
  }

  function stopPolling() {
    if (timer !== null) { clearInterval(timer); timer = null; }
  }

  const field = (form, name) => form.elements.namedItem(name);
  const lines = (text) => text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);

  // --- session ------------------------------------------------------------------------------

  function showLogin(message) {
    stopPolling();
    document.getElementById("top").hidden = true;
    const error = el("p", { class: "error", id: "login-error" }, message || "");
    const form = el("form", { class: "stack", id: "login-form" },
      el("label", {}, "Operator", el("input", { name: "name", id: "login-name", autocomplete: "username", required: true })),
      el("label", {}, "Password", el("input", { name: "password", id: "login-password", type: "password",
        autocomplete: "current-password", required: true })),
      el("button", { type: "submit" }, "Log in"), error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const ok = await attempt(error, () => api("POST", "login",
        { name: field(form, "name").value, password: field(form, "password").value }));
      if (ok) await start();
    });
    setView(el("section", { class: "card login" }, el("h1", {}, "smsgate console"), form));
  }

  async function start() {
    const who = await api("GET", "session");
    meta = await api("GET", "meta");
    document.getElementById("whoami").textContent = who.operator;
    document.getElementById("top").hidden = false;
    if (!location.hash || location.hash === "#/") location.hash = "#/dashboard";
    else route();
  }

  document.getElementById("logout").addEventListener("click", async () => {
    await attempt(null, () => api("POST", "logout"));
    showLogin("Logged out.");
  });

  // --- routing ------------------------------------------------------------------------------

  const routes = [
    [/^#\/dashboard$/, showDashboard, "dashboard"],
    [/^#\/projects$/, showProjects, "projects"],
    [/^#\/projects\/([0-9a-f]{32})$/, showProject, "projects"],
    [/^#\/messages\/([0-9a-f]{32})$/, showMessage, "messages"],
    [/^#\/messages(?:\?(.*))?$/, showMessages, "messages"],
    [/^#\/send(?:\?(.*))?$/, showSend, "send"],
    [/^#\/templates(?:\?(.*))?$/, showTemplates, "templates"],
  ];

  function route() {
    if (meta === null) return; // not logged in yet
    stopPolling();
    const hash = location.hash || "#/dashboard";
    for (const [pattern, show, nav] of routes) {
      const match = hash.match(pattern);
      if (match) {
        for (const a of document.querySelectorAll("header nav a")) {
          a.classList.toggle("active", a.dataset.nav === nav);
        }
        attempt(null, () => show(...match.slice(1)));
        return;
      }
    }
    location.hash = "#/dashboard";
  }
  window.addEventListener("hashchange", route);

  // --- dashboard ----------------------------------------------------------------------------

  function tile(id, label) {
    return el("div", { class: "tile", id }, el("div", { class: "label" }, label), el("div", { class: "value" }, "–"));
  }

  async function showDashboard() {
    const updated = el("span", { class: "muted", id: "dash-updated" });
    const tiles = el("div", { class: "tiles" },
      tile("tile-accepted", "Accepted (last hour)"), tile("tile-delivered", "Delivered"),
      tile("tile-failed", "Failed or expired"), tile("tile-inflight", "In flight"),
      tile("tile-rate", "Delivery rate"));
    const perMinute = el("div", { class: "chart", id: "chart-minutes" });
    const legend = el("div", { class: "legend" },
      meta.states.map((s) => el("span", {}, el("i", { class: s }), s)));
    const channels = el("div", { class: "chart", id: "chart-channels" });
    const carriers = el("div", { class: "chart", id: "chart-carriers" });
    const refusals = el("div", { class: "chart", id: "chart-refusals" });
    const queue = el("div", { class: "chart", id: "chart-queue" });
    setView(
      el("h1", {}, "Dashboard ", updated),
      tiles,
      el("section", { class: "card" }, el("h2", {}, "Messages per minute, by state now (accepted in the last hour)"),
        perMinute, legend),
      el("div", { class: "grid2" },
        el("section", { class: "card" }, el("h2", {}, "Delivery rate by channel"), channels),
        el("section", { class: "card" }, el("h2", {}, "Delivery rate by carrier"), carriers),
        el("section", { class: "card" }, el("h2", {}, "Refusals by code ", el("span", { class: "muted" }, "(since the server started)")), refusals),
        el("section", { class: "card" }, el("h2", {}, "Queue depth by state (now)"), queue)),
    );
    const rateColor = (r) => (r.value >= 0.9 ? "#27ae60" : r.value >= 0.7 ? "#d9822b" : "#d64545");
    const rateRows = (rows) => rows.map((r) => ({
      label: r.name, value: r.rate,
      text: r.rate === null ? "–" : `${(100 * r.rate).toFixed(1)}% of ${fmtInt(r.delivered + r.failed)}`,
    }));
    const tick = async () => {
      const d = await api("GET", "dashboard");
      if (!document.body.contains(perMinute)) return; // the view changed meanwhile
      const t = d.totals;
      const failed = t.FAILED + t.EXPIRED;
      const finished = t.DELIVERED + failed;
      tiles.querySelector("#tile-accepted .value").textContent = fmtInt(d.accepted);
      tiles.querySelector("#tile-delivered .value").textContent = fmtInt(t.DELIVERED);
      tiles.querySelector("#tile-failed .value").textContent = fmtInt(failed);
      tiles.querySelector("#tile-inflight .value").textContent = fmtInt(t.QUEUED + t.SENDING + t.SUBMITTED);
      tiles.querySelector("#tile-rate .value").textContent =
        finished ? `${(100 * t.DELIVERED / finished).toFixed(1)}%` : "–";
      perMinute.replaceChildren(Charts.stacked(d.minutes, meta.states));
      channels.replaceChildren(Charts.hbars(rateRows(d.by_channel), { max: 1, color: rateColor,
        empty: "no finished messages in the last hour" }));
      carriers.replaceChildren(Charts.hbars(rateRows(d.by_carrier), { max: 1, color: rateColor,
        empty: "no finished messages in the last hour" }));
      const refused = Object.entries(d.since_start.refused).map(([code, n]) => ({ label: code, value: n, text: fmtInt(n) }));
      refusals.replaceChildren(Charts.hbars(refused, { color: () => "#eb5757", empty: "no refusals" }),
        el("p", { class: "muted" }, `${fmtInt(d.since_start.accepted)} item(s) accepted since the server started.`));
      const depth = [...Object.entries(d.queue).map(([s, n]) => ({ label: s, value: n, text: fmtInt(n) })),
        ...Object.entries(d.outbox).map(([s, n]) => ({ label: `callbacks ${s}`, value: n, text: fmtInt(n) }))];
      queue.replaceChildren(Charts.hbars(depth, { color: (r) => (r.label.startsWith("callbacks") ? "#8e44ad" : "#2f80ed") }));
      updated.textContent = `updated ${fmtTime(d.now)}`;
    };
    await tick();
    timer = setInterval(() => { if (!document.hidden) attempt(null, tick); }, 2000);
  }

  // --- projects -----------------------------------------------------------------------------

  async function showProjects() {
    const { projects } = await api("GET", "projects");
    const error = el("p", { class: "error" });
    const form = el("form", { class: "inline", id: "new-project" },
      el("label", {}, "Name", el("input", { name: "name", required: true, maxlength: 64 })),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "enterprise", checked: true }), "enterprise"),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "promotion", checked: true }), "promotion grant"),
      el("button", { type: "submit" }, "Create project"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const p = await api("POST", "projects", { name: field(form, "name").value,
          enterprise: field(form, "enterprise").checked,
          grants: field(form, "promotion").checked ? ["promotion"] : [] });
        toast(`Project ${p.name} created`);
        location.hash = `#/projects/${p.id}`;
      });
    });
    const rows = projects.map((p) => el("tr", {},
      el("td", {}, el("a", { href: `#/projects/${p.id}` }, p.name)),
      el("td", { class: "mono" }, p.id),
      el("td", {}, p.enterprise ? "enterprise" : "individual"),
      el("td", {}, p.grants.join(", ") || "–"),
      el("td", { class: "num" }, p.daily_cap ?? `default (${meta.defaults.daily_cap})`),
      el("td", {}, p.send_window ?? `default (${meta.defaults.send_window})`),
      el("td", { class: "num" }, p.signs), el("td", { class: "num" }, p.keys)));
    setView(el("h1", {}, "Projects"),
      el("section", { class: "card" },
        el("table", { id: "projects" },
          el("thead", {}, el("tr", {}, ["Name", "Project id", "Account", "Grants", "Daily cap", "Send window", "Signatures", "Live keys"]
            .map((h) => el("th", {}, h)))),
          el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No projects yet.")))),
        el("h3", {}, "New project"), form, error));
  }

  async function showProject(projectId) {
    const data = await api("GET", `projects/${projectId}`);
    const p = data.project;
    const reload = () => showProject(projectId);
    setView(
      el("p", {}, el("a", { href: "#/projects" }, "← Projects")),
      el("h1", {}, p.name, " ", el("span", { class: "muted mono" }, p.id)),
      settingsCard(p, reload),
      el("div", { class: "grid2" }, keysCard(p, data.keys, reload), signsCard(p, data.signs, reload)),
      el("div", { class: "grid2" }, wordsCard(p, data.words, reload), callbacksCard(p, data.callbacks, data.batches)),
      optoutsCard(p, data.signs),
    );
  }

  function settingsCard(p, reload) {
    const error = el("p", { class: "error" });
    const form = el("form", { class: "inline", id: "project-settings" },
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "enterprise", checked: p.enterprise }), "enterprise account"),
      el("label", {}, "Grants (comma-separated)", el("input", { name: "grants", value: p.grants.join(", ") })),
      el("label", {}, `Daily cap per number (blank: ${meta.defaults.daily_cap})`,
        el("input", { name: "daily_cap", type: "number", min: 1, value: p.daily_cap ?? "" })),
      el("label", {}, `Send window (blank: ${meta.defaults.send_window}, ${meta.defaults.timezone})`,
        el("input", { name: "send_window", placeholder: "HH:MM-HH:MM", value: p.send_window ?? "" })),
      el("button", { type: "submit" }, "Save settings"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const cap = field(form, "daily_cap").value.trim();
        await api("PUT", `projects/${p.id}`, {
          enterprise: field(form, "enterprise").checked,
          grants: field(form, "grants").value.split(",").map((g) => g.trim()).filter(Boolean),
          daily_cap: cap === "" ? null : Number(cap),
          send_window: field(form, "send_window").value.trim() || null,
        });
        toast("Settings saved");
        reload();
      });
    });
    return el("section", { class: "card" }, el("h2", {}, "Settings"),
      el("p", { class: "muted" }, p.may_promote ? "May send promotional SMS."
        : "Cannot send promotional SMS: it needs an enterprise account and the promotion grant."),
      form, error);
  }

  function keysCard(p, keys, reload) {
    const error = el("p", { class: "error" });
    const shown = el("div", { id: "new-key" });
    const create = el("button", { type: "button", id: "create-key", onclick: () => attempt(error, async () => {
      const k = await api("POST", `projects/${p.id}/keys`);
      shown.replaceChildren(el("div", { class: "secret" },
        el("strong", {}, "New access key — the secret key is shown this once:"),
        el("div", {}, "AK ", el("code", { id: "new-ak" }, k.access_key)),
        el("div", {}, "SK ", el("code", { id: "new-sk" }, k.secret_key)),
        el("button", { type: "button", class: "secondary", onclick: () => reload() }, "I have stored it")));
    }) }, "Create access key");
    const rows = keys.map((k) => el("tr", {},
      el("td", { class: "mono" }, k.access_key),
      el("td", {}, fmtTime(k.created_at)),
      el("td", {}, k.revoked_at ? badge(`revoked ${fmtTime(k.revoked_at)}`, "revoked") : badge("live", "approved")),
      el("td", {}, k.revoked_at ? "" : el("button", { type: "button", class: "danger", onclick: () => attempt(error, async () => {
        if (!window.confirm(`Revoke ${k.access_key}? Clients using it are refused at once.`)) return;
        await api("POST", `projects/${p.id}/keys/${k.access_key}/revoke`);
        toast("Access key revoked");
        reload();
      }) }, "Revoke"))));
    return el("section", { class: "card" }, el("h2", {}, "Access keys"),
      el("table", { id: "keys" }, el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { class: "muted" }, "No keys.")))),
      shown, create, error);
  }

  function signsCard(p, signs, reload) {
    const error = el("p", { class: "error" });
    const rows = signs.map((s) => {
      const actions = el("td", {});
      if (s.status !== "deleted") {
        if (s.status !== "approved") {
          actions.append(el("button", { type: "button", "data-action": "approve", onclick: () => attempt(error, async () => {
            await api("POST", `projects/${p.id}/signs/${s.id}/approve`);
            toast(`Signature ${s.name} approved`);
            reload();
          }) }, "Approve"), " ");
        }
        if (s.status !== "rejected") {
          const reason = el("select", { name: "reason", "aria-label": "reason" },
            Object.entries(meta.reject_reasons).map(([code, text]) => el("option", { value: code, title: text }, code)));
          const note = el("input", { name: "note", placeholder: "note (optional)", maxlength: 200, size: 14 });
          actions.append(el("details", { class: "reject" }, el("summary", {}, "Reject…"),
            el("div", { class: "reject-form" }, reason, note, el("button", { type: "button", class: "danger", "data-action": "reject",
              onclick: () => attempt(error, async () => {
                await api("POST", `projects/${p.id}/signs/${s.id}/reject`, { reason_code: reason.value, note: note.value });
                toast(`Signature ${s.name} rejected`);
                reload();
              }) }, "Reject"))));
        }
      }
      return el("tr", { "data-sign": s.name },
        el("td", {}, s.name, el("div", { class: "muted mono" }, s.id)),
        el("td", {}, s.type),
        el("td", { class: "status" }, badge(s.status), s.reply ? el("div", { class: "muted" }, s.reply) : null),
        actions);
    });
    const form = el("form", { class: "inline", id: "new-sign" },
      el("label", {}, "Name (2-8 characters)", el("input", { name: "name", required: true, maxlength: 8 })),
      el("label", {}, "Type", el("select", { name: "type" },
        el("option", { value: "promotional" }, "promotional"), el("option", { value: "notification" }, "notification"))),
      el("button", { type: "submit" }, "Create signature"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        await api("POST", `projects/${p.id}/signs`, { name: field(form, "name").value.trim(), type: field(form, "type").value });
        toast("Signature created (pending review)");
        reload();
      });
    });
    return el("section", { class: "card" }, el("h2", {}, "Signatures"),
      el("table", { id: "signs" }, el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { class: "muted" }, "No signatures.")))),
      form, error);
  }

  function wordsCard(p, words, reload) {
    const error = el("p", { class: "error" });
    const list = el("div", { class: "words", id: "words" },
      words.length ? words.map((w) => el("span", { class: "word" }, w,
        el("button", { type: "button", class: "secondary", title: `remove ${w}`, onclick: () => attempt(error, async () => {
          await api("POST", `projects/${p.id}/words/remove`, { words: [w] });
          toast(`Removed ${w}`);
          reload();
        }) }, "×"))) : el("span", { class: "muted" }, "Only the built-in lexicon."));
    const add = el("form", { class: "inline", id: "add-words" },
      el("label", {}, "Words (one per line)", el("textarea", { name: "words", rows: 2 })),
      el("button", { type: "submit" }, "Add"));
    add.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const entries = field(add, "words").value.split("\n").map((w) => w.trim()).filter(Boolean);
        await api("POST", `projects/${p.id}/words`, { words: entries });
        toast("Words added");
        reload();
      });
    });
    const result = el("div", { id: "word-test-result" });
    const test = el("form", { class: "inline", id: "test-text" },
      el("label", {}, "Test a text", el("textarea", { name: "text", rows: 2, cols: 40 })),
      el("button", { type: "submit", class: "secondary" }, "Test"));
    test.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const text = field(test, "text").value;
        const r = await api("POST", `projects/${p.id}/words/test`, { text });
        if (!r.matches.length) {
          result.replaceChildren(el("p", {}, badge("clean", "approved"), " no sensitive word found."));
          return;
        }
        const starts = new Set(r.matches.map((m) => m.position));
        const marked = [...text].map((ch, i) => (starts.has(i) ? el("mark", {}, ch) : ch));
        result.replaceChildren(
          el("p", {}, badge("refused", "refused"), " SMN.0227 for ", el("strong", {}, r.refused_for)),
          el("div", { class: "highlight" }, marked),
          el("table", { id: "word-matches" }, el("thead", {}, el("tr", {}, el("th", {}, "Word"), el("th", { class: "num" }, "Position"), el("th", {}, "Lexicon"))),
            el("tbody", {}, r.matches.map((m) => el("tr", {}, el("td", {}, m.word), el("td", { class: "num" }, m.position), el("td", {}, m.source))))));
      });
    });
    return el("section", { class: "card" }, el("h2", {}, "Sensitive words (this project's own)"), list, add, test, result, error);
  }

  function callbacksCard(p, callbacks, batches) {
    const error = el("p", { class: "error" });
    // batched delivery (blank: one event per POST): at most N events per POST, waiting T ms at most
    const form = el("form", { class: "stack", id: "callbacks" },
      meta.event_types.map((t) => el("label", {}, t,
        el("input", { name: t, value: callbacks[t] || "", placeholder: "https://… (blank: none)", size: 50 }),
        el("input", { name: `${t}-events`, type: "number", min: 1, max: 1000, value: batches[t]?.max_events ?? "",
          placeholder: "events per POST", title: "Batched: up to this many events per POST (blank: one by one)" }),
        el("input", { name: `${t}-wait`, type: "number", min: 0, max: 60000, value: batches[t]?.max_wait_ms ?? "",
          placeholder: "wait ms", title: "Batched: the longest an event waits for others, in ms" }))),
      el("div", {}, el("button", { type: "submit" }, "Save callbacks")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const callback = meta.event_types.map((t) => {
          const item = { event_type: t, topic_urn: field(form, t).value.trim() };
          const n = field(form, `${t}-events`).value.trim(), wait = field(form, `${t}-wait`).value.trim();
          if (n || wait) item.batch = { ...(n && { max_events: Number(n) }), ...(wait && { max_wait_ms: Number(wait) }) };
          return item;
        });
        await api("PUT", `projects/${p.id}/callbacks`, { callback });
        toast("Callbacks saved");
      });
    });
    return el("section", { class: "card" }, el("h2", {}, "Callback subscriptions"), form, error);
  }

  function optoutsCard(p, signs) {
    const error = el("p", { class: "error" });
    const live = signs.filter((s) => s.status !== "deleted");
    const signSelect = (name, withAll) => el("select", { name },
      withAll ? el("option", { value: "" }, "every signature") : null,
      live.map((s) => el("option", { value: s.id }, s.name)));
    const tbody = el("tbody", {});
    const total = el("span", { class: "muted" });
    const filter = el("form", { class: "inline", id: "optout-filter" },
      el("label", {}, "Signature", signSelect("sign_id", true)),
      el("label", {}, "Number", el("input", { name: "number", size: 16 })),
      el("button", { type: "submit", class: "secondary" }, "Filter"));
    const load = () => attempt(error, async () => {
      const q = new URLSearchParams();
      if (field(filter, "sign_id").value) q.set("sign_id", field(filter, "sign_id").value);
      if (field(filter, "number").value.trim()) q.set("number", field(filter, "number").value.trim());
      const r = await api("GET", `projects/${p.id}/optouts?${q}`);
      total.textContent = `${fmtInt(r.count)} opted out`;
      tbody.replaceChildren(...(r.optouts.length ? r.optouts.map((o) => el("tr", {},
        el("td", { class: "mono" }, o.e164), el("td", {}, o.sign_name || o.sign_id), el("td", {}, fmtTime(o.created_at)),
        el("td", {}, el("button", { type: "button", class: "danger", onclick: () => attempt(error, async () => {
          await api("POST", `projects/${p.id}/optouts/remove`, { sign_id: o.sign_id, number: o.e164 });
          toast(`${o.e164} may receive ${o.sign_name || "this signature"} again`);
          load();
        }) }, "Remove")))) : [el("tr", {}, el("td", { class: "muted", colspan: 4 }, "None."))]));
    });
    filter.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    const add = el("form", { class: "inline", id: "add-optouts" },
      el("label", {}, "Signature", signSelect("sign_id", false)),
      el("label", {}, "Numbers", el("textarea", { name: "numbers", rows: 1, cols: 30 })),
      el("button", { type: "submit" }, "Opt out"));
    add.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        const r = await api("POST", `projects/${p.id}/optouts`,
          { sign_id: field(add, "sign_id").value, numbers: lines(field(add, "numbers").value) });
        toast(`${r.added} number(s) opted out`);
        field(add, "numbers").value = "";
        load();
      });
    });
    load();
    return el("section", { class: "card" }, el("h2", {}, "Opt-outs ", total), filter,
      el("table", { id: "optouts" }, el("thead", {}, el("tr", {}, el("th", {}, "Number"), el("th", {}, "Signature"), el("th", {}, "Since"), el("th", {}))), tbody),
      live.length ? add : null, error);
  }

  // --- messages -----------------------------------------------------------------------------

  function toLocalInput(ms) {
    if (!ms) return "";
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  async function showMessages(query) {
    const params = new URLSearchParams(query || "");
    const { projects } = await api("GET", "projects");
    const form = el("form", { class: "inline", id: "message-search" },
      el("label", {}, "Project", el("select", { name: "project_id" }, el("option", { value: "" }, "all"),
        projects.map((p) => el("option", { value: p.id, selected: params.get("project_id") === p.id }, p.name)))),
      el("label", {}, "Number", el("input", { name: "number", size: 15, value: params.get("number") || "" })),
      el("label", {}, "Message id", el("input", { name: "message_id", size: 34, value: params.get("message_id") || "" })),
      el("label", {}, "Signature (name or id)", el("input", { name: "sign", size: 12, value: params.get("sign") || "" })),
      el("label", {}, "State", el("select", { name: "state" }, el("option", { value: "" }, "any"),
        meta.states.map((s) => el("option", { value: s, selected: params.get("state") === s }, s)))),
      el("label", {}, "From", el("input", { name: "start", type: "datetime-local", value: toLocalInput(params.get("start")) })),
      el("label", {}, "To", el("input", { name: "end", type: "datetime-local", value: toLocalInput(params.get("end")) })),
      el("button", { type: "submit" }, "Search"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const name of ["project_id", "number", "message_id", "sign", "state"]) {
        const v = field(form, name).value.trim();
        if (v) q.set(name, v);
      }
      for (const name of ["start", "end"]) {
        const v = field(form, name).value;
        if (v) q.set(name, String(new Date(v).getTime()));
      }
      const target = `#/messages?${q}`;
      if (location.hash === target) route(); else location.hash = target;
    });
    const error = el("p", { class: "error" });
    const results = el("div", { id: "message-results" });
    setView(el("h1", {}, "Messages"), el("section", { class: "card" }, form, error), el("section", { class: "card" }, results));
    const offset = Number(params.get("offset") || 0);
    await attempt(error, async () => {
      const r = await api("GET", `messages?${params}`);
      const rows = r.messages.map((m) => el("tr", {},
        el("td", {}, fmtTime(m.accepted_at)),
        el("td", { class: "mono" }, el("a", { href: `#/messages/${m.id}` }, m.id)),
        el("td", {}, m.project_name || m.project_id),
        el("td", { class: "mono" }, m.e164),
        el("td", {}, m.sign_name || m.sign_id),
        el("td", {}, badge(m.state), m.status_desc ? el("div", { class: "muted" }, m.status_desc) : null),
        el("td", { class: "num" }, m.fee_num),
        el("td", {}, m.channel || "")));
      const page = (delta) => { const q = new URLSearchParams(params); q.set("offset", String(Math.max(0, offset + delta))); location.hash = `#/messages?${q}`; };
      results.replaceChildren(
        el("table", { id: "messages" },
          el("thead", {}, el("tr", {}, ["Accepted", "Message id", "Project", "Number", "Signature", "State", "Parts", "Channel"].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No message matches.")))),
        el("div", { class: "pager" },
          offset > 0 ? el("button", { type: "button", class: "secondary", onclick: () => page(-50) }, "← Newer") : null,
          r.more ? el("button", { type: "button", class: "secondary", onclick: () => page(50) }, "Older →") : null));
    });
  }

  async function showMessage(messageId) {
    const h = await api("GET", `messages/${messageId}`);
    const m = h.message;
    const fact = (k, v) => [el("dt", {}, k), el("dd", {}, v ?? "")];
    setView(
      el("p", {}, el("a", { href: "#/messages" }, "← Messages")),
      el("h1", {}, "Message ", el("span", { class: "mono" }, m.id), " ", badge(m.state)),
      el("div", { class: "grid2" },
        el("section", { class: "card" }, el("h2", {}, "Summary"), el("dl", { class: "facts", id: "message-facts" },
          fact("Project", el("a", { href: `#/projects/${m.project_id}` }, m.project_name || m.project_id)),
          fact("Signature", `${m.sign_name || ""} (${m.sign_id})`),
          fact("Number", `${m.e164} (${h.carrier})`),
          fact("Text", m.text),
          fact("Parts", m.fee_num),
          fact("State", [badge(m.state), m.status_desc ? ` ${m.status_desc}` : ""]),
          fact("Attempts", m.attempts),
          fact("Next attempt", m.state === "QUEUED" ? fmtTime(m.next_attempt_at) : ""),
          fact("Channel", m.channel || ""),
          fact("Accepted", fmtTime(m.accepted_at)),
          fact("Submitted", fmtTime(m.submitted_at)),
          fact("Done", fmtTime(m.done_at)),
          fact("Request id", el("span", { class: "mono" }, m.request_id)),
          fact("Opted out", h.opted_out_at ? fmtTime(h.opted_out_at) : "no"))),
        el("section", { class: "card" }, el("h2", {}, "History"),
          el("table", { id: "history" }, el("tbody", {}, h.events.map((e) => el("tr", { "data-kind": e.kind },
            el("td", {}, e.at ? fmtTime(e.at) : ""), el("td", {}, el("strong", {}, e.kind)), el("td", {}, e.detail))))))),
      el("section", { class: "card" }, el("h2", {}, "Parts"),
        el("table", { id: "parts" },
          el("thead", {}, el("tr", {}, ["Part", "Carrier id", "Submitted", "Receipt", "Error", "Done"].map((x) => el("th", {}, x)))),
          el("tbody", {}, h.parts.length ? h.parts.map((p) => el("tr", {},
            el("td", {}, `${p.idx}/${p.total}`), el("td", { class: "mono" }, p.carrier_id || ""),
            el("td", {}, fmtTime(p.submitted_at)), el("td", {}, p.stat ? badge(p.stat, p.stat === "DELIVRD" ? "DELIVERED" : "FAILED") : "waiting"),
            el("td", {}, p.err || ""), el("td", {}, fmtTime(p.done_at)))) : el("tr", {}, el("td", { colspan: 6, class: "muted" }, "Not submitted yet."))))),
      el("section", { class: "card" }, el("h2", {}, "Callbacks"),
        el("table", { id: "callbacks-sent" },
          el("thead", {}, el("tr", {}, ["Queued", "URL", "State", "Attempts", "Last error", "Body"].map((x) => el("th", {}, x)))),
          el("tbody", {}, h.callbacks.length ? h.callbacks.map((c) => el("tr", {},
            el("td", {}, fmtTime(c.created_at)), el("td", { class: "mono" }, c.url), el("td", {}, c.state),
            el("td", { class: "num" }, c.attempts), el("td", {}, c.last_error || ""),
            el("td", {}, el("details", {}, el("summary", {}, "event"), el("pre", { class: "body" }, c.body))))) :
            el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No callback for this message."))))),
    );
  }

  // --- templates: the review queue --------------------------------------------------------

  async function showTemplates(query) {
    const params = new URLSearchParams(query || "status=pending");
    const { projects } = await api("GET", "projects");
    const data = await api("GET", `templates?${params}`);
    const error = el("p", { class: "error" });
    const reload = () => showTemplates(params.toString());
    const filter = el("form", { class: "inline", id: "template-filter" },
      el("label", {}, "Project", el("select", { name: "project_id" }, el("option", { value: "" }, "every project"),
        projects.map((p) => el("option", { value: p.id, selected: params.get("project_id") === p.id }, p.name)))),
      el("label", {}, "Status", el("select", { name: "status" },
        ["", "pending", "approved", "rejected"].map((s) => el("option", { value: s, selected: (params.get("status") || "") === s }, s || "any")))),
      el("button", { type: "submit" }, "Show"));
    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = new URLSearchParams();
      for (const name of ["project_id", "status"]) q.set(name, field(filter, name).value);
      location.hash = `#/templates?${q}`;
    });
    const rows = data.templates.map((t) => {
      const actions = el("td", {});
      if (t.status !== "approved") {
        actions.append(el("button", { type: "button", "data-action": "approve", onclick: () => attempt(error, async () => {
          await api("POST", `projects/${t.project_id}/templates/${t.id}/approve`);
          toast(`Template ${t.name} approved`);
          reload();
        }) }, "Approve"), " ");
      }
      if (t.status !== "rejected") {
        const reason = el("input", { name: "reason", placeholder: "reason", maxlength: 200, size: 16 });
        actions.append(el("details", { class: "reject" }, el("summary", {}, "Reject…"),
          el("div", { class: "reject-form" }, reason, el("button", { type: "button", class: "danger", "data-action": "reject",
            onclick: () => attempt(error, async () => {
              await api("POST", `projects/${t.project_id}/templates/${t.id}/reject`, { reason: reason.value });
              toast(`Template ${t.name} rejected`);
              reload();
            }) }, "Reject"))));
      }
      return el("tr", { "data-template": t.id },
        el("td", {}, el("a", { href: `#/projects/${t.project_id}` }, t.project_name)),
        el("td", {}, t.name, el("div", { class: "muted mono" }, t.id)),
        el("td", {}, t.type),
        el("td", { class: "content" }, t.content, t.remark ? el("div", { class: "muted" }, `remark: ${t.remark}`) : null),
        el("td", { class: "status" }, badge(t.status), t.reply ? el("div", { class: "muted" }, t.reply) : null),
        el("td", {}, fmtTime(t.created_at)),
        actions);
    });
    setView(el("h1", {}, "Templates"),
      el("section", { class: "card" },
        el("p", { class: "muted" }, "Customers create templates through the API (POST …/sms_template); the promotion call sends a template only once it is approved here (or with smsgate admin template approve)."),
        filter,
        el("table", { id: "templates" },
          el("thead", {}, el("tr", {}, ["Project", "Template", "Type", "Content", "Status", "Created", ""].map((h) => el("th", {}, h)))),
          el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No templates.")))),
        el("p", { class: "muted" }, `${data.count} template(s)`), error));
  }

  // --- a test batch -------------------------------------------------------------------------

  async function showSend(query) {
    const params = new URLSearchParams(query || "");
    const { projects } = await api("GET", "projects");
    const error = el("p", { class: "error" });
    const results = el("div", { id: "send-results" });
    const signSelect = el("select", { name: "sign_id", id: "send-sign" });
    const projectSelect = el("select", { name: "project_id", id: "send-project" },
      el("option", { value: "" }, "choose a project"),
      projects.map((p) => el("option", { value: p.id, selected: params.get("project") === p.id }, p.name)));
    const loadSigns = () => attempt(error, async () => {
      signSelect.replaceChildren();
      if (!projectSelect.value) return;
      const data = await api("GET", `projects/${projectSelect.value}`);
      signSelect.replaceChildren(...data.signs.filter((s) => s.status !== "deleted").map((s) =>
        el("option", { value: s.id, selected: s.status === "approved" && s.type === "promotional" && !signSelect.value },
          `${s.name} (${s.type}, ${s.status})`)));
    });
    projectSelect.addEventListener("change", loadSigns);
    const form = el("form", { class: "stack", id: "send-form" },
      el("label", {}, "Project", projectSelect),
      el("label", {}, "Signature", signSelect),
      el("label", {}, "Numbers (one per line, up to 999)", el("textarea", { name: "numbers", id: "send-numbers", rows: 4 })),
      el("label", {}, "Text (without the 【signature】; it must end with an unsubscribe instruction such as 拒收请回复R)",
        el("textarea", { name: "text", id: "send-text", rows: 3 })),
      el("div", {}, el("button", { type: "submit" }, "Send test batch")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(error, async () => {
        if (!projectSelect.value) throw new Error("Choose a project.");
        const r = await api("POST", `projects/${projectSelect.value}/test-batch`, {
          sign_id: signSelect.value, numbers: lines(field(form, "numbers").value), text: field(form, "text").value });
        const accepted = r.result.filter((x) => x.message_id).length;
        toast(`${accepted} of ${r.result.length} accepted`);
        results.replaceChildren(
          el("p", {}, `${accepted} of ${r.result.length} accepted (request ${r.request_id}).`),
          el("table", { id: "send-result" },
            el("thead", {}, el("tr", {}, ["Number", "Result", "Detail"].map((x) => el("th", {}, x)))),
            el("tbody", {}, r.result.map((x) => el("tr", {},
              el("td", { class: "mono" }, x.endpoint),
              el("td", {}, x.message_id ? el("a", { class: "mono", href: `#/messages/${x.message_id}` }, x.message_id) : badge(x.code, "refused")),
              el("td", {}, x.message_id ? "accepted" : `${x.message}${x.sensitive_word ? ` (${x.sensitive_word})` : ""}`))))));
      });
    });
    setView(el("h1", {}, "Send a test batch"),
      el("section", { class: "card" },
        el("p", { class: "muted" }, "Goes through the same checks and queue as the public API (signature, text, sensitive words, opt-outs, daily cap, sending window)."),
        form, error),
      el("section", { class: "card" }, results));
    await loadSigns();
  }

  // --- start --------------------------------------------------------------------------------

  api("GET", "session").then(() => start()).catch((exc) => {
    if (!exc.sessionEnded) showLogin(exc.message);
  });
})();
