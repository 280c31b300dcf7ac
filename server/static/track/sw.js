/* layso's service worker (served at /sw.js): shows the Web Push notifications the notifier sends to a
   citizen who asked for them on the tracking page ("Sắp đến lượt …", "Mời số … đến quầy …"), and
   opens (or focuses) the tracking page when the notification is touched. The payload is JSON
   {title, body, url, tag, key}; a notification with the same tag replaces the one before, so a
   message that reached the phone twice shows once. */
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = {body: event.data ? event.data.text() : ""}; }
  var options = {
    body: data.body || "",
    tag: data.tag || "layso",
    renotify: true,
    requireInteraction: /-called$/.test(data.tag || ""),
    vibrate: [300, 150, 300],
    data: {url: data.url || "/"}
  };
  event.waitUntil(self.registration.showNotification(data.title || "Lấy số", options));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === url && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow ? self.clients.openWindow(url) : null;
  }));
});
