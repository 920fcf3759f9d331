// fcmdash kiosk: fit the board to the screen it is on (static/css/kiosk.css holds the modes).
// - Extension tiles get the biggest type at which all of them fit beside the queue cards at
//   their smallest, full or compact (compact when it can be much bigger); then the cards get
//   the biggest that fits in what is left. The modes are classes on #kiosk-board, outside
//   #content, so a refresh of #content keeps them.
// - When even compact tiles (or cards) at 14 px do not fit, the board pages: the rules in
//   page's own constructed stylesheet (CSSOM, which the Content-Security-Policy allows where an
//   inline <style> would be refused) hide what is not on the page shown (by position, so tiles that
//   arrive later are placed too), and the page turns every data-turn seconds, "page 2 of 3"
//   shown. Every tile and card is on one of the pages: a whole round shows all.
// - It fits again on resize, when tiles or cards come or go, and after every live message or
//   refresh (fcmdash:updated) that left something outside the screen.
// After each fit and each turn it dispatches "kiosk:turned" on document ({page, pages}).
(function () {
  "use strict";
  var MIN = 14; // px: the smallest text of a tile or card, legible across a room
  var QUEUE_SHARE = 0.3; // of the board, for the cards when the tiles page
  var STEP = 1.1; // between the type sizes tried
  var FULL_RATIO = 0.75; // full tiles unless compact ones could be a third bigger

  var live = document.getElementById("live");
  var board = document.getElementById("kiosk-board");
  var turnLabel = document.getElementById("kiosk-turn");
  if (!live || !board) return;
  var sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
  function setPageRules(text) { sheet.replaceSync(text); }
  var turnMs = Math.max(2, Number(live.dataset.turn) || 15) * 1000;
  var KINDS = { queues: ".cards", tiles: ".tiles" };

  var plan = { key: "", pages: 1, rules: { queues: [""], tiles: [""] } };
  var page = 0;
  var timer = null;
  var pending = false;

  function containers(kind) {
    return Array.prototype.slice.call(board.querySelectorAll("#content " + KINDS[kind]));
  }

  function count(kind) {
    return containers(kind).reduce(function (n, c) { return n + c.children.length; }, 0);
  }

  function content() { return document.getElementById("content"); }

  function overflows() {
    var el = content();
    return !!el && (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1);
  }

  function sizes() {
    var top = Math.max(MIN, Math.min(window.innerWidth / 42, window.innerHeight / 24, 64));
    var list = [];
    for (var px = MIN; px < top; px *= STEP) list.push(Math.round(px * 10) / 10);
    list.push(Math.round(top * 10) / 10);
    return list;
  }

  function setMode(kind, compact, px) {
    board.classList.toggle(kind + "-compact", compact);
    board.style.setProperty("--k-" + kind, px + "px");
  }

  // The biggest of `list` at which ok() holds (ok holds for every smaller one), or null.
  function biggest(kind, compact, list, ok) {
    // The smallest first: hundreds of tiles that do not fit even then cost one layout, not four.
    setMode(kind, compact, list[0]);
    if (!ok()) return null;
    var lo = 1, hi = list.length - 1, found = list[0];
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      setMode(kind, compact, list[mid]);
      if (ok()) { found = list[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  // Full or compact, and the type size; null when neither fits at MIN.
  function choose(kind, list, ok) {
    var full = biggest(kind, false, list, ok);
    var compact = biggest(kind, true, list, ok);
    var pick = full !== null && (compact === null || full >= compact * FULL_RATIO)
      ? { compact: false, px: full }
      : compact !== null ? { compact: true, px: compact } : null;
    if (pick) setMode(kind, pick.compact, pick.px);
    return pick;
  }

  function height(kind) {
    return containers(kind).reduce(function (h, c) { return h + c.offsetHeight; }, 0);
  }

  // The rows of a grid container as [first child, last child + 1, height].
  function rows(container) {
    var out = [], kids = container.children;
    for (var i = 0; i < kids.length; i++) {
      var top = kids[i].offsetTop, last = out[out.length - 1];
      if (last && Math.abs(last.top - top) < 2) {
        last.end = i + 1;
        last.height = Math.max(last.height, kids[i].offsetHeight);
      } else {
        out.push({ top: top, start: i, end: i + 1, height: kids[i].offsetHeight });
      }
    }
    return out;
  }

  // Whole rows into pages of at most `room` px and `most` rows: [{container id: [start, end]}].
  function pack(grids, room, most) {
    var pages = [], current = {}, used = 0, count = 0;
    var between = parseFloat(getComputedStyle(content()).rowGap) || 0;
    grids.forEach(function (grid) {
      grid.rows.forEach(function (row) {
        var id = grid.id, need = row.height + (!used ? 0 : current[id] ? grid.gap : between);
        if (used && (used + need > room || count >= most)) {
          pages.push(current);
          current = {};
          used = count = 0;
          need = row.height;
        }
        current[id] = current[id] ? [current[id][0], row.end] : [row.start, row.end];
        used += need;
        count += 1;
      });
    });
    if (used) pages.push(current);
    return pages.length ? pages : [{}];
  }

  // Pages as even as whole rows allow: the last one is not a leftover row or two.
  function paginate(kind, room) {
    var grids = containers(kind).map(function (c) {
      return { id: c.id, rows: rows(c), gap: parseFloat(getComputedStyle(c).rowGap) || 0 };
    });
    var pages = pack(grids, room, Infinity);
    var total = grids.reduce(function (n, g) { return n + g.rows.length; }, 0);
    var even = pack(grids, room, Math.ceil(total / pages.length));
    return even.length === pages.length ? even : pages;
  }

  // The CSS that shows page `ranges` of `kind` only.
  function rulesOf(kind, ranges) {
    return containers(kind).map(function (c) {
      var sel = "#" + CSS.escape(c.id), range = ranges[c.id];
      if (!range) return sel + "{display:none}";
      var hide = [sel + ">:nth-child(n+" + (range[1] + 1) + ")"];
      if (range[0] > 0) hide.push(sel + ">:nth-child(-n+" + range[0] + ")");
      return hide.join(",") + "{display:none}";
    }).join("\n");
  }

  function paged(kind, room) {
    setMode(kind, true, MIN);
    return paginate(kind, room).map(function (ranges) { return rulesOf(kind, ranges); });
  }

  function keyNow() {
    return [window.innerWidth, window.innerHeight, count("queues"), count("tiles")].join(" ");
  }

  // Cards smaller than the tiles beside them look like an afterthought: both at the biggest
  // common size between the two, then the cards as big as what is left allows.
  function balance(t, q, list, fits) {
    var between = list.filter(function (px) { return px > q.px && px <= t.px; });
    var lo = 0, hi = between.length - 1, found = null;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      setMode("tiles", t.compact, between[mid]);
      setMode("queues", q.compact, between[mid]);
      if (fits()) { found = between[mid]; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found === null) {
      setMode("tiles", t.compact, t.px);
      setMode("queues", q.compact, q.px);
      return;
    }
    setMode("tiles", t.compact, found);
    choose("queues", list.filter(function (px) { return px >= found; }), fits) ||
      setMode("queues", q.compact, found);
  }

  // Tiles first: the biggest tiles that fit beside the cards at their smallest, then the
  // biggest cards in what the tiles leave (balanced when that is less than the tiles'). When
  // even that does not fit, both stay at their smallest and page: the cards within
  // QUEUE_SHARE of the board, the tiles in the rest.
  function fit() {
    setPageRules("");
    var list = sizes(), room = board.clientHeight, tiles = count("tiles");
    var rules = { queues: [""], tiles: [""] };
    var fits = function () { return !overflows(); };
    setMode("queues", true, MIN);
    var t = tiles ? choose("tiles", list, fits) : null;
    if (!tiles || t) {
      var q = choose("queues", list, fits);
      if (!q) {
        rules.queues = paged("queues", room - (content().scrollHeight - height("queues")));
      } else if (t && q.px < t.px) {
        balance(t, q, list, fits);
      }
    } else {
      if (height("queues") > room * QUEUE_SHARE) {
        rules.queues = paged("queues", room * QUEUE_SHARE);
        setPageRules(rules.queues[0]);
      }
      setMode("tiles", true, MIN);
      var rest = room - (content().scrollHeight - height("tiles"));
      rules.tiles = paged("tiles", Math.max(rest, MIN * 3));
    }
    plan = {
      key: keyNow(),
      pages: Math.max(rules.queues.length, rules.tiles.length),
      rules: rules,
    };
    if (page >= plan.pages) page = 0;
    show();
    schedule();
  }

  function show() {
    var r = plan.rules;
    setPageRules(r.queues[page % r.queues.length] + "\n" + r.tiles[page % r.tiles.length]);
    board.dataset.page = String(page + 1);
    board.dataset.pages = String(plan.pages);
    if (turnLabel) {
      turnLabel.hidden = plan.pages < 2;
      turnLabel.textContent = "page " + (page + 1) + " of " + plan.pages;
    }
    document.dispatchEvent(new CustomEvent("kiosk:turned", {
      detail: { page: page + 1, pages: plan.pages },
    }));
  }

  // A running turn is left alone: tiles that come every few seconds must not hold the page.
  function schedule() {
    if (plan.pages > 1 && !timer) timer = setInterval(turn, turnMs);
    if (plan.pages < 2 && timer) timer = clearInterval(timer) || null;
  }

  function turn() {
    page = (page + 1) % plan.pages;
    show();
  }

  // Fits again when something came or went, or something no longer fits (a PBX banner that
  // grew); otherwise a live message costs one layout read.
  function check() {
    pending = false;
    if (keyNow() !== plan.key || overflows()) fit();
  }

  function soon() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(check);
  }

  new MutationObserver(function (mutations) {
    for (var i = 0; i < mutations.length; i++) {
      var target = mutations[i].target;
      if (target === board || target.matches(".tiles, .cards, .pbx, #content")) return soon();
    }
  }).observe(board, { childList: true, subtree: true });
  window.addEventListener("resize", soon);
  document.addEventListener("fcmdash:updated", soon);
  document.addEventListener("htmx:wsAfterMessage", soon);
  fit();
})();
