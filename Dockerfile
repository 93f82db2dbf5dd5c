# syntax=docker/dockerfile:1
#
# patrol_exporter image.
#   docker build -t patrol_exporter .
#   docker run -p 9798:9798 -v $PWD/patrol.yml:/etc/patrol/patrol.yml:ro patrol_exporter
#   docker run -p 9798:9798 patrol_exporter demo --web.listen-address=:9798
#
# Stages: build (TypeScript -> dist/), deps (production node_modules), runtime (slim, non-root).

# ---------------------------------------------------------------- build
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------- deps
# `npm ci --omit=dev` runs on the same slim base as the runtime stage so native modules
# (better-sqlite3) match its Node.js exactly. The compiler toolchain is only a fallback for
# platforms without a prebuilt better-sqlite3 binary; it stays in this stage, out of the image.
FROM node:20-bookworm-slim AS deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---------------------------------------------------------------- runtime
FROM node:20-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="patrol_exporter" \
      org.opencontainers.image.description="Prometheus exporter that inspects an API platform's services: availability, authorization and metering." \
      org.opencontainers.image.source="https://github.com/patrol-exporter/patrol_exporter" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
# The application files belong to root and are read-only for the service user.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY examples ./examples
# /etc/patrol: mount the config here (patrol.yml). /var/lib/patrol: history (SQLite) and other
# state; point the config's history path at it and mount a volume to keep it across restarts.
RUN mkdir -p /etc/patrol /var/lib/patrol \
 && chown node:node /var/lib/patrol
VOLUME ["/var/lib/patrol"]
# `node` (uid 1000) comes with the official image.
USER node
EXPOSE 9798
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9798/-/healthy',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve", "--config.file=/etc/patrol/patrol.yml", "--web.listen-address=:9798", "--storage.path=/var/lib/patrol/patrol.db"]
