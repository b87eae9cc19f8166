/** The blob ids a message's content names: what a pub fetches so it can serve a post's pictures while its author is offline. */

/** ssb-blobs' own default maximum (5 MiB), kept as the pub's default (`PUB_BLOBS_MAX`). */
export const DEFAULT_BLOB_MAX_BYTES = 5 * 1024 * 1024

const BLOB_ID = /^&[A-Za-z0-9+/]{43}=\.sha256$/
// A markdown image whose target is a blob: `![alt](&<base64>.sha256)` (alt text without brackets, as Patchwork writes it).
const MARKDOWN_IMAGE = /!\[[^\]]{0,1000}\]\((&[A-Za-z0-9+/]{43}=\.sha256)\)/g
// A message naming more blobs than this is not a post with pictures; the rest are ignored.
export const MAX_BLOBS_PER_MESSAGE = 32

/** True for a blob id (`&<base64 of 32 bytes>.sha256`). */
export function isBlobId(value: unknown): value is string {
  return typeof value === 'string' && BLOB_ID.test(value)
}

/**
 * Blob ids in a message's content: `mentions[].link`, markdown image links in `text`, and an `about`'s `image`
 * (a string or `{ link }`). Private messages (content is a string) name none. At most MAX_BLOBS_PER_MESSAGE.
 */
export function blobLinks(content: unknown): string[] {
  if (!content || typeof content !== 'object') return []
  const c = content as { mentions?: unknown; text?: unknown; type?: unknown; image?: unknown }
  const found = new Set<string>()
  const add = (value: unknown) => {
    if (found.size < MAX_BLOBS_PER_MESSAGE && isBlobId(value)) found.add(value)
  }
  if (Array.isArray(c.mentions)) {
    for (const mention of c.mentions.slice(0, 200)) add(mention && typeof mention === 'object' ? (mention as { link?: unknown }).link : mention)
  }
  if (typeof c.text === 'string') for (const match of c.text.matchAll(MARKDOWN_IMAGE)) add(match[1])
  if (c.type === 'about') add(c.image && typeof c.image === 'object' ? (c.image as { link?: unknown }).link : c.image)
  return [...found]
}
