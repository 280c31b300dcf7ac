/* The staff console: commands through the REST API (session cookie + X-CSRFToken), live updates
   through Socket.IO (same cookie), the view reloaded from /console/data when something changes. */
(function () {
  "use strict";

  var root = document.getElementById("console");
  if (!root) { return; }
  var T = JSON.parse(document.getElementById("console-texts").textContent);
  var counter = Number(root.dataset.counter);
  var dataUrl = root.dataset.url;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var current = null;   // the ticket being served
  var status = null;    // the counter's status
  var busy = false;
  var loadTimer = null;
  var myFields = {};    // codes of the fields this counter serves
  var reprints = {};    // ticket id -> {number, timer}: reprints waiting for the kiosk's answer
  var lang = document.documentElement.lang || "vi";
  var numberFormat = new Intl.NumberFormat(lang === "en" ? "en-GB" : "vi-VN", { maximumFractionDigits: 1 });
  var oneDecimal = new Intl.NumberFormat(lang === "en" ? "en-GB" : "vi-VN", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

  function $(id) { return document.getElementById(id); }

  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) {
      return values[key] === undefined || values[key] === null ? "" : String(values[key]);
    });
  }

  /* Numbers as the page's language writes them (Vietnamese: decimal comma), like the statistics. */
  function num(value) { return numberFormat.format(value); }
  /* a share as the statistics page writes it: one decimal, "87,5 %" */
  function pct(share) { return oneDecimal.format(share * 100) + " %"; }

  /* a waiting time in the queue reads in whole minutes; today's means with one decimal, like the statistics */
  function duration(seconds, whole) {
    if (seconds === null || seconds === undefined) { return "—"; }
    if (seconds < 60) { return fmt(T.seconds, { n: Math.round(seconds) }); }
    return fmt(T.minutes, { n: whole ? Math.floor(seconds / 60) : oneDecimal.format(seconds / 60) });
  }

  function clock(iso) { return iso ? iso.slice(11, 16) : ""; }

  /* kind: "ok" (green), "error" (red) or "pending" (neutral: asked, not yet done) */
  function say(text, kind) {
    var fb = $("feedback");
    fb.textContent = text;
    fb.className = "feedback is-" + (kind === true ? "error" : kind || "ok");
  }

  /* An error as the officer reads it: the page's own text for the codes it knows, else the
     server's message (asked for in the page's language), never the browser's English. */
  function failure(code, message) {
    var e = new Error((code && T.errors[code]) || message || T.failed);
    e.code = code || null;
    return e;
  }

  function request(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf,
                 "Accept-Language": lang },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).catch(function () {
      throw failure("server_away");  // fetch itself failed: the server or the network is away
    }).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().catch(function () { return null; }).then(function (data) {
        if (!r.ok) {
          var err = data && data.error;
          throw failure(err && err.code, err && err.message);
        }
        return data;
      });
    });
  }

  /* One command at a time: a double click never sends twice. */
  function run(path, body, done) {
    if (busy) { return Promise.resolve(null); }
    busy = true;
    updateButtons();
    return request("POST", "/api/v1" + path, body || {}).then(function (res) {
      var out = done(res);  // a text (done: green) or [text, kind]
      if (Array.isArray(out)) { say(out[0], out[1]); } else { say(out, "ok"); }
      return res;
    }, function (err) {
      say(err.message || T.failed, "error");
      if (err.code === "no_officer") { $("change-counter").focus(); }
      return null;
    }).then(function (res) {
      busy = false;
      load();
      return res;
    });
  }

  function command(action, body, done) {
    return run("/counters/" + counter + "/" + action, body, done);
  }

  function numberOf(res) { return res && res.ticket ? res.ticket.number : ""; }

  /* ---- rendering ------------------------------------------------------------------------- */
  function render(d) {
    var c = d.counter;
    myFields = {};
    c.fields.forEach(function (f) { myFields[f.code] = true; });
    current = c.ticket;
    status = c.status;
    $("counter-name").textContent = c.name && c.name !== ("Quầy " + c.number) ? "— " + c.name : "";
    var st = $("counter-status");
    st.textContent = c.status === "paused" && c.pause_reason ? fmt(T.paused_because, { reason: c.pause_reason })
      : T["status_" + c.status];
    st.className = "status status-" + c.status;
    $("officer").textContent = c.officer || T.no_officer;
    if (current) {
      $("current-number").textContent = current.number;
      var bits = [current.field_name];
      if (current.priority_name) { bits.push(current.priority_name); }
      bits.push(fmt(T.called_at, { time: clock(current.called_at) }));
      if (current.calls > 1) { bits.push(fmt(T.calls, { count: current.calls })); }
      $("current-detail").textContent = bits.join(" · ");
    } else {
      $("current-number").textContent = "—";
      $("current-detail").textContent = T.nobody;
    }
    renderQueue(d);
    renderToday(d.today);
    renderFaults(d.kiosk_faults);
    updateButtons();
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  /* A button in a queue row; its accessible name says which number it acts on. */
  function rowButton(parent, text, cls, t, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = text;
    b.setAttribute("aria-label", text + " " + t.number);
    b.addEventListener("click", onClick);
    parent.appendChild(b);
    return b;
  }

  function renderQueue(d) {
    var body = document.querySelector("#queue tbody");
    body.textContent = "";
    $("queue-count").textContent = "(" + fmt(T.waiting_total, { count: d.waiting }) + ")";
    $("queue-fields").textContent = d.counter.fields.map(function (f) {
      return f.name + ": " + (d.waiting_by_field[f.code] || 0);
    }).join(" · ");
    d.queue.forEach(function (t) {
      var tr = document.createElement("tr");
      tr.dataset.number = t.number;
      var num = cell(tr, t.number, "num");
      if (t.group !== "queue") {
        var tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = t.group === "to_counter" ? T.to_counter : T.transferred;
        num.appendChild(tag);
      }
      cell(tr, t.field_name);
      cell(tr, t.priority_name || "—", t.priority ? "prio" : "");
      cell(tr, duration(t.waited_s, true), "waited");
      var actions = cell(tr, "", "row-actions");
      rowButton(actions, T.call_this, "small", t, function () { callNumber(t.number); }).disabled = status === "paused";
      rowButton(actions, T.reprint, "small secondary", t, function () { reprint(t); });
      if (!t.priority) {
        rowButton(actions, T.give_priority, "small secondary", t, function () { openPriority(t); });
      }
      body.appendChild(tr);
    });
    var empty = $("queue-empty");
    empty.hidden = d.queue.length > 0;
    empty.textContent = T.queue_empty;
  }

  function renderFaults(faults) {
    var list = $("kiosk-faults");
    list.textContent = "";
    (faults || []).forEach(function (k) {
      var problem = !k.online ? T.fault_away : (T["fault_" + k.printer] || T.fault_unknown);
      var li = document.createElement("li");
      li.textContent = fmt(T.kiosk_fault, { name: k.name, problem: problem });
      list.appendChild(li);
    });
    list.hidden = !list.firstChild;
  }

  function renderToday(f) {
    $("fig-served").textContent = f.served;
    $("fig-no-show").textContent = f.no_show;
    $("fig-wait").textContent = duration(f.wait_mean_s);
    $("fig-service").textContent = duration(f.service_mean_s);
    $("fig-rated").textContent = f.rated + (f.score_mean !== null ? " · " + fmt(T.score_mean, { score: num(f.score_mean) }) : "");
    $("fig-satisfied").textContent = f.satisfied_share === null ? "—" : pct(f.satisfied_share);
  }

  function updateButtons() {
    var serving = !!current;
    var paused = status === "paused";
    $("btn-next").disabled = busy || paused;
    $("btn-call").disabled = busy || paused;
    ["btn-recall", "btn-skip", "btn-complete", "btn-transfer"].forEach(function (id) {
      $(id).disabled = busy || !serving;
    });
    $("btn-pause").disabled = busy || paused;
    $("btn-resume").disabled = busy || !paused;
  }

  /* ---- loading ----------------------------------------------------------------------------- */
  function load() {
    return fetch(dataUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401 || r.status === 403) { window.location.reload(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (d) { if (d) { render(d); } })
      .catch(function () { /* the socket's reconnect will load again */ });
  }

  function soon() {
    clearTimeout(loadTimer);
    loadTimer = setTimeout(load, 150);
  }

  function connected(on) {
    var el = $("connection");
    el.textContent = on ? T.live : T.offline;
    el.className = "connection " + (on ? "is-live" : "is-offline");
  }

  function listen() {
    if (typeof io !== "function") { return; }
    var socket = io({ withCredentials: true, transports: ["websocket"] });
    socket.on("connect", function () { connected(true); soon(); });
    socket.on("disconnect", function () { connected(false); });
    socket.on("connect_error", function () {
      connected(false);
      // refused by the server (e.g. its database is down): Socket.IO does not retry that by itself
      if (!socket.active) setTimeout(function () { socket.connect(); }, 5000);
    });
    socket.on("state", soon);
    socket.on("device.changed", soon);
    socket.on("ticket.reprinted", reprinted);
    ["ticket.issued", "ticket.called", "ticket.recalled", "ticket.skipped", "ticket.completed",
     "ticket.cancelled", "ticket.transferred", "ticket.rated", "counter.changed", "queue.changed"
    ].forEach(function (name) {
      socket.on(name, function (payload) { if (concernsUs(payload || {})) { soon(); } });
    });
  }

  /* Every console of the centre hears every event: reload only for this counter and its fields. */
  function concernsUs(p) {
    var c = p.counter;
    if (c === counter || (c && c.number === counter) || p.to_counter === counter) { return true; }
    if (p.ticket && myFields[p.ticket.field]) { return true; }
    return (p.fields || []).some(function (f) { return myFields[f.code]; });
  }

  /* ---- commands ----------------------------------------------------------------------------- */
  /* A reprint is only asked for here: the kiosk answers with ticket.reprinted once its printer has
     printed it or failed to; without an answer in REPRINT_WAIT_MS the officer is told so. */
  var REPRINT_WAIT_MS = 20000;

  function reprint(t) {
    var entry = { number: t.number, outcome: null, answered: false, timer: null };
    reprints[t.id] = entry;  // before asking: a quick kiosk may answer before the server does
    return run("/tickets/" + t.id + "/reprint", {}, function () {
      entry.answered = true;
      if (entry.outcome) { return entry.outcome; }
      entry.timer = setTimeout(function () {
        if (reprints[t.id] === entry) { delete reprints[t.id]; }
        say(fmt(T.reprint_silent, { number: t.number }), "error");
      }, REPRINT_WAIT_MS);
      return [fmt(T.reprint_sent, { number: t.number }), "pending"];
    }).then(function (res) {
      if (!res && reprints[t.id] === entry) { delete reprints[t.id]; }  // refused: nothing to wait for
      return res;
    });
  }

  function reprinted(p) {
    var id = p && p.ticket && p.ticket.id, entry = id != null && reprints[id];
    if (!entry) { return; }
    clearTimeout(entry.timer);
    delete reprints[id];
    var values = { number: entry.number, name: p.device_name || "" };
    if (p.printed) {
      entry.outcome = [fmt(T.reprint_done, values), "ok"];
    } else {
      values.problem = T["fault_" + p.printer] || T.fault_unknown;
      entry.outcome = [fmt(T.reprint_failed, values), "error"];
    }
    if (entry.answered) { say(entry.outcome[0], entry.outcome[1]); }
  }

  function callNumber(number) {
    return command("call", { number: number }, function (res) { return fmt(T.call, { number: numberOf(res) }); });
  }

  $("btn-next").addEventListener("click", function () {
    command("next", {}, function (res) {
      return res ? fmt(T.next, { number: numberOf(res) }) : T.next_empty;
    });
  });
  $("btn-recall").addEventListener("click", function () {
    command("recall", {}, function (res) { return fmt(T.recall, { number: numberOf(res) }); });
  });
  $("btn-skip").addEventListener("click", function () {
    command("skip", {}, function (res) {
      var noShow = res && res.ticket && res.ticket.status === "no_show";
      return fmt(noShow ? T.skip_no_show : T.skip, { number: numberOf(res) });
    });
  });
  $("complete-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var code = $("dossier").value.trim();
    command("complete", code ? { dossier_code: code } : {}, function (res) {
      $("dossier").value = "";
      return fmt(code ? T.complete_dossier : T.complete, { number: numberOf(res), dossier: code });
    });
  });
  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var value = $("transfer-target").value;
    if (!value) { say(T.choose_target, true); return; }
    var kind = value.split(":")[0];
    var target = value.slice(kind.length + 1);
    var body = kind === "field" ? { field: target } : { counter: Number(target) };
    var label = $("transfer-target").selectedOptions[0].textContent;
    command("transfer", body, function (res) {
      $("transfer-target").value = "";
      return fmt(kind === "field" ? T.transfer_field : T.transfer_counter,
                 { number: numberOf(res), target: kind === "field" ? label : target });
    });
  });
  $("call-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var number = $("call-number").value.trim();
    if (!number) { say(T.enter_number, true); return; }
    callNumber(number).then(function (res) { if (res) { $("call-number").value = ""; } });
  });
  $("checkin-form").addEventListener("submit", function (ev) {  /* an online booking's code (or its scanned QR) */
    ev.preventDefault();
    var text = $("checkin-code").value.trim(), m = /[?&#]c=([A-Za-z0-9]{6,8})/.exec(text);
    var code = (m ? m[1] : text.replace(/[\s-]/g, "")).toUpperCase();
    if (!/^[A-Z0-9]{6,8}$/.test(code)) { say(T.enter_code, true); return; }
    run("/bookings/" + encodeURIComponent(code) + "/check-in", {}, function (res) {
      $("checkin-code").value = "";
      return fmt(T.checked_in, { number: res ? res.number : "" });
    });
  });
  $("pause-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var reason = $("pause-reason").value.trim();
    command("pause", reason ? { reason: reason } : {}, function () { $("pause-reason").value = ""; return T.pause; });
  });
  $("btn-resume").addEventListener("click", function () {
    command("resume", {}, function () { return T.resume; });
  });
  $("btn-close").addEventListener("click", function () {
    if (window.confirm(T.confirm_close)) {
      command("close", {}, function () { return T.close; });
    }
  });

  /* ---- priority dialog ------------------------------------------------------------------------ */
  var dialog = $("priority-dialog");
  var priorityTicket = null;

  function openPriority(ticket) {
    priorityTicket = ticket;
    $("priority-number").textContent = ticket.number;
    $("priority-reason").value = "";
    dialog.showModal();
  }

  $("priority-cancel").addEventListener("click", function () { dialog.close(); });
  $("priority-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = priorityTicket;
    dialog.close();
    if (!t) { return; }
    var reason = $("priority-reason").value.trim();
    var body = { category: $("priority-category").value };
    if (reason) { body.reason = reason; }
    run("/tickets/" + t.id + "/priority", body, function () { return fmt(T.priority, { number: t.number }); });
  });

  connected(false);
  load();
  listen();
  setInterval(load, 30000);  // waiting times move on even when nothing happens
}());
