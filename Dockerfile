# One image for every process of the control plane: the worker (default CMD), the API
# (`node dist/api/main.js`) and the local runtime agent (`node dist/runtime/agent/main.js`,
# which also starts the model-server replicas from dist/runtime/model-server/main.js).
# docker-compose.yml shows how each is started.

# ---- build: compile TypeScript to dist/ with the dev toolchain ---------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so a source-only change reuses this layer.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# tsconfig.build.json compiles workflows, activities, worker, api, observer, runtime, scripts, config.
COPY . .
RUN npm run build

# ---- runtime: production dependencies and the compiled output only -----------------------
FROM node:24-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production

COPY package.json package-lock.json ./
# @temporalio/worker is a production dependency: the worker bundles dist/workflows at start.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist

# The agent keeps its state (and replica logs) under DATA_DIR; the image's `node` user owns the
# folder, so a named volume mounted there starts out writable by it.
RUN mkdir -p /data && chown node:node /data
ENV DATA_DIR=/data

# The code and dependencies stay root-owned and read-only to the process.
USER node

CMD ["node", "dist/worker/main.js"]
