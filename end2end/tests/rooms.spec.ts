import { expect, test, type Page } from "@playwright/test";
import { chatRow, messages, newPerson, send, seriousViolations } from "./helpers";

test("a public group: found in the directory, joined, banned from, unbanned, left and deleted", async ({
  browser,
}) => {
  const ann = await newPerson(browser, "ann");
  const ben = await newPerson(browser, "ben");
  const cat = await newPerson(browser, "cat");
  const title = `Open to all ${ann.name}`;

  // Ann creates a public group on her own, the dialog checked by axe while it is open.
  await ann.page.getByText("New group").click();
  expect(await seriousViolations(ann.page), "new group dialog").toEqual([]);
  await ann.page.getByLabel("Group title").fill(title);
  await ann.page.getByRole("checkbox", { name: "Public: listed, and anyone may join" }).check();
  await ann.page.getByRole("button", { name: "Create group" }).click();
  await expect(ann.page.getByRole("heading", { name: title })).toBeVisible();

  // Ben and Cat find it by part of its title, with its size, and join.
  const room = (page: Page) => page.locator(".rooms li", { hasText: title });
  const join = (page: Page) => room(page).getByRole("button", { name: `Join ${title}` });
  for (const person of [ben, cat]) {
    await person.page.getByText("Public groups").click();
    await person.page.getByLabel("Find public groups by title").fill(ann.name);
    await person.page.getByRole("button", { name: "Find groups" }).click();
    await expect(room(person.page)).toBeVisible();
  }
  await expect(room(ben.page)).toContainText("1 member");
  expect(await seriousViolations(ben.page), "room directory").toEqual([]);
  for (const person of [ben, cat]) {
    await join(person.page).click();
    await expect(person.page.getByRole("heading", { name: title })).toBeVisible();
    await expect(room(person.page)).toContainText("joined");
    await expect(messages(ann.page).getByText(`${person.name} joined`)).toBeVisible();
  }
  // Members' rows follow the group's size.
  await expect(room(ben.page)).toContainText("3 members");
  await expect(room(cat.page)).toContainText("3 members");
  await send(ben.page, "Glad to be here");
  await expect(messages(cat.page).getByText("Glad to be here")).toBeVisible();

  // Ann makes Cat an admin, and Cat removes and bans Ben: he is out, and may not join again
  // until the ban is lifted.
  await ann.page.getByText("Group settings").click();
  expect(await seriousViolations(ann.page), "group settings").toEqual([]);
  await ann.page.getByRole("button", { name: "Show banned people" }).click();
  await expect(ann.page.getByText("No one is banned.")).toBeVisible();
  await ann.page.getByRole("button", { name: `Make admin ${cat.name}`, exact: true }).click();
  await expect(messages(cat.page).getByText(`${ann.name} made ${cat.name} an admin`)).toBeVisible();
  await cat.page.getByText("Group settings").click();
  await cat.page.getByRole("button", { name: `Remove and ban ${ben.name}`, exact: true }).click();
  await expect(messages(ben.page).getByText(`${cat.name} removed ${ben.name}`)).toBeVisible();
  await expect(ben.page.getByText("You are no longer in this group.")).toBeVisible();
  await join(ben.page).click();
  await expect(ben.page.locator(".notice")).toHaveText("You were banned from this group.");

  // Ann's open list of bans shows it live.
  const bans = ann.page.getByRole("list", { name: "Banned people" });
  await expect(bans).toContainText(ben.name);
  await bans.getByRole("button", { name: `Unban ${ben.name}` }).click();
  await expect(ann.page.getByText("No one is banned.")).toBeVisible();
  await join(ben.page).click();
  await expect(ben.page.getByRole("textbox", { name: "Message" })).toBeVisible();
  await expect(messages(ann.page).getByText(`${ben.name} joined`)).toHaveCount(2);

  // Ben leaves: the group goes from his list, and the others see him go.
  await ben.page.getByText("Group settings").click();
  await ben.page.getByRole("button", { name: "Leave group" }).click();
  await expect(chatRow(ben.page, title)).toHaveCount(0);
  await expect(messages(ann.page).getByText(`${ben.name} left`)).toBeVisible();
  await expect(room(ben.page).getByRole("button", { name: `Join ${title}` })).toBeVisible();

  // Cat, an admin, renames it; Ann sees the new title.
  const renamed = `Renamed ${ann.name}`;
  await cat.page.getByLabel("New title").fill(renamed);
  await cat.page.getByRole("button", { name: "Rename" }).click();
  await expect(ann.page.getByRole("heading", { name: renamed })).toBeVisible();
  await expect(messages(ann.page).getByText(`${cat.name} renamed the group to "${renamed}"`)).toBeVisible();

  // Ann deletes it, after a second question; it is gone for Cat too.
  await ann.page.getByRole("button", { name: "Delete group" }).click();
  expect(await seriousViolations(ann.page), "delete question").toEqual([]);
  await ann.page.getByRole("button", { name: "Keep the group" }).click();
  await expect(ann.page.getByRole("heading", { name: renamed })).toBeVisible();
  await ann.page.getByRole("button", { name: "Delete group" }).click();
  await ann.page.getByRole("button", { name: "Delete for everyone" }).click();
  await expect(ann.page.getByRole("heading", { name: renamed })).toHaveCount(0);
  await expect(cat.page.locator(".notice")).toHaveText("A group you were in was deleted.");
  await expect(chatRow(cat.page, renamed)).toHaveCount(0);
  await expect(chatRow(ann.page, renamed)).toHaveCount(0);
  // Nor is it listed any more.
  await cat.page.getByRole("button", { name: "Find groups" }).click();
  await expect(cat.page.getByText("No public groups found.")).toBeVisible();
});
