import { expect, test } from "@playwright/test";
import { message, messagePerson, messages, newPerson, openChat, send } from "./helpers";

test("three people: a group, messages live to all, an edit and a delete, and one removed", async ({
  browser,
}) => {
  const ann = await newPerson(browser, "ann");
  const ben = await newPerson(browser, "ben");
  const cat = await newPerson(browser, "cat");
  // Ann knows both from direct chats.
  await messagePerson(ann.page, ben.name);
  await messagePerson(ann.page, cat.name);
  await ann.page.getByRole("button", { name: /^Chats/ }).click();

  // Ann creates the group with both.
  await ann.page.getByText("New group").click();
  await ann.page.getByLabel("Group title").fill("Trip <b>2026</b>");
  await ann.page.getByRole("checkbox", { name: ben.name }).check();
  await ann.page.getByRole("checkbox", { name: cat.name }).check();
  await ann.page.getByRole("button", { name: "Create group" }).click();
  await expect(ann.page.getByRole("heading", { name: "Trip <b>2026</b>" })).toBeVisible();
  await expect(messages(ann.page).getByText(`${ann.name} created the group`)).toBeVisible();

  await send(ann.page, "Hello all");
  for (const person of [ben, cat]) {
    await openChat(person.page, "Trip <b>2026</b>");
    await expect(message(person.page, "Hello all")).toBeVisible();
  }
  await send(ben.page, "Hi from Ben");
  await expect(message(ann.page, "Hi from Ben")).toBeVisible();
  await expect(message(cat.page, "Hi from Ben")).toBeVisible();

  // Ann edits her message, then deletes Ben's (she owns the group); the others see both live.
  await message(ann.page, "Hello all").getByRole("button", { name: "Edit this message" }).click();
  await ann.page.getByRole("textbox", { name: "Edit message" }).fill("Hello everyone");
  await ann.page.getByRole("button", { name: "Save" }).click();
  for (const person of [ben, cat]) {
    await expect(message(person.page, "Hello everyone")).toContainText("edited");
  }
  await message(cat.page, "Hello everyone").getByRole("button", { name: "Show this message's edits" }).click();
  await expect(cat.page.getByRole("list", { name: "Earlier versions" })).toContainText("Hello all");
  await message(ann.page, "Hi from Ben").getByRole("button", { name: "Delete this message" }).click();
  for (const person of [ben, cat]) {
    await expect(messages(person.page).getByText("Hi from Ben")).toHaveCount(0);
    await expect(messages(person.page).getByText("Message deleted")).toBeVisible();
  }
  // Cat may not delete Ann's words.
  await expect(message(cat.page, "Hello everyone").getByRole("button", { name: "Delete this message" })).toHaveCount(0);

  // Ann removes Cat, who keeps what she saw and hears nothing after.
  await ann.page.getByText("Group settings").click();
  await ann.page.getByRole("button", { name: `Remove ${cat.name}`, exact: true }).click();
  await expect(messages(cat.page).getByText(`${ann.name} removed ${cat.name}`)).toBeVisible();
  await expect(cat.page.getByText("You are no longer in this group.")).toBeVisible();
  await send(ann.page, "Cat cannot read this");
  await expect(message(ben.page, "Cat cannot read this")).toBeVisible();
  await send(ben.page, "Nor this");
  await expect(message(ann.page, "Nor this")).toBeVisible();
  await expect(messages(cat.page).getByText("Cat cannot read this")).toHaveCount(0);
  await expect(messages(cat.page).getByText("Nor this")).toHaveCount(0);
  await expect(message(cat.page, "Hello everyone")).toBeVisible();

  // The title is text, never markup.
  await expect(ann.page.locator(".conversation-head h2 b")).toHaveCount(0);
});
