import AxeBuilder from "@axe-core/playwright";
import { expect, type Browser, type Page } from "@playwright/test";

export const PASSWORD = "correct horse";

/** A username no earlier run has taken. */
export function uniqueName(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** Opens `path` and waits until the page has hydrated, so its controls work. */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator("body[data-hydrated]")).toBeAttached();
}

/** Fills and submits the sign-up or log-in form, then waits for the live chat page. */
export async function authenticate(page: Page, path: "/signup" | "/login", username: string) {
  await open(page, path);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: path === "/signup" ? "Sign up" : "Log in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator(".connection")).toHaveText("Connected");
}

/** A fresh browser context (its own cookies) signed up as a new person. */
export async function newPerson(browser: Browser, prefix: string): Promise<{ page: Page; name: string }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const name = uniqueName(prefix);
  await authenticate(page, "/signup", name);
  return { page, name };
}

/** Shows the People list in the sidebar. */
export async function openPeople(page: Page) {
  await page.getByRole("button", { name: /^People/ }).click();
}

/** Finds `name` in the directory and opens the direct chat with them. */
export async function messagePerson(page: Page, name: string) {
  await openPeople(page);
  await page.getByLabel("Find people by name").fill(name);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("button", { name: `Message ${name}` }).click();
  await expect(page.getByRole("heading", { name })).toBeVisible();
}

/** The open conversation's messages. */
export function messages(page: Page) {
  return page.getByRole("list", { name: "Messages" });
}

/** The message in the open conversation that holds `text`. */
export function message(page: Page, text: string) {
  return messages(page).locator("li.message", { hasText: text });
}

/** Sends `text` in the open conversation and waits until the composer has taken it. */
export async function send(page: Page, text: string) {
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill(text);
  await composer.press("Enter");
  await expect(composer).toHaveValue("");
}

/** The chat list's row of the chat titled `title` (a group) or with `title` (a person). */
export function chatRow(page: Page, title: string) {
  return page.getByRole("button", { name: new RegExp(`^${title}`) });
}

/** Opens the chat titled `title` from the chat list. */
export async function openChat(page: Page, title: string) {
  await chatRow(page, title).click();
  await expect(page.getByRole("heading", { name: title })).toBeVisible();
}

/** The serious and critical accessibility violations axe finds on the page as it is now. */
export async function seriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).join(", ")}`);
}
