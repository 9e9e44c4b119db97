# syntax=docker/dockerfile:1
# Build stage: install everything, compile TypeScript. Both stages run the Node that CI runs the suite on a second time
# (.ci/run, IMAGE_NODE: change them together); Node 20 went out of support in April 2026 (docs/performance-log.md, "Node 24").
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and the compiled code only, as a non-root user.
# NODE_ENV is production: the service then refuses to start (exit 78) without OTP_HMAC_KEYS, AUDIT_PHONE_HASH_KEY
# and a real provider (SMS_PROVIDER and VOICE_PROVIDER http, with SMS_HTTP_URL, VOICE_HTTP_URL, PROVIDER_HTTP_TOKEN).
FROM node:24.22.3-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "--no-memory-reducer", "--max-semi-space-size=8", "dist/src/main.js"]
