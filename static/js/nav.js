/* The top bar's menu on a phone: the Menu button folds the page links and Log out away.
   Folding is switched on here, not in the CSS alone, so that a browser without scripts keeps
   every link in the bar (wrapped) instead of behind a button that does nothing. */
(function () {
  "use strict";

  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.querySelectorAll(".topbar__toggle").forEach(function (button) {
    var bar = button.closest(".topbar");
    bar.classList.add("topbar--folding");
    button.hidden = false;
    button.addEventListener("click", function () {
      setOpen(button, button.getAttribute("aria-expanded") !== "true");
    });
    // Escape closes the menu and gives the focus back to its button, as a menu should.
    bar.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(button, false);
        button.focus();
      }
    });
  });
})();
