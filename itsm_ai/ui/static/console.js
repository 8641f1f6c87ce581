// itsm-ai agent console: in-place page refresh after a change, the queue's bulk changes, saved views and
// keyboard shortcuts. Every change goes through the public JSON API (api() in app.js, with the CSRF header).
"use strict";

// -- re-render the page in place: fetch it again and swap <main>, keeping the scroll position and focus -------

window.refreshMain = async function refreshMain(node, message) {
  const scope = node && (node.closest("[id]") || null);
  const scopeId = scope ? scope.id : null;
  const focusId = document.activeElement && document.activeElement.id;
  const y = window.scrollY;
  let html;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    html = await response.text();
  } catch (err) {
    window.location.reload();
    return;
  }
  const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
  const main = document.querySelector("main");
  if (!fresh || !main) {
    window.location.reload();
    return;
  }
  main.replaceChildren(...fresh.childNodes);
  window.scrollTo(0, y);
  const again = scopeId && document.getElementById(scopeId);
  const box = again && (again.matches(".status") ? again : again.querySelector(".status"));
  if (box) {
    box.classList.remove("error");
    box.textContent = message || "Saved.";
  }
  const focus = (focusId && document.getElementById(focusId)) || again;
  if (focus && typeof focus.focus === "function") focus.focus({ preventScroll: true });
  initQueue();
};

// Approvals: the optional comment goes into the body before app.js's click handler sends it.
document.addEventListener(
  "click",
  (event) => {
    const button = event.target.closest("button[data-comment-from]");
    if (!button) return;
    const input = document.getElementById(button.dataset.commentFrom);
    const comment = input ? input.value.trim() : "";
    button.dataset.body = JSON.stringify(comment ? { comment } : {});
  },
  true
);

// -- the queue: selection, bulk changes, saved views ------------------------------------------------------------

function queueRows() {
  return [...document.querySelectorAll("table.queue tbody tr[data-number]")];
}

function selected() {
  return [...document.querySelectorAll("table.queue .pick-row:checked")].map((box) => box.closest("tr"));
}

function countSelected() {
  const out = document.getElementById("bulk-selected");
  if (out) out.textContent = String(selected().length);
}

function initQueue() {
  const all = document.getElementById("pick-all");
  if (all && !all.dataset.bound) {
    all.dataset.bound = "1";
    all.addEventListener("change", () => {
      for (const box of document.querySelectorAll("table.queue .pick-row")) box.checked = all.checked;
      countSelected();
    });
  }
  countSelected();
  renderMyViews();
}

document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("table.queue .pick-row")) countSelected();
});

async function bulkApply(form, change) {
  const rows = selected();
  const status = document.getElementById("bulk-status");
  status.classList.remove("error");
  if (!rows.length) {
    status.textContent = "Select tickets first (the boxes in the first column, or x).";
    status.classList.add("error");
    return;
  }
  if (!Object.keys(change).length) {
    status.textContent = "Choose an assignee, a group or a state to set.";
    status.classList.add("error");
    return;
  }
  const base = form.dataset.apiPath;
  const failures = [];
  let done = 0;
  status.textContent = `Working on ${rows.length} tickets…`;
  // One request per ticket, each with the version the page showed: a ticket changed meanwhile answers 409
  // and is reported instead of being overwritten.
  for (const row of rows) {
    const number = row.dataset.number;
    const body = { version: parseInt(row.dataset.version, 10), ...change };
    const result = await api("PATCH", `${base}/${encodeURIComponent(number)}`, body);
    if (result.ok) done += 1;
    else failures.push({ number, status: result.status, message: result.message });
  }
  await window.refreshMain(null);
  const box = document.getElementById("bulk-status");
  if (!box) return;
  box.classList.toggle("error", failures.length > 0);
  const summary = `${done} of ${rows.length} ticket${rows.length === 1 ? "" : "s"} updated.`;
  if (!failures.length) {
    box.textContent = summary;
    return;
  }
  box.replaceChildren(
    el("p", {}, `${summary} ${failures.length} failed:`),
    el(
      "ul",
      { class: "failures" },
      ...failures.map((f) => el("li", {}, el("strong", {}, f.number), ` (${f.status}): ${f.message}`))
    )
  );
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id !== "bulk") return;
  event.preventDefault();
  const change = {};
  for (const name of ["assigned_to", "assignment_group", "state"]) {
    const value = form.elements[name] && form.elements[name].value;
    if (value) change[name] = value;
  }
  bulkApply(form, change);
});

