/**
 * The site's pages: server-rendered, no scripts, one small inline stylesheet, readable on a phone. Every value
 * shown goes through JSX escaping; nothing secret is ever passed in here.
 */
import { createHash } from 'node:crypto'
import type { Child } from 'hono/jsx'
import { raw } from 'hono/html'
import type { DirectoryEntry } from './types.js'
import { planDiskMiB, planWebView, type Operator, type Plan } from '../src/protocol/offer.js'
import type { PubState } from '../src/protocol/status.js'

const STYLE = `
:root { color-scheme: light dark; --accent: #3b5bdb; }
* { box-sizing: border-box; }
body { margin: 0; font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main, footer { max-width: 36rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1rem; font-weight: 600; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 1rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dt { font-weight: 600; }
dd { margin: 0; min-width: 0; }
code { overflow-wrap: anywhere; font-size: .9em; }
.price { font-size: 1.25rem; font-weight: 600; }
.note { border-left: 4px solid var(--accent); padding: .5rem 1rem; margin: 1rem 0; }
label { display: flex; gap: .5rem; align-items: flex-start; margin: 1rem 0; }
input[type=checkbox] { width: 1.25rem; height: 1.25rem; margin-top: .15rem; flex: none; }
button { width: 100%; font: inherit; font-weight: 600; padding: .8rem 1rem; border: 0; border-radius: .5rem;
  background: var(--accent); color: #fff; cursor: pointer; }
footer { margin-top: 2rem; padding-bottom: 2rem; font-size: .9rem; }
footer a { margin-right: 1rem; }
`

