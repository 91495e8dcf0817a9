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

// Timelines: a click on any mark (or moving to it with Tab) shows its full text under the
// figure. A label cut short to fit the drawing keeps its whole text in the mark's <title>,
// which a hover shows too, but slowly and not on a touch screen.
(function () {
    "use strict";
    var figures = document.querySelectorAll("figure.timeline");
    Array.prototype.forEach.call(figures, function (figure) {
        var svg = figure.querySelector("svg");
        if (!svg) {
            return;
        }
        var detail = document.createElement("p");
        detail.className = "timeline-detail";
        detail.setAttribute("aria-live", "polite");
        detail.textContent = "Click a mark, or Tab to it, to read it in full.";
        figure.insertBefore(detail, svg.nextSibling);
        // A dense figure is shrunk to the page's width; the button shows it at its own size,
        // to scroll sideways.
        var zoom = document.createElement("button");
        zoom.type = "button";
        zoom.className = "timeline-zoom";
        zoom.textContent = "Actual size";
        zoom.addEventListener("click", function () {
            var zoomed = figure.classList.toggle("zoomed");
            zoom.textContent = zoomed ? "Fit to page" : "Actual size";
        });
        figure.insertBefore(zoom, detail);
        var marks = svg.querySelectorAll("title");
        Array.prototype.forEach.call(marks, function (title) {
            var mark = title.parentNode;
            if (!mark || mark === svg) {
                return;
            }
            mark.setAttribute("tabindex", "0");
            mark.classList.add("timeline-mark");
            var show = function () {
                detail.textContent = title.textContent;
                var current = svg.querySelector(".timeline-mark.selected");
                if (current) {
                    current.classList.remove("selected");
                }
                mark.classList.add("selected");
            };
            mark.addEventListener("click", show);
            mark.addEventListener("focus", show);
        });
    });
})();
