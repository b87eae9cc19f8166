/**
 * Default terms of service and privacy notice, for an operator who has not written their own yet. Plain text,
 * paragraphs separated by blank lines; the operator's own text replaces them entirely.
 */
import type { Operator } from '../src/protocol/offer.js'

/** "Who we are": the operator's name, jurisdiction and contact, or a pointer to the offer when none is set. */
function whoWeAre(provider: string, operator: Operator | undefined): string {
  return operator
    ? `Who we are. ${provider} is operated by ${operator.name}, established in ${operator.jurisdiction}, whose law applies to these terms. Write to ${operator.contact} about anything here.`
    : `Who we are. ${provider} has not named its operator yet; ask it over Scuttlebutt before you pay.`
}

/** Terms of service naming the provider and, when set, its operator. */
export function defaultTerms(provider: string, operator?: Operator): string {
  return `These terms apply to pubs hosted by ${provider} ("we") for you ("the owner").

${whoWeAre(provider, operator)}

What you get. We run a Scuttlebutt pub for you on the plan you chose, and keep it reachable as well as we reasonably can. There is no guaranteed uptime.

How you control it. You create, command and destroy your pub with messages from your own Scuttlebutt identity. Whoever holds that identity's secret key controls the pub: keep it safe.

Paying. Paid plans are billed in advance for each period through Stripe, until you cancel. Stripe emails you a receipt for every payment, to the address you give at checkout. Sending a destroy command cancels the subscription and deletes the pub; we do not refund the current period. To stop paying and keep the pub to the end of the period you paid for, cancel at the end of the period on Stripe's billing page (the billing command, or the Manage billing button on your payment page): the pub runs until then, is stopped when the period ends, and its data is deleted after the retention period; renewing before the end keeps everything as it is.

When a payment fails, your pub keeps running for a grace period while Stripe retries, and we tell you privately over Scuttlebutt. If no payment arrives, the pub is stopped and its data kept. If the subscription ends, the pub is stopped and its data deleted after a retention period.

Acceptable use. Do not use the pub to break the law or to attack other systems. We may stop a pub that does, and we will tell you why.

Changes. We announce changes to these terms and to prices in our offer message at least 30 days ahead.`
}

/** Privacy notice naming the provider and, when set, its operator (the controller of the data). */
export function defaultPrivacy(provider: string, operator?: Operator): string {
  return `${provider} keeps as little about you as it can.

${whoWeAre(provider, operator)}

What we process. Your Scuttlebutt identity (a public key), your requests and commands, and the messages your pub replicates, which are what Scuttlebutt peers already share. Encrypted messages stay encrypted: the pub cannot read them.

Payments. Stripe handles card details; we never see them. Stripe asks for your email address to send your receipts; we do not keep it. We keep the payment events Stripe sends us (subscription and customer ids, dates and states), encrypted to our own identity.

This site sets no cookies and runs no scripts or trackers. Our web server sees your IP address for each request and does not keep it beyond ordinary short-lived logs.

Deletion. Destroying your pub deletes its data. Payment records are kept as long as accounting law requires.`
}
