/* Hesuan service worker: the sampling station and the resident's code page open without network
 * once they have been loaded (network first, the last copy when offline); scripts and styles
 * come from the cache. Nothing else is cached, and no request is ever replayed from here —
 * the station's own queue (IndexedDB) does that. */
"use strict";
var CACHE = "hesuan-v1";
var PAGES = ["/web/station", "/web/me"];

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (e) { e.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (e) {
  var req = e.request;
  if (req.method !== "GET") { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (PAGES.indexOf(url.pathname) >= 0) {
    e.respondWith(fetch(req).then(function (resp) {
      if (resp.ok && !resp.redirected) {
        var copy = resp.clone();
        caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); });
      }
      return resp;
    }).catch(function () {
      return caches.match(url.pathname).then(function (hit) {
        return hit || new Response("offline", { status: 503 });
      });
    }));
  } else if (url.pathname.indexOf("/web/static/") === 0) {
    e.respondWith(caches.match(req).then(function (hit) {
      return hit || fetch(req).then(function (resp) {
        if (resp.ok) { var copy = resp.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
        return resp;
      });
    }));
  }
});

self.addEventListener("message", function (e) {
  if (e.data === "forget") { caches.delete(CACHE); }
});
