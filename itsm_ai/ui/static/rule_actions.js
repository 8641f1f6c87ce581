// itsm-ai automation rules: the actions builder. Rows of actions (type, then that type's fields) that keep the
// hidden `actions` input of the new-rule form filled with exactly the JSON list /api/v1/rules takes, so the
// form's preview and save (admin.js) send it unchanged. Rows come from <template id="action-row">.
"use strict";

(function () {
  const list = document.getElementById("action-rows");
  const template = document.getElementById("action-row");
  const output = document.getElementById("nr-actions");
  if (!list || !template || !output) return;
  let counter = 0;

  // Only the controls of the chosen type (and, for set_field, of the chosen field) are live.
  function showFields(row) {
    const type = row.querySelector("[data-action-type]").value;
    for (const box of row.querySelectorAll("[data-fields]")) {
      const on = box.dataset.fields === type;
      box.hidden = !on;
      for (const control of box.querySelectorAll("[data-key]")) control.disabled = !on;
    }
    const fieldSelect = row.querySelector("[data-field-select]");
    const field = fieldSelect.value;
    const special = [...row.querySelectorAll("[data-when-field]")].some((b) => b.dataset.whenField === field);
    for (const box of row.querySelectorAll("[data-when-field]")) {
      const on = type === "set_field" && box.dataset.whenField === (special ? field : "");
      box.hidden = !on;
      for (const control of box.querySelectorAll("[data-key]")) control.disabled = !on;
    }
  }

  function valueOf(control) {
    const type = control.dataset.type || "str";
    if (type === "bool") return control.checked;
    const text = control.value.trim();
    if (text === "") return undefined;
    if (type === "int") return parseInt(text, 10);
    if (type === "list") return text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
    return text;
  }

  // The JSON list: one object per row, in order; empty optional fields are left out (the API's defaults).
  function sync() {
    const actions = [];
    for (const row of list.children) {
      const action = { type: row.querySelector("[data-action-type]").value };
      for (const control of row.querySelectorAll("[data-key]")) {
        if (control.disabled) continue;
        const value = valueOf(control);
        if (value === undefined) continue;
        if (control.dataset.key === "approver") {
          const cut = value.indexOf(":");
          action[value.slice(0, cut)] = value.slice(cut + 1);
        } else action[control.dataset.key] = value;
      }
      actions.push(action);
    }
    output.value = JSON.stringify(actions);
  }

  // Positions, and the move/remove buttons' names (their visible text first, for voice control), follow the order; the ends cannot move further.
  function renumber() {
    const rows = [...list.children];
    rows.forEach((row, i) => {
      const n = i + 1;
      row.querySelector("[data-pos]").textContent = String(n);
      const up = row.querySelector('[data-move="-1"]');
      const down = row.querySelector('[data-move="1"]');
      up.setAttribute("aria-label", `Move up, action ${n}`);
      down.setAttribute("aria-label", `Move down, action ${n}`);
      row.querySelector("[data-remove]").setAttribute("aria-label", `Remove, action ${n}`);
      up.disabled = i === 0;
      down.disabled = i === rows.length - 1;
    });
    sync();
  }

  function addRow(type) {
    counter += 1;
    const html = template.innerHTML.replaceAll("__N__", String(counter));
    const holder = document.createElement("ol");
    holder.innerHTML = html;
    const row = holder.firstElementChild;
    if (type) row.querySelector("[data-action-type]").value = type;
    list.append(row);
    showFields(row);
    renumber();
    return row;
  }

  list.addEventListener("change", (event) => {
    const row = event.target.closest(".action-row");
    if (row && (event.target.matches("[data-action-type]") || event.target.matches("[data-field-select]"))) {
      showFields(row);
    }
    sync();
  });
  list.addEventListener("input", sync);
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const row = button.closest(".action-row");
    if ("remove" in button.dataset) {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      renumber();
      (next ? next.querySelector("[data-action-type]") : document.getElementById("add-action")).focus();
      return;
    }
    const step = parseInt(button.dataset.move, 10);
    if (step === -1 && row.previousElementSibling) list.insertBefore(row, row.previousElementSibling);
    else if (step === 1 && row.nextElementSibling) list.insertBefore(row.nextElementSibling, row);
    else return;
    renumber();
    // Keep focus on the moved row's button, or its twin when this one is now disabled at an end.
    const same = row.querySelector(`[data-move="${step}"]`);
    (same.disabled ? row.querySelector(`[data-move="${-step}"]`) : same).focus();
  });
  document.getElementById("add-action").addEventListener("click", () => {
    addRow().querySelector("[data-action-type]").focus();
  });
  addRow(list.dataset.default);
})();
