// Drives headless Chromium through the served book's lab: one control change per chapter,
// asserting the figure changed as its scenario predicts; a step-through with node states; the
// reader's own (stub) crate; requests the lab must refuse; no console errors on the book's
// pages. Run by `cargo run -p book -- lab`, which serves the book and passes LAB_URL.

import { chromium, request } from "playwright-core";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const base = process.env.LAB_URL;
const shots = process.env.SHOTS;
const executablePath = process.env.CHROMIUM;
if (!base || !shots || !executablePath) {
    console.error("LAB_URL, SHOTS and CHROMIUM must be set");
    process.exit(2);
}

const problems = [];
const latencies = {};
function fail(what) {
    problems.push(what);
    console.log(`lab: FAILED ${what}`);
}

// What each chapter's figure shows at the book's values, and after one change. `before` and
// `after` look at the figure's SVG text (titles included) and the lab's status line.
const chapters = [
    {
        slug: "warm-up", page: "00-warm-up.html", figure: "#timeline-warm-up-lost-ping",
        change: { loss: 0 },
        predicted: "with no loss there is no lost ping to retry",
        before: (f) => f.status === null,
        after: (f) => f.outcome === "unshown" && f.status.includes("lost no ping"),
    },
    {
        slug: "failure-detector", page: "01-failure-detector.html", figure: "#timeline-failure-detector-gc-pause",
        change: { pause: 60 },
        predicted: "a 60 ms pause: phi never suspects n2, the fixed timeout still does",
        before: (f) => count(f.svg, "phi: suspect n2") > 0,
        after: (f) => count(f.svg, "phi: suspect n2") === 0 && count(f.svg, "suspect") > 0 &&
            f.outcome === "unshown",
    },
    {
        slug: "quorum", page: "02-quorum.html", figure: "#timeline-quorum-stale-read",
        change: { r: 2 },
        predicted: "R=2, W=1 of 3 overlap: the read at n2 returns the write, not the stale None",
        // The read at n1 returns the write either way; only n2's read is stale.
        before: (f) => f.svg.includes("Value(None)"),
        after: (f) => !f.svg.includes("Value(None)") && f.outcome === "unshown" &&
            f.status.includes("the read at n2") && f.status.includes("Value(Some(1))"),
    },
    {
        slug: "leader-lease", page: "03-leader-lease.html", figure: "#timeline-leader-lease-drift-beyond-bound",
        change: { slow: 8 },
        predicted: "8 % slow: the two leases no longer overlap",
        before: (f) => f.status === null,
        after: (f) => f.outcome === "unshown" && f.status.includes("never believed they led at the same time"),
    },
    {
        slug: "retries", page: "04-retries.html", figure: "#chart-retries-metastable",
        change: { "slow-for": 0 },
        predicted: "no slow spell: the server never saturates",
        before: (f) => f.status === null,
        after: (f) => f.outcome === "unshown" && f.status.includes("server recovered"),
    },
    {
        slug: "idempotency", page: "05-idempotency.html", figure: "#timeline-idempotency-crash-after-charge",
        change: { "down-for": 700 },
        predicted: "down 700 ms: the client gives up on Key(0) though it was charged",
        before: (f) => !f.svg.includes("give up Key(0)"),
        after: (f) => f.svg.includes("give up Key(0)") && f.outcome === "unshown",
    },
    {
        slug: "clocks", page: "06-clocks.html", figure: "#timeline-clocks-step-back",
        change: { "write-at": 200 },
        predicted: "a write at 200 ms is stamped from the wall clock again",
        before: (f) => !f.svg.includes("stamped 100.000000ms+0"),
        after: (f) => f.svg.includes("stamped 100.000000ms+0"),
    },
    {
        slug: "election", page: "07-election.html", figure: "#timeline-election-half-connected",
        change: { "pre-vote": 0 },
        predicted: "without PreVote the cut-off node stands in term 2",
        before: (f) => !f.svg.includes("stand in term 2"),
        after: (f) => f.svg.includes("stand in term 2") && f.outcome === "unshown",
    },
];

