/* Yorisoi offline capture: the pack page and the offline pages (plain JS, no build step).
 *
 * Keys (docs/offline.md):
 *  - a *local key*: AES-GCM, generated here, non-extractable, kept in IndexedDB;
 *  - the *device key*: released by the server to a live session of the device's
 *    owner while the device stands registered; imported non-extractable and kept
 *    in this page's memory only, forgotten at the session's end or after 30 idle
 *    minutes.
 * Every record (the pack, each draft) is sealed under the device key, then under
 * the local key: the device's storage alone opens nothing, the server's key alone
 * opens nothing.  Kept in clear: ids, the order, a draft's kind, capture time and
 * state (to list waiting drafts while locked).  Nothing personal. */
(() => {
  "use strict";

  const DB_NAME = "yorisoi-offline";
  const IDLE_MS = 30 * 60 * 1000;
  const subtle = window.crypto.subtle;
  const root = document.getElementById("offline-app") || document.getElementById("offline-pack");
  if (!root) return;
  const PREFIX = root.dataset.prefix || "/console";
  const W = JSON.parse(document.getElementById("offline-words").textContent);
  const labelsBlock = document.getElementById("offline-labels");
  const LABELS = labelsBlock ? JSON.parse(labelsBlock.textContent) : {};
  const say = (key, values) => (W[key] || key).replace(/\{(\w+)\}/g, (_, k) => String((values || {})[k]));

  const state = { device: null, key: null, csrf: root.dataset.csrf || "", expiresAt: 0,
                  lastActivity: Date.now(), pack: null, drafts: [], revoked: false, syncing: false };

  // ------------------------------------------------------------------ storage

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("device");
        db.createObjectStore("vault");
        db.createObjectStore("drafts", { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  const dbReady = openDb();

  async function tx(store, mode, act) {
    const db = await dbReady;
    return new Promise((resolve, reject) => {
      const t = db.transaction(store, mode);
      const request = act(t.objectStore(store));
      t.oncomplete = () => resolve(request ? request.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }
  const get = (store, key) => tx(store, "readonly", (s) => s.get(key));
  const put = (store, value, key) => tx(store, "readwrite", (s) => (key === undefined ? s.put(value) : s.put(value, key)));
  const del = (store, key) => tx(store, "readwrite", (s) => s.delete(key));
  const all = (store) => tx(store, "readonly", (s) => s.getAll());
  const clear = (store) => tx(store, "readwrite", (s) => s.clear());

  // ------------------------------------------------------------------ sealing

  const rand = (n) => window.crypto.getRandomValues(new Uint8Array(n));
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  async function seal(value, purpose) {
    const aad = enc.encode("yorisoi-offline:" + purpose);
    const iv1 = rand(12);
    const inner = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: iv1, additionalData: aad },
      state.key, enc.encode(JSON.stringify(value))));
    const both = new Uint8Array(12 + inner.length);
    both.set(iv1); both.set(inner, 12);
    const iv2 = rand(12);
    const outer = await subtle.encrypt({ name: "AES-GCM", iv: iv2, additionalData: aad },
      state.device.localKey, both);
    return { iv: iv2, data: outer };
  }

  async function unseal(box, purpose) {
    const aad = enc.encode("yorisoi-offline:" + purpose);
    const both = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: box.iv, additionalData: aad },
      state.device.localKey, box.data));
    const plain = await subtle.decrypt({ name: "AES-GCM", iv: both.slice(0, 12), additionalData: aad },
      state.key, both.slice(12));
    return JSON.parse(dec.decode(plain));
  }

  // ------------------------------------------------------------------ the server

  async function call(path, body, withCsrf) {
    const headers = { "Content-Type": "application/json", "X-Yorisoi-Offline": "1" };
    if (withCsrf) headers["X-CSRF-Token"] = state.csrf;
    const response = await fetch(PREFIX + "/m/" + state.device.code + path, {
      method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin",
      cache: "no-store" });
    const type = response.headers.get("content-type") || "";
    if (response.redirected || !type.includes("json")) return { status: 401, body: {} };
    return { status: response.status, body: await response.json() };
  }

  async function forgetDevice() {
    // A revoked device: its key is gone for good, so what it holds is noise; drop it.
    state.revoked = true; state.key = null; state.pack = null; state.drafts = [];
    await Promise.all([clear("device"), clear("vault"), clear("drafts")]);
    await put("device", { revokedAt: new Date().toISOString() }, "revoked"); // says so, nothing more
    state.device = null;
  }

  async function unlock() {
    if (!state.device) return false;
    let answer;
    try {
      answer = await call("/offline/key", { deviceId: state.device.deviceId }, false);
    } catch (error) {
      return false; // no network: stays locked
    }
    if (answer.status === 403 || answer.status === 404) {
      await forgetDevice();
      return false;
    }
    if (answer.status !== 200) {
      if (answer.status === 401) message(say("error.signin"));
      return false;
    }
    const raw = Uint8Array.from(atob(answer.body.key), (c) => c.charCodeAt(0));
    state.key = await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    raw.fill(0);
    state.csrf = answer.body.csrf;
    state.expiresAt = answer.body.expiresAt;
    state.lastActivity = Date.now();
    return true;
  }

  function lock() {
    state.key = null; state.pack = null;
    state.drafts = state.drafts.map((d) => ({ id: d.id, seq: d.seq, kind: d.kind,
      capturedAt: d.capturedAt, status: d.status }));
  }

  // Forget the key at the session's end and after idle minutes (a device left somewhere).
  ["keydown", "pointerdown"].forEach((name) => document.addEventListener(name, () => {
    state.lastActivity = Date.now();
  }, true));
  setInterval(() => {
    if (state.key && (Date.now() > state.expiresAt || Date.now() - state.lastActivity > IDLE_MS)) {
      lock();
      render();
    }
  }, 15000);

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    children.flat().forEach((c) => { if (c !== null && c !== undefined) node.append(c); });
    return node;
  }
  function message(text) {
    const box = document.getElementById("app-message") || document.getElementById("pack-state");
    if (box) box.textContent = text;
  }
  const uuid = () => window.crypto.randomUUID();
  const moment = (iso) => new Date(iso).toLocaleString(document.documentElement.lang === "ja" ? "ja-JP-u-ca-japanese" : "en-GB",
    { era: document.documentElement.lang === "ja" ? "long" : undefined, year: "numeric", month: "long",
      day: "numeric", hour: "2-digit", minute: "2-digit" });
  // A day as people read it: 令和6年5月1日 in Japanese (the Japanese calendar), else ISO.
  function day(iso) {
    if (!iso || !/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso || "";
    if (document.documentElement.lang !== "ja") return iso;
    return new Date(iso + "T12:00:00+09:00").toLocaleDateString("ja-JP-u-ca-japanese",
      { era: "long", year: "numeric", month: "long", day: "numeric", timeZone: "Asia/Tokyo" });
  }
  function today() {
    const d = new Date(Date.now() + 9 * 3600 * 1000); // Japan's date
    return d.toISOString().slice(0, 10);
  }

  async function loadDevice() {
    state.device = (await get("device", "device")) || null;
    state.revoked = !state.device && Boolean(await get("device", "revoked"));
  }

  async function loadSealed() {
    const box = await get("vault", "pack");
    state.pack = box && state.key ? await unseal(box, "pack") : null;
    const rows = (await all("drafts")).sort((a, b) => a.seq - b.seq);
    state.drafts = [];
    for (const row of rows) {
      if (state.key) {
        try {
          state.drafts.push({ ...(await unseal(row, "draft:" + row.id)), status: row.status, seq: row.seq });
          continue;
        } catch (error) { /* sealed under a key no longer given: listed, unopened */ }
      }
      state.drafts.push({ id: row.id, seq: row.seq, kind: row.kind, capturedAt: row.capturedAt, status: row.status });
    }
  }

  async function saveDraft(draft) {
    const box = await seal(draft, "draft:" + draft.id);
    await put("drafts", { id: draft.id, seq: draft.seq, kind: draft.kind, capturedAt: draft.capturedAt,
      status: draft.status, iv: box.iv, data: box.data });
  }

  // ------------------------------------------------------------------ the pack page

  async function packPage() {
    const code = root.dataset.code;
    const stateLine = document.getElementById("device-state");
    const form = document.getElementById("device-form");
    const packForm = document.getElementById("pack-form");
    const take = document.getElementById("pack-take");
    // An administrator who records nothing sees the device list only (plain forms).
    if (!form) return;
    await loadDevice();
    if (state.device && state.device.code !== code) state.device = null;
    if (state.device) {
      if (await unlock()) {
        stateLine.textContent = say("device.registered", { label: state.device.label });
      } else {
        stateLine.textContent = say(state.revoked ? "app.revoked" : "app.locked");
      }
    }
    if (!state.device) {
      stateLine.textContent = say(state.revoked ? "app.revoked" : "device.unregistered");
      form.hidden = false;
    }
    if (take) take.disabled = !state.key;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const waiting = (await all("drafts")).length;
      const previous = await get("device", "device");
      if (waiting && previous) {
        // Registering again makes a new local key: drafts of the old one would be lost.
        stateLine.textContent = say("device.drafts_waiting", { n: waiting });
        return;
      }
      const localKey = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
      state.device = { code, localKey };
      const label = document.getElementById("f-device-label").value;
      const answer = await call("/offline/devices", { label }, true);
      if (answer.status !== 200) {
        state.device = null;
        stateLine.textContent = answer.body.messageJa && document.documentElement.lang === "ja"
          ? answer.body.messageJa : (answer.body.message || say("error.network"));
        return;
      }
      state.device = { code, localKey, deviceId: answer.body.deviceId, label: answer.body.label };
      await clear("vault"); await clear("drafts");
      await put("device", state.device, "device");
      state.revoked = false;
      if (await unlock()) {
        form.hidden = true;
        stateLine.textContent = say("device.registered", { label: state.device.label });
        if (take) take.disabled = false;
      }
    });
    if (packForm) {
      packForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const caseIds = [...packForm.querySelectorAll("input[name=caseId]:checked")].map((i) => i.value);
        if (!caseIds.length || !state.key) return;
        const answer = await call("/offline/pack", { deviceId: state.device.deviceId, caseIds }, true);
        if (answer.status !== 200) { message(answer.body.messageJa || say("error.network")); return; }
        await put("vault", await seal({ ...answer.body, takenAt: new Date().toISOString() }, "pack"), "pack");
        message(say("pack.taken", { n: answer.body.cases.length }));
      });
    }
  }

  // ------------------------------------------------------------------ the offline pages

  function caseById(id) {
    return state.pack ? state.pack.cases.find((c) => c.caseId === id) : null;
  }
  function caseTitle(c) {
    const family = (c.guardians[0] || c.children[0] || {}).name || "";
    return [c.receptionNumber, c.siteName, family].filter(Boolean).join(" · ");
  }

  function render() {
    const online = navigator.onLine;
    const line = document.getElementById("app-state");
    line.textContent = state.revoked ? say("app.revoked")
      : !state.device ? say("device.unregistered")
      : !state.key ? say("app.locked") : online ? say("app.online") : say("app.offline");
    renderCases();
    renderQueue();
    renderConflicts();
    document.getElementById("new-case").disabled = !state.key || !state.pack;
  }

  function renderCases() {
    const box = document.getElementById("cases");
    box.replaceChildren();
    if (!state.pack) {
      box.append(el("p", { text: state.key || state.revoked ? say("app.no_pack") : say("app.locked") }));
      return;
    }
    state.pack.cases.forEach((c) => {
      const people = [...c.guardians.map((g) => `${g.name}（${g.relationship || ""}）`),
                      ...c.children.map((k) => `${k.name}${k.birthDate ? "（" + day(k.birthDate) + "）" : ""}`)];
      const latest = c.consultations.slice(-3).map((x) => el("li", { text: `${day(x.occurredOn)} ${x.asked || ""}` }));
      box.append(el("article", { class: "card", "aria-labelledby": "case-" + c.caseId },
        el("h3", { id: "case-" + c.caseId, text: caseTitle(c) }),
        el("p", { text: people.join("、") }),
        el("p", { text: `${say("case.status." + c.status)} ・ ${say(c.consentInForce ? "case.consent_yes" : "case.consent_no")}` }),
        latest.length ? el("ul", {}, latest) : null,
        (c.visits || []).length ? el("ul", { class: "visits" }, c.visits.map((v) => el("li", {},
          `${say("app.visit")}: ${day(v.plannedOn)}${v.startsAt ? " " + v.startsAt : ""} ${word("visitKinds", v.kind)}・${word("visitPlaces", v.place)} `,
          el("button", { type: "button", onclick: () => openForm("visit_outcome", c.caseId, v) },
            say("app.visit_outcome"))))) : null,
        el("p", {},
          el("button", { type: "button", onclick: () => openForm("consultation", c.caseId) }, say("app.consultation")),
          " ",
          el("button", { type: "button", onclick: () => openForm("note", c.caseId) }, say("app.note")))));
    });
  }

  function word(list, code) {
    const found = state.pack && (state.pack[list] || []).find(([v]) => v === code);
    return found ? found[1] : code;
  }

  function draftTitle(d) {
    const c = d.caseId ? caseById(d.caseId) : null;
    const where = c ? " — " + caseTitle(c) : "";
    return `${say("kind." + d.kind)}${where}（${say("app.captured_at")}: ${moment(d.capturedAt)}）`;
  }

  function renderQueue() {
    const list = document.getElementById("queue");
    list.replaceChildren();
    const waiting = state.drafts.filter((d) => d.status === "waiting");
    if (!waiting.length) list.append(el("li", { text: say("app.queue_none") }));
    waiting.forEach((d) => list.append(el("li", { text: draftTitle(d) })));
  }

  const FIELD_ORDER = ["occurredOn", "on", "channel", "outcome", "reason", "summary", "note", "nextStep",
    "themes", "asked", "wishes", "direction", "writtenOn", "kind", "body", "household.guardians.0.name",
    "household.children.0.name"];
  function fieldLabel(name) {
    const short = { "household.guardians.0.name": "guardian", "household.children.0.name": "child",
      on: "visitOn", note: "visitNote" }[name] || name;
    return say("field." + short);
  }
  function fieldValue(name, value) {
    if (name === "channel") return (LABELS.channel || {})[value] || value;
    if (name === "kind") return (LABELS.note_kind || {})[value] || value;
    if (name === "outcome") return word("visitOutcomes", value);
    if (name === "reason") return word("notMetReasons", value);
    if (name === "nextStep") return word("nextSteps", value);
    if (name === "themes" && state.pack) {
      const names = Object.fromEntries(state.pack.themes);
      return (value || []).map((t) => names[t] || t).join("・");
    }
    return Array.isArray(value) ? value.join("・") : value;
  }

  function renderConflicts() {
    const section = document.getElementById("conflicts-section");
    const box = document.getElementById("conflicts");
    box.replaceChildren();
    const open = state.drafts.filter((d) => (d.status === "conflict" || d.status === "refused") && d.fields);
    section.hidden = !open.length;
    open.forEach((d) => box.append(conflictCard(d)));
  }

  function conflictCard(d) {
    const found = d.conflict || {};
    const ja = document.documentElement.lang === "ja";
    const id = "conflict-" + d.id;
    const reasons = (found.kinds || []).map((k) => el("li", { text: k === "duplicate"
      ? say("conflict.duplicate", { n: found.duplicates || 0 }) : say("conflict." + k) }));
    const rule = found.rule ? (ja ? found.rule.messageJa : found.rule.message)
      : d.status === "refused" ? (ja ? found.messageJa : found.message) : null;
    const fieldErrors = (found.fields || []).map((f) => el("li", { text: `${f.field}: ${ja ? f.messageJa : f.message}` }));
    const yours = el("dl", {}, FIELD_ORDER.filter((n) => d.fields[n] && String(d.fields[n]).length)
      .flatMap((n) => [el("dt", { text: fieldLabel(n) }), el("dd", { text: fieldValue(n, d.fields[n]) })]));
    const now = found.current;
    const theirs = now ? el("div", {},
      el("p", { text: `${say("case.status." + now.status)} ・ ${say(now.consentInForce ? "case.consent_yes" : "case.consent_no")}` }),
      now.visit ? el("p", { text: `${say("app.visit")}: ${say("visit.status." + now.visit.status)}${now.visit.doneOn ? "（" + day(now.visit.doneOn) + "）" : ""}` }) : null,
      el("ul", {}, (now.consultations || []).map((x) => el("li", { text: `${day(x.occurredOn)} ${x.asked || ""}${x.direction ? " → " + x.direction : ""}` }))))
      : el("p", { text: reasons.length ? reasons[0].textContent : "—" });
    const choices = found.choices || ["attach", "discard"];
    const actions = el("div", { class: "choices" });
    if (choices.includes("record_anyway")) {
      const reasonId = id + "-reason";
      actions.append(el("div", { class: "field" },
        el("label", { for: reasonId, text: say("conflict.reason") }),
        el("textarea", { id: reasonId, rows: "2" })),
        el("button", { type: "button", onclick: () => {
          const reason = document.getElementById(reasonId).value.trim();
          if (!reason) { message(say("conflict.reason_missing")); return; }
          resolve(d, { choice: "record_anyway", reason });
        } }, say("conflict.record_anyway")));
    }
    const targets = state.pack ? state.pack.cases.filter((c) => c.caseId !== d.caseId) : [];
    if (choices.includes("attach") && d.kind !== "new_case" && targets.length) {
      const pickId = id + "-target";
      actions.append(el("div", { class: "field" },
        el("label", { for: pickId, text: say("conflict.attach_to") }),
        el("select", { id: pickId }, targets.map((c) => el("option", { value: c.caseId, text: caseTitle(c) })))),
        el("button", { type: "button", onclick: () => {
          resolve(d, { choice: "attach", caseId: document.getElementById(pickId).value });
        } }, say("conflict.attach")));
    }
    actions.append(el("p", {}, el("button", { type: "button", class: "danger", onclick: () => discard(d) }, say("conflict.discard"))));
    return el("article", { class: "card conflict", "aria-labelledby": id + "-h" },
      el("h3", { id: id + "-h", text: `${say(d.status === "refused" ? "app.status.refused" : "app.status.conflict")}: ${draftTitle(d)}` }),
      reasons.length ? el("ul", {}, reasons) : null,
      rule ? el("p", { class: "notice" }, el("strong", { text: say("conflict.rule") + ": " }), rule) : null,
      fieldErrors.length ? el("ul", {}, fieldErrors) : null,
      el("div", { class: "sides" },
        el("section", { "aria-label": say("conflict.yours") }, el("h4", { text: say("conflict.yours") }), yours),
        el("section", { "aria-label": say("conflict.theirs") }, el("h4", { text: say("conflict.theirs") }), theirs)),
      actions);
  }

  async function resolve(d, resolution) {
    const next = { ...d, resolution, key: uuid(), status: "waiting", conflict: null };
    if (resolution.choice === "attach") {
      const target = caseById(resolution.caseId);
      next.caseId = resolution.caseId;
      next.base = target ? target.base : null;
    }
    delete next.resolution.caseId;
    await saveDraft(next);
    await refresh();
    sync();
  }

  async function discard(d) {
    await del("drafts", d.id);
    message(say("conflict.discarded"));
    await refresh();
  }

  // ------------------------------------------------------------------ capture forms

  function input(name, labelKey, attrs) {
    const id = "d-" + name.replace(/[^A-Za-z0-9_-]/g, "-");
    return el("div", { class: "field" }, el("label", { for: id, text: say(labelKey) }),
      el("input", { id, name, ...(attrs || {}) }));
  }
  function area(name, labelKey) {
    const id = "d-" + name;
    return el("div", { class: "field" }, el("label", { for: id, text: say(labelKey) }),
      el("textarea", { id, name, rows: "4" }));
  }
  function select(name, labelKey, options) {
    const id = "d-" + name;
    return el("div", { class: "field" }, el("label", { for: id, text: say(labelKey) }),
      el("select", { id, name }, options.map(([v, t]) => el("option", { value: v, text: t }))));
  }
  function themes() {
    return el("fieldset", {}, el("legend", { text: say("field.themes") }),
      state.pack.themes.map(([v, t], i) => el("div", { class: "field" },
        el("label", {}, el("input", { type: "checkbox", name: "themes", value: v, id: "d-theme-" + i }), " " + t))));
  }

  function openForm(kind, caseId, visit) {
    const section = document.getElementById("capture-section");
    const form = document.getElementById("capture-form");
    const c = caseId ? caseById(caseId) : null;
    document.getElementById("capture-h").textContent =
      say(kind === "new_case" ? "app.new_case" : "app." + kind) + (c ? " — " + caseTitle(c) : "");
    const parts = [];
    if (kind === "visit_outcome") {
      parts.push(el("input", { type: "hidden", name: "visitId", value: visit.visitId }),
        select("result", "field.result", [["done", say("visit.done")], ["not_met", say("visit.not_met")]]),
        input("on", "field.visitOn", { value: today() }),
        select("outcome", "field.outcome", state.pack.visitOutcomes), area("summary", "field.summary"),
        select("reason", "field.reason", state.pack.notMetReasons), area("note", "field.visitNote"),
        select("nextStep", "field.nextStep", state.pack.nextSteps),
        input("followUpOn", "field.followUpOn"),
        area("asked", "field.visitAsked"), themes());
    } else if (kind === "note") {
      parts.push(input("writtenOn", "field.writtenOn", { value: today() }),
        select("kind", "field.kind", state.pack.noteKinds), area("body", "field.body"));
    } else {
      if (kind === "new_case") parts.push(select("siteId", "field.siteId", state.pack.sites));
      parts.push(input("occurredOn", "field.occurredOn", { value: today() }),
        select("channel", "field.channel", state.pack.channels), themes(),
        area("asked", "field.asked"), area("wishes", "field.wishes"), area("direction", "field.direction"));
      if (kind === "new_case") {
        parts.push(input("household.guardians.0.name", "field.guardian", { autocomplete: "off" }),
          input("household.guardians.0.relationship", "field.relationship"),
          input("household.children.0.name", "field.child", { autocomplete: "off" }),
          input("household.children.0.birthDate", "field.birthDate"),
          input("consent.givenBy", "field.givenBy", { autocomplete: "off" }),
          input("consent.relationship", "field.consentRelationship"),
          input("consent.scope", "field.scope", { value: "相談記録の作成" }));
      }
    }
    const channel = parts.find((p) => p.querySelector && p.querySelector("select[name=channel]"));
    if (channel) channel.querySelector("select").value = "home_visit" in (LABELS.channel || {}) ? "home_visit" : "visit";
    form.replaceChildren(...parts,
      el("p", { id: "capture-error", role: "alert" }),
      el("button", { type: "submit" }, say("app.save_draft")), " ",
      el("button", { type: "button", onclick: () => { section.hidden = true; } }, say("app.back")));
    form.onsubmit = async (event) => {
      event.preventDefault();
      const fields = {};
      new FormData(form).forEach((value, name) => {
        if (name === "themes") (fields.themes = fields.themes || []).push(value);
        else fields[name] = String(value).trim();
      });
      const missing = (kind === "note" ? ["body"] : kind === "visit_outcome"
        ? (fields.result === "done" ? ["summary"] : []) : ["asked"]).concat(
        kind === "new_case" ? ["household.guardians.0.name", "household.guardians.0.relationship", "consent.givenBy"] : [])
        .filter((n) => !fields[n]);
      if (missing.length) {
        document.getElementById("capture-error").textContent = say("error.required") + " " + missing.map(fieldLabel).join("、");
        return;
      }
      if (kind === "new_case") fields["consent.givenOn"] = fields.occurredOn;
      const seq = Date.now() * 1000 + state.drafts.length;
      const draft = { id: uuid(), key: uuid(), seq, kind, caseId: caseId || null,
        base: c ? c.base : null, fields, capturedAt: new Date().toISOString(),
        resolution: null, status: "waiting", conflict: null };
      await saveDraft(draft);
      section.hidden = true;
      message(say("app.draft_saved"));
      await refresh();
      sync();
    };
    section.hidden = false;
    form.querySelector("input, select, textarea").focus();
  }

  // ------------------------------------------------------------------ sync

  async function sync() {
    if (state.syncing) { state.syncAgain = true; return; } // a draft saved meanwhile goes next
    if (!state.key || !navigator.onLine) return;
    state.syncing = true;
    state.syncAgain = false;
    let stopped = false;
    let sent = 0;
    try {
      for (const d of state.drafts.filter((x) => x.status === "waiting" && x.fields)) {
        let answer;
        try {
          answer = await call("/offline/sync", { deviceId: state.device.deviceId,
            draft: { key: d.key, kind: d.kind, caseId: d.caseId, base: d.base, fields: d.fields,
                     resolution: d.resolution, capturedAt: d.capturedAt } }, true);
        } catch (error) {
          message(say("error.network"));
          stopped = true;
          break; // the answer was lost: the same draft goes again, under the same key
        }
        if (answer.status === 401) { message(say("error.signin")); lock(); stopped = true; break; }
        if (answer.status === 403 && answer.body.code === "offline_device_revoked") { await forgetDevice(); stopped = true; break; }
        if (answer.status === 200 && answer.body.status === "applied") {
          await del("drafts", d.id);
          sent += 1;
          await rebase(d, answer.body.stamp);
        } else if (answer.status === 409 || answer.status === 422) {
          await saveDraft({ ...d, status: answer.status === 409 ? "conflict" : "refused", conflict: answer.body });
        } else {
          message(answer.body.messageJa || say("error.network"));
          stopped = true;
          break;
        }
      }
    } finally {
      state.syncing = false;
    }
    if (sent) message(say("app.synced", { n: sent }));
    await refresh();
    if (state.syncAgain && !stopped) sync();
  }

  async function rebase(applied, stamp) {
    // The device's own record moved the case on: later drafts captured against the same
    // case as it was follow it (anyone else's change still shows as a conflict).
    if (!stamp || !applied.base || applied.resolution) return;
    const before = JSON.stringify(applied.base);
    for (const d of state.drafts) {
      if (d.id !== applied.id && d.caseId === applied.caseId && d.fields && JSON.stringify(d.base) === before) {
        d.base = stamp;
        await saveDraft(d);
      }
    }
    const c = caseById(applied.caseId);
    if (c && JSON.stringify(c.base) === before) {
      c.base = stamp;
      await put("vault", await seal(state.pack, "pack"), "pack");
    }
  }

  async function refresh() {
    await loadSealed();
    render();
  }

  async function appPage() {
    await loadDevice();
    if (navigator.onLine) await unlock();
    try { await refresh(); } catch (error) { lock(); render(); }
    document.getElementById("new-case").addEventListener("click", () => openForm("new_case", null));
    document.getElementById("sync-now").addEventListener("click", async () => {
      if (!state.key && navigator.onLine) { await unlock(); await refresh(); }
      sync();
    });
    window.addEventListener("online", async () => {
      if (!state.key) await unlock();
      await refresh();
      sync();
    });
    window.addEventListener("offline", render);
    sync();
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(PREFIX + "/sw.js", { scope: PREFIX + "/" }).catch(() => {});
  }
  const ready = root.id === "offline-app" ? appPage() : packPage();
  ready.then(() => { root.dataset.ready = "1"; }, () => { root.dataset.ready = "error"; });
})();
