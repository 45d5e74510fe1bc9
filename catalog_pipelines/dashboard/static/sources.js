// Sources: keep the ownership presets (mirror / hybrid / catalog as source) and the
// per-group checkboxes in step. The server reads both, so the form works without this.
(function () {
  "use strict";

  function sync(fieldset, changed) {
    var radios = fieldset.querySelectorAll("input[type=radio][name=mode]");
    var boxes = fieldset.querySelectorAll("input[type=checkbox]");
    if (changed.type === "radio") {
      var owns = changed.getAttribute("data-owns");
      if (owns !== null) {
        var chosen = owns ? owns.split(",") : [];
        boxes.forEach(function (box) { box.checked = chosen.indexOf(box.name) >= 0; });
      }
      return;
    }
    var ticked = 0;
    boxes.forEach(function (box) { if (box.checked) { ticked += 1; } });
    var mode = ticked === boxes.length ? "mirror" : (ticked === 0 ? "catalog" : "hybrid");
    radios.forEach(function (radio) { radio.checked = radio.value === mode; });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var fieldset = target.closest && target.closest("[data-ownership]");
    if (fieldset) {
      sync(fieldset, target);
    }
  });
})();
