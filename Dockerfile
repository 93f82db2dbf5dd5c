# syntax=docker/dockerfile:1
#
# patrol_exporter image: compiled JavaScript on Node.js 26 (the Active LTS line since October 2026),
# Debian 13 slim, non-root. No TypeScript tooling (tsx, typescript) in the runtime image.
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t patrol_exporter .
#   docker run -v $PWD/patrol.yml:/etc/patrol/patrol.yml -v patrol-data:/var/lib/patrol -p 9798:9798 patrol_exporter
#   docker run -p 9798:9798 patrol_exporter demo --web.listen-address=:9798
#
# Stages: build (TypeScript -> dist/), deps (production node_modules), runtime (slim, non-root).
#
# The base image is pinned to an exact Node.js release, for every stage at once. To pin it by
# content too, add its digest (README.md says how to look it up), here or on the command line:
# --build-arg NODE_IMAGE=node:26.13.0-trixie-slim@sha256:<digest>
ARG NODE_IMAGE=node:26.13.0-trixie-slim

# ---------------------------------------------------------------- build
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts here: `prepare` would compile before the sources are in, and no native module
# is needed to compile.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
# The git revision for --version and patrol_build_info (.git is not in the build context).
ARG REVISION=unknown
ENV PATROL_REVISION=${REVISION}
RUN npm run build

# ---------------------------------------------------------------- deps
# Production dependencies only (tsx and typescript are dev dependencies), installed on the same
# base as the runtime stage so native modules (better-sqlite3) match its Node.js exactly. Install
# scripts are skipped (`prepare` needs the compiler) except better-sqlite3's own. The compiler
# toolchain is only a fallback for platforms without a prebuilt better-sqlite3 binary; it stays in
# this stage, out of the image.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# ---------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
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
# --max-semi-space-size=4: the serving thread's young generation, as bin/patrol.js starts it (it says why).
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
CMD ["serve", "--config.file=/etc/patrol/patrol.yml", "--web.listen-address=:9798", "--storage.path=/var/lib/patrol/patrol.db"]
