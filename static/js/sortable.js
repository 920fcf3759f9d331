// Sortable tables (class "sortable", a <button class="sort"> in each column's heading): a click
// sorts the rows by that column's data-value (numbers, or text for data-type="text"), again
// reverses. The order is kept per table id and applied again after every live update and
// refresh ("fcmdash:updated"): the server sends rows in its own order and the morph puts them
// back in it. The choice lasts for the page's session (sessionStorage), a reload keeps it.
(function () {
  "use strict";
  var KEY = "fcmdash.sort";
  var chosen = {};
  try { chosen = JSON.parse(sessionStorage.getItem(KEY) || "{}") || {}; } catch (e) { chosen = {}; }

  function value(row, index, text) {
    var cell = row.children[index];
    var v = cell ? (cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent) : "";
    return text ? v.toLowerCase() : Number(v) || 0;
  }

  function apply(table) {
    var choice = chosen[table.id];
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, i) {
      var state = choice && choice.col === i ? (choice.desc ? "descending" : "ascending") : null;
      if (state) { if (th.getAttribute("aria-sort") !== state) th.setAttribute("aria-sort", state); }
      else if (th.hasAttribute("aria-sort")) th.removeAttribute("aria-sort");
    });
    if (!choice || !heads[choice.col]) return;
    var text = heads[choice.col].dataset.type === "text";
    var body = table.tBodies[0];
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.dataset.key !== undefined; });
    var sorted = rows.slice().sort(function (a, b) {
      var x = value(a, choice.col, text), y = value(b, choice.col, text);
      var c = text ? x.localeCompare(y, undefined, { numeric: true }) : x - y;
      if (c === 0) c = a.dataset.key.localeCompare(b.dataset.key);
      return choice.desc ? -c : c;
    });
    // Only rows out of place move: the focus and a selection inside the table stay.
    sorted.forEach(function (row, i) {
      if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] || null);
    });
  }

  function applyAll() {
    document.querySelectorAll("table.sortable[id]").forEach(apply);
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("table.sortable thead button.sort");
    if (!button) return;
    var th = button.closest("th"), table = button.closest("table");
    var col = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var was = chosen[table.id];
    // Numbers start biggest first (the busiest agent on top); names A to Z.
    var desc = was && was.col === col ? !was.desc : th.dataset.type !== "text";
    chosen[table.id] = { col: col, desc: desc };
    try { sessionStorage.setItem(KEY, JSON.stringify(chosen)); } catch (err) { /* private mode */ }
    apply(table);
  });
  document.addEventListener("fcmdash:updated", applyAll);
  applyAll();
})();
