/* Province overview: re-reads GET /api/v1/province/overview every 1.5 s (start to start) and redraws the table
   and the alerts in place, keeping the chosen sort and filters; waits tick locally in between.
   A click on a row opens that centre's live view (a POST with the CSRF token: the session's acting
   centre changes). */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("ov-data").textContent);
  var T = cfg.texts;
  var rowsEl = document.getElementById("ov-rows");
  var alertsEl = document.getElementById("ov-alerts");
  var statusEl = document.getElementById("ov-status");
  var table = document.getElementById("ov-table");
  var poll = 1000 * Number(statusEl.dataset.poll || 2);
  var snap = cfg.snap, sortKey = "area", sortDir = 1, skew = 0;
  var fArea = document.getElementById("f-area"), fText = document.getElementById("f-text");
  var fAlerts = document.getElementById("f-alerts");

  function fmt(t, v) {
    return t.replace(/%\((\w+)\)(02d|s)/g, function (_m, k, f) {
      var x = String(v[k]); return f === "02d" && x.length < 2 ? "0" + x : x;
    });
  }
  function duration(s) {
    if (s === null || s === undefined) { return T.none; }
    var m = Math.max(0, Math.floor(s / 60));
    return m >= 60 ? fmt(T.h, { h: Math.floor(m / 60), m: m % 60 }) : fmt(T.m, { m: m });
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function labelOf(key) {
    var b = table.querySelector('button[data-key="' + key + '"]');
    return b ? b.textContent : key;
  }
  function cell(row, key, text, cls) {
    var td = el("td", { "data-label": labelOf(key) }, text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }
  function alertCount(code) {
    return snap.alerts.filter(function (a) { return a.centre === code; }).length;
  }
  function value(c, key) {
    if (key === "open") { return c.suspended ? -1 : (c.open ? 1 : 0); }
    if (key === "name" || key === "area") { return (c[key] || "").toLocaleLowerCase("vi"); }
    var v = c[key];
    return v === null || v === undefined ? -1 : v;
  }
  function visible(c) {
    if (fArea.value && c.area !== fArea.value) { return false; }
    var q = fText.value.trim().toLocaleLowerCase("vi");
    if (q && (c.name + " " + c.code).toLocaleLowerCase("vi").indexOf(q) < 0) { return false; }
    if (fAlerts.checked && !alertCount(c.code)) { return false; }
    return true;
  }

  function drawRows() {
    var list = snap.centres.filter(visible).slice();
    list.sort(function (a, b) {
      var x = value(a, sortKey), y = value(b, sortKey);
      if (x < y) { return -sortDir; }
      if (x > y) { return sortDir; }
      return a.code < b.code ? -1 : 1;
    });
    var frag = document.createDocumentFragment();
    list.forEach(function (c) {
      var tr = el("tr", { "data-code": c.code });
      tr.className = c.suspended ? "muted" : (c.over_target ? "bad" : (c.devices_offline || c.printer_faults ? "warn" : ""));
      var th = el("th", { scope: "row", "data-label": labelOf("name") });
      var b = el("button", { type: "button", "class": "link open", title: fmt(T.open_centre, { name: c.name }) }, c.name);
      th.appendChild(b);
      tr.appendChild(th);
      cell(tr, "area", c.area || T.none);
      var st = cell(tr, "open", "");
      var kind = c.suspended ? ["st-paused", T.suspended] : (c.open ? ["st-open", T.open] : ["st-closed", T.closed]);
      st.appendChild(el("span", { "class": "status " + kind[0] }, kind[1]));
      cell(tr, "waiting", String(c.waiting), "num big");
      var w = cell(tr, "longest_wait_s", duration(c.longest_wait_s), "num");
      if (c.oldest_waiting_at) { w.dataset.since = c.oldest_waiting_at; }
      cell(tr, "open_counters", String(c.open_counters), "num");
      cell(tr, "devices_offline", c.devices_offline + " / " + c.devices, "num");
      cell(tr, "printer_faults", String(c.printer_faults), "num");
      cell(tr, "satisfied_share_today", c.satisfied_share_today === null ? T.none
        : (Math.round(c.satisfied_share_today * 1000) / 10).toLocaleString("vi") + " %", "num");
      frag.appendChild(tr);
    });
    rowsEl.replaceChildren(frag);
    var heads = table.querySelectorAll("th[aria-sort]");
    for (var i = 0; i < heads.length; i++) {
      var key = heads[i].querySelector("button").dataset.key;
      heads[i].setAttribute("aria-sort", key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
  }

  function drawAlerts() {
    var frag = document.createDocumentFragment();
    if (!snap.alerts.length) { frag.appendChild(el("li", { "class": "muted" }, T.no_alerts)); }
    snap.alerts.forEach(function (a) {
      var li = el("li", { "class": "alert-" + a.kind });
      li.appendChild(el("strong", {}, a.centre_name));
      var text = a.kind === "wait_over_target"
        ? fmt(T.wait_over_target, { field: a.field_name, wait: duration(a.longest_wait_s), target: duration(a.target_s) })
        : fmt(T[a.kind], { device: a.device });
      li.appendChild(document.createTextNode(" — " + text));
      frag.appendChild(li);
    });
    alertsEl.replaceChildren(frag);
    var live = snap.centres.filter(function (c) { return !c.suspended; });
    document.getElementById("t-open").textContent = live.filter(function (c) { return c.open; }).length;
    document.getElementById("t-waiting").textContent = live.reduce(function (n, c) { return n + c.waiting; }, 0);
    var over = live.filter(function (c) { return c.over_target; }).length;
    document.getElementById("t-over").textContent = over;
    document.getElementById("t-over-tile").classList.toggle("bad", over > 0);
    document.getElementById("t-alerts").textContent = snap.alerts.length;
    document.getElementById("t-alerts-tile").classList.toggle("bad", snap.alerts.length > 0);
  }

  function tick() {
    var now = Date.now() + skew;
    var list = rowsEl.querySelectorAll("[data-since]");
    for (var i = 0; i < list.length; i++) {
      list[i].textContent = duration((now - Date.parse(list[i].dataset.since)) / 1000);
    }
  }

  function refresh() {
    var started = Date.now();  // the next request starts `poll` after this one started (not after its answer)
    fetch(cfg.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { window.location.reload(); throw new Error("signed out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) {
        snap = data;
        skew = Date.parse(data.generated_at) - Date.now();
        drawRows();
        drawAlerts();
        statusEl.textContent = fmt(T.updated, { time: data.generated_at.slice(11, 19) });
        statusEl.className = "live-status is-online";
        rowsEl.dataset.updated = data.generated_at;
      })
      .catch(function () {
        statusEl.textContent = T.lost;
        statusEl.className = "live-status is-offline";
      })
      .then(function () { setTimeout(refresh, Math.max(0, poll - (Date.now() - started))); });
  }

  function openCentre(code) {
    var f = el("form", { method: "post", action: cfg.open_url.replace("__CODE__", encodeURIComponent(code)) });
    var t = el("input", { type: "hidden", name: "csrf_token" }); t.value = cfg.csrf; f.appendChild(t);
    var to = el("input", { type: "hidden", name: "to" }); to.value = "live"; f.appendChild(to);
    document.body.appendChild(f);
    f.submit();
  }

  table.querySelector("thead").addEventListener("click", function (e) {
    var b = e.target.closest("button.sort");
    if (!b) { return; }
    if (sortKey === b.dataset.key) { sortDir = -sortDir; } else {
      sortKey = b.dataset.key;
      sortDir = (b.closest("th").classList.contains("num")) ? -1 : 1;  // numbers: largest first
    }
    drawRows();
  });
  rowsEl.addEventListener("click", function (e) {
    var tr = e.target.closest("tr[data-code]");
    if (tr) { e.preventDefault(); openCentre(tr.dataset.code); }
  });
  [fArea, fText, fAlerts].forEach(function (x) { x.addEventListener("input", drawRows); x.addEventListener("change", drawRows); });

  skew = Date.parse(snap.generated_at) - Date.now();
  drawRows();
  setInterval(tick, 1000);
  setTimeout(refresh, poll);
})();
