// How an X media tab looks to the extension: which paths are media tabs, which elements are media
// cells, and which media a cell shows. Kept apart from the content script so node:test can check the
// parsing on real-looking URLs, and so a markup change at X is fixed in one place.
// The content script inlines this module at build time (see tools/build/extension.mjs), so it exports
// only plain declarations and imports nothing.
//
// A cell is known by its media key, a string that is either
//   - a media id (a photo): "GZx3_aBc-9Q", from pbs.twimg.com/media/<id>, or
//   - a poster key (a video or GIF, judged by its poster frame): the thumbnail's path on pbs.twimg.com
//     without extension or query, e.g. "ext_tw_video_thumb/1234567890/pu/img/AbC-d_12",
//     "amplify_video_thumb/1234567890/img/AbC", "tweet_video_thumb/AbCd" (GIFs).
// Both are stable per cell (X re-mounts cells while scrolling) and key the verdict cache. A poster key
// always holds a "/", a media id never does. Anything else (other hosts, other paths, odd characters,
// "..", percent escapes, huge strings) is no key: the cell is not judged.

// A media cell is a link to one photo or video of a post (GIFs are videos; the grid sometimes links a
// video to /photo/1). X renders the picture as an <img>, as a div with a background-image (which one
// is visible changes between X versions, so both count), or, once a video autoplays, as a <video
// poster>.
export const CELL_SELECTOR = 'a[href*="/status/"][href*="/photo/"], a[href*="/status/"][href*="/video/"]';
const CELL_HREF = /\/status\/\d+\/(?:photo|video)\/\d+/;
const PICTURE_SELECTOR = 'img[src], video[poster], [style*="pbs.twimg.com/"]';

