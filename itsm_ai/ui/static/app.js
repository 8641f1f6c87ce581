// itsm-ai web UI: calls the JSON API with the session cookie and the CSRF header; no build step.
"use strict";

const CSRF = { "X-Requested-With": "itsm-ui" };

async function api(method, url, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...CSRF } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return { ok: false, status: 0, data: null, message: "The server could not be reached. Try again." };
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  let message = "";
  if (!response.ok) {
    if (response.status === 401) message = "Your session has ended: log in again.";
    else if (response.status === 409) message = "Someone changed this record meanwhile: reload the page and retry.";
    else message = (data && data.error && data.error.message) || `The request failed (${response.status}).`;
  }
  return { ok: response.ok, status: response.status, data, message };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function statusOf(node) {
  const scope = node.closest("[data-scope]") || node.closest("form") || node.parentElement;
  return scope.querySelector(".status");
}

function say(node, text, isError) {
  const box = statusOf(node);
  if (!box) return;
  box.textContent = text;
  box.classList.toggle("error", Boolean(isError));
}

// -- generic API forms and buttons: data-api="METHOD" data-url="..." -------------------------------------

function formBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    if ((field.type === "radio" || field.type === "checkbox") && !field.checked) continue;
    const value = field.value.trim();
    if (value === "") continue;
    body[field.name] = field.dataset.type === "int" ? parseInt(value, 10) : value;
  }
  return body;
}

async function done(node, result) {
  if (!result.ok) {
    say(node, result.message, true);
    return;
  }
  const after = node.dataset.done || "reload";
  if (after === "refresh" && typeof window.refreshMain === "function") {
    await window.refreshMain(node); // console.js: re-render the page in place, keeping the scroll position
  } else if (after === "open-ticket" && result.data && result.data.number) {
    window.location.assign(`/console/tickets/${encodeURIComponent(result.data.number)}`);
  } else if (after === "open-article" && result.data && result.data.number) {
    window.location.assign(`/console/knowledge/${encodeURIComponent(result.data.number)}`);
  } else if (after === "reload") {
    say(node, "Saved. Reloading…", false);
    window.location.reload();
  } else if (after === "request-created") {
    const box = statusOf(node);
    const number = result.data && result.data.number;
    box.classList.remove("error");
    box.replaceChildren(
      "Request ",
      el("a", { href: `/portal/tickets/${encodeURIComponent(number)}` }, number),
      " submitted."
    );
  } else {
    say(node, after, false);
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("form[data-api]")) return;
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  say(form, "Working…", false);
  const result = await api(form.dataset.api, form.dataset.url, formBody(form));
  if (button) button.disabled = false;
  await done(form, result);
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-api]");
  if (!button) return;
  event.preventDefault();
  button.disabled = true;
  say(button, "Working…", false);
  let body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
  const input = button.dataset.valueFrom ? document.getElementById(button.dataset.valueFrom) : null;
  if (input) {
    if (!input.value.trim()) {
      say(button, "Enter a value first.", true);
      button.disabled = false;
      input.focus();
      return;
    }
    body = { ...(body || {}), value: input.value.trim() };
  }
  const result = await api(button.dataset.api, button.dataset.url, body);
  button.disabled = false;
  await done(button, result);
});

// -- similar tickets fetched on demand (when the ticket has none recorded) -----------------------------------

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-similar]");
  if (!button) return;
  button.disabled = true;
  say(button, "Searching…", false);
  const result = await api("GET", button.dataset.similar);
  button.disabled = false;
  if (!result.ok) {
    say(button, result.message, true);
    return;
  }
  const items = Array.isArray(result.data) ? result.data : (result.data && (result.data.items || result.data.similar)) || [];
  const list = document.getElementById("similar-list");
  list.replaceChildren();
  for (const item of items) {
    const page = item.record_type === "knowledge_article" ? "knowledge" : "tickets";
    const link = el("a", { href: `/console/${page}/${encodeURIComponent(item.number)}` }, item.number);
    const text = item.suggested_fix || item.excerpt;
    const fix = text ? el("p", { class: "fix" }, item.suggested_fix ? "Suggested fix: " : "", text) : null;
    const score = typeof item.score === "number" ? ` · similarity ${(item.score * 100).toFixed(0)}%` : "";
    const via = (item.via || []).length
      ? el("small", { class: "muted via" }, `via confirmed duplicate${item.via.length === 1 ? "" : "s"} ${item.via.join(", ")}`)
      : null;
    list.append(el("li", {}, link, ` ${item.short_description || ""} (${item.state || "?"}${score})`, via, fix));
  }
  say(button, items.length ? "" : "No similar tickets found.", false);
});

// -- the virtual agent chat ------------------------------------------------------------------------------------

