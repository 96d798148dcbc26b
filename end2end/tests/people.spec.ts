import { expect, test, type Page } from "@playwright/test";
import { authenticate, messagePerson, newPerson, openPeople, uniqueName } from "./helpers";

/** The row of `name` in the people panel's lists. */
function row(page: Page, name: string) {
  return page.locator(".person", { hasText: name });
}

async function send(page: Page, text: string) {
  const composer = page.getByRole("textbox", { name: "Message" });
  await composer.fill(text);
  await composer.press("Enter");
}

test("three people: a friend request, live status, a stranger, a block, and notify me", async ({ browser }) => {
  const ann = await newPerson(browser, "ann");
  const ben = await newPerson(browser, "ben");
  const cy = await newPerson(browser, "cy");

  // Ann asks Ben by name; he sees it live, with a count on People, and accepts.
  await openPeople(ann.page);
  await ann.page.getByLabel("Add a friend by username").fill(ben.name);
  await ann.page.getByRole("button", { name: "Send request" }).click();
  await expect(ann.page.getByRole("button", { name: `Cancel the request to ${ben.name}` })).toBeVisible();
  await expect(ben.page.getByRole("button", { name: /^People/ })).toContainText("1 friend request");
  await openPeople(ben.page);
  await ben.page.getByRole("button", { name: `Accept ${ann.name}'s friend request` }).click();
  await expect(ann.page.getByRole("button", { name: `Remove ${ben.name} from friends` })).toBeVisible();
  await expect(row(ann.page, ben.name).locator(".status-text")).toHaveText("online");

  // An unknown name is refused beside the form.
  await ann.page.getByLabel("Add a friend by username").fill("nobody-by-this-name");
  await ann.page.getByRole("button", { name: "Send request" }).click();
  await expect(ann.page.locator(".inline-form .error")).toHaveText("There is no one with that username.");

  // Ben's mode and status text reach Ann live.
  await ben.page.getByLabel("Presence").selectOption("busy");
  await ben.page.getByLabel("Status text").fill("in a meeting 📅");
  await ben.page.getByRole("button", { name: "Set status" }).click();
  await expect(row(ann.page, ben.name).locator(".status-text")).toHaveText("busy: in a meeting 📅");

  // Cy, a stranger, finds Ann but sees no presence.
  await openPeople(cy.page);
  await cy.page.getByLabel("Find people by name").fill(ann.name);
  await cy.page.getByRole("button", { name: "Search" }).click();
  await expect(row(cy.page, ann.name).locator(".status-text")).toHaveText("presence hidden");

  // Cy messages Ben; once Ben blocks Cy, Cy's messages are refused.
  await messagePerson(cy.page, ben.name);
  await send(cy.page, "hello ben");
  await expect(cy.page.getByRole("list", { name: "Messages" }).locator(".message:not(.pending)")).toHaveCount(1);
  await ben.page.getByLabel("Find people by name").fill(cy.name);
  await ben.page.getByRole("button", { name: "Search" }).click();
  await ben.page.getByRole("button", { name: `Block ${cy.name}` }).click();
  await expect(ben.page.getByRole("button", { name: `Unblock ${cy.name}` })).toBeVisible();
  await send(cy.page, "are you there?");
  await expect(cy.page.locator(".message.pending .state")).toHaveText(
    "Not sent: They are not taking direct messages from you.",
  );

  // Ben leaves; Ann asks to be told when he is back, and is, when he logs in again.
  await ben.page.context().close();
  await expect(row(ann.page, ben.name).locator(".status-text")).toContainText("offline");
  await ann.page.getByRole("button", { name: `Notify me when ${ben.name} is online` }).click();
  await expect(ann.page.getByRole("button", { name: `Stop waiting for ${ben.name}` })).toBeVisible();
  const again = await browser.newContext();
  await authenticate(await again.newPage(), "/login", ben.name);
  await expect(ann.page.locator(".toast")).toContainText(`${ben.name} is online`);
  await again.close();

  // Ann takes direct messages from friends only: Cy, a stranger, cannot start a chat with her.
  await ann.page.getByLabel("Who can message me").selectOption("friends");
  await expect(ann.page.getByLabel("Who can message me")).toHaveValue("friends");
  // The panel, shown again, says what is set.
  await ann.page.getByRole("button", { name: "Chats" }).click();
  await openPeople(ann.page);
  await expect(ann.page.getByLabel("Who can message me")).toHaveValue("friends");
  await expect(ann.page.getByLabel("Who sees when I am online, my status and last seen")).toHaveValue("friends");
  await openPeople(cy.page);
  await cy.page.getByLabel("Find people by name").fill(ann.name);
  await cy.page.getByRole("button", { name: "Search" }).click();
  await cy.page.getByRole("button", { name: `Message ${ann.name}` }).click();
  await expect(cy.page.locator(".notice")).toHaveText("They are not taking direct messages from you.");
  await expect(cy.page.getByRole("heading", { name: ann.name })).toHaveCount(0);
  await cy.page.getByRole("button", { name: "Chats" }).click();
  await expect(cy.page.getByRole("button", { name: new RegExp(`^${ann.name}`) })).toHaveCount(0);
});

test("on a phone-sized screen the lists and the conversation are separate views", async ({ browser }) => {
  const eve = await newPerson(browser, "eve");
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await authenticate(page, "/signup", uniqueName("dee"));

  // Opening a chat shows the conversation alone, with the composer in view.
  await messagePerson(page, eve.name);
  await expect(page.getByRole("complementary", { name: "Sidebar" })).toBeHidden();
  const composer = page.getByRole("textbox", { name: "Message" });
  await expect(composer).toBeInViewport();
  await send(page, "hi from a phone");
  await expect(page.getByRole("list", { name: "Messages" }).getByText("hi from a phone")).toBeVisible();
  await expect(composer).toBeInViewport();
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  expect(sideways).toBe(false);

  // Back goes to the lists, where the chat now is.
  await page.getByRole("button", { name: "Back to the lists" }).click();
  await expect(page.getByRole("complementary", { name: "Sidebar" })).toBeVisible();
  await page.getByRole("button", { name: "Chats" }).click();
  await expect(page.getByRole("button", { name: new RegExp(`^${eve.name}`) })).toBeVisible();
  await context.close();
});
