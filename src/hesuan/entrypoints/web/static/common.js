/* Every page: on signing out, forget the pages kept for offline use (the resident's code page
 * must not open for the next person on a shared phone). The station's queue of unsent scans
 * (IndexedDB) is kept: it is sent after the next sign-in. */
(function () {
  "use strict";
  var form = document.querySelector("form.logout");
  if (!form || !window.caches) { return; }
  form.addEventListener("submit", function () {
    caches.delete("hesuan-v1");
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage("forget");
    }
  });
})();
