/* Managers' live view: Socket.IO with the session cookie; on any event of the centre the page body
   is reloaded from the server (at most about once a second); waits tick locally in between. */
(function () {
  "use strict";
  var body = document.getElementById("live-body");
  var statusEl = document.getElementById("live-status");
  if (!body) { return; }
  var pending = null, loading = false, again = false, skew = 0;

  function fmt(t, v) { return t.replace(/%\((\w+)\)(02d|s)/g, function (_m, k, f) {
    var x = String(v[k]); return f === "02d" && x.length < 2 ? "0" + x : x; }); }

  function duration(s) {
    if (s > 0 && s < 60) { return body.dataset.under; }  // "0 min" would read as nobody waiting
    var m = Math.max(0, Math.floor(s / 60));
    return m >= 60 ? fmt(body.dataset.h, { h: Math.floor(m / 60), m: m % 60 }) : fmt(body.dataset.m, { m: m });
  }

  function readSkew() {
    var el = document.getElementById("live-updated");
    if (el && el.dataset.now) { skew = Date.parse(el.dataset.now) - Date.now(); }
  }

  function tick() {
    var now = Date.now() + skew;
    var list = body.querySelectorAll("[data-since]");
    for (var i = 0; i < list.length; i++) {
      list[i].textContent = duration((now - Date.parse(list[i].dataset.since)) / 1000);
    }
  }

  function setStatus(kind) {
    statusEl.textContent = statusEl.dataset[kind];
    statusEl.className = "live-status is-" + kind;
  }

  function reload() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(body.dataset.url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { body.innerHTML = html; readSkew(); tick(); } })
      .catch(function () { /* the next event or the periodic refresh tries again */ })
      .then(function () {
        loading = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; reload(); }, 800);
  }

  readSkew();
  tick();
  setInterval(tick, 15000);
  setInterval(schedule, 60000);
  if (typeof io !== "function") { setStatus("offline"); return; }
  setStatus("connecting");
  var socket = io({ transports: ["websocket", "polling"], reconnectionDelayMax: 10000 });
  socket.on("connect", function () { setStatus("online"); });
  socket.on("disconnect", function () { setStatus("offline"); });
  socket.on("connect_error", function () {
    setStatus("offline");
    // refused by the server (e.g. its database is down): Socket.IO does not retry that by itself
    if (!socket.active) setTimeout(function () { socket.connect(); }, 5000);
  });
  socket.on("state", schedule);
  socket.onAny(function (name) {
    if (/^(ticket|counter|queue|device|ticker)\./.test(name)) { schedule(); }
  });
})();
