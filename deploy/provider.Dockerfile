# The provider's image: the sbot with the buttcloud plugin and the payment site, from the official Node base image.
# Build from the repository root:
#   docker build -f deploy/provider.Dockerfile -t buttcloud-provider:$(node -p 'require("./package.json").version') .
# It drives Docker Swarm through the manager's engine (mount its socket, or name a TLS/ssh engine in the settings),
# keeps everything it owns in /data (key, log, indexes, capacity report) and its pub backups in /backups.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Native modules (sodium-native, leveldown) load prebuilt binaries at run time; blake3's install script would try
# to download one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json

FROM node:20-slim
ENV NODE_ENV=production \
    BUTTCLOUD_DATA=/data \
    BUTTCLOUD_BACKUPS=/backups \
    BUTTCLOUD_CONFIG=/etc/buttcloud/provider.json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY ssb-config ./ssb-config
RUN mkdir -p /data /backups /etc/buttcloud && chown node:node /data /backups && chmod 700 /data /backups
# Root only for the engine's socket (root:docker 660): run with `--group-add <docker gid>` and the user below instead
# where the host allows it (deploy/stack.yml does).
USER node
VOLUME ["/data", "/backups"]
# 8118: SSB peers (users, pubs); 8119: the payment site (behind your TLS proxy); 8120: metrics, when given a port.
EXPOSE 8118 8119 8120
# The payment site answers while the provider runs; a stopped or wedged provider does not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.BUTTCLOUD_WEB_PORT||8119)+'/').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/src/provider/main.js"]
