// itsm-ai admin and model screens: JSON forms, rule dry runs and training progress, all through /api/v1.
// Uses api(), el() and say() from app.js (loaded before this file).
"use strict";

// Builds the JSON body of a form[data-json-api]: data-type int|float|json|list|bool; "a.b.c" names nest.
function jsonBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.disabled) continue;
    const type = field.dataset.type || "str";
    let value;
    if (type === "bool") value = field.checked;
    else {
      const text = field.value.trim();
      if (text === "" && !("keepEmpty" in field.dataset)) continue;
      if (type === "int") value = parseInt(text, 10);
      else if (type === "float") value = parseFloat(text);
      else if (type === "list") value = text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
      else if (type === "json") {
        try {
          value = JSON.parse(text);
        } catch (err) {
          throw new Error(`${field.labels && field.labels[0] ? field.labels[0].textContent : field.name}: not valid JSON (${err.message})`);
        }
      } else value = text;
    }
    const path = field.name.split(".");
    let node = body;
    for (const key of path.slice(0, -1)) node = node[key] = node[key] || {};
    node[path[path.length - 1]] = value;
  }
  return body;
}

// A confirmation step: the answers as a list, then "Confirm order" submits and "Change" goes back.
function showConfirmation(form) {
  const box = form.querySelector(".confirm");
  const list = el("dl", { class: "fields" });
  for (const field of form.elements) {
    if (!field.name || !field.dataset.label) continue;
    let value = field.type === "checkbox" ? (field.checked ? "yes" : "no") : field.value.trim();
    if (value === "") continue;
    list.append(el("dt", {}, field.dataset.label), el("dd", {}, value));
  }
  const confirm = el("button", { type: "button" }, "Confirm order");
  const change = el("button", { type: "button", class: "secondary" }, "Change");
  const submit = form.querySelector("button[type=submit]");
  confirm.addEventListener("click", () => {
    form.dataset.confirmed = "yes";
    form.requestSubmit();
  });
  change.addEventListener("click", () => {
    box.hidden = true;
    if (submit) submit.hidden = false;
    form.elements[1]?.focus();
  });
  box.replaceChildren(el("h3", { tabindex: "-1" }, `Please check your order of ${form.dataset.confirm}`), list, confirm, change);
  box.hidden = false;
  if (submit) submit.hidden = true;
  box.querySelector("h3").focus();
}

function showDryRun(target, data) {
  const box = document.getElementById(target);
  if (!box) return;
  const rows = (data.tickets || []).filter((t) => t.matched);
  const summary = el("p", {}, `Tried on ${data.evaluated} ticket${data.evaluated === 1 ? "" : "s"}: ${data.matched} would match.`);
  const list = el("ul", { class: "plain" });
  for (const t of rows) {
    const effects = (t.effects || []).map((e) => e.description).join("; ") || "no change";
    list.append(el("li", {}, el("a", { href: `/console/tickets/${encodeURIComponent(t.number)}` }, t.number), ` → ${effects}`));
  }
  box.replaceChildren(summary, list);
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("form[data-json-api]")) return;
  event.preventDefault();
  let body;
  try {
    body = jsonBody(form);
  } catch (err) {
    say(form, err.message, true);
    return;
  }
  const button = form.querySelector("button[type=submit]");
  if (form.dataset.confirm !== undefined && form.dataset.confirmed !== "yes") {
    showConfirmation(form);
    return;
  }
  if (button) button.disabled = true;
  say(form, "Working…", false);
  const result = await api(form.dataset.jsonApi, form.dataset.url, body);
  if (button) button.disabled = false;
  if (!result.ok) {
    form.dataset.confirmed = "";
    say(form, result.message, true);
    return;
  }
  if (form.dataset.done === "request-created") {
    const number = result.data && result.data.number;
    const box = statusOf(form);
    box.classList.remove("error");
    box.replaceChildren("Request ", el("a", { href: `/portal/tickets/${encodeURIComponent(number)}` }, number), " submitted.");
    form.dataset.confirmed = "";
    form.querySelector(".confirm").hidden = true;
    if (button) button.hidden = false;
    return;
  }
  if (result.data && result.data.secret) {
    say(form, `${form.dataset.done || "Saved."}${result.data.secret}`, false);
    return;
  }
  if (form.dataset.jobs) {
    watchJob(form, result.data);
    return;
  }
  say(form, "Saved. Reloading…", false);
  window.location.reload();
});

document.addEventListener("click", async (event) => {
  const preview = event.target.closest("button[data-preview]");
  const dry = event.target.closest("button[data-dry-run]");
  if (!preview && !dry) return;
  const button = preview || dry;
  let url, body, target;
  if (preview) {
    const form = button.closest("form");
    try {
      body = { rule: jsonBody(form), last: 50 };
    } catch (err) {
      say(button, err.message, true);
      return;
    }
    url = form.dataset.previewUrl;
    target = form.dataset.target;
  } else {
    url = button.dataset.dryRun;
    body = { last: 50 };
    target = button.dataset.target;
  }
  button.disabled = true;
  say(button, "Trying the rule…", false);
  const result = await api("POST", url, body);
  button.disabled = false;
  if (!result.ok) {
    say(button, result.message, true);
    return;
  }
  say(button, "", false);
  showDryRun(target, result.data);
});

// -- training jobs: start, then poll the job until it ends -------------------------------------------------

function watchJob(form, job) {
  const bar = document.getElementById(form.dataset.progress);
  const text = document.getElementById(form.dataset.progressText);
  const tick = async () => {
    const result = await api("GET", `${form.dataset.jobs}/${job.id}`);
    if (!result.ok) {
      say(form, result.message, true);
      return;
    }
    const j = result.data;
    if (bar) bar.value = Math.round((j.progress || 0) * 100);
    if (text) text.textContent = `Job ${j.id}: ${j.status}${j.message ? ` – ${j.message}` : ""}`;
    if (j.status === "succeeded" || j.status === "failed" || j.status === "done" || j.status === "error") {
      say(form, j.version ? `Trained version ${j.version}. Reloading…` : `Training ${j.status}.`, j.status !== "succeeded" && j.status !== "done");
      if (j.version) window.setTimeout(() => window.location.reload(), 800);
      return;
    }
    window.setTimeout(tick, 1000);
  };
  say(form, `Training job ${job.id} started.`, false);
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-jobs][data-running]")) {
    watchJob(form, { id: form.dataset.running });
  }
});
