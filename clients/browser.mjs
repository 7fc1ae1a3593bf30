// Headless Chromium for the strict clients: the launch, and a user signed
// in through oauthgate's login form and consent page.
import { chromium } from 'playwright-core'

// launch starts the Chromium at executablePath, headless.
export function launch (executablePath) {
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run']
  })
}

// answerCallback makes context answer every request to callback itself,
// with an empty page: where a client has no listener of its own.
export function answerCallback (context, callback) {
  return context.route((u) => u.href.startsWith(callback), (route) =>
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>back</title>' }))
}

// signIn opens url in page and goes through the login form and the consent
// page whenever they are shown (a session or a remembered consent skips
// them), calling onConsent with the consent page before it allows. It
// returns the callback URL the browser was sent back to.
export async function signIn (page, url, { callback, user, onConsent }) {
  await page.goto(url.href)
  for (let i = 0; i < 40; i++) {
    if (page.url().startsWith(callback)) return new URL(page.url())
    try {
      await page.waitForLoadState()
      if (await page.$('#password')) {
        await page.fill('#username', user.name)
        await page.fill('#password', user.password)
        await page.click('button[value="login"]')
      } else if (await page.$('button[value="allow"]')) {
        if (onConsent) await onConsent(page)
        await page.click('button[value="allow"]')
      } else {
        await page.waitForTimeout(100)
      }
    } catch (err) {
      if (!/destroyed|navigat/i.test(String(err))) throw err // a page replaced while looked at
    }
  }
  throw new Error(`never reached the callback; at ${page.url()}: ${await page.content()}`)
}
