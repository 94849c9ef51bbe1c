/* Venue check: a hand scanner types the pass and presses Enter — submit on Enter. */
(function () {
  "use strict";
  var field = document.getElementById("pass");
  if (!field) { return; }
  field.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); field.form.requestSubmit(); }
  });
})();