/** The stylesheet's CSP source: the one inline style the pages may use. */
export const STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`

/** The provider as every page shows it: its name, and who operates it when the offer says so. */
export interface Brand {
  name: string
  operator?: Operator
}

/** The operator's identity, in the footer of every page (terms, privacy, pay, success, landing). */
function OperatorLine(props: { operator?: Operator }) {
  const o = props.operator
  if (!o) return null
  return (
    <p>
      Operated by {o.name} ({o.jurisdiction}). Contact: {o.contact}
    </p>
  )
}

/** The frame of every page. */
export function Layout(props: { title: string; provider: Brand; children?: Child }) {
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="robots" content="noindex" />
          <title>{`${props.title} · ${props.provider.name}`}</title>
          <style>{raw(STYLE)}</style>
        </head>
        <body>
          <header>{props.provider.name}</header>
          <main>{props.children}</main>
          <footer>
            <OperatorLine operator={props.provider.operator} />
            <a href="/">About</a>
            <a href="/terms">Terms of service</a>
            <a href="/privacy">Privacy</a>
          </footer>
        </body>
      </html>
    </>
  )
}

/** "€5.00 per month" from a plan's minor-unit price. */
export function formatPrice(plan: Pick<Plan, 'price' | 'currency' | 'interval'>): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency: plan.currency.toUpperCase() })
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2
  return `${format.format(plan.price / 10 ** digits)} per ${plan.interval}`
}

function PubFacts(props: { entry: DirectoryEntry; plan: Plan }) {
  return (
    <dl>
      <dt>Pub</dt>
      <dd>{props.entry.name ?? 'unnamed pub'}</dd>
      <dt>Owner</dt>
      <dd>
        <code>{props.entry.owner}</code>
      </dd>
      <dt>Plan</dt>
      <dd>
        {props.plan.name} ({props.plan.memoryMiB} MiB)
      </dd>
    </dl>
  )
}

/** How a pub's state reads in a sentence ("this pub is …"). */
const STATE_TEXT: Record<PubState, string> = {
  'awaiting-payment': 'awaiting payment',
  queued: 'queued to be set up',
  provisioning: 'being set up',
  up: 'up',
  down: 'down',
  stopped: 'stopped',
  failed: 'failed',
  destroyed: 'destroyed',
}

/** The pay page of a pub that will never need paying again. */
const GONE_TEXT: Partial<Record<PubState, string>> = {
  failed: 'This request could not be carried out, so there is nothing to pay.',
  destroyed: 'This pub has been destroyed; there is nothing to pay.',
}

/** A day as the pages show it (UTC, like the statuses). */
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** Which version of the pay page to show. */
export type PayPageMode = 'pay' | 'free' | 'settled' | 'gone'

export function PayPage(props: {
  provider: Brand
  entry: DirectoryEntry
  plan: Plan
  token: string
  mode: PayPageMode
}) {
  const { entry, plan } = props
  const price = plan.price === 0 ? 'Free' : formatPrice(plan)
  const again = entry.resubscribe
  return (
    <Layout title="Your pub" provider={props.provider}>
      <h1>{props.mode === 'pay' ? (again ? 'Subscribe again' : 'Pay for your pub') : 'Your pub'}</h1>
      <PubFacts entry={entry} plan={plan} />
      {props.mode === 'pay' && (
        <>
          {again && (
            <p class="note">
              The subscription of this pub ended on {day(again.endedAt)}. Its data, identity and address are kept until{' '}
              {day(again.dataKeptUntil)}: subscribe again before then and the same pub comes back as it was.
            </p>
          )}
          <p class="price">{price}</p>
          <p>
            A subscription, billed in advance each {plan.interval} until you cancel. Sending your pub a destroy command
            cancels it. Payment is handled by Stripe; we never see your card. Stripe asks for your email address and
            emails you a receipt for every payment.
          </p>
          <form method="post" action={`/pay/${props.token}`}>
            <label>
              <input type="checkbox" name="accept" value="yes" required />
              <span>
                I accept the <a href="/terms">terms of service</a> and have read the <a href="/privacy">privacy notice</a>.
              </span>
            </label>
            <button type="submit">Pay {price}</button>
          </form>
        </>
      )}
      {props.mode === 'free' && (
        <p class="note">
          This plan is free: there is nothing to pay. Your pub is being set up, and your Scuttlebutt app will get a
          private message when it is up.
        </p>
      )}
      {props.mode === 'settled' && (
        <>
          <p class="note">
            Nothing to pay here: this pub is {STATE_TEXT[entry.state]}. Your Scuttlebutt app gets a private message
            whenever that changes.
          </p>
          <ManageBilling token={props.token} />
        </>
      )}
      {props.mode === 'gone' && <p class="note">{GONE_TEXT[entry.state] ?? 'There is nothing to pay.'}</p>}
    </Layout>
  )
}

/** The button to Stripe's Customer Portal (card, invoices, cancellation), through the site's POST route. */
function ManageBilling(props: { token: string }) {
  return (
    <form method="post" action={`/pay/${props.token}/billing`}>
      <p>Update your card, see your invoices or cancel on Stripe's billing page:</p>
      <button type="submit">Manage billing</button>
    </form>
  )
}

export function SuccessPage(props: { provider: Brand; confirmed: boolean; name?: string; token: string }) {
  return (
    <Layout title="Thank you" provider={props.provider}>
      <h1>Thank you</h1>
      {props.confirmed ? (
        <p>Stripe has confirmed your payment for {props.name ?? 'your pub'}.</p>
      ) : (
        <p>Your payment is on its way to us; it can take a minute for Stripe to confirm it.</p>
      )}
      <p>
        What happens next: we set up your pub, and your Scuttlebutt app receives a private message from us when it is
        up, with an invite for your other devices. You can close this page.
      </p>
      <p>Stripe emails the receipt to the address you gave at checkout, and a new one for every renewal.</p>
      {props.confirmed && <ManageBilling token={props.token} />}
    </Layout>
  )
}

export function CancelPage(props: { provider: Brand; token: string }) {
  return (
    <Layout title="No payment made" provider={props.provider}>
      <h1>No payment was made</h1>
      <p>
        You left the checkout, so nothing was charged and your pub is not set up yet. The request waits for a while:
        you can <a href={`/pay/${props.token}`}>go back to the payment page</a> whenever you are ready.
      </p>
    </Layout>
  )
}

export function ErrorPage(props: { provider: Brand; title: string; message: string }) {
  return (
    <Layout title={props.title} provider={props.provider}>
      <h1>{props.title}</h1>
      <p>{props.message}</p>
    </Layout>
  )
}

/** An operator-provided text: blank lines separate paragraphs. */
export function TextPage(props: { provider: Brand; title: string; text: string }) {
  const paragraphs = props.text.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean)
  return (
    <Layout title={props.title} provider={props.provider}>
      <h1>{props.title}</h1>
      {paragraphs.map((p) => (
        <p>{p}</p>
      ))}
    </Layout>
  )
}

/** `/`: what this site is, what is on offer, and where the terms and privacy notice are. */
export function LandingPage(props: { provider: Brand; plans: readonly Plan[] }) {
  return (
    <Layout title="Scuttlebutt pubs" provider={props.provider}>
      <h1>Scuttlebutt pubs, hosted</h1>
      <p>
        {props.provider.name} runs Scuttlebutt pubs for people who want one without running a server. You ask for a
        pub, command it and cancel it with messages from your own Scuttlebutt identity; there are no accounts here.
        This site is only where paid plans are paid for, through Stripe.
      </p>
      <h2>Plans</h2>
      <ul>
        {props.plans.map((p) => (
          <li>
            {`${p.name}: ${p.memoryMiB} MiB memory, ${planDiskMiB(p)} MiB disk${planWebView(p) ? ', a public web page' : ''}, ${p.price === 0 ? 'free' : formatPrice(p)}`}
          </li>
        ))}
      </ul>
      <p>
        Read the <a href="/terms">terms of service</a> and the <a href="/privacy">privacy notice</a> before you ask
        for a pub.
      </p>
    </Layout>
  )
}
