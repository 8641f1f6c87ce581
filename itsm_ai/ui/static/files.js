// File uploads of the web UI: a form with data-files sends its JSON first (a ticket, a comment), then each
// chosen file to the attachment API as multipart, tied to the new comment when data-attach="comment".
"use strict";

async function uploadFile(url, file, commentId) {
  const form = new FormData();
  form.append("file", file);
  if (commentId) form.append("comment_id", String(commentId));
  let response;
  try {
    response = await fetch(url, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json", ...CSRF }, body: form });
  } catch (err) {
    return `${file.name}: the server could not be reached`;
  }
  if (response.ok) return null;
  let message = `upload failed (${response.status})`;
  try {
    const data = await response.json();
    message = (data && data.error && data.error.message) || message;
  } catch (err) {
    // keep the generic message
  }
  return `${file.name}: ${message}`;
}

document.addEventListener(
  "submit",
  async (event) => {
    const form = event.target;
    if (!form.matches("form[data-files]")) return;
    // Handled here in full: app.js's generic handler would send the JSON only.
    event.preventDefault();
    event.stopPropagation();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    say(form, "Working…", false);
    const input = form.querySelector("input[type=file]");
    const files = input ? Array.from(input.files) : [];
    let result = { ok: true, data: {} };
    if (form.dataset.url) result = await api(form.dataset.api, form.dataset.url, formBody(form));
    if (!result.ok) {
      if (button) button.disabled = false;
      say(form, result.message, true);
      return;
    }
    const data = result.data || {};
    const url = form.dataset.files.replace("{number}", encodeURIComponent(data.number || ""));
    const commentId = form.dataset.attach === "comment" ? data.id : null;
    const problems = [];
    for (const file of files) {
      say(form, `Uploading ${file.name}…`, false);
      const problem = await uploadFile(url, file, commentId);
      if (problem) problems.push(problem);
    }
    if (button) button.disabled = false;
    if (problems.length) {
      say(form, `Saved, but not every file: ${problems.join("; ")}`, true);
      return;
    }
    if (form.dataset.done === "ticket-created" && data.number) {
      window.location.assign(`/portal/tickets/${encodeURIComponent(data.number)}`);
    } else if (form.dataset.done === "refresh" && typeof window.refreshMain === "function") {
      await window.refreshMain(form); // console.js: the page updates in place
    } else {
      window.location.reload();
    }
  },
  true
);
