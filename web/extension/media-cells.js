// How an X media tab looks to the extension: which paths are media tabs, which elements are media
// cells, and which media id a cell shows. Kept apart from the content script so node:test can check
// the parsing on real-looking URLs, and so a markup change at X is fixed in one place.
// The content script inlines this module at build time (see tools/build/extension.mjs), so it exports
// only plain declarations and imports nothing.

// A media cell is a link to one photo of a post; X renders the picture both as an <img> and as a div
// with a background-image (which one is visible changes between X versions, so both count).
export const CELL_SELECTOR = 'a[href*="/status/"][href*="/photo/"]';
const PHOTO_HREF = /\/status\/\d+\/photo\/\d+/;

// pbs.twimg.com/media/<id>{?format=…|.jpg|:small|…}. Ids are base64url-ish; the bound stops a hostile
// page from making us carry huge strings around.
const MEDIA_URL = /^(?:https?:)?\/\/pbs\.twimg\.com\/media\/([A-Za-z0-9_-]{1,64})(?=$|[.:?#/])/;
const CSS_URL = /url\(\s*(["']?)(.*?)\1\s*\)/g;

// X user names are 1–15 of [A-Za-z0-9_]; /USER/media is the media tab (x.com and twitter.com alike).
const MEDIA_TAB_PATH = /^\/[A-Za-z0-9_]{1,15}\/media\/?$/;

// A profile page: /USER or one of its tabs, where the media tab is one click away. The first segment
// must not be one of X's own top-level pages, whose names are also valid user names.
const PROFILE_PATH = /^\/([A-Za-z0-9_]{1,15})(?:\/(?:with_replies|highlights|articles|media|likes|superfollows))?\/?$/;
const NOT_USERS = new Set(['home', 'explore', 'notifications', 'messages', 'i', 'settings', 'search', 'compose', 'login',
  'logout', 'signup', 'tos', 'privacy', 'bookmarks', 'lists', 'communities', 'premium', 'jobs', 'hashtag', 'account',
  'intent', 'share', 'download', 'about', 'help', 'display', 'topics', 'places', 'who_to_follow', 'connect_people',
  'spaces', 'grok']);

/** True on a user's profile or one of its tabs, e.g. "/someartist" or "/someartist/likes". */
export function isProfilePath(pathname) {
  if (typeof pathname !== 'string') return false;
  const match = PROFILE_PATH.exec(pathname);
  return Boolean(match) && !NOT_USERS.has(match[1].toLowerCase());
}

/**
 * The account a media tab belongs to, lower-cased (X user names are case-insensitive), or null off a
 * media tab. Corrections are scoped by it (web/lib/personal-layer.js).
 */
export function accountOfPath(pathname) {
  return isMediaTabPath(pathname) ? pathname.split('/')[1].toLowerCase() : null;
}

/** True on a profile's media tab path, e.g. "/someartist/media". */
export function isMediaTabPath(pathname) {
  return typeof pathname === 'string' && MEDIA_TAB_PATH.test(pathname);
}

/** The media id in a pbs.twimg.com/media URL, or null for anything else (video thumbs, avatars…). */
export function mediaIdFromUrl(url) {
  if (typeof url !== 'string') return null;
  const match = MEDIA_URL.exec(url.trim());
  return match ? match[1] : null;
}

/** Every media id named by url(...) in a CSS background-image value. */
export function mediaIdsFromCssBackground(value) {
  const ids = [];
  if (typeof value !== 'string') return ids;
  for (const match of value.matchAll(CSS_URL)) {
    const id = mediaIdFromUrl(match[2]);
    if (id) ids.push(id);
  }
  return ids;
}

/**
 * The URL the extension fetches for a media id: X serves WebP by default, which the core refuses, so
 * ask for JPEG; "small" (at most 680 px) is plenty for a 224 px model and is what the grid shows.
 */
export function jpegUrlForMedia(mediaId) {
  return `https://pbs.twimg.com/media/${encodeURIComponent(mediaId)}?format=jpg&name=small`;
}

/** The media id a cell element (an <a> matching CELL_SELECTOR) shows, or null if it shows none yet. */
export function mediaIdOfCell(cell) {
  if (!PHOTO_HREF.test(cell.getAttribute('href') || '')) return null;
  for (const img of cell.querySelectorAll('img[src]')) {
    const id = mediaIdFromUrl(img.getAttribute('src'));
    if (id) return id;
  }
  for (const el of cell.querySelectorAll('[style*="pbs.twimg.com/media/"]')) {
    const [id] = mediaIdsFromCssBackground(el.style.backgroundImage || el.getAttribute('style'));
    if (id) return id;
  }
  return null;
}