// The page's own script has run once the DOM is in: the controls need nothing else, so the
// check does not wait on fonts and the like. A first navigation has been seen to stall on a
// fresh machine without the cause being found; what was still pending is printed, and the
// page is loaded once more, so that a stall is reported (and counted in `stalls`) and the
// lab's own checks still run.
const stalls = [];
async function open(url) {
    for (let attempt = 1; ; attempt++) {
        const page = await context.newPage();
        const pending = new Map();
        page.on("request", (r) => pending.set(r, Date.now()));
        page.on("requestfinished", (r) => pending.delete(r));
        page.on("requestfailed", (r) => pending.delete(r));
        const started = Date.now();
        try {
            await page.goto(url, { waitUntil: "domcontentloaded", timeout: 45000 });
            if (attempt > 1) {
                console.log(`lab: ${url} loaded on try ${attempt}`);
            }
            return page;
        } catch (e) {
            if (attempt === 2) {
                throw e;
            }
            const waiting = [...pending].map(([r, t]) => `${r.method()} ${r.url()} (for ${Date.now() - t} ms)`);
            const served = fs.readFileSync(process.env.LAB_REQUEST_LOG || "/dev/null", "utf8")
                .split("\n").filter((l) => l.includes(new URL(url).pathname));
            stalls.push(url);
            console.log(`lab: WARNING ${url} did not load in ${Date.now() - started} ms (${e.message.split("\n")[0]}); the browser still waited on: ${waiting.length ? waiting.join(", ") : "nothing"}; the server's log for it: ${served.length ? served.join("; ") : "no request"}; opening it in a new tab`);
            await page.close();
        }
    }
}

function count(text, part) {
    return text.split(part).length - 1;
}

async function look(page, figure) {
    return page.$eval(figure, (f) => {
        const status = f.querySelector(".lab-status");
        const svg = f.querySelector("svg");
        return {
            svg: svg ? svg.outerHTML : "",
            outcome: status ? status.getAttribute("data-outcome") : null,
            status: status && status.hasAttribute("data-outcome") ? status.textContent : null,
        };
    });
}

// Sets the inputs, asks for a rerun, and waits for the lab's verdict; returns the latency.
async function rerun(page, figure, values, mine = false, timeout = 15000) {
    const started = Date.now();
    await page.$eval(
        figure,
        (f, { values, mine }) => {
            for (const [name, value] of Object.entries(values)) {
                f.querySelector(`.lab-controls input[name="${name}"]`).value = String(value);
            }
            f.querySelector('.lab-controls input[name="mine"]').checked = mine;
            f.querySelector(".lab-status").removeAttribute("data-outcome");
            f.querySelector(".lab-run").click();
        },
        { values, mine },
    );
    await page.waitForFunction(
        (sel) => {
            const s = document.querySelector(`${sel} .lab-status`);
            const o = s && s.getAttribute("data-outcome");
            return o && o !== "running";
        },
        figure,
        { timeout },
    );
    return Date.now() - started;
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1280, height: 1200 } });
const consoleErrors = [];
// Where a step provokes a refusal on purpose, Chromium logs the 4xx answer to /lab/run; that
// line, and only that, is expected there.
let refusalExpected = false;
const expectedRefusal = /^http:\/\/127\.0\.0\.1:\d+\/lab\/run: Failed to load resource: the server responded with a status of 4\d\d/;
context.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
        const line = `${m.location().url}: ${m.text()}`;
        if (!(refusalExpected && expectedRefusal.test(line))) {
            consoleErrors.push(line);
        }
    }
});
context.on("weberror", (e) => consoleErrors.push(`page error: ${e.error().message}`));

