// handrail console: sign in with a private key that never leaves this browser, sign each
// decision with it, and keep the page current (server-sent events). No build step.
"use strict";

const DB = "handrail-console";
const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b,
  0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

function b64decode(text) {
  const bin = atob(text.replace(/\s+/g, ""));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function b64encode(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

// The DER PKCS#8 of a key file: PEM "PRIVATE KEY", or the base64 of the 32-byte seed.
function pkcs8(text) {
  const pem = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/);
  if (pem) return b64decode(pem[1]);
  if (text.includes("OPENSSH PRIVATE KEY")) {
    throw new Error("an OpenSSH key file: sign in with the PKCS#8 file `handrail keys new` writes");
  }
  const seed = b64decode(text.trim());
  if (seed.length !== 32) throw new Error("not a private key file");
  return new Uint8Array([...PKCS8_ED25519_PREFIX, ...seed]);
}

function store(mode, work) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", mode);
      const request = work(tx.objectStore("keys"));
      tx.oncomplete = () => { open.result.close(); resolve(request.result); };
      tx.onerror = () => reject(tx.error);
    };
  });
}

const saveKey = (key) => store("readwrite", (s) => s.put(key, "signing"));
const loadKey = () => store("readonly", (s) => s.get("signing"));
const forgetKey = () => store("readwrite", (s) => s.delete("signing"));

async function sign(key, text) {
  const signature = await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(text));
  return b64encode(signature);
}

function say(message, failed) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.className = failed ? "failed" : "passed";
  notice.hidden = false;
}

async function answer(response) {
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function signIn(section, file) {
  const status = document.getElementById("signin-status");
  try {
    const der = pkcs8(await file.text());
    // not extractable: a script can sign with it, nothing can read it back out
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    const challenge = section.dataset.challenge;
    const signature = await sign(key, "handrail console sign-in v1\n" + challenge);
    const body = await answer(await fetch("/signin", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ challenge, signature }),
    }));
    await saveKey(key);
    status.textContent = "Signed in as " + body.person;
    location.assign(body.next);
  } catch (error) {
    status.textContent = "Not signed in: " + error.message;
    status.className = "failed";
  }
}

async function decide(form, action) {
  const csrf = document.body.dataset.csrf;
  const prepared = await answer(await fetch(action, {
    method: "POST", body: new URLSearchParams(new FormData(form)),
  }));
  const card = form.closest("[data-agent]");
  if (card && (prepared.agent !== card.dataset.agent || prepared.subject !== card.dataset.subject)) {
    throw new Error("the console asked to sign a decision on something else; nothing was signed");
  }
  const key = await loadKey();
  if (!key) throw new Error("this browser holds no key: sign out and in again");
  const signature = await sign(key, prepared.text);
  const done = await answer(await fetch(prepared.url, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ signature }),
  }));
  return prepared.summary + ", signed by " + done.by;
}

let stale = false;

// Someone is typing into the page: a refresh now would throw their words away.
function editing() {
  const fields = document.querySelectorAll("#main input:not([type=hidden]), #main textarea");
  return [...fields].some((f) => f.value) || Boolean(document.activeElement?.closest("#main form"));
}

async function refresh(force) {
  if (!force && editing()) {
    stale = true;  // done once they are not
    return;
  }
  stale = false;
  const response = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("main");
  if (fresh) document.getElementById("main").replaceChildren(...fresh.childNodes);
}

function counts(state) {
  for (const [name, value] of [["approvals", state.approvals], ["halts", state.halts],
    ["alerts", state.alerts]]) {
    const badge = document.getElementById("count-" + name);
    if (badge) badge.textContent = value ? String(value) : "";
  }
}

function live() {
  const watching = document.body.dataset.live;
  let last = null;
  const source = new EventSource("/live");
  source.onmessage = (message) => {
    const state = JSON.parse(message.data);
    counts(state);
    if (last && state.newest_alert && (!last.newest_alert ||
        state.newest_alert.id !== last.newest_alert.id)) {
      say("New alert: " + state.newest_alert.summary, true);
    }
    // the first update may already differ from what the page was drawn with: fetch it again
    const changed = !last || JSON.stringify(last[watching]) !== JSON.stringify(state[watching]);
    const ids = last && JSON.stringify(last.approval_ids) !== JSON.stringify(state.approval_ids);
    if (watching && (changed || stale || (watching === "approvals" && ids))) refresh(false);
    last = state;
  };
}

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("signin");
  if (section) {
    forgetKey();  // signed out or expired: the key of an earlier session goes
    document.getElementById("key-file").addEventListener("change", (event) => {
      if (event.target.files.length) signIn(section, event.target.files[0]);
    });
  }
  document.getElementById("signout")?.addEventListener("submit", () => { forgetKey(); });
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches("form[data-sign]")) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    const action = event.submitter?.getAttribute("formaction") || form.getAttribute("action");
    for (const button of form.querySelectorAll("button")) button.disabled = true;
    try {
      say(await decide(form, action), false);
      await refresh(true);
      stale = true;  // the channel may show the decision a moment later: once more then
    } catch (error) {
      say("Not recorded: " + error.message, true);
      for (const button of form.querySelectorAll("button")) button.disabled = false;
    }
  });
  if (document.body.dataset.csrf) live();
});
