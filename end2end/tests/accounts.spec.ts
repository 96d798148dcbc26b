import { expect, test } from "@playwright/test";
import { PASSWORD, authenticate, newPerson, open } from "./helpers";

test("a person logs out and back in", async ({ browser }) => {
  const { page, name } = await newPerson(browser, "cat");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  // Logged out, the chat page sends people to log in.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);

  await page.getByLabel("Username").fill(name);
  await page.getByLabel("Password").fill(`${PASSWORD} typo`);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");

  await authenticate(page, "/login", name);
  await expect(page.getByRole("complementary", { name: "Sidebar" })).toContainText(name);
});

test("sign-up explains a bad username", async ({ page }) => {
  await open(page, "/signup");
  await page.getByLabel("Username").fill("no spaces allowed");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page.getByRole("alert")).toContainText("may use only letters");
  await expect(page).toHaveURL(/\/signup$/);
});