// pbs.twimg.com/media/<id>{?format=…|.jpg|:small|…}. Ids are base64url-ish; the bound stops a hostile
// page from making us carry huge strings around.
const MEDIA_URL = /^(?:https?:)?\/\/pbs\.twimg\.com\/media\/([A-Za-z0-9_-]{1,64})(?=$|[.:?#/])/;
const MEDIA_ID = /^[A-Za-z0-9_-]{1,64}$/;
// Poster frames: videos (ext_tw_video_thumb: uploaded, pu/pr = public/promoted; amplify_video_thumb:
// from X's media studio) and GIFs (tweet_video_thumb). Digits are the media's numeric id.
const POSTER_PATH = String.raw`(?:ext_tw_video_thumb\/\d{1,25}\/(?:(?:pu|pr)\/)?img|amplify_video_thumb\/\d{1,25}\/img|tweet_video_thumb)\/[A-Za-z0-9_-]{1,64}`;
const POSTER_KEY = new RegExp(`^${POSTER_PATH}$`);
const POSTER_URL = new RegExp(String.raw`^(?:https?:)?\/\/pbs\.twimg\.com\/(${POSTER_PATH})(?:\.(?:jpe?g|png|webp))?(?=$|[?#:])`);
const CSS_URL = /url\(\s*(["']?)(.*?)\1\s*\)/g;

// Pictures that content.css holds hidden until judged: a cell holding one whose URL gives no key (an
// odd or hostile URL) is shown at once instead of waiting forever (fail open). Keep in step with the
// hold rules in content.css (tests/node/extension.test.mjs checks that every one is there).
export const HELD_PICTURE_SELECTOR = ['media', 'ext_tw_video_thumb', 'amplify_video_thumb', 'tweet_video_thumb']
  .flatMap((path) => [`img[src*="pbs.twimg.com/${path}/"]`, `video[poster*="pbs.twimg.com/${path}/"]`, `[style*="pbs.twimg.com/${path}/"]`])
  .join(', ');

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

/** The user whose profile (or profile tab) this path is, lower-cased, or null. */
export function profileUserOfPath(pathname) {
  if (!isProfilePath(pathname)) return null;
  return PROFILE_PATH.exec(pathname)[1].toLowerCase();
}

/**
 * The author of the post a media cell belongs to, lower-cased, from its link
 * (/AUTHOR/status/ID/photo/N or /AUTHOR/status/ID/video/N), or null. On a profile, a retweet's or a
 * quoted post's media link to the other account.
 */
export function authorOfCell(cell) {
  const match = /^\/([A-Za-z0-9_]{1,15})\/status\/\d+\/(?:photo|video)\/\d+/.exec(cell.getAttribute('href') || '');
  return match ? match[1].toLowerCase() : null;
}

// A photo or video X shows over the page it was opened from (the grid stays under it).
const MEDIA_VIEWER_PATH = /^\/[A-Za-z0-9_]{1,15}\/status\/\d+\/(?:photo|video)\/\d+\/?$/;

/** True on the path of a photo or video opened over the page, e.g. "/someartist/status/123/photo/1". */
export function isMediaViewerPath(pathname) {
  return typeof pathname === 'string' && MEDIA_VIEWER_PATH.test(pathname);
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

/** The poster key of a video or GIF poster URL on pbs.twimg.com, or null for anything else. */
export function posterKeyFromUrl(url) {
  if (typeof url !== 'string') return null;
  const match = POSTER_URL.exec(url.trim());
  return match ? match[1] : null;
}

/** The media key (media id or poster key) a picture URL names, or null. */
export function mediaKeyFromUrl(url) {
  return mediaIdFromUrl(url) ?? posterKeyFromUrl(url);
}

/** Every media id named by url(...) in a CSS background-image value. */
export function mediaIdsFromCssBackground(value) {
  return mediaKeysFromCssBackground(value).filter((key) => MEDIA_ID.test(key));
}

/** Every media key (media id or poster key) named by url(...) in a CSS background-image value. */
export function mediaKeysFromCssBackground(value) {
  const keys = [];
  if (typeof value !== 'string') return keys;
  for (const match of value.matchAll(CSS_URL)) {
    const key = mediaKeyFromUrl(match[2]);
    if (key) keys.push(key);
  }
  return keys;
}

/** True for a video or GIF poster key (judged only while the "Judge videos and GIFs" setting is on). */
export function isPosterKey(key) {
  return typeof key === 'string' && POSTER_KEY.test(key);
}

/** True for a well-formed media key; the service worker refuses anything else. */
export function isMediaKey(key) {
  return typeof key === 'string' && (MEDIA_ID.test(key) || POSTER_KEY.test(key));
}

/** What a media key shows: 'photo' | 'video' | 'gif', or null for no key. */
export function mediaKindOfKey(key) {
  if (typeof key !== 'string') return null;
  if (MEDIA_ID.test(key)) return 'photo';
  if (!POSTER_KEY.test(key)) return null;
  return key.startsWith('tweet_video_thumb/') ? 'gif' : 'video';
}

/**
 * The URL the service worker fetches for a media key (media id or poster key) when the page's own
 * thumbnail URL is not known (or could not be read), or null for no key: "small" (at most 680 px) is
 * plenty for a 224 px model and is what the grid shows. JPEG, which every core build decodes; poster
 * frames take the same query. The page's own URL (WebP) is preferred, see thumbnailUrlOfCell.
 */
export function jpegUrlForMedia(key) {
  if (!isMediaKey(key)) return null;
  const path = MEDIA_ID.test(key) ? `media/${key}` : key; // both only hold [A-Za-z0-9_/-]: nothing to escape
  return `https://pbs.twimg.com/${path}?format=jpg&name=small`;
}

/** X's CDN answered a picture's URL so for good (404 Not Found, 410 Gone): asking again gets the same. */
export const isGoneStatus = (status) => status === 404 || status === 410;

/**
 * url is the media's JPEG, jpegUrlForMedia's resource under any size name (`name=`, `:small`): format=jpg,
 * or no format and a .jpg path (a poster's). Its bytes are those the JPEG would give: not fetched again.
 */
export function isJpegUrlOf(url, key) {
  if (typeof url !== 'string' || !isMediaKey(key) || mediaKeyFromUrl(url) !== key) return false;
  let parsed;
  try { parsed = new URL(url.trim(), 'https://pbs.twimg.com/'); } catch { return false; }
  if (parsed.host !== 'pbs.twimg.com') return false;
  const format = parsed.searchParams.get('format') ?? parsed.pathname.match(/\.(\w+)(?::\w+)?$/)?.[1];
  return format === 'jpg' || format === 'jpeg';
}

/**
 * The first picture in a cell that names a media key, as {key, url}: url is the picture's URL as the
 * page requested it (an <img> src, a <video poster> or a background-image), or null if the cell shows
 * none yet.
 */
function pictureOfCell(cell) {
  if (!CELL_HREF.test(cell.getAttribute('href') || '')) return null;
  for (const el of cell.querySelectorAll(PICTURE_SELECTOR)) {
    const urls = el.localName === 'img' ? [el.getAttribute('src')]
      : el.localName === 'video' ? [el.getAttribute('poster')]
        : [...(el.style?.backgroundImage || el.getAttribute('style') || '').matchAll(CSS_URL)].map((match) => match[2]);
    for (const url of urls) {
      const key = mediaKeyFromUrl(url);
      if (key) return { key, url: url.trim() };
    }
  }
  return null;
}

/**
 * The media key a cell element (an <a> matching CELL_SELECTOR) shows, or null if it shows none yet:
 * the first picture in the cell (an <img>, a <video poster> or a background-image) that names one.
 */
export function mediaKeyOfCell(cell) {
  return pictureOfCell(cell)?.key ?? null;
}

/**
 * The pbs.twimg.com URL of the thumbnail a cell shows (the picture its media key comes from: an <img>
 * src, a video's poster or a background image, as the page requested it, e.g.
 * ...?format=webp&name=small), absolute and https, or null. Judging the very bytes the page downloaded
 * lets the browser's HTTP cache answer the extension's request. For a video or GIF this is its poster
 * frame. The URL always names the cell's own media key (mediaKeyFromUrl), so whoever fetches it
 * fetches nothing else.
 */
export function thumbnailUrlOfCell(cell) {
  const picture = pictureOfCell(cell);
  if (!picture) return null;
  const absolute = picture.url.startsWith('//') ? `https:${picture.url}` : picture.url;
  return absolute.startsWith('https://pbs.twimg.com/') && mediaKeyFromUrl(absolute) === picture.key ? absolute : null;
}

/** The photo media id a cell shows, or null (also for video and GIF cells). */
export function mediaIdOfCell(cell) {
  const key = mediaKeyOfCell(cell);
  return mediaKindOfKey(key) === 'photo' ? key : null;
}
