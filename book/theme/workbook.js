// A toggle in the menu bar that shows or hides the instructor notes; the choice is remembered.
(function () {
    "use strict";
    var KEY = "workbook-instructor-notes";
    var root = document.documentElement;

    function stored() {
        try {
            return window.localStorage.getItem(KEY) === "shown";
        } catch (e) {
            return false;
        }
    }

    function apply(shown, button) {
        root.classList.toggle("show-instructor-notes", shown);
        if (button) {
            button.classList.toggle("active", shown);
            button.setAttribute("aria-pressed", shown ? "true" : "false");
            button.title = shown ? "Hide instructor notes" : "Show instructor notes";
        }
    }

    var buttons = document.querySelector(".right-buttons") || document.querySelector(".left-buttons");
    var button = null;
    if (buttons) {
        button = document.createElement("button");
        button.id = "instructor-toggle";
        button.className = "icon-button";
        button.type = "button";
        button.setAttribute("aria-label", "Toggle instructor notes");
        button.textContent = "Instructor notes";
        button.style.fontSize = "1.3rem";
        button.addEventListener("click", function () {
            var shown = !root.classList.contains("show-instructor-notes");
            try {
                window.localStorage.setItem(KEY, shown ? "shown" : "hidden");
            } catch (e) {
                // Private browsing may refuse storage; the toggle still works for this page.
            }
            apply(shown, button);
        });
        buttons.insertBefore(button, buttons.firstChild);
    }
    apply(stored(), button);
})();
