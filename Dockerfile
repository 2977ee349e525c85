# syntax=docker/dockerfile:1
# The API as a container image. Build: docker build -t oauth-protected-api .
# Run:   docker run -p 3010:3010 -e ISSUER_BASE_URL=https://tenant.auth0.com/ -e AUDIENCE=https://quickstarts/api oauth-protected-api
# (NODE_ENV=production: without an issuer the service refuses to start; the local issuer is for development.)

# --- build: TypeScript compiled with the dev dependencies ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
RUN npm run build

# --- runtime: production dependencies and the compiled service, nothing else ---
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3010
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# The image's unprivileged "node" user, by number so Kubernetes' runAsNonRoot can verify it;
# the service writes nothing to disk.
USER 1000:1000
EXPOSE 3010
# Liveness only (the process answers). The image may lack curl, so node's own fetch asks.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3010) + '/health/live').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
