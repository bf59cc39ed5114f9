// Builds the page into node/static, which chat-node embeds: each module of src/ compiled to a
// file of its own, @chat-cluster/client (clients/js) bundled into one, chat-client.js, and the
// files of public/ copied as they are. The output is committed so building Rust needs no npm.
//
// esbuild, not tsc, because the package is several modules and the node serves a fixed list of
// files (node/src/http/web.rs): bundled, it stays the one file the page has always loaded, and
// the page's imports of it are pointed there. Types are checked by `npm run check` (tsc).
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
// WEB_OUT_DIR builds elsewhere, to compare with what is committed.
const out = process.env.WEB_OUT_DIR ?? join(here, "..", "node", "static");
const PACKAGE = "@chat-cluster/client";

/** Leaves every import of a page module as it is, but for the package's, which goes to its
 * bundle beside the page's modules. */
const keepModulesApart = {
  name: "keep-modules-apart",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === "entry-point") return undefined;
      return { path: args.path === PACKAGE ? "./chat-client.js" : args.path, external: true };
    });
  },
};

const common = { absWorkingDir: here, bundle: true, format: "esm", target: "es2022", charset: "utf8", logLevel: "warning" };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  ...common,
  entryPoints: readdirSync(join(here, "src"))
    .filter((name) => name.endsWith(".ts"))
    .map((name) => join(here, "src", name)),
  outdir: out,
  plugins: [keepModulesApart],
});
await build({
  ...common,
  entryPoints: [join(here, "..", "clients", "js", "src", "index.ts")],
  outfile: join(out, "chat-client.js"),
});
for (const name of readdirSync(join(here, "public"))) {
  copyFileSync(join(here, "public", name), join(out, name));
}
console.log(`built ${readdirSync(out).sort().join(", ")} into ${out}`);
