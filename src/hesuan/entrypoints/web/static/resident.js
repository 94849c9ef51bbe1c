/* Resident page: keep the page (and its sampling code) for offline use, and say so when the
 * copy on screen came from the device because there is no network. */
(function () {
  "use strict";
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/web/sw.js").catch(function () {}); }
  var note = document.getElementById("offline-note");
  function update() { if (note) { note.hidden = navigator.onLine; } }
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  update();
})();
