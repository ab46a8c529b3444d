/**
 * A real headless Chromium from npm alone: the browser that ships inside
 * `@sparticuz/chromium`, driven by `playwright-core` (no apt step, no
 * download at run time). For the explorer's browser test and screenshots.
 */
import chromium from "@sparticuz/chromium";
import { chromium as playwright, type Browser } from "playwright-core";

export async function launchChromium(): Promise<Browser> {
  return playwright.launch({ executablePath: await chromium.executablePath(), args: chromium.args, headless: true });
}
