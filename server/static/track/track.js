/* The public tracking page: keeps the served page up to date. Live through Socket.IO (the public
   room of the ticket's centre, joined with auth {track: token}); every event that concerns this
   ticket's field or number makes the page re-read GET /api/v1/track/<token>. While the socket is
   away the page re-reads every poll_s seconds. Cancel (with a confirmation) and the rating form
   post to the public tracking API. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("t-config").textContent);
  var T = cfg.texts;
  var t = cfg.ticket;
  var lang = document.documentElement.lang || "vi";
  var live = false, sock = null, pending = null, lastStatus = t.status, rated = !!t.rating;

  function $(id) { return document.getElementById(id); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  function show(id, on) { $(id).hidden = !on; }
  function finished(n) {
    return n.status === "no_show" || n.status === "cancelled" || (n.status === "done" && !n.can_rate);
  }

  function waitText(s) {
    if (s == null) return null;
    if (s < 60) return T.under_minute;
    var m = Math.floor(s / 60 + 0.5);
    if (m < 60) return fill(T.minutes, {m: m});
    var h = Math.floor(m / 60);
    m = m % 60;
    return m ? fill(T.hours_minutes, {h: h, m: m}) : fill(T.hours, {h: h});
  }

  function render(n) {
    t = n;
    var st = n.status;
    $("t-num").textContent = n.number;
    $("t-field").textContent = n.field_name;
    show("t-waiting", st === "waiting");
    show("t-called", st === "called");
    show("t-ended", st === "done" || st === "no_show" || st === "cancelled");
    if ($("t-notify-card")) { show("t-notify-card", st === "waiting"); }
    show("t-rating", !!n.can_rate && !rated);
    show("t-rated", rated || !!n.rating);
    if (st === "waiting") {
      $("t-ahead").textContent = n.ahead ? fill(T.ahead, {n: n.ahead}) : T.nobody_ahead;
      var w = waitText(n.est_wait_s);
      $("t-wait").hidden = w == null;
      $("t-opens").hidden = w == null || n.est_wait_reason !== "opens_later";  // counted from the opening
      if (w) $("t-wait").textContent = fill(T.wait, {wait: w});
      var c = n.serving_counters || [];
      $("t-counters").hidden = !c.length;
      $("t-counters").textContent = fill(T.counters, {counters: c.join(", ")});
    } else {
      show("t-confirm", false);
    }
    if (st === "called") {
      $("t-called-counter").textContent = fill(T.go_to, {counter: n.counter});
      if (lastStatus !== "called" && navigator.vibrate) navigator.vibrate([300, 150, 300]);
    }
    if (T[st]) $("t-ended-text").textContent = T[st];
    document.title = (st === "called" ? fill(T.called_title, {counter: n.counter}) : n.number) +
      " — " + (n.centre_name || "");
    lastStatus = st;
    if (finished(n) && sock) { sock.disconnect(); sock = null; }
  }

  function stamp() {
    var time;
    try {  // the centre's clock, like the printed ticket, whatever the phone's zone
      time = new Date().toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit", hour12: false,
                                                     timeZone: cfg.timezone});
    } catch (e) {
      var d = new Date();
      time = ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
    }
    $("t-live").textContent = (live ? T.live : T.polling) + " · " + fill(T.updated, {time: time});
  }

  function refresh() {
    return fetch(cfg.api, {headers: {"Accept": "application/json", "Accept-Language": lang}, cache: "no-store"})
      .then(function (r) { if (!r.ok) throw r; return r.json(); })
      .then(function (n) { render(n); stamp(); })
      .catch(function () { $("t-live").textContent = T.offline; });
  }

  function soon() {  // several events in a burst: one read, spread over the phones watching
    if (pending) return;
    pending = setTimeout(function () { pending = null; refresh(); }, 300 + Math.random() * 1200);
  }

  function concerns(payload) {
    var text = JSON.stringify(payload || {});
    return text.indexOf('"' + t.field + '"') >= 0 || text.indexOf('"' + t.number + '"') >= 0;
  }

  function connect() {
    if (!window.io || finished(t)) return;
    sock = window.io({auth: {track: cfg.token}, transports: ["websocket"], reconnectionDelayMax: 10000});
    sock.on("connect", function () { live = true; refresh(); });
    sock.on("disconnect", function () { live = false; stamp(); });
    sock.on("connect_error", function () {  // refused (e.g. the database is down): retry, Socket.IO will not
      var s = sock;
      if (s && !s.active) setTimeout(function () { if (sock === s) s.connect(); }, 10000);
    });
    sock.onAny(function (name, payload) { if (concerns(payload)) soon(); });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "Accept-Language": lang},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { if (!r.ok) throw b; return b; });
    });
  }

  function errorText(err) { return (err && err.error && err.error.message) || T.error; }

  // ---- cancel, with a confirmation
  $("t-cancel-open").addEventListener("click", function () { show("t-confirm", true); $("t-cancel-no").focus(); });
  $("t-cancel-no").addEventListener("click", function () { show("t-confirm", false); });
  $("t-cancel-yes").addEventListener("click", function () {
    post(cfg.cancel, {}).then(function () { $("t-error").hidden = true; return refresh(); })
      .catch(function (err) { $("t-error").textContent = errorText(err); show("t-error", true); refresh(); });
  });

  // ---- notifications (server/notify): Web Push to this browser, or SMS / Zalo, when N people are
  // ahead and when called. Web Push is offered only where the browser has it (a service worker,
  // PushManager, a secure context); the service worker is registered as the page loads.
  var notify = $("t-notify");
  var swReady = null;
  function pushSupported() {
    return !!cfg.push_key && window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window &&
      "Notification" in window;
  }
  function keyBytes(b64) {  // base64url → Uint8Array (the applicationServerKey)
    var s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function askPermission() {
    return new Promise(function (resolve) {
      var p = Notification.requestPermission(resolve);  // older browsers answer through the callback
      if (p && p.then) p.then(resolve);
    });
  }
  function subscribePush() {
    return askPermission().then(function (perm) {
      if (perm !== "granted") throw {error: {message: T.push_denied}};
      return swReady;
    }).then(function (reg) {
      return reg.pushManager.getSubscription().then(function (sub) {
        return sub || reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: keyBytes(cfg.push_key)});
      });
    }).catch(function (err) {
      if (err && err.error) throw err;
      throw {error: {message: T.push_failed}};
    });
  }
  function channelChanged() {
    var push = notify.elements.channel.value === "webpush";
    show("t-notify-phone", !push);
    show("t-notify-phone-note", !push);
    show("t-notify-push-hint", push);
  }
  if (notify) {
    var pushOption = notify.querySelector("option[value=webpush]");
    if (pushOption && pushSupported()) {
      swReady = navigator.serviceWorker.register(cfg.service_worker).then(function () {
        return navigator.serviceWorker.ready;
      });
      swReady.catch(function () {});
    } else if (pushOption) {
      pushOption.parentNode.removeChild(pushOption);
      if (!notify.elements.channel.options.length) $("t-notify-card").parentNode.removeChild($("t-notify-card"));
    }
  }
  if (notify && notify.elements.channel.options.length) {
    notify.elements.channel.addEventListener("change", channelChanged);
    channelChanged();
    notify.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var ahead = parseInt(notify.elements.ahead.value, 10);
      var channel = notify.elements.channel.value;
      var body = {channel: channel};
      if (!isNaN(ahead)) { body.ahead = ahead; }
      var ready = Promise.resolve(body);
      if (channel === "webpush") {
        ready = subscribePush().then(function (sub) { body.subscription = sub.toJSON(); return body; });
      } else {
        body.phone = notify.elements.phone.value.trim();
      }
      ready.then(function (b) { return post(cfg.notify_url, b); }).then(function (res) {
        show("t-notify-error", false);
        notify.hidden = true;
        $("t-notify-done").textContent = (channel === "webpush" ? T.push_done : T.notify_done).replace("{n}", res.ahead);
        show("t-notify-done", true);
      }).catch(function (err) { $("t-notify-error").textContent = errorText(err); show("t-notify-error", true); });
    });
  }

  // ---- rating
  var form = $("t-rating-form");
  function score() { var c = form.querySelector("input[name=score]:checked"); return c ? parseInt(c.value, 10) : null; }
  form.addEventListener("change", function () {
    var s = score();
    if ($("t-reasons")) $("t-reasons").hidden = !(s != null && s <= cfg.reason_max);
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var s = score(), problem = $("t-rating-error");
    var reasons = [];
    var boxes = form.querySelectorAll("input[name=reasons]:checked");
    for (var i = 0; i < boxes.length; i++) reasons.push(boxes[i].value);
    var comment = form.elements.comment.value.trim();
    problem.hidden = true;
    if (s == null) { problem.textContent = T.choose_score; problem.hidden = false; return; }
    if (s <= cfg.reason_max && !reasons.length && !comment) {
      problem.textContent = T.reason_needed; problem.hidden = false; return;
    }
    if (s > cfg.reason_max) reasons = [];
    post(cfg.rate, {score: s, reasons: reasons, comment: comment || null})
      .then(function () { rated = true; render(t); return refresh(); })
      .catch(function (err) { problem.textContent = errorText(err); problem.hidden = false; });
  });

  render(t);
  setInterval(function () { if (!live && !finished(t)) refresh(); }, cfg.poll_s * 1000);
  if (!finished(t)) {
    var s = document.createElement("script");
    s.src = cfg.socket;
    s.async = true;
    s.onload = connect;
    document.head.appendChild(s);
  }
})();
