/* Yorisoi's service worker: the offline pages' shell, from this origin only.
 *
 * What it caches holds no personal data: the shell page, its script, the
 * stylesheet, the manifest and the icon.  Cases and drafts never pass through
 * here: they live sealed in IndexedDB (see offline.js).  Requests other than
 * GETs of those files go to the network untouched. */
"use strict";

const CACHE = "yorisoi-offline-v1";
const SHELL = [
  "/console/offline",
  "/console/static/offline/offline.js",
  "/console/static/offline/icon.svg",
  "/console/static/console.css",
  "/console/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !SHELL.includes(url.pathname)) return;
  // The cached copy first (works without the network), refreshed in the background.
  event.respondWith(caches.open(CACHE).then(async (cache) => {
    const cached = await cache.match(url.pathname);
    const fresh = fetch(request).then((response) => {
      if (response.ok) cache.put(url.pathname, response.clone());
      return response;
    }).catch(() => null);
    if (cached) {
      event.waitUntil(fresh);
      return cached;
    }
    return (await fresh) || new Response("", { status: 504 });
  }));
});
