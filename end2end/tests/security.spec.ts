import { expect, test } from "@playwright/test";
import { authenticate, messagePerson, newPerson, uniqueName } from "./helpers";

test("the chat page works under its Content-Security-Policy", async ({ browser }) => {
  const context = await browser.newContext();
  // Every violation the browser reports, from the first script on.
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (event) => {
      seen.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const consoleViolations: string[] = [];
  context.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) consoleViolations.push(message.text());
  });

  const ann = await newPerson(browser, "ann");
  const page = await context.newPage();
  const name = uniqueName("csp");
  await authenticate(page, "/signup", name);
  // Chat: hydration, the socket and live updates all run under the policy.
  await messagePerson(page, ann.name);
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill("\u202Eevil reversed text");
  await composer.press("Enter");
  const body = page.getByRole("list", { name: "Messages" }).locator(".body").last();
  await expect(body).toHaveText("\u202Eevil reversed text");
  // User text is isolated, so a bidi override cannot reorder what follows it.
  await expect(body).toHaveAttribute("dir", "auto");
  await expect(ann.page.getByRole("button", { name: new RegExp(`^${name}`) })).toBeVisible();

  expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
  expect(consoleViolations).toEqual([]);
});

test("no page of another origin can frame Natter", async ({ page, baseURL }) => {
  const target = `${baseURL}/login`;
  await page.route("http://framer.test/", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!DOCTYPE html><iframe title="natter" src="${target}"></iframe>`,
    }),
  );
  await page.goto("http://framer.test/");
  // Chromium replaces a frame its policy refuses with an error page.
  const child = () => page.frames().find((frame) => frame !== page.mainFrame());
  await expect.poll(() => child()?.url()).toMatch(/^chrome-error:/);
  const framed = page.frameLocator("iframe[title=natter]");
  await expect(framed.getByRole("heading", { name: "Log in to Natter" })).toHaveCount(0);
});
