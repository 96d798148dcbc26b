import { expect, test } from "@playwright/test";
import { chatRow, messagePerson, messages, newPerson, open, send } from "./helpers";

test("unread counts rise and clear on every tab, Seen appears, and typing shows while someone writes", async ({
  browser,
}) => {
  const ann = await newPerson(browser, "ann");
  const ben = await newPerson(browser, "ben");
  // Ben has Natter open in two tabs, neither of them on the chat.
  const benElsewhere = await ben.page.context().newPage();
  await open(benElsewhere, "/");
  await expect(benElsewhere.locator(".connection")).toHaveText("Connected");

  await messagePerson(ann.page, ben.name);
  await send(ann.page, "Hi Ben");
  await send(ann.page, "Are you there?");
  for (const tab of [ben.page, benElsewhere]) {
    await expect(chatRow(tab, ann.name).locator(".badge")).toHaveText("2 unread");
    await expect(tab).toHaveTitle("(2) Natter");
  }
  await expect(ann.page.locator(".seen")).toHaveCount(0);

  // Reading in one tab clears the count in the other, and Ann sees it was seen.
  await chatRow(ben.page, ann.name).click();
  await expect(messages(ben.page).getByText("Are you there?")).toBeVisible();
  await expect(chatRow(benElsewhere, ann.name).locator(".badge")).toHaveCount(0);
  await expect(benElsewhere).toHaveTitle("Natter");
  await expect(ann.page.locator(".seen")).toHaveText("Seen");

  // While Ben writes, Ann is told; sending ends it.
  const composer = ben.page.getByRole("textbox", { name: "Message" });
  await composer.pressSequentially("On my way");
  await expect(ann.page.locator(".typing")).toHaveText(`${ben.name} is typing…`);
  await composer.press("Enter");
  await expect(messages(ann.page).getByText("On my way")).toBeVisible();
  await expect(ann.page.locator(".typing")).toHaveText("");
  // Ann's newest message is no longer the last word, so no receipt shows under it.
  await expect(ann.page.locator(".seen")).toHaveCount(0);

  // Clearing a draft ends typing too.
  await composer.pressSequentially("hmm");
  await expect(ann.page.locator(".typing")).toHaveText(`${ben.name} is typing…`);
  await composer.fill("");
  await expect(ann.page.locator(".typing")).toHaveText("");
});
