# etag-proxy image: build the TypeScript, then a slim runtime with production dependencies only.
# Node 24 (the active LTS line); the package itself supports Node 20.19 and newer (engines).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The default store is the disk store in $XDG_CACHE_HOME/etag-proxy: a volume, so the cache and
# its validators outlive the container (`-v etag-cache:/cache`).
ENV XDG_CACHE_HOME=/cache
RUN mkdir -p /cache && chown node:node /cache
VOLUME /cache
USER node
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
