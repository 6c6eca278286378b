# syntax=docker/dockerfile:1
# extproc-authz image: build stage compiles with the Makefile; the runtime stage holds only the
# compiled output and production dependencies, and runs as the image's non-root `node` user.
#   docker build -t extproc-authz .
#   docker run --rm extproc-authz --help
# The docker-compose lab (docker-compose.yml, `make lab`) builds and runs it.

# Node 24 LTS, the line `make test-node24` tests (Node 20 reached end of life on 2026-04-30).
# Not built on the project's CI machines (no Docker engine there): test/integration/
# lab-consistency.test.ts checks this file's text; `make lab` builds it where Docker runs.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# --- build: full toolchain (make, buf and tsc come from npm devDependencies) ------------------
FROM node:24.22.3-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY Makefile tsconfig.json ./
COPY proto ./proto
COPY src ./src
COPY lab ./lab
# npm ci already installed: mark it so make does not install again. tests and bench are not
# in the build context (.dockerignore), so tsc compiles src/ and lab/ only.
RUN touch node_modules/.installed && make build

# --- production dependencies only ---------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script; devDependencies (buf, tsc, grpc-js-xds protos) are
# build-time only: the runtime reads the compiled descriptor set in dist/proto instead.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HEALTHCHECK_URL=http://127.0.0.1:9901/healthz
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
# dist/proto: the descriptor set the Workload API client loads at run time.
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/proto ./dist/proto
# dist/lab: the lab's counting upstream (a few KiB), so the lab needs no second image.
COPY --from=build /src/dist/lab ./dist/lab
# Mount points owned by `node`: an empty named volume mounted here takes this ownership, so the
# non-root processes can write the lab PKI and read their 0600 keys.
RUN ln -s /app/dist/src/cli/main.js /usr/local/bin/extproc-authz \
 && mkdir -p /etc/extproc-authz/certs /etc/extproc-authz/ca /etc/extproc-authz/keys \
 && chown -R node:node /etc/extproc-authz
USER node
# The admin server (config `admin.listen`) answers /healthz; slim images have no curl, so node
# asks. Override HEALTHCHECK_URL if the admin address differs.
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL,{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve", "--config", "/etc/extproc-authz/config.yaml"]