function initChat(root) {
  const log = root.querySelector("#chat-log");
  const form = root.querySelector("#chat-form");
  const input = root.querySelector("#chat-input");
  const endpoint = root.dataset.endpoint;
  // The API keeps the conversation; the page remembers only its id, so a reload picks it up again.
  const storeKey = `itsm-chat:${root.dataset.user || ""}`;
  let conversationId = null;

  function remember(id) {
    conversationId = id;
    try {
      if (id === null) window.localStorage.removeItem(storeKey);
      else window.localStorage.setItem(storeKey, String(id));
    } catch (err) {
      // storage blocked (private mode): the conversation still works until the page reloads
    }
  }

  function closeChoices() {
    // A question is answered once: earlier buttons would send a stale choice the API refuses.
    for (const b of log.querySelectorAll(".choices button")) b.disabled = true;
  }

  function add(role, ...children) {
    const item = el("li", { class: `msg ${role}` }, el("span", { class: "who" }, role === "user" ? "You" : "Agent"), ...children);
    log.append(item);
    item.scrollIntoView({ block: "nearest" });
    return item;
  }

  function answerNode(answer) {
    const title = answer.title || answer.short_description || answer.number;
    let head;
    if (answer.kind === "knowledge_article") {
      head = el("a", { href: `/portal/knowledge/${encodeURIComponent(answer.number)}`, target: "_blank", rel: "noopener" }, title);
    } else {
      head = el("strong", {}, title);
    }
    const fix = answer.suggested_fix ? el("p", { class: "fix" }, answer.suggested_fix) : null;
    const label = answer.kind === "knowledge_article" ? `Article ${answer.number}` : "A fix that worked before";
    return el("li", { class: "answer" }, el("span", { class: "kind" }, label), " ", head, fix);
  }

  function render(data) {
    const parts = [el("p", { class: "reply" }, data.reply || "")];
    if (data.answers && data.answers.length) {
      parts.push(el("ul", { class: "answers" }, ...data.answers.map(answerNode)));
    }
    if (data.tickets && data.tickets.length) {
      parts.push(
        el(
          "ul",
          { class: "answers" },
          ...data.tickets.map((t) =>
            el(
              "li",
              {},
              el("a", { href: `/portal/tickets/${encodeURIComponent(t.number)}` }, t.number),
              ` ${t.short_description} — ${String(t.state).replace(/_/g, " ")}`,
              t.latest_public_comment ? el("p", { class: "fix" }, `Latest update: ${t.latest_public_comment}`) : null
            )
          )
        )
      );
    }
    if (data.ticket && data.ticket.number) {
      parts.push(
        el(
          "p",
          { class: "ticket-created" },
          "Your ticket: ",
          el("a", { class: "ticket-number", href: `/portal/tickets/${encodeURIComponent(data.ticket.number)}` }, data.ticket.number)
        )
      );
    }
    if (data.choices && data.choices.length) {
      const group = el("div", { class: "choices", role: "group", "aria-label": data.ask_feedback ? "Did that solve it?" : "Choose one" });
      for (const choice of data.choices) {
        const button = el("button", { type: "button", class: "choice", "data-choice": choice.value }, choice.label);
        button.addEventListener("click", () => {
          for (const b of group.querySelectorAll("button")) b.disabled = true;
          button.classList.add("chosen");
          send({ conversation_id: conversationId, choice: choice.value }, choice.label);
        });
        group.append(button);
      }
      parts.push(group);
    }
    add("bot", ...parts);
  }

  async function send(body, shown) {
    closeChoices();
    add("user", el("p", {}, shown));
    const pending = add("bot", el("p", { class: "typing" }, "…"));
    const result = await api("POST", endpoint, body);
    pending.remove();
    if (!result.ok) {
      add("bot", el("p", { class: "error" }, result.message));
      return;
    }
    remember(result.data.conversation_id);
    render(result.data);
  }

  async function restore() {
    let saved = null;
    try {
      saved = window.localStorage.getItem(storeKey);
    } catch (err) {
      saved = null;
    }
    if (!saved || !/^\d+$/.test(saved)) return;
    const result = await api("GET", `${endpoint}/${saved}`);
    if (!result.ok) {
      remember(null);
      return;
    }
    conversationId = result.data.id;
    const messages = result.data.messages || [];
    const waiting = ["awaiting_choice", "awaiting_feedback"].includes(result.data.state);
    messages.forEach((m, i) => {
      if (m.role === "user") {
        add("user", el("p", {}, m.text));
        return;
      }
      render({ reply: m.text, answers: m.answers || [], choices: m.choices || [] });
      if (!(waiting && i === messages.length - 1)) closeChoices();
    });
    if (result.data.ticket_number) {
      add(
        "bot",
        el("p", { class: "ticket-created" }, "Your ticket: ",
          el("a", { class: "ticket-number", href: `/portal/tickets/${encodeURIComponent(result.data.ticket_number)}` }, result.data.ticket_number))
      );
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send({ conversation_id: conversationId, message: text }, text);
    input.focus();
  });

  root.querySelector("#chat-new")?.addEventListener("click", () => {
    remember(null);
    log.replaceChildren();
    input.focus();
  });
  restore();
}

document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (chat) initChat(chat);
});
