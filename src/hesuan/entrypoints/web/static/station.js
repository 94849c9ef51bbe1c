/* Hesuan sampling station: keyboard-only scanning with instant feedback, and an offline queue.
 *
 * Every scan becomes a station event (UUID made here, the station's time) that is first written
 * to IndexedDB and then synced, in order, to the server — the same events as POST /scans/batch.
 * Offline, events wait in the queue (the page shows how many) and go out when the network is
 * back; a double sync is harmless (the server answers a replayed event as a duplicate).
 * The meaning of a scan follows its shape, as in hesuan/entrypoints/web/station.py. */
(function () {
  "use strict";
  var root = document.getElementById("station");
  if (!root || !window.HesuanQueue || !window.indexedDB) { return; }

  var T = JSON.parse(document.getElementById("station-text").textContent);
  var site = root.dataset.site, syncUrl = root.dataset.sync, boxUrl = root.dataset.box;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  function $(id) { return document.getElementById(id); }
  var scan = $("scan"), form = $("scanform"), panel = $("panel"), prompt = $("prompt"),
      big = $("big"), who = $("who"), queueEl = $("queue"), net = $("net"), logEl = $("log"),
      sealedEl = $("sealed"), modeEl = $("mode"), windowEl = $("window"),
      nowTube = $("now-tube"), nowBox = $("now-box"), packAll = $("pack-all");
  var BOX = /^BX\d{10}$/, TUBE = /^\d{13}$/;
  var KEY = "hesuan.station." + site;

  /* -- local state: the open tube, the box being packed, sealed tubes not yet boxed -------- */
  var st = load();
  var serverTubes = {};          // barcode -> last tube view the server sent
  var pending = {};              // event_id -> {ev, li} awaiting the server's answer
  var queue = null, syncing = false, again = false, retryTimer = null, backoff = 1000;

  function load() {
    var s = null;
    try { s = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { s = null; }
    s = s || { tube: null, box: null, sealed: [] };
    Array.prototype.forEach.call(sealedEl.querySelectorAll("li[data-barcode]"), function (li) {
      if (s.sealed.indexOf(li.dataset.barcode) < 0) { s.sealed.push(li.dataset.barcode); }
    });
    return s;
  }
  function save() { localStorage.setItem(KEY, JSON.stringify(st)); render(); }

  function fmt(text, vals) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return vals[k] == null ? "" : vals[k]; });
  }

  function render() {
    nowTube.textContent = st.tube ? st.tube.barcode + " (" + st.tube.count + "/" + st.tube.capacity + ")" : "—";
    nowBox.textContent = st.box || "—";
    packAll.hidden = !st.box;
    sealedEl.innerHTML = "";
    st.sealed.forEach(function (bc) {
      var li = document.createElement("li");
      li.dataset.barcode = bc;
      li.textContent = bc;
      sealedEl.appendChild(li);
    });
  }

  function idlePrompt() {
    if (st.box) { return fmt(T.packing_prompt, { box: st.box }); }
    return st.tube ? T.next_prompt : T.open_prompt;
  }

  /* -- feedback: colour, text, sound --------------------------------------------------------- */
  var audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = ok ? "sine" : "square";
      o.frequency.value = ok ? 880 : 220;
      g.gain.value = 0.08;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + (ok ? 0.07 : 0.35));
    } catch (e) { /* no sound available */ }
  }

  function show(kind, text, count, name) {
    panel.className = "panel " + kind;
    prompt.textContent = text;
    big.textContent = count || "";
    who.textContent = name || "";
    if (kind === "bad") { beep(false); } else if (kind === "good") { beep(true); }
  }

  function logLine(text, cls) {
    var li = document.createElement("li");
    var time = new Date().toTimeString().slice(0, 8);
    li.className = cls;
    li.textContent = time + "  " + text;
    logEl.insertBefore(li, logEl.firstChild);
    while (logEl.children.length > 30) { logEl.removeChild(logEl.lastChild); }
    return li;
  }

  function setOnline(on) {
    net.className = "net " + (on ? "on" : "off");
    net.textContent = on ? net.dataset.on : net.dataset.off;
  }

  function updateCount() {
    if (!queue) { return Promise.resolve(); }
    return queue.count().then(function (n) {
      queueEl.textContent = String(n);
      root.dataset.queued = String(n);
    });
  }

  /* -- scans → events ------------------------------------------------------------------------ */
  /* A time-ordered id (UUIDv7, as hesuan.domain.event_ids makes them): the event's time in ms
     in the first 48 bits, then random bits. The server's index of event ids then grows at its
     end; random (v4) ids are accepted too but cost it a page per event under load. */
  function uuid(atMs) {
    var b = crypto.getRandomValues(new Uint8Array(16));
    var ms = atMs;
    for (var i = 5; i >= 0; i--) { b[i] = ms % 256; ms = Math.floor(ms / 256); }
    b[6] = (b[6] & 0x0f) | 0x70; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function event(kind, fields) {
    var now = new Date();
    var ev = { event_id: uuid(now.getTime()), kind: kind, site_id: site, at: now.toISOString() };
    var w = parseInt(windowEl.value, 10);
    if (!isNaN(w)) { ev.window = w; }
    Object.keys(fields).forEach(function (k) { ev[k] = fields[k]; });
    return ev;
  }

  function refuse(code) { show("bad", T.errors[code] || code); logLine(T.errors[code] || code, "bad"); }

  function interpret(raw) {
    var s = raw.trim(), up = s.toUpperCase();
    if (!s) { return; }
    if (BOX.test(up)) {
      if (!st.box) { st.box = up; save(); show("idle", idlePrompt()); return checkBox(up, logLine(up, "ok")); }
      if (up === st.box) { return sealBox(); }
      return refuse("box_open");
    }
    if (TUBE.test(up)) {
      if (st.box) {
        st.sealed = st.sealed.filter(function (b) { return b !== up; });
        save();
        return submit(event("box_tube", { barcode: up, box_code: st.box }),
                      fmt(T.packed, { tube: up, box: st.box }));
      }
      if (st.tube && up === st.tube.barcode) { return sealTube(); }
      if (st.tube) { return refuse("tube_open"); }
      var mode = parseInt(modeEl.value, 10);
      st.tube = { barcode: up, count: 0, capacity: mode };
      save();
      return submit(event("open_tube", { barcode: up, mode: mode }),
                    fmt(T.opened, { tube: up, mode: mode }));
    }
    if (st.box) { return refuse("box_open"); }
    if (!st.tube) { return refuse("no_open_tube"); }
    var tube = st.tube;
    tube.count += 1;
    var counter = tube.count + "/" + tube.capacity, full = tube.count >= tube.capacity;
    if (full) { st.sealed.push(tube.barcode); st.tube = null; }
    save();
    return submit(event("sample", { barcode: tube.barcode, code: s }), full ? T.full : T.next_prompt, counter,
                  T.sampled);
  }

  /* A box scanned to start packing is asked about at once (another site's box, a sealed
     box); offline, packing starts and the server judges each tube when the queue syncs. */
  function checkBox(code, li) {
    return fetch(boxUrl + encodeURIComponent(code) + ".json", {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (resp) {
      if (resp.ok || resp.status >= 500) { return; }
      return resp.json().then(function (data) {
        if (!data.error || st.box !== code) { return; }
        st.box = null; save();
        var text = data.text || data.error.message;
        li.className = "bad";
        li.textContent += "  ✗ " + text;
        show("bad", text);
      });
    }).catch(function () { /* offline: judged when the queue syncs */ });
  }

  function sealTube() {
    if (!st.tube) { return refuse("no_open_tube"); }
    var bc = st.tube.barcode;
    st.sealed.push(bc); st.tube = null; save();
    return submit(event("seal_tube", { barcode: bc }), fmt(T.sealed, { tube: bc }));
  }

  function sealBox() {
    if (!st.box) { return refuse("not_packing"); }
    var code = st.box;
    st.box = null; save();
    return submit(event("seal_box", { box_code: code }), fmt(T.box_sealed, { box: code }));
  }

  function packAllSealed() {
    if (!st.box) { return refuse("not_packing"); }
    if (!st.sealed.length) { return refuse("nothing_to_pack"); }
    var box = st.box, list = st.sealed.slice();
    st.sealed = []; save();
    return list.reduce(function (p, bc) {
      return p.then(function () {
        return submit(event("box_tube", { barcode: bc, box_code: box }), fmt(T.packed, { tube: bc, box: box }));
      });
    }, Promise.resolve());
  }

  function leaveBox() { st.box = null; save(); show("idle", idlePrompt()); }

  function submit(ev, text, counter, logText) {
    var li = logLine((logText || text) + (counter ? "  " + counter : ""), "queued");
    pending[ev.event_id] = { ev: ev, li: li };
    show("wait", text, counter);
    return queue.add(ev).then(updateCount).then(sync);
  }

  /* -- the server's answers ------------------------------------------------------------------ */
  function answer(r) {
    var p = pending[r.event_id];
    delete pending[r.event_id];
    if (r.tube && r.tube.barcode) { serverTubes[r.tube.barcode] = r.tube; }
    if (!p) { return; }
    var ev = p.ev;
    if (r.status === "rejected") {
      var text = r.text || r.message || r.reason;
      p.li.className = "bad";
      p.li.textContent = p.li.textContent.slice(0, 10) + "✗ " +
        fmt(T.refused[ev.kind] || "{what}", { tube: ev.barcode, box: ev.box_code, what: ev.kind }) +
        ": " + text;
      undo(ev, r);
      show("bad", text);
      return;
    }
    p.li.className = "ok";
    if (r.status === "accepted" && ev.kind === "sample" && r.tube) {
      var t = r.tube, name = r.person ? r.person.name : "";
      p.li.textContent += "  " + name;
      var text2 = t.status === "open" ? T.next_prompt : T.full;
      show("good", text2, t.count + "/" + t.capacity, name);
    } else {
      show("good", p.li.textContent.slice(10));
    }
  }

  function undo(ev, r) {
    if (ev.kind === "open_tube" && st.tube && st.tube.barcode === ev.barcode) { st.tube = null; }
    if (ev.kind === "sample" && st.tube && st.tube.barcode === ev.barcode) {
      st.tube.count = Math.max(0, st.tube.count - 1);
    }
    if (ev.kind === "box_tube" && r.reason !== "tube_in_box" && st.sealed.indexOf(ev.barcode) < 0) {
      st.sealed.push(ev.barcode);
    }
    save();
  }

  /* When nothing is waiting, the server's view of each tube is the truth. */
  function settle() {
    if (st.tube) {
      var v = serverTubes[st.tube.barcode];
      if (v) {
        st.tube.count = v.count;
        if (v.status !== "open") {
          if (v.status === "sealed" && st.sealed.indexOf(v.barcode) < 0) { st.sealed.push(v.barcode); }
          st.tube = null;
        }
      }
    }
    st.sealed = st.sealed.filter(function (bc) {
      var v = serverTubes[bc];
      if (v && v.status === "open" && !st.tube) {
        st.tube = { barcode: bc, count: v.count, capacity: v.capacity };
        return false;
      }
      return !v || v.status === "sealed";
    });
    save();
  }

  function scheduleRetry() {
    if (retryTimer) { return; }
    retryTimer = setTimeout(function () { retryTimer = null; sync(); }, backoff);
    backoff = Math.min(backoff * 2, 30000);
  }

  function sync() {
    if (syncing) { again = true; return Promise.resolve(); }
    syncing = true;
    var failed = false;
    function round() {
      return queue.peek(500).then(function (batch) {
        if (!batch.length) { return null; }
        return fetch(syncUrl, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "Accept": "application/json",
                     "X-CSRF-Token": csrf },
          body: JSON.stringify({ events: batch.map(function (x) { return x.event; }) })
        }).then(function (resp) {
          if (resp.status === 401 || resp.status === 403) {
            failed = true; show("bad", T.session); scheduleRetry(); return null;
          }
          if (!resp.ok) { throw new Error("HTTP " + resp.status); }
          return resp.json().then(function (data) {
            setOnline(true); backoff = 1000;
            return queue.remove(batch.map(function (x) { return x.seq; })).then(function () {
              data.results.forEach(answer);
              return updateCount().then(round);
            });
          });
        });
      });
    }
    return round().catch(function () {
      failed = true;
      setOnline(false);
      Object.keys(pending).forEach(function (id) {
        var p = pending[id];
        if (p.li.className === "queued") { p.li.className = "offline"; }
      });
      var last = logEl.firstChild;
      if (last && last.className === "offline") { panel.className = "panel wait"; prompt.textContent = T.queued + " " + idlePrompt(); }
      scheduleRetry();
    }).then(function () {
      syncing = false;
      if (!failed) { settle(); }
      updateCount();
      if (again) { again = false; return sync(); }
    });
  }

  /* -- keyboard ------------------------------------------------------------------------------ */
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var action = e.submitter ? e.submitter.value : "scan";
    if (action === "seal_tube") { sealTube(); }
    else if (action === "seal_box") { sealBox(); }
    else if (action === "leave_box") { leaveBox(); }
    else { var v = scan.value; scan.value = ""; interpret(v); }
    scan.focus();
  });
  packAll.addEventListener("click", function () { packAllSealed(); scan.focus(); });
  document.addEventListener("keydown", function (e) {
    if (e.key === "F2") { e.preventDefault(); sealTube(); }
    else if (e.key === "F4") { e.preventDefault(); sealBox(); }
    else if (e.key === "F6") { e.preventDefault(); packAllSealed(); }
    else if (e.key === "Escape") { e.preventDefault(); leaveBox(); }
    else { return; }
    scan.focus();
  });
  modeEl.addEventListener("change", function () { scan.focus(); });
  window.addEventListener("online", function () { backoff = 1000; sync(); });
  window.addEventListener("offline", function () { setOnline(false); });

  HesuanQueue.open().then(function (q) {
    queue = q;
    root.dataset.ready = "1";
    render();
    show("idle", idlePrompt());
    setOnline(navigator.onLine);
    return updateCount().then(sync);
  });
  setInterval(function () { if (queue && queueEl.textContent !== "0") { sync(); } }, 5000);
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/web/sw.js").catch(function () {}); }
})();
