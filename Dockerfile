# syntax=docker/dockerfile:1
# The mbxmux command line (serve, load, report merge, ...) on a Node.js LTS base, run as an unprivileged user.
# Build: docker build -t mbxmux .   Run: docker run --rm mbxmux devices --fleet cxl-type3=4
# Kubernetes manifests that use it: deploy/kubernetes/ (see the README, "Beyond one host").

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# No install scripts: the build runs below once the sources are in, and msgpackr's optional native addon is
# not compiled (msgpackr falls back to JavaScript, as it does wherever the addon is missing).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY src ./src
COPY workers ./workers
COPY bench ./bench
COPY test ./test
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/workers ./dist/workers
COPY --from=build /app/dist/bench ./dist/bench
# the C sources mbxmux expose builds on first use (with a compiler, which this slim image does not have)
COPY native ./native
# uid/gid 1000 is the image's "node" user; numeric, so Kubernetes' runAsNonRoot can verify it
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["--help"]
