/** The payment site: what the control plane imports to mount and serve it. */
export { createPaymentSite } from './site.js'
export { serveSite, type RunningSite, type ServeOptions } from './server.js'
export { factFromEvent, HANDLED_EVENTS, META_OWNER, META_REQUEST, type MappedEvent } from './stripe-events.js'
export { defaultPrivacy, defaultTerms } from './defaults.js'
export type { Directory, DirectoryEntry, Ledger, Logger, PaymentSiteOptions } from './types.js'
