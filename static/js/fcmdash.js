// fcmdash: the little the browser does itself. Everything else is htmx and server HTML.
// - timers tick from data-since (epoch seconds), corrected by the server clock's offset;
// - queue cards turn amber/red as their longest wait grows, between server updates;
// - the socket's state is shown, and each time it opens (the first time too) the page content
//   is fetched again, so nothing published while it was not listening stays wrong;
// - a live tile whose id is not on the page yet goes into its data-parent container;
// - after a full resync message, tiles of that PBX that it did not name are removed.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var serverNow = live ? Number(live.dataset.serverNow) : NaN;
  var skew = isNaN(serverNow) ? 0 : serverNow * 1000 - Date.now();
  var opened = 0;
  var socketEpoch = 0; // bumped on every open and close: a late refresh must not say "live"

  function now() { return (Date.now() + skew) / 1000; }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    var mm = (h && m < 10 ? "0" : "") + m, ss = (s < 10 ? "0" : "") + s;
    return (h ? h + ":" : "") + mm + ":" + ss;
  }

  var LEVELS = { ok: ["OK", "\u2713"], amber: ["Attention", "\u25B2"], red: ["Critical", "\u203C"] };

  function level(card, t) {
    var d = card.dataset, waited = d.oldest ? t - Number(d.oldest) : 0, waiting = Number(d.waiting);
    if (waiting > Number(d.waitingRed) || waited > Number(d.waitRed)) return "red";
    if (waiting > Number(d.waitingAmber) || waited > Number(d.waitAmber)) return "amber";
    return "ok";
  }

  function tick() {
    var t = now();
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = duration(t - Number(el.dataset.since));
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

  function socketState(state, text) {
    var el = document.getElementById("socket-state");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function refresh(done) {
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
        current.replaceWith(fresh);
        htmx.process(fresh);
        tick();
      })
      .catch(function () { /* the socket's next reconnect tries again */ })
      .then(done);
  }

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

  document.addEventListener("htmx:oobErrorNoTarget", function (e) {
    var el = e.detail.content;
    if (!el || !el.dataset || !el.dataset.parent) return;
    var parent = el.dataset.parent.split(" ").map(function (id) {
      return document.getElementById(id);
    }).find(Boolean);
    if (!parent) return;
    insertSorted(parent, el);
    htmx.process(el);
  });

  // A full update may come in several messages (the server keeps each under Daphne's 1 MiB):
  // the ids named by its parts are collected under its token until the last one arrives.
  var fullParts = {};

  document.addEventListener("htmx:wsAfterMessage", function (e) {
    var msg = e.detail.message;
    if (typeof msg !== "string" || msg.indexOf("data-full-") < 0) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = msg;
    var ids = Array.prototype.map.call(tpl.content.children, function (c) { return c.id; });
    tpl.content.querySelectorAll("[data-full-part]").forEach(function (part) {
      var token = part.dataset.fullPart;
      fullParts[token] = (fullParts[token] || []).concat(ids);
    });
    tpl.content.querySelectorAll("[data-full-pbx]").forEach(function (marker) {
      var pbx = marker.dataset.fullPbx, token = marker.dataset.fullToken;
      var named = new Set(ids.concat(fullParts[token] || []));
      delete fullParts[token];
      document.querySelectorAll('[data-tile][data-pbx="' + pbx + '"]').forEach(function (el) {
        if (!named.has(el.id)) el.remove();
      });
    });
    tick();
  });

  document.addEventListener("htmx:wsAfterMessage", tick);
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
    socketState("closed", "reconnecting\u2026");
    // 4403: the kiosk link was revoked. Reloading shows the server's answer.
    if (e.detail && e.detail.event && e.detail.event.code === 4403) location.reload();
  });

  tick();
  setInterval(tick, 1000);
})();
