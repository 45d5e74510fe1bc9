// The upload page: drag and drop onto the drop zone, and an XHR upload with a progress bar.
// The form works without this file too (a plain multipart POST that redirects).
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("form[data-upload]");
    if (!form) { return; }
    var input = form.querySelector("input[type=file]");
    var zone = document.getElementById("dropzone");
    var source = document.getElementById("source");
    var fresh = document.getElementById("new-source");
    var status = document.getElementById("upload-status");
    var bar = document.getElementById("upload-progress");
    var text = document.getElementById("upload-text");
    var error = document.getElementById("upload-error");
    var button = document.getElementById("upload-button");

    function toggleNew() { fresh.hidden = source.value !== "__new__"; }
    source.addEventListener("change", toggleNew);
    toggleNew();

    function megabytes(n) { return (n / 1048576).toFixed(1) + " MB"; }
    function fail(message) {
      error.textContent = message;
      error.hidden = false;
      button.disabled = false;
    }

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.remove("over");
      });
    });
    zone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        text.textContent = event.dataTransfer.files[0].name + " ready to upload";
        status.hidden = false;
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      if (!input.files.length) { fail("Choose a file first."); return; }
      var data = new FormData(form);  // in document order: the token and source before the file
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRF-Token", form.querySelector("[name=csrf_token]").value);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round((100 * e.loaded) / e.total);
          text.textContent = "Uploading " + input.files[0].name + ": " + megabytes(e.loaded) +
            " of " + megabytes(e.total) + " (" + bar.value + "%)";
        }
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        text.textContent = "Uploaded; checking the file…";
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 200 && body && body.next) {
          window.location.assign(body.next);
        } else {
          fail((body && body.error) || ("The upload failed (HTTP " + xhr.status + ")."));
        }
      });
      xhr.addEventListener("error", function () { fail("The upload failed: the connection was lost."); });
      button.disabled = true;
      status.hidden = false;
      bar.value = 0;
      xhr.send(data);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
