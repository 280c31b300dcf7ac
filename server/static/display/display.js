/* The lobby display page: Socket.IO state + events (in seq order) → board → DOM; calls are announced
   after a chime, one at a time, with audio the server renders. Plain ES2015 for older TV browsers. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("display-config").textContent);
  var T = cfg.texts;
  var $ = function (id) { return document.getElementById(id); };
  // every event of the centre carries the next seq, so all are received (socket.onAny), even the
  // kinds this page ignores or does not know yet
  var PAGE_MS = 8000, HIGHLIGHT_MS = 6000, RECENT_ROWS = 5, GAP_MS = 1000;

  var board = { centre: {}, voice: {}, counters: new Map(), fields: new Map(), recent: [], ticker: "",
    zone: cfg.zone || {}, hasState: false, offset: 0 };
  var announced = new Set(), newestAt = 0;
  var lastSeq = null, held = new Map(), gapSince = null;
  var exposed = { board: board, announced: [], played: [], connection: "connecting" };
  window.laysoDisplay = exposed;

  function fmt(tpl, values) {
    return tpl.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? String(values[k]) : m; });
  }
  function nfc(s) { return String(s == null ? "" : s).normalize("NFC"); }
  function callOf(ticket, counter, at, recall) {
    return { id: ticket.id === undefined ? null : ticket.id, number: nfc(ticket.number), field: ticket.field || "",
      fieldName: nfc(ticket.field_name), counter: counter && typeof counter === "object" ? counter.number : counter,
      at: at || "", recall: !!recall };
  }
  function ticketKey(c) { return c.id !== null ? "id:" + c.id : "n:" + c.number + ":" + c.field; }
  function dedupe(calls) {
    var seen = new Set();
    return calls.filter(function (c) {
      var k = ticketKey(c);
      if (seen.has(k)) { return false; }
      seen.add(k);
      return true;
    }).slice(0, 12);
  }
  function inZone(c) {
    var z = board.zone;
    if (z.counters && z.counters.indexOf(c.counter) < 0) { return false; }
    if (z.fields && z.fields.indexOf(c.field) < 0) { return false; }
    return true;
  }
  function visibleCalls() { return board.recent.filter(inZone); }
  function visibleCounters() {
    var z = board.zone, out = [];
    Array.from(board.counters.keys()).sort(function (a, b) { return a - b; }).forEach(function (n) {
      var c = board.counters.get(n);
      if (z.counters) { if (z.counters.indexOf(n) < 0) { return; } }
      else if (z.fields && !(c.fields || []).some(function (f) { return z.fields.indexOf(f) >= 0; })) { return; }
      out.push(c);
    });
    return out;
  }
  function visibleFields() {
    var z = board.zone, keep = null;
    if (z.fields) { keep = z.fields; }
    else if (z.counters) {
      keep = [];
      z.counters.forEach(function (n) { var c = board.counters.get(n); if (c) { keep = keep.concat(c.fields || []); } });
    }
    return Array.from(board.fields.values()).filter(function (f) { return !keep || keep.indexOf(f.code) >= 0; });
  }

  // The ticker line: the centre's announcement, then — where the centre takes appointments — the
  // rule that puts a booked slot checked in on time ahead of walk-ins issued after it.
  function tickerLine() {
    var rule = board.centre.booking && board.centre.booking.appointments ? T.appointmentRule : "";
    return [board.ticker, rule].filter(function (x) { return x; }).join("   •   ");
  }

  // ---- state machine -------------------------------------------------------------------------
  function applyState(s) {
    var c = s.centre || {};
    board.centre = c;
    board.voice = c.voice || {};
    board.counters = new Map((s.counters || []).map(function (x) { return [x.number, x]; }));
    board.fields = new Map((s.fields || []).map(function (f) { return [f.code, f]; }));
    board.recent = dedupe((s.recent_calls || []).filter(function (r) { return r.ticket; }).map(function (r) {
      return callOf(r.ticket, r.counter, r.at, r.recall);
    }));
    board.recent.forEach(function (rc) { newestAt = Math.max(newestAt, Date.parse(rc.at) || 0); });
    board.ticker = nfc(s.ticker);
    if (s.device) { board.zone = { fields: s.device.zone_fields || null, counters: s.device.zone_counters || null }; }
    if (s.now) { board.offset = (Date.parse(s.now) || Date.now()) - Date.now(); }
    board.hasState = true;
  }

  function applyEvent(type, p) {
    if ((type === "ticket.called" || type === "ticket.recalled") && p.ticket) {
      var call = callOf(p.ticket, p.counter, p.at, type === "ticket.recalled");
      var when = Date.parse(call.at) || 0, key = type + "|" + ticketKey(call) + "|" + call.at;
      var fresh = !announced.has(key) && when >= newestAt;
      newestAt = Math.max(newestAt, when);
      if (inZone(call) && fresh) {
        announced.add(key);
        exposed.announced.push({ number: call.number, counter: call.counter, recall: call.recall });
        flash();
        announce(call);
      }
      board.recent = dedupe([call].concat(board.recent));
    }
    if (p.counter && typeof p.counter === "object" && typeof p.counter.number === "number") {
      board.counters.set(p.counter.number, p.counter);
    }
    if (type === "queue.changed") {
      (p.fields || []).forEach(function (f) { board.fields.set(f.code, f); });
    } else if (type === "ticker.changed") {
      board.ticker = nfc(p.ticker);
    }
  }

  // ---- in-order delivery by seq, with resync when a gap does not fill -------------------------
  function push(type, p) {
    if (!p || typeof p.seq !== "number") { return; }
    if (lastSeq === null) { held.set(p.seq, [type, p]); return; }
    if (p.seq <= lastSeq || held.has(p.seq)) { return; }
    held.set(p.seq, [type, p]);
    drain();
  }
  function drain() {
    while (held.has(lastSeq + 1)) {
      lastSeq += 1;
      var item = held.get(lastSeq);
      held.delete(lastSeq);
      applyEvent(item[0], item[1]);
    }
    gapSince = held.size ? (gapSince || Date.now()) : null;
    render();
  }
  setInterval(function () {
    if (gapSince !== null && Date.now() - gapSince > GAP_MS) {
      gapSince = Date.now() + 4 * GAP_MS;  // ask once, then again after a while
      socket.emit("sync");
    }
  }, 250);

  // ---- connection ----------------------------------------------------------------------------
  var socket = io({ transports: ["websocket"] });  // the session cookie says which display this browser is
  function connection(status) {
    exposed.connection = status;
    $("offline").hidden = status === "online" || !board.hasState;
  }
  socket.on("connect", function () { connection("online"); });
  socket.on("disconnect", function () { connection("offline"); });
  socket.on("connect_error", function () {
    connection("offline");
    // refused by the server (e.g. its database is down): Socket.IO does not retry that by itself
    if (!socket.active) setTimeout(function () { socket.connect(); }, 5000);
  });
  socket.on("state", function (s) {
    applyState(s);
    lastSeq = s.seq;
    Array.from(held.keys()).forEach(function (k) { if (k <= lastSeq) { held.delete(k); } });
    connection(socket.connected ? "online" : "offline");
    drain();
  });
  socket.onAny(function (name, p) { if (name !== "state") { push(name, p); } });

  // ---- announcements: chime, then the sentence; queued, never overlapping -------------------
  var player = new Audio(), jobs = [], playing = false;
  player.preload = "auto";
  function announce(call) {
    var repeat = Math.max(1, board.voice.repeat || 1);
    var params = new URLSearchParams({ number: call.number, counter: String(call.counter), field: call.field });
    jobs.push({ speech: cfg.audio + "?" + params.toString(), times: call.recall ? Math.max(2, repeat) : repeat });
    if (!playing) { next(); }
  }
  function playOne(url) {
    return new Promise(function (resolve) {
      var done = false, timer = setTimeout(finish, 30000);
      function finish() { if (!done) { done = true; clearTimeout(timer); resolve(); } }
      player.onended = finish;
      player.onerror = finish;
      player.onplaying = function () { exposed.played.push(url); };
      player.src = url;
      var started = player.play();
      if (started && started.catch) {
        started.catch(function (err) {
          if (err && err.name === "NotAllowedError") { $("sound").hidden = false; }
          finish();
        });
      }
    });
  }
  function pause(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }
  function next() {
    var job = jobs.shift();
    if (!job) { playing = false; return; }
    playing = true;
    var chain = playOne(cfg.chime).then(function () { return pause(250); });
    for (var i = 0; i < job.times; i++) {
      chain = chain.then(function (n) { return function () {
        return (n ? pause(800) : Promise.resolve()).then(function () { return playOne(job.speech); });
      }; }(i));
    }
    chain.then(next, next);
  }
  $("sound").addEventListener("click", function () {
    $("sound").hidden = true;
    playOne(cfg.chime);
  });

  // ---- drawing -------------------------------------------------------------------------------
  // The largest font size from maxPx down that fits the box (the whole glyph, accents above capitals
  // included: see the line-height in display.css). minPx is where it starts to look too small; a text
  // that fits only below it still shrinks rather than being cut.
  function fit(el, maxPx, minPx) {
    var box = el.parentNode, lo = 6, hi = Math.floor(maxPx), best = lo;
    el.classList.toggle("tiny", false);
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      el.style.fontSize = mid + "px";
      if (el.scrollWidth <= box.clientWidth && el.offsetHeight <= box.clientHeight) { best = mid; lo = mid + 1; }
      else { hi = mid - 1; }
    }
    el.style.fontSize = best + "px";
    el.classList.toggle("tiny", best < minPx);
  }
  function vh(n) { return window.innerHeight * n / 100; }
  function cell(text, cls, maxVh, minVh) {
    var div = document.createElement("div"), span = document.createElement("span");
    span.className = "fit" + (cls ? " " + cls : "");
    span.textContent = text;
    div.appendChild(span);
    div.fitRange = [vh(maxVh), vh(minVh)];
    return div;
  }
  function fitCells(container) {
    Array.prototype.forEach.call(container.querySelectorAll(".fit"), function (span) {
      var r = span.parentNode.fitRange;
      if (r) { fit(span, r[0], r[1]); }
    });
  }
  function paged(rows, container, pageEl) {
    var minRow = vh(6), maxRow = vh(8.5), avail = container.clientHeight;
    var per = Math.max(1, Math.floor(avail / minRow)), pages = Math.max(1, Math.ceil(rows.length / per));
    per = Math.ceil(rows.length / pages) || 1;
    var page = pages > 1 ? Math.floor(Date.now() / PAGE_MS) % pages : 0;
    pageEl.textContent = pages > 1 ? fmt(T.page, { page: page + 1, pages: pages }) : "";
    return { rows: rows.slice(page * per, (page + 1) * per), height: Math.min(maxRow, Math.floor(avail / per)) };
  }
  function fillRows(container, rows, height, cls) {
    container.textContent = "";
    rows.forEach(function (cells) {
      var row = document.createElement("div");
      row.className = "d-row " + cls;
      row.style.height = height + "px";
      cells.forEach(function (c) { row.appendChild(c); });
      container.appendChild(row);
    });
    fitCells(container);
  }
  function empty(container, text) {
    container.textContent = "";
    var div = document.createElement("div");
    div.className = "empty";
    div.textContent = text;
    container.appendChild(div);
  }

  var shownTicker = null;
  function render() {
    var calls = visibleCalls(), latest = calls[0];
    $("centre-name").textContent = nfc(board.centre.name);
    fit($("centre-name"), vh(4.2), vh(2));
    if (!board.hasState) { return; }
    $("call-label").textContent = latest ? (latest.recall ? T.recall : T.call) : "";
    $("call-line").textContent = latest ? fmt(T.callLine, { number: latest.number, counter: latest.counter }) : T.noCall;
    $("call-field").textContent = latest ? latest.fieldName : T.noCallHint;
    fit($("call-label"), vh(4.6), vh(2));
    fit($("call-line"), vh(14), vh(4));
    fit($("call-field"), vh(3.6), vh(1.8));

    var recent = calls.slice(1, 1 + RECENT_ROWS), recentEl = $("recent");
    var recentRows = Math.max(1, Math.min(RECENT_ROWS, Math.floor(recentEl.clientHeight / vh(6))));
    if (!recent.length) { empty(recentEl, T.none); }
    else {
      fillRows(recentEl, recent.slice(0, recentRows).map(function (c) {
        return [cell(c.number, "num", 4.4, 2), cell("→ " + fmt(T.recentCounter, { counter: c.counter }), "", 3.6, 1.8)];
      }), Math.floor(recentEl.clientHeight / recentRows), "");
    }

    // columns: the counter, the number it serves (or its state), the fields it serves
    var counters = visibleCounters().map(function (c) {
      var t = c.ticket, name = nfc(c.name || fmt(T.recentCounter, { counter: c.number }));
      var fields = (c.fields || []).map(function (code) { var f = board.fields.get(code); return nfc(f ? f.name : code); });
      var served = (c.priority_only ? [T.priority] : []).concat(fields).join(" · ");
      if (c.status === "paused") { return [cell(name, "name paused", 3.4, 1.8), cell(T.paused, "paused", 3.4, 1.8), cell(served, "paused", 3, 1.5)]; }
      if (c.status === "closed") { return [cell(name, "name closed", 3.4, 1.8), cell(T.closed, "closed", 3.4, 1.8), cell(served, "closed", 3, 1.5)]; }
      if (t && t.status === "called") { return [cell(name, "name", 3.4, 1.8), cell(nfc(t.number), "num", 4.6, 2), cell(nfc(t.field_name), "", 3, 1.5)]; }
      return [cell(name, "name", 3.4, 1.8), cell("—", "idle", 4.6, 2), cell(served, "idle", 3, 1.5)];
    });
    var countersEl = $("counters");
    if (!counters.length) { empty(countersEl, T.noCounters); $("counters-page").textContent = ""; }
    else { var cp = paged(counters, countersEl, $("counters-page")); fillRows(countersEl, cp.rows, cp.height, "d-cols3"); }

    var fields = visibleFields().map(function (f) {
      var reason = f.accepting === false ? T[f.closed_reason] || "" : "";
      var name = nfc(f.name || f.code) + (reason ? " (" + reason + ")" : "");
      return [cell(name, reason ? "paused" : "", 3.2, 1.7), cell(String(f.waiting || 0), "num", 4.4, 2)];
    });
    var fieldsEl = $("fields");
    if (!fields.length) { empty(fieldsEl, T.noFields); $("fields-page").textContent = ""; }
    else { var fp = paged(fields, fieldsEl, $("fields-page")); fillRows(fieldsEl, fp.rows, fp.height, "d-cols2"); }

    var line = tickerLine();
    if (line !== shownTicker) {
      shownTicker = line;
      var ticker = $("ticker");
      ticker.textContent = line;
      ticker.classList.remove("scroll");
      if (ticker.scrollWidth > ticker.parentNode.clientWidth) {
        ticker.classList.add("scroll");
        ticker.style.animationDuration = Math.max(10, ticker.scrollWidth / vh(9)) + "s";
      }
    }
  }

  function flash() {
    var el = $("call");
    el.classList.remove("flash");
    void el.offsetWidth;  // restart the animation
    el.classList.add("flash");
    clearTimeout(flash.timer);
    flash.timer = setTimeout(function () { el.classList.remove("flash"); }, HIGHLIGHT_MS);
  }

  function tickClock() {
    var tz = board.centre.timezone || "Asia/Ho_Chi_Minh", now = new Date(Date.now() + board.offset);
    var date = new Intl.DateTimeFormat(cfg.locale, { timeZone: tz, weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" });
    var time = new Intl.DateTimeFormat(cfg.locale, { timeZone: tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    $("date").textContent = date.format(now);
    $("time").textContent = time.format(now);
  }
  setInterval(tickClock, 1000);
  setInterval(function () { if (board.hasState) { render(); } }, PAGE_MS);
  window.addEventListener("resize", function () { shownTicker = null; render(); });
  tickClock();
})();