try {
    for (const c of chapters) {
        const page = await open(`${base}/${c.page}`);
        const controls = await page.$$(`${c.figure} .lab-controls input[type=number]`);
        if (controls.length === 0) {
            fail(`${c.slug}: ${c.figure} has no controls`);
            await page.close();
            continue;
        }
        if (!c.before(await look(page, c.figure))) {
            fail(`${c.slug}: the figure as built already shows what the change should (${c.predicted})`);
        }
        // The book's own values first (the latency of an unchanged rerun), then the change.
        latencies[c.slug] = [await rerun(page, c.figure, {})];
        const shown = await look(page, c.figure);
        if (shown.outcome !== "shown") {
            fail(`${c.slug}: at the figure's values the rerun says ${shown.outcome}: ${shown.status}`);
        }
        latencies[c.slug].push(await rerun(page, c.figure, c.change));
        const after = await look(page, c.figure);
        if (c.after(after)) {
            console.log(`lab: ${c.slug}: ${JSON.stringify(c.change)}: ${c.predicted}: ok (${after.status})`);
        } else {
            fail(`${c.slug}: ${JSON.stringify(c.change)} should show that ${c.predicted}; the status says ${after.outcome}: ${after.status}`);
        }
        await page.locator(c.figure).screenshot({ path: path.join(shots, `lab-${c.slug}.png`) });
        // Every other knob once, moved to its other end, for the latency figures.
        const params = JSON.parse(await page.$eval(c.figure, (f) => f.getAttribute("data-lab"))).params;
        for (const p of params) {
            const value = p.default === p.max ? p.min : p.max;
            latencies[c.slug].push(await rerun(page, c.figure, { [p.name]: value }));
        }
        await page.close();
    }

    // Step through the gc-pause run: the first step records node states, the arrow keys move.
    {
        const figure = "#timeline-failure-detector-gc-pause";
        const page = await open(`${base}/01-failure-detector.html`);
        await page.locator(`${figure} .timeline-next`).click();
        try {
            await page.waitForFunction((sel) => {
                const panel = document.querySelector(`${sel} .timeline-states`);
                return panel && !panel.hidden && panel.querySelector(".timeline-state");
            }, figure, { timeout: 15000 });
        } catch (e) {
            const seen = await page.$eval(figure, (f) => [
                f.querySelector(".timeline-detail").textContent,
                f.querySelector(".lab-status").textContent,
                String(document.activeElement && document.activeElement.outerHTML).slice(0, 80),
            ]);
            throw new Error(`no node states after the first step: ${JSON.stringify(seen)}`);
        }
        const events = [];
        for (let i = 0; i < 4; i++) {
            const seen = await page.$eval(figure, (f) => ({
                detail: f.querySelector(".timeline-detail").textContent,
                selected: f.querySelector(".timeline-mark.selected")?.getAttribute("data-event"),
                nodes: [...f.querySelectorAll(".timeline-state")].map((s) => s.getAttribute("data-node")),
                changed: [...f.querySelectorAll(".timeline-state.changed")].map((s) => s.getAttribute("data-node")),
            }));
            events.push(seen);
            await page.keyboard.press("ArrowRight");
        }
        const numbers = events.map((e) => Number(e.selected));
        const ordered = numbers.every((n, i) => i === 0 || n >= numbers[i - 1]) && numbers[3] > numbers[0];
        const worded = events.every((e) => e.detail.startsWith(`Event ${e.selected}: `));
        const stated = events.every((e) => e.nodes.length >= 2);
        if (ordered && worded && stated) {
            console.log(`lab: step-through: events ${numbers.join(", ")}; states of ${events[3].nodes.join(", ")}; ok`);
        } else {
            fail(`step-through: ${JSON.stringify(events)}`);
        }
        await page.keyboard.press("ArrowLeft");
        const back = await page.$eval(figure, (f) => f.querySelector(".timeline-mark.selected")?.getAttribute("data-event"));
        if (Number(back) !== numbers[3]) {
            fail(`step-through: ArrowLeft went from ${numbers[3]} to ${back}`);
        }
        await page.locator(figure).screenshot({ path: path.join(shots, "lab-step-through.png") });
        await page.close();
    }

    // Bad input in the page: the lab's refusal is shown, and the figure stays.
    {
        const figure = "#timeline-quorum-stale-read";
        const page = await open(`${base}/02-quorum.html`);
        refusalExpected = true;
        await rerun(page, figure, { r: 9 });
        const seen = await look(page, figure);
        if (seen.outcome === "error" && seen.status.includes("must lie in 1..=3") && seen.svg.includes("<svg")) {
            console.log(`lab: r=9 refused in the page: ${seen.status}`);
        } else {
            fail(`r=9 should be refused in the page; status ${seen.outcome}: ${seen.status}`);
        }
        await page.close();
    }

    // The reader's own crate: a stub says where its todo!() is, in the page. The first build
    // of the exercise may take a while.
    {
        const figure = "#timeline-warm-up-lost-ping";
        const page = await open(`${base}/00-warm-up.html`);
        const took = await rerun(page, figure, {}, true, 900000);
        refusalExpected = false;
        const seen = await look(page, figure);
        if (seen.outcome === "error" && seen.status.includes("todo!()")) {
            console.log(`lab: mine on the stub (${took} ms): ${seen.status.split("\n")[0]}`);
        } else {
            fail(`mine on the warm-up stub should point at a todo!(); status ${seen.outcome}: ${seen.status}`);
        }
        await page.locator(figure).screenshot({ path: path.join(shots, "lab-mine-todo.png") });
        await page.close();
    }

    // Requests from anywhere else: forged Host (DNS rebinding) and Origin, and a real page on
    // another origin, whose fetch the browser must not be allowed to complete.
    {
        const good = { scenario: "quorum/stale-read", mechanism: "reference" };
        const api = await request.newContext();
        const host = new URL(base).host;
        const forged = [
            ["rebound Host", { Host: `rebound.example:${new URL(base).port}`, Origin: `http://rebound.example:${new URL(base).port}` }, 403],
            ["foreign Origin", { Origin: "http://evil.example" }, 403],
            ["no Origin", {}, 403],
            ["form post", { Origin: base, "Content-Type": "text/plain" }, 415],
        ];
        for (const [what, headers, status] of forged) {
            const response = await api.post(`${base}/lab/run`, {
                headers: { "Content-Type": "application/json", ...headers },
                data: headers["Content-Type"] === "text/plain" ? JSON.stringify(good) : good,
            });
            if (response.status() === status) {
                console.log(`lab: ${what} refused with ${status}`);
            } else {
                fail(`${what} should be refused with ${status}, got ${response.status()} (Host ${host})`);
            }
        }
        await api.dispose();
        const foreign = http.createServer((_, res) => {
            res.writeHead(200, { "Content-Type": "text/html" });
            res.end("<!doctype html><title>elsewhere</title>");
        });
        await new Promise((resolve) => foreign.listen(0, "127.0.0.1", resolve));
        const elsewhere = await browser.newPage();
        await elsewhere.goto(`http://127.0.0.1:${foreign.address().port}/`);
        const outcome = await elsewhere.evaluate(async ({ url, body }) => {
            try {
                const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body });
                return `answered ${r.status}`;
            } catch (e) {
                return "blocked";
            }
        }, { url: `${base}/lab/run`, body: JSON.stringify(good) });
        if (outcome === "blocked") {
            console.log("lab: a page on another origin cannot run anything (its fetch is blocked)");
        } else {
            fail(`a page on another origin got its run request ${outcome}`);
        }
        await elsewhere.close();
        foreign.close();
    }
} catch (e) {
    fail(`the check itself failed: ${e.stack || e}`);
} finally {
    await browser.close();
}

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => {
    const s = sorted(xs);
    return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};
const all = [];
for (const [slug, xs] of Object.entries(latencies)) {
    all.push(...xs);
    console.log(`lab: rerun latency ${slug}: median ${median(xs)} ms over ${xs.length} reruns (${xs.join(", ")} ms)`);
}
console.log(`lab: rerun latency, all chapters: median ${median(all)} ms, max ${Math.max(...all)} ms over ${all.length} reruns`);
if (consoleErrors.length) {
    fail(`console messages on the book's pages: ${JSON.stringify(consoleErrors)}`);
}
if (stalls.length) {
    console.log(`lab: WARNING ${stalls.length} page load(s) stalled and were retried: ${stalls.join(", ")}`);
}
console.log(`lab: screenshots in ${shots}`);
process.exit(problems.length ? 1 : 0);
