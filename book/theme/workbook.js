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
// figure; the arrow keys, or the Previous and Next buttons, step through the run's events in
// order. A label cut short to fit the drawing keeps its whole text in the mark's <title>, which
// a hover shows too, but slowly and not on a touch screen. Where the lab has rerun the figure
// with node states recorded, each node's state just after the event shows beside it.
//
// The lab: in the book served by `cargo xtask serve` (which marks its pages with
// <meta name="workbook-lab">), a figure whose scenario declares knobs (data-lab) gets controls
// that rerun it, with the reference or the reader's own crate, and redraw it in place. A static
// copy of the book fetches nothing and says what the controls need.
(function () {
    "use strict";
    var served = !!document.querySelector('meta[name="workbook-lab"]');

    function marksOf(svg) {
        var marks = [];
        Array.prototype.forEach.call(svg.querySelectorAll("title"), function (title) {
            var mark = title.parentNode;
            if (mark && mark !== svg) {
                marks.push(mark);
            }
        });
        return marks;
    }

    // The marks of single events, in trace order, for stepping (a band that spans a pause and
    // its end is clickable but not a step).
    function stepsOf(marks) {
        return marks
            .filter(function (mark) {
                return mark.hasAttribute("data-event");
            })
            .map(function (mark, i) {
                return { mark: mark, event: Number(mark.getAttribute("data-event")), i: i };
            })
            .sort(function (a, b) {
                return a.event - b.event || a.i - b.i;
            })
            .map(function (step) {
                return step.mark;
            });
    }

    // Each node's latest recorded state at or before event `index`.
    function statesAt(states, index) {
        var latest = {};
        states.forEach(function (s) {
            if (s.after <= index) {
                latest[s.node] = s;
            }
        });
        return Object.keys(latest)
            .sort()
            .map(function (node) {
                return latest[node];
            });
    }

    function showStates(figure, index) {
        var panel = figure.querySelector(".timeline-states");
        if (!panel) {
            return;
        }
        panel.textContent = "";
        var states = figure.workbookStates;
        if (!states || index === null) {
            panel.hidden = true;
            return;
        }
        panel.hidden = false;
        var shown = statesAt(states, index);
        if (!shown.length) {
            panel.textContent = "No node has handled an event yet.";
            return;
        }
        shown.forEach(function (s) {
            var block = document.createElement("div");
            block.className = "timeline-state" + (s.after === index ? " changed" : "");
            block.setAttribute("data-node", s.node);
            var head = document.createElement("p");
            head.className = "timeline-state-node";
            head.textContent =
                s.node + (s.after === index ? ", changed by this event" : ", as of event " + s.after);
            var pre = document.createElement("pre");
            pre.textContent = s.state;
            block.appendChild(head);
            block.appendChild(pre);
            panel.appendChild(block);
        });
    }

    function wire(figure) {
        var svg = figure.querySelector("svg");
        var detail = figure.querySelector(".timeline-detail");
        if (!svg || !detail) {
            return;
        }
        var marks = marksOf(svg);
        var steps = stepsOf(marks);
        figure.workbookMarks = steps;
        marks.forEach(function (mark) {
            var position = steps.indexOf(mark);
            var title = mark.querySelector("title");
            mark.setAttribute("tabindex", "0");
            mark.classList.add("timeline-mark");
            var show = function () {
                var event = mark.getAttribute("data-event");
                detail.textContent =
                    (event !== null ? "Event " + event + ": " : "") + title.textContent;
                var current = svg.querySelector(".timeline-mark.selected");
                if (current) {
                    current.classList.remove("selected");
                }
                mark.classList.add("selected");
                if (position >= 0) {
                    figure.workbookSelected = position;
                }
                showStates(figure, event === null ? null : Number(event));
                if (figure.workbookWantsStates) {
                    figure.workbookWantsStates(event === null ? null : Number(event));
                }
            };
            mark.addEventListener("click", show);
            mark.addEventListener("focus", show);
        });
    }

    function step(figure, by) {
        var marks = figure.workbookMarks || [];
        if (!marks.length) {
            return;
        }
        var at = figure.workbookSelected;
        var next = at === undefined ? (by > 0 ? 0 : marks.length - 1) : at + by;
        next = Math.max(0, Math.min(marks.length - 1, next));
        marks[next].focus();
    }

    var figures = document.querySelectorAll("figure.timeline");
    Array.prototype.forEach.call(figures, function (figure) {
        var svg = figure.querySelector("svg");
        if (!svg) {
            return;
        }
        var detail = document.createElement("p");
        detail.className = "timeline-detail";
        detail.setAttribute("aria-live", "polite");
        detail.textContent =
            "Click a mark, or Tab to it, to read it in full; the arrow keys step through the run.";
        figure.insertBefore(detail, svg.nextSibling);
        var tools = document.createElement("div");
        tools.className = "timeline-tools";
        var button = function (text, cls, action) {
            var b = document.createElement("button");
            b.type = "button";
            b.className = cls;
            b.textContent = text;
            b.addEventListener("click", action);
            tools.appendChild(b);
            return b;
        };
        button("◀ Previous", "timeline-prev", function () {
            step(figure, -1);
        });
        button("Next ▶", "timeline-next", function () {
            step(figure, 1);
        });
        // A dense figure is shrunk to the page's width; the button shows it at its own size,
        // to scroll sideways.
        var zoom = button("Actual size", "timeline-zoom", function () {
            var zoomed = figure.classList.toggle("zoomed");
            zoom.textContent = zoomed ? "Fit to page" : "Actual size";
        });
        figure.insertBefore(tools, detail);
        var states = document.createElement("div");
        states.className = "timeline-states";
        states.hidden = true;
        figure.insertBefore(states, detail.nextSibling);
        figure.addEventListener("keydown", function (e) {
            if (e.target.closest && e.target.closest(".lab-controls")) {
                return;
            }
            // Inside a figure the arrows step through its run; the book's own handler (further
            // up) would turn the page instead.
            if (e.key === "ArrowRight" || e.key === "ArrowDown") {
                step(figure, 1);
            } else if (e.key === "ArrowLeft" || e.key === "ArrowUp") {
                step(figure, -1);
            } else {
                return;
            }
            e.preventDefault();
            e.stopPropagation();
        });
        wire(figure);
    });

    // The controls of one figure with data-lab.
    function lab(figure) {
        var spec;
        try {
            spec = JSON.parse(figure.getAttribute("data-lab"));
        } catch (e) {
            return;
        }
        var names = spec.params
            .map(function (p) {
                return p.name;
            })
            .join(", ");
        if (!served) {
            var note = document.createElement("p");
            note.className = "lab-static";
            note.textContent =
                "With the book served by `cargo xtask serve`, controls here rerun this figure " +
                "with other values (" + names + ", the seed) or with your own code.";
            figure.insertBefore(note, figure.firstChild);
            return;
        }
        var form = document.createElement("form");
        form.className = "lab-controls";
        // The lab checks every value itself and says why it refuses one, in the status line.
        form.noValidate = true;
        var inputs = {};
        var field = function (name, text, value, min, max) {
            var label = document.createElement("label");
            label.className = "lab-param";
            var caption = document.createElement("span");
            caption.textContent = text;
            var input = document.createElement("input");
            input.type = "number";
            input.name = name;
            input.step = "1";
            input.value = String(value);
            if (min !== null) {
                input.min = String(min);
            }
            if (max !== null) {
                input.max = String(max);
            }
            input.defaultValue = String(value);
            label.appendChild(caption);
            label.appendChild(input);
            form.appendChild(label);
            return input;
        };
        spec.params.forEach(function (p) {
            var unit = p.unit ? " (" + p.unit + ", " + p.min + "–" + p.max + ")" : " (" + p.min + "–" + p.max + ")";
            inputs[p.name] = field(p.name, p.label + unit, p["default"], p.min, p.max);
        });
        var seed = field("seed", "seed", spec.seed, 0, null);
        var mineLabel = document.createElement("label");
        mineLabel.className = "lab-mine";
        var mine = document.createElement("input");
        mine.type = "checkbox";
        mine.name = "mine";
        mineLabel.appendChild(mine);
        mineLabel.appendChild(document.createTextNode(" run my code (the exercise crate)"));
        form.appendChild(mineLabel);
        var run = document.createElement("button");
        run.type = "submit";
        run.className = "lab-run";
        run.textContent = "Rerun";
        form.appendChild(run);
        var reset = document.createElement("button");
        reset.type = "reset";
        reset.className = "lab-reset";
        reset.textContent = "Figure's values";
        form.appendChild(reset);
        var status = document.createElement("p");
        status.className = "lab-status";
        status.setAttribute("aria-live", "polite");
        status.textContent = "Change a value to rerun the figure.";
        form.appendChild(status);
        figure.insertBefore(form, figure.firstChild);

        var busy = false;
        var again = false;
        var wantedEvent = null;
        var request = function () {
            var values = {};
            Object.keys(inputs).forEach(function (name) {
                values[name] = Number(inputs[name].value);
            });
            return {
                scenario: spec.scenario,
                mechanism: mine.checked ? "mine" : "reference",
                figure: spec.figure,
                seed: Number(seed.value),
                values: values,
            };
        };
        var say = function (outcome, text) {
            status.setAttribute("data-outcome", outcome);
            status.textContent = text;
        };
        var go = function () {
            if (busy) {
                again = true;
                return;
            }
            busy = true;
            figure.classList.add("lab-running");
            var asked = request();
            say(
                "running",
                asked.mechanism === "mine"
                    ? "Building your crate (only what you changed), then running it…"
                    : "Running the reference…"
            );
            var started = performance.now();
            fetch("/lab/run", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify(asked),
            })
                .then(function (response) {
                    return response.json().then(function (answer) {
                        return { ok: response.ok, answer: answer };
                    });
                })
                .then(function (got) {
                    var answer = got.answer;
                    if (!got.ok) {
                        say("error", answer.error || "the lab refused the run");
                        return;
                    }
                    var holder = document.createElement("div");
                    holder.innerHTML = answer.svg;
                    var fresh = holder.querySelector("svg");
                    var old = figure.querySelector("svg");
                    if (fresh && old) {
                        old.parentNode.replaceChild(fresh, old);
                    }
                    figure.workbookStates = answer.states && answer.states.length ? answer.states : null;
                    figure.workbookSelected = undefined;
                    figure.setAttribute("data-lab-ran", JSON.stringify(asked));
                    wire(figure);
                    var took = Math.round(performance.now() - started);
                    var timing =
                        " (" + took + " ms" +
                        (answer.build_seconds > 0 ? ", of which building " + answer.build_seconds.toFixed(1) + " s" : "") +
                        ")";
                    var who = asked.mechanism === "mine" ? "Your code" : "The reference";
                    if (answer.halt) {
                        say("halted", who + "'s run stopped early: " + answer.halt + timing);
                    } else if (answer.unshown) {
                        say("unshown", who + ": this run no longer shows what the caption claims: " + answer.unshown + timing);
                    } else {
                        say("shown", who + ": this run still shows what the caption claims." + timing);
                    }
                    if (wantedEvent !== null && figure.workbookMarks) {
                        var target = figure.workbookMarks.filter(function (m) {
                            return Number(m.getAttribute("data-event")) === wantedEvent;
                        })[0];
                        wantedEvent = null;
                        if (target) {
                            target.focus();
                        }
                    }
                })
                .catch(function (e) {
                    say("error", "The lab did not answer: is `cargo xtask serve` still running? (" + e + ")");
                })
                .then(function () {
                    busy = false;
                    figure.classList.remove("lab-running");
                    if (again) {
                        again = false;
                        go();
                    }
                });
        };
        form.addEventListener("submit", function (e) {
            e.preventDefault();
            go();
        });
        form.addEventListener("change", function () {
            go();
        });
        form.addEventListener("reset", function () {
            // The reset applies after this event; rerun once it has.
            setTimeout(go, 0);
        });
        // The figure as built has no node states: the first step into it records them by
        // rerunning it as it stands.
        figure.workbookWantsStates = function (event) {
            if (!figure.workbookStates && !busy && figure.getAttribute("data-lab-ran") === null && spec.figure === "timeline") {
                wantedEvent = event;
                go();
            }
        };
    }

    Array.prototype.forEach.call(document.querySelectorAll("figure[data-lab]"), lab);
})();
