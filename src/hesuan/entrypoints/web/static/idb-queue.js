/* A durable first-in-first-out queue of station events in IndexedDB (Hesuan sampling station).
 * add() resolves only once the transaction has committed, so an acknowledged scan survives a
 * closed tab, a crash or a reload; events leave the queue only when the server has answered. */
(function () {
  "use strict";
  var DB = "hesuan-station", STORE = "events";

  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function done(tx) {
    return new Promise(function (resolve, reject) {
      tx.oncomplete = function () { resolve(); };
      tx.onerror = tx.onabort = function () { reject(tx.error); };
    });
  }

  function Queue(db) { this.db = db; }

  Queue.open = function () { return openDb().then(function (db) { return new Queue(db); }); };

  Queue.prototype.add = function (event) {
    var tx = this.db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).add({ event: event, queuedAt: Date.now() });
    return done(tx);
  };

  /* The oldest ``limit`` entries, in order: [{seq, event}]. */
  Queue.prototype.peek = function (limit) {
    var tx = this.db.transaction(STORE, "readonly"), out = [];
    return new Promise(function (resolve, reject) {
      var req = tx.objectStore(STORE).openCursor();
      req.onsuccess = function () {
        var cur = req.result;
        if (cur && out.length < limit) { out.push(cur.value); cur.continue(); } else { resolve(out); }
      };
      req.onerror = function () { reject(req.error); };
    });
  };

  Queue.prototype.remove = function (seqs) {
    var tx = this.db.transaction(STORE, "readwrite"), store = tx.objectStore(STORE);
    seqs.forEach(function (s) { store.delete(s); });
    return done(tx);
  };

  Queue.prototype.count = function () {
    var req = this.db.transaction(STORE, "readonly").objectStore(STORE).count();
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  };

  window.HesuanQueue = Queue;
})();
