import { expect, test } from "@playwright/test";
import { chatRow, messagePerson, messages, newPerson, open, send } from "./helpers";

test("two people chat live, and the history survives a reload", async ({ browser }) => {
  const ann = await newPerson(browser, "ann");
  const ben = await newPerson(browser, "ben");

  // Ann finds Ben, who signed up after her, in the directory.
  await messagePerson(ann.page, ben.name);
  const greeting = "Hello Ben <b>not bold</b> <img src=x onerror=alert(1)>";
  await send(ann.page, greeting);
  await expect(messages(ann.page).getByText(greeting)).toBeVisible();

  // The new chat reaches Ben live; opening it loads the history.
  await ben.page.getByRole("button", { name: new RegExp(`^${ann.name}`) }).click();
  await expect(messages(ben.page).getByText(greeting)).toBeVisible();

  // Both ways, without reloading.
  await send(ben.page, "Hi Ann!");
  await expect(messages(ann.page).getByText("Hi Ann!")).toBeVisible();
  await send(ann.page, "How are you?");
  await expect(messages(ben.page).getByText("How are you?")).toBeVisible();

  // A draft survives messages arriving while it is typed.
  const composer = ben.page.getByRole("textbox", { name: "Message" });
  await composer.fill("typed while Ann talks");
  await send(ann.page, "Interrupting!");
  await expect(messages(ben.page).getByText("Interrupting!")).toBeVisible();
  await expect(composer).toHaveValue("typed while Ann talks");
  await composer.press("Enter");
  await expect(messages(ann.page).getByText("typed while Ann talks")).toBeVisible();

  // A draft stays with its chat while another is open; opening a chat takes focus to its heading.
  const cy = await newPerson(browser, "cy");
  const annComposer = ann.page.getByRole("textbox", { name: "Message" });
  await annComposer.fill("half a thought");
  await messagePerson(ann.page, cy.name);
  await expect(ann.page.getByRole("heading", { name: cy.name })).toBeFocused();
  await expect(annComposer).toHaveValue("");
  await ann.page.getByRole("button", { name: /^Chats/ }).click();
  await chatRow(ann.page, ben.name).click();
  await expect(annComposer).toHaveValue("half a thought");
  await annComposer.fill("");

  // User text is text: the markup above made no elements.
  await expect(messages(ben.page).locator("b, img")).toHaveCount(0);

  // History survives a reload, in order.
  await open(ann.page, "/");
  await expect(ann.page.locator(".connection")).toHaveText("Connected");
  await ann.page.getByRole("button", { name: new RegExp(`^${ben.name}`) }).click();
  const bodies = messages(ann.page).locator(".body");
  await expect(bodies).toHaveText([
    greeting,
    "Hi Ann!",
    "How are you?",
    "Interrupting!",
    "typed while Ann talks",
  ]);
});
