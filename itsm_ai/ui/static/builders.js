// itsm-ai admin form builders: the condition rows (SLA policies, automation rules) and a calendar's weekly
// hours. Each writes the JSON the API takes into a hidden field, which admin.js's jsonBody() sends.
// Uses el() from app.js (loaded before this file).
"use strict";

// -- conditions: rows of field / operator / value, all of which must hold -----------------------------------

function condValue(row, spec, catalog) {
  const op = row.querySelector("[data-cond-op]").value;
  if (catalog.no_value.includes(op)) return undefined;
  const input = row.querySelector("[data-cond-input]");
  const cast = (text) => {
    if (spec.kind === "int" && /^-?\d+$/.test(text)) return parseInt(text, 10);
    if (spec.kind === "float" && text !== "" && !Number.isNaN(Number(text))) return Number(text);
    return text;
  };
  if (catalog.list_ops.includes(op)) {
    const texts = input.multiple
      ? Array.from(input.selectedOptions, (o) => o.value)
      : input.value.split(",").map((s) => s.trim()).filter(Boolean);
    return texts.map(cast);
  }
  return cast(input.value.trim());
}

// The JSON of the rows: "" (any ticket), one {field, op, value}, or {"all": [...]}; the advanced JSON wins.
function writeCondition(box) {
  const catalog = JSON.parse(box.dataset.catalog);
  const hidden = box.querySelector("[data-cond-value]");
  const advanced = box.querySelector("[data-cond-json]").value.trim();
  const rows = Array.from(box.querySelectorAll("[data-cond-row]"));
  // Labels count rows by position, so removing one renumbers the rest.
  rows.forEach((row, index) => {
    for (const label of row.querySelectorAll("label")) label.textContent = label.textContent.replace(/\d+$/, index + 1);
    row.querySelector("[data-cond-remove]").textContent = `Remove condition ${index + 1}`;
  });
  for (const row of rows) row.querySelectorAll("select, input").forEach((f) => (f.disabled = advanced !== ""));
  box.querySelector("[data-cond-summary]").textContent = advanced
    ? "The advanced JSON below is used instead of the rows."
    : rows.length
      ? "A ticket matches when all of these hold."
      : "No conditions: any ticket.";
  if (advanced) {
    hidden.value = advanced;
    return;
  }
  const leaves = rows.map((row) => {
    const field = row.querySelector("[data-cond-field]").value;
    const spec = catalog.fields.find((f) => f.name === field);
    const leaf = { field, op: row.querySelector("[data-cond-op]").value };
    const value = condValue(row, spec, catalog);
    if (value !== undefined) leaf.value = value;
    return leaf;
  });
  hidden.value = leaves.length === 0 ? "" : JSON.stringify(leaves.length === 1 ? leaves[0] : { all: leaves });
}

// The operators a row's field takes (text operators only for text fields), keeping the current one if it fits.
function operatorControl(row, catalog) {
  const spec = catalog.fields.find((f) => f.name === row.querySelector("[data-cond-field]").value);
  const op = row.querySelector("[data-cond-op]");
  const current = op.value;
  op.replaceChildren();
  for (const [value, text] of catalog.operators) {
    if (spec.ops.includes(value)) op.append(el("option", { value }, text));
  }
  if (spec.ops.includes(current)) op.value = current;
}

// The value control of a row: a select of the field's known values (several for "is one of"), else text.
function valueControl(row, catalog) {
  const n = row.dataset.n;
  const spec = catalog.fields.find((f) => f.name === row.querySelector("[data-cond-field]").value);
  const op = row.querySelector("[data-cond-op]").value;
  const slot = row.querySelector("[data-cond-slot]");
  if (catalog.no_value.includes(op)) {
    slot.replaceChildren();
    return;
  }
  const id = `${row.closest("[data-condition-builder]").id}-value-${n}`;
  const many = catalog.list_ops.includes(op);
  let input;
  if (spec.values.length) {
    input = el("select", { id, "data-cond-input": "", multiple: many });
    for (const [value, text] of spec.values) input.append(el("option", { value: String(value) }, text));
  } else {
    input = el("input", { id, "data-cond-input": "", type: "text", placeholder: many ? "comma separated" : "" });
  }
  slot.replaceChildren(el("label", { for: id }, `Value of condition ${n}`), input);
}

function addRow(box) {
  const catalog = JSON.parse(box.dataset.catalog);
  const list = box.querySelector("[data-cond-rows]");
  const n = String((Number(list.dataset.count) || 0) + 1);
  list.dataset.count = n;
  const prefix = `${box.id}-${n}`;
  const field = el("select", { id: `${prefix}-field`, "data-cond-field": "" });
  for (const f of catalog.fields) field.append(el("option", { value: f.name }, f.label));
  const op = el("select", { id: `${prefix}-op`, "data-cond-op": "" });
  const remove = el("button", { type: "button", class: "secondary", "data-cond-remove": "" }, `Remove condition ${n}`);
  const row = el(
    "li",
    { class: "inline cond-row", "data-cond-row": "", "data-n": n },
    el("div", {}, el("label", { for: field.id }, `Field of condition ${n}`), field),
    el("div", {}, el("label", { for: op.id }, `Operator of condition ${n}`), op),
    el("div", { "data-cond-slot": "" }),
    remove,
  );
  list.append(row);
  operatorControl(row, catalog);
  valueControl(row, catalog);
  writeCondition(box);
  field.focus();
}

// -- a calendar's week: a row per weekday (open?, opens, closes) ------------------------------------------------

function writeHours(box) {
  const hours = {};
  for (const row of box.querySelectorAll("[data-day]")) {
    const open = row.querySelector("[data-day-open]").checked;
    for (const input of row.querySelectorAll("input[type=time]")) input.disabled = !open;
    if (!open) continue;
    hours[row.dataset.day] = [`${row.querySelector("[data-day-start]").value}-${row.querySelector("[data-day-end]").value}`];
  }
  box.querySelector("[data-hours-value]").value = JSON.stringify(hours);
}

document.addEventListener("click", (event) => {
  const add = event.target.closest("[data-cond-add]");
  const remove = event.target.closest("[data-cond-remove]");
  if (add) addRow(add.closest("[data-condition-builder]"));
  if (remove) {
    const box = remove.closest("[data-condition-builder]");
    remove.closest("[data-cond-row]").remove();
    writeCondition(box);
    box.querySelector("[data-cond-add]").focus();
  }
});

function onEdit(event) {
  const box = event.target.closest("[data-condition-builder]");
  if (box) {
    const row = event.target.closest("[data-cond-row]");
    if (row && event.type === "change" && event.target.matches("[data-cond-field], [data-cond-op]")) {
      const catalog = JSON.parse(box.dataset.catalog);
      if (event.target.matches("[data-cond-field]")) operatorControl(row, catalog);
      valueControl(row, catalog);
    }
    writeCondition(box);
  }
  const week = event.target.closest("[data-week-hours]");
  if (week) writeHours(week);
}
document.addEventListener("input", onEdit);
document.addEventListener("change", onEdit);

document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-condition-builder]")) writeCondition(box);
  for (const week of document.querySelectorAll("[data-week-hours]")) writeHours(week);
});