// Saved views of one's own: the filter's query string under a name, kept in this browser.
const VIEWS_KEY = "itsm-ai.queue-views";

function myViews() {
  try {
    return JSON.parse(localStorage.getItem(VIEWS_KEY) || "[]");
  } catch (err) {
    return [];
  }
}

function renderMyViews() {
  const list = document.getElementById("my-views");
  if (!list) return;
  list.replaceChildren(
    ...myViews().map((v, i) =>
      el(
        "li",
        {},
        el("a", { href: `/console?${v.query}` }, v.name),
        " ",
        el("button", { type: "button", class: "link", "data-forget-view": String(i), "aria-label": `Forget the view ${v.name}` }, "×")
      )
    )
  );
}

document.addEventListener("click", (event) => {
  const save = event.target.closest("[data-save-view]");
  if (save) {
    const form = document.getElementById("queue-filter");
    const name = window.prompt("Name of this view");
    if (!name || !name.trim()) return;
    const params = new URLSearchParams(new FormData(form));
    for (const [key, value] of [...params.entries()]) if (!value) params.delete(key);
    localStorage.setItem(VIEWS_KEY, JSON.stringify([...myViews(), { name: name.trim().slice(0, 60), query: params.toString() }]));
    renderMyViews();
    return;
  }
  const forget = event.target.closest("[data-forget-view]");
  if (forget) {
    const views = myViews();
    views.splice(parseInt(forget.dataset.forgetView, 10), 1);
    localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
    renderMyViews();
    return;
  }
  if (event.target.closest("[data-shortcuts-open]")) openHelp();
});

// -- keyboard shortcuts -------------------------------------------------------------------------------------------

let cursor = -1;
let pendingG = false;

function openHelp() {
  const dialog = document.getElementById("shortcuts");
  if (dialog && !dialog.open) dialog.showModal();
}

function highlight(index) {
  const rows = queueRows();
  if (!rows.length) return;
  cursor = Math.max(0, Math.min(rows.length - 1, index));
  rows.forEach((row, i) => row.classList.toggle("current", i === cursor));
  const link = rows[cursor].querySelector("td[data-label=Number] a");
  if (link) link.focus();
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable=true], dialog[open]") !== null;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const key = event.key;
  if (pendingG) {
    pendingG = false;
    if (key === "q") {
      event.preventDefault();
      window.location.assign("/console");
    }
    return;
  }
  const rows = queueRows();
  if (key === "?") {
    event.preventDefault();
    openHelp();
  } else if (key === "g") {
    pendingG = true;
  } else if (key === "/" && document.getElementById("f-q")) {
    event.preventDefault();
    document.getElementById("f-q").focus();
  } else if ((key === "j" || key === "k") && rows.length) {
    event.preventDefault();
    const current = rows.findIndex((row) => row.contains(document.activeElement));
    const from = current >= 0 ? current : cursor;
    highlight(from < 0 ? 0 : from + (key === "j" ? 1 : -1));
  } else if (key === "o" && rows.length && cursor >= 0) {
    const link = rows[cursor].querySelector("td[data-label=Number] a");
    if (link) window.location.assign(link.href);
  } else if (key === "x" && rows.length && cursor >= 0) {
    const box = rows[cursor].querySelector(".pick-row");
    if (box) {
      box.checked = !box.checked;
      countSelected();
    }
  } else if (key === "m") {
    const form = document.getElementById("bulk");
    const me = document.querySelector("table.queue")?.dataset.me;
    if (form && me) {
      event.preventDefault();
      bulkApply(form, { assigned_to: me });
    } else if (document.getElementById("assign-me")) {
      event.preventDefault();
      document.getElementById("assign-me").click();
    }
  } else if (key === "[" || key === "]") {
    const link = document.querySelector(`.pager a[rel=${key === "[" ? "prev" : "next"}]`);
    if (link) window.location.assign(link.href);
  }
});

document.addEventListener("DOMContentLoaded", initQueue);
