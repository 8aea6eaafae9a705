import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Path prefixes that belong to the API; everything else may be a route of the single-page app.
 * Under /admin only the API's own branches are listed: the app's administration pages live at
 * /admin, /admin/members, … and must open on a reload or a shared link.
 */
const API_PREFIXES = [
  '/fhir/',
  '/fhir/R4',
  '/auth/',
  '/oauth2/',
  '/admin/projects/',
  '/admin/subscriptions/',
  '/admin/hl7/',
  '/admin/super/',
  '/ws/',
  '/.well-known/',
  '/healthcheck',
  '/health/',
  '/metrics',
];

/**
 * The app's own Content-Security-Policy: scripts only from this origin, the API and its
 * websocket on this origin; Mantine writes its CSS variables into style elements.
 */
const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

type NotFound = (request: FastifyRequest, reply: FastifyReply) => unknown;

export function isAppPath(path: string): boolean {
  return !API_PREFIXES.some((p) => path === p.replace(/\/$/, '') || path.startsWith(p));
}

/**
 * Serves the built clinician app (`app/dist`) at `/`: hashed assets with long caching, and
 * `index.html` for any other GET that asks for HTML (client-side routes such as /Encounter/123),
 * so a reload or a shared link opens the right screen. Returns the not-found handler to install:
 * `notFound` itself when no build is there, else `notFound` behind the app's fallback.
 */
export async function registerStaticApp(fastify: FastifyInstance, appDir: string, notFound: NotFound): Promise<NotFound> {
  const root = resolve(appDir);
  if (!existsSync(resolve(root, 'index.html'))) {
    return notFound;
  }
  await fastify.register(fastifyStatic, {
    root,
    prefix: '/',
    // Unknown files fall through to the not-found handler below (SPA routes, API 404s).
    wildcard: true,
    index: false,
    setHeaders: (reply, path) => {
      if (path.includes('/assets/')) {
        reply.header('Cache-Control', 'public, max-age=31536000, immutable');
      }
    },
  });
  const sendIndex = (reply: FastifyReply) =>
    reply.header('Cache-Control', 'no-cache').header('Content-Security-Policy', APP_CSP).type('text/html').sendFile('index.html');
  fastify.get('/', (_request, reply) => sendIndex(reply));
  return (request, reply) => {
    const path = request.url.split('?')[0];
    const wantsHtml = (request.headers.accept ?? '').includes('text/html');
    if ((request.method === 'GET' || request.method === 'HEAD') && wantsHtml && isAppPath(path) && !path.startsWith('/assets/')) {
      return sendIndex(reply);
    }
    return notFound(request, reply);
  };
}
