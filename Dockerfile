# syntax=docker/dockerfile:1
# EmergiSphere server (and, with another command, the HL7 bridge or the migration job).
#   docker build -t emergisphere .
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -p 8103:8103 emergisphere
ARG NODE_VERSION=24

# The clinician app (Vite build of app/ into app/dist), with the full dependency set.
FROM node:${NODE_VERSION}-bookworm-slim AS app
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build-app.ts --force

# Production dependencies only; nothing is compiled (Node 24 runs the TypeScript sources directly).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="EmergiSphere" \
      org.opencontainers.image.description="Emergency-department automation on FHIR" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    PORT=8103 \
    HOST=0.0.0.0 \
    TRUST_PROXY=true \
    DEPLOY_BOTS=false \
    SEED=false \
    HL7_BRIDGE=false
# glibc gives each thread that allocates its own malloc arena; two keep a busy server's resident
# memory from growing by tens of MB of half-empty arenas after load. A fixed trim threshold (glibc's
# default, 128 KiB, which it otherwise raises up to 64 MiB once a large buffer is freed) lets free()
# give the top of the heap back after load (docs/operations.md, Memory).
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json medplum.config.json tsconfig.json ./
COPY --chown=node:node server ./server
COPY --chown=node:node hl7-bridge ./hl7-bridge
COPY --chown=node:node server-config ./server-config
COPY --chown=node:node fhir-profiles ./fhir-profiles
COPY --chown=node:node scripts ./scripts
COPY --from=app --chown=node:node /app/app/dist ./app/dist
# The server never writes to its own files; only ./data (unused with DATABASE_URL) is writable.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8103
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8103)+'/healthcheck').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
# --no-memory-reducer: server/node-flags.ts
CMD ["node", "--no-memory-reducer", "server/index.ts"]
