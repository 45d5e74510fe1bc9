// catalog-sync dashboard: the little that htmx does not do. No inline scripts anywhere
// (the pages' Content-Security-Policy forbids them), so behaviour hangs off data- attributes.
(function () {
  "use strict";

  // <form data-confirm="Really?"> asks before it submits.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
