// Live character counters for the console's text areas (data-limit): how many characters
// are used of how many allowed, updated as the person types. No library, nothing sent.
(function () {
  "use strict";
  if (window.yorisoiForms) { return; }  // the script tag comes with every form
  window.yorisoiForms = true;
  function wire(area) {
    var out = document.getElementById(area.id + "-count");
    if (!out) { return; }
    var limit = parseInt(area.getAttribute("data-limit"), 10);
    var template = out.getAttribute("data-template");
    function update() {
      var n = Array.from(area.value).length;
      out.textContent = template.replace("{n}", n.toLocaleString()).replace("{limit}", limit.toLocaleString());
      out.classList.toggle("over", n > limit);
    }
    area.addEventListener("input", update);
    update();
  }
  function start() {
    document.querySelectorAll("textarea[data-limit]").forEach(wire);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
