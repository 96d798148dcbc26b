import { expect, test } from "@playwright/test";
import { authenticate, messagePerson, newPerson, open, seriousViolations, uniqueName } from "./helpers";

for (const colorScheme of ["light", "dark"] as const) {
  for (const width of [1280, 390]) {
    test(`every page passes axe, ${colorScheme}, ${width} px wide`, async ({ browser }) => {
      const friend = await newPerson(browser, "axe");
      const context = await browser.newContext({ colorScheme, viewport: { width, height: 844 } });
      const page = await context.newPage();

      await open(page, "/login");
      expect(await seriousViolations(page), "log-in page").toEqual([]);
      await open(page, "/signup");
      expect(await seriousViolations(page), "sign-up page").toEqual([]);

      await authenticate(page, "/signup", uniqueName("audit"));
      expect(await seriousViolations(page), "chat page").toEqual([]);
      await messagePerson(page, friend.name);
      await page.getByRole("textbox", { name: "Message" }).fill("checking contrast");
      await page.getByRole("textbox", { name: "Message" }).press("Enter");
      await expect(page.getByRole("list", { name: "Messages" }).getByText("checking contrast")).toBeVisible();
      expect(await seriousViolations(page), "conversation").toEqual([]);
      if (width === 390) {
        await page.getByRole("button", { name: "Back to the lists" }).click();
        // The chat was opened from People, still the list shown: focus goes back to its tab.
        await expect(page.getByRole("button", { name: /^People/ })).toBeFocused();
      }
      await page.getByRole("button", { name: /^People/ }).click();
      expect(await seriousViolations(page), "people panel").toEqual([]);
      await context.close();
    });
  }
}
