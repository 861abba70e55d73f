// Drives the operator's inbox page (conf/inbox/) in headless Chromium
// (Debian's chromium, through playwright-core) the way an operator uses
// it: log in, watch the list, see a new reply from a lead appear without
// reloading the page (pushed by GET /api/v1/inbox/stream), open it, assign it to oneself, mark it read, answer,
// and watch the answer go from queued to sent.
//
//   node t/lib/inbox_page.js <base url> <email> <password> <inject command>
//        <expected inbound text> <reply text>
//
// <inject command> makes the lead's reply arrive (run once the page is
// live). Prints one "ok <step>" line per step; exits 1 with the reason
// (and the page's console) on the first failure.
"use strict";

const { execFileSync } = require("child_process");
const { chromium } = require("playwright-core");

const [base, email, password, inject, inbound, reply] = process.argv.slice(2);
const TIMEOUT = 20000;

function ok(step) {
    console.log("ok " + step);
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    });
    const page = await browser.newPage();
    const console_lines = [];
    page.on("console", (m) => console_lines.push(m.type() + ": " + m.text()));
    page.setDefaultTimeout(TIMEOUT);

    try {
        await page.goto(base + "/inbox");
        await page.fill("#login input[name=email]", email);
        await page.fill("#login input[name=password]", password);
        await page.click("#login button[type=submit]");
        await page.waitForSelector("#app:not([hidden])");
        await page.waitForFunction(
            (who) => document.getElementById("who").textContent.includes(who),
            email);
        ok("logged in");
        await page.waitForSelector("#live.on");
        ok("the realtime stream is connected");

        // the page is up: nothing from the lead yet
        const before = await page.locator("#conversations li").count();
        execFileSync("sh", ["-c", inject], { stdio: "inherit" });
        const item = page.locator("#conversations li", { hasText: inbound });
        await item.waitFor();
        ok("the lead's reply appeared live (" + before
           + " conversation(s) before, no reload)");

        await item.click();
        await page.locator("#messages li.inbound", { hasText: inbound })
            .waitFor();
        ok("the thread shows it");

        await page.click("#assign-me");
        await page.waitForFunction(() =>
            document.getElementById("meta").textContent
                .includes("assigned to you"));
        ok("assigned to me");

        await page.click("#mark-read");
        await page.waitForFunction(() =>
            document.getElementById("mark-read").disabled);
        await item.locator(".badge").waitFor({ state: "detached" });
        ok("marked read");

        await page.fill("#reply textarea", reply);
        await page.click("#reply button[type=submit]");
        const mine = page.locator("#messages li.outbound", { hasText: reply });
        await mine.waitFor();
        ok("the reply shows in the thread as " +
           await mine.getAttribute("data-status"));
        await page.locator("#messages li.outbound.sent",
                           { hasText: reply }).waitFor();
        ok("the reply is sent");
    } catch (e) {
        console.log("FAILED: " + e.message);
        console.log(console_lines.join("\n"));
        await browser.close();
        process.exit(1);
    }
    await browser.close();
}

main();
