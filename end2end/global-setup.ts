import type { FullConfig } from "@playwright/test";

/** Waits until the server answers /healthz: it starts at the same time as the tests. */
export default async function globalSetup(config: FullConfig) {
  const base = config.projects[0].use.baseURL ?? "http://127.0.0.1:3000";
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server at ${base} did not come up`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
