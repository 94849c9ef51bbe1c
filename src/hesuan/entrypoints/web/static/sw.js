/* Hesuan service worker: the sampling station and the resident's code page open without network
 * once they have been loaded (network first, the last copy when offline); scripts and styles
 * come from the cache. Nothing else is cached, and no request is ever replayed from here —
 * the station's own queue (IndexedDB) does that.
 *
 * The page that registers the worker was loaded before the worker existed, so the worker never
 * saw it: installing, it keeps a copy of each of these pages open in a window (right after
 * sign-in, the page the user landed on) and of the scripts and styles that page names, before
 * it becomes active. The page reopens offline at once, not only after a second visit. */
"use strict";
var CACHE = "hesuan-v1";
var PAGES = ["/web/station", "/web/me"];
var ASSET = /(?:src|href)="(\/web\/static\/[^"]+)"/g;

function keep(path) {
  return fetch(path, { credentials: "same-origin" }).then(function (resp) {
    if (!resp.ok || resp.redirected) { return; }
    return resp.clone().text().then(function (html) {
      var assets = [], m;
      while ((m = ASSET.exec(html)) !== null) { assets.push(m[1].replace(/&amp;/g, "&")); }
      return caches.open(CACHE).then(function (c) {
        return Promise.all([c.put(path, resp), c.addAll(assets)]);
      });
    });
  });
}

function keepOpenPages() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    var paths = list.map(function (c) { return new URL(c.url).pathname; })
      .filter(function (p, i, all) { return PAGES.indexOf(p) >= 0 && all.indexOf(p) === i; });
    return Promise.all(paths.map(function (p) { return keep(p).catch(function () {}); }));
  });
}

self.addEventListener("install", function (e) {
  self.skipWaiting();
  e.waitUntil(keepOpenPages());
});
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
