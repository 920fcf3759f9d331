// fcmdash: the little the browser does itself. Everything else is htmx and server HTML.
// - live messages are applied here, not by htmx's ws extension: each top-level element is
//   morphed into the element with its id (idiomorph), so what a person is doing survives every
//   update: the focused field, typed values and the caret, an open <details>, the scroll
//   position, a click between mouse-down and mouse-up. A form field someone typed into is never
//   touched by an update;
// - each message is acknowledged once applied (monitor/outbox.py: the server sends a socket
//   only as much as its page keeps up with);
// - timers tick from data-since (epoch seconds), corrected by the server clock's offset;
// - queue cards turn amber/red as their longest wait grows, between server updates;
// - the socket's state is shown, and each time it opens (the first time too) the page content
//   is fetched again and morphed in, so nothing published while it was not listening stays
//   wrong; the server may ask for the same (a refresh element);
// - a live tile whose id is not on the page yet goes into its data-parent container;
// - after a full resync message, tiles of that PBX that it did not name are removed;
// - "fcmdash:updated" is dispatched on document after each message and each refresh (the
//   kiosk's layout listens).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var serverNow = live ? Number(live.dataset.serverNow) : NaN;
  var skew = isNaN(serverNow) ? 0 : serverNow * 1000 - Date.now();
  var opened = 0;
  var socketEpoch = 0; // bumped on every open and close: a late refresh must not say "live"
  var refreshing = null; // the refresh under way, and whether another one is wanted after it
  // Close codes after which only a reload helps: the kiosk link was revoked (4403), the server
  // gave up on this page keeping up (4408), the socket's request was refused (4400, 4404).
  var RELOAD_CODES = [4400, 4403, 4404, 4408];

  function now() { return (Date.now() + skew) / 1000; }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mm = (h && m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return (h ? h + ":" : "") + mm + ":" + ss;
  }

  var LEVELS = { ok: ["OK", "\u2713"], amber: ["Attention", "\u25B2"], red: ["Critical", "\u203C"] };

  function level(card, t) {
    // data-levels: callers waiting for amber, for red; seconds waited for amber, for red.
    var d = card.dataset, waited = d.oldest ? t - Number(d.oldest) : 0, waiting = Number(d.waiting);
    var lv = (d.levels || "").split(" ").map(Number);
    if (waiting > lv[1] || waited > lv[3]) return "red";
    if (waiting > lv[0] || waited > lv[2]) return "amber";
    return "ok";
  }

  function tick() {
    var t = now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var text = duration(t - Number(el.dataset.since));
      if (el.textContent !== text) el.textContent = text;
    });
    document.querySelectorAll(".card[data-waiting]").forEach(function (card) {
      var lv = level(card, t);
      if (card.classList.contains("card--" + lv)) return;
      card.classList.remove("card--ok", "card--amber", "card--red");
      card.classList.add("card--" + lv);
      var word = card.querySelector(".level__word"), icon = card.querySelector(".level__icon");
      if (word) word.textContent = LEVELS[lv][0];
      if (icon) icon.textContent = LEVELS[lv][1];
    });
    document.querySelectorAll("[data-clock]").forEach(function (el) {
      el.textContent = new Date(t * 1000).toLocaleTimeString();
    });
  }

  function updated() {
    tick();
    document.dispatchEvent(new CustomEvent("fcmdash:updated"));
  }

  // -- morphing that leaves a person's work alone -------------------------------------------
  function typedInto(node) {
    if (node.nodeType !== 1) return false;
    var tag = node.tagName;
    if (tag === "TEXTAREA") return node === document.activeElement || node.value !== node.defaultValue;
    if (tag === "SELECT") {
      return node === document.activeElement || Array.prototype.some.call(node.options, function (o) {
        return o.selected !== o.defaultSelected;
      });
    }
    if (tag !== "INPUT" || node.type === "hidden") return false;
    if (node.type === "checkbox" || node.type === "radio") return node.checked !== node.defaultChecked;
    return node === document.activeElement || node.value !== node.defaultValue;
  }

  var MORPH = {
    morphStyle: "outerHTML",
    ignoreActiveValue: true,
    callbacks: {
      beforeNodeMorphed: function (oldNode) { return !typedInto(oldNode); },
      beforeAttributeUpdated: function (name, el) {
        // Opened or closed by the person looking at it; the server's HTML does not know.
        return !(name === "open" && (el.tagName === "DETAILS" || el.tagName === "DIALOG"));
      },
    },
  };

  function morph(target, fresh) {
    Idiomorph.morph(target, fresh, MORPH);
    htmx.process(target);
  }

  function refresh(done) {
    if (refreshing) { refreshing.again = true; refreshing.done.push(done); return; }
    refreshing = { again: false, done: [done] };
    fetch(location.href, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) {
        // Logged out, or a revoked kiosk link: show the browser what the server says.
        if (!r.ok || r.redirected) { location.reload(); return null; }
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        var current = document.getElementById("content");
        if (!fresh || !current) return;
        morph(current, fresh);
        updated();
      })
      .catch(function () { /* the socket's next reconnect tries again */ })
      .then(function () {
        var was = refreshing;
        refreshing = null;
        if (was.again) { refresh(function () {}); }
        was.done.forEach(function (fn) { if (fn) fn(); });
      });
  }

  // -- live messages --------------------------------------------------------------------------
  function insertSorted(parent, el) {
    var key = el.dataset.sort || "";
    var next = Array.prototype.find.call(parent.children, function (child) {
      return child.dataset && child.dataset.sort !== undefined &&
        child.dataset.sort.localeCompare(key, undefined, { numeric: true }) > 0;
    });
    parent.insertBefore(el, next || null);
    var empty = parent.querySelector(":scope > .empty");
    if (empty) empty.remove();
  }

  function place(el) {
    if (!el.dataset || !el.dataset.parent) return;
    var parent = el.dataset.parent.split(" ").map(function (id) {
      return document.getElementById(id);
    }).find(Boolean);
    if (!parent) return;
    insertSorted(parent, el);
    htmx.process(el);
  }

  // A full update may come in several messages (the server keeps each under Daphne's 1 MiB):
  // the ids named by its parts are collected under its token until the last one arrives.
  var fullParts = {};

  function apply(body) {
    var tpl = document.createElement("template");
    tpl.innerHTML = body;
    var elements = Array.prototype.slice.call(tpl.content.children);
    var ids = elements.map(function (c) { return c.id; });
    var sweeps = [];
    elements.forEach(function (el) {
      var d = el.dataset || {};
      if (d.refresh !== undefined) { refresh(); return; }
      if (d.fullPart) { fullParts[d.fullPart] = (fullParts[d.fullPart] || []).concat(ids); return; }
      if (d.fullPbx) { sweeps.push(el); return; }
      var target = el.id && document.getElementById(el.id);
      if (el.getAttribute("hx-swap-oob") === "delete") { if (target) target.remove(); return; }
      if (target) morph(target, el); else place(el);
    });
    sweeps.forEach(function (marker) {
      var pbx = marker.dataset.fullPbx, token = marker.dataset.fullToken;
      var named = new Set(ids.concat(fullParts[token] || []));
      delete fullParts[token];
      document.querySelectorAll('[data-tile][data-pbx="' + pbx + '"]').forEach(function (el) {
        if (!named.has(el.id)) el.remove();
      });
    });
  }

  var HEADER = /^<!--(\d+) ([0-9a-f]+)-->\n?/;
  // Acknowledgements are cumulative: the newest one, at most every ACK_MS, says it for every
  // message before it too (fewer frames for the server to take).
  var ACK_MS = 500, toAck = null, ackTimer = null;

  function acknowledge(socket, head) {
    toAck = { socket: socket, text: head[1] + " " + head[2] };
    if (ackTimer !== null) return;
    ackTimer = setTimeout(function () {
      ackTimer = null;
      if (toAck) toAck.socket.send(toAck.text);
      toAck = null;
    }, ACK_MS);
  }

  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    e.preventDefault(); // applied here, by morphing, instead of htmx's replacing swaps
    var msg = e.detail.message;
    if (typeof msg !== "string") return;
    var head = HEADER.exec(msg);
    try {
      apply(head ? msg.slice(head[0].length) : msg);
    } finally {
      if (head) acknowledge(e.detail.socketWrapper, head);
    }
    updated();
  });

  // A sent pause reason is done with: cleared, the field takes the server's updates again.
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (e.detail.successful && form.matches && form.matches("form.ctl--pause")) form.reset();
  });

  document.addEventListener("htmx:wsConnecting", function () {
    socketState("connecting", opened ? "reconnecting\u2026" : "connecting\u2026");
  });
  document.addEventListener("htmx:wsOpen", function () {
    // A change published between this page's render and its socket joining the groups never
    // reaches it, however quickly the first socket opens: fetch the content again, and say
    // "live" only once that is in.
    var epoch = ++socketEpoch;
    refresh(function () { if (epoch === socketEpoch) socketState("open", "live"); });
    opened += 1;
  });
  document.addEventListener("htmx:wsClose", function (e) {
    socketEpoch += 1;
    toAck = null; // for the socket that closed: a new one counts afresh
    socketState("closed", "reconnecting\u2026");
    var code = e.detail && e.detail.event && e.detail.event.code;
    if (RELOAD_CODES.indexOf(code) >= 0) location.reload();
  });

  function socketState(state, text) {
    var el = document.getElementById("socket-state");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  tick();
  setInterval(tick, 1000);
})();
