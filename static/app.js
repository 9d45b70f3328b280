// Progressive enhancement only: the page works without this script.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var input = document.getElementById("image");
  var zone = document.getElementById("dropzone");
  var status = document.getElementById("status");
  if (form && input && zone) {
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        form.requestSubmit();
      }
    });
    // The camera input has no name: its photo is handed to the form's own input and sent.
    var camera = document.getElementById("camera");
    var cameraChoice = document.getElementById("camera-choice");
    if (camera && cameraChoice) {
      cameraChoice.hidden = false;
      camera.addEventListener("change", function () {
        if (camera.files && camera.files.length) {
          input.files = camera.files;
          form.requestSubmit();
        }
      });
    }
    form.addEventListener("submit", function () {
      if (status) { status.textContent = "Analysing…"; }
    });
  }
  var compare = document.getElementById("compare-form");
  if (compare && status) {
    compare.addEventListener("submit", function () { status.textContent = "Comparing…"; });
  }
  var slider = document.getElementById("opacity");
  var overlay = document.getElementById("overlay");
  if (slider && overlay) {
    var apply = function () { overlay.style.opacity = String(slider.value / 100); };
    slider.addEventListener("input", apply);
    apply();
  }
})();
