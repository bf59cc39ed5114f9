// Builds the page into node/static, which chat-node embeds: the TypeScript compiled by tsc, and
// the files of public/ copied as they are. The output is committed so building Rust needs no npm.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// WEB_OUT_DIR builds elsewhere, to compare with what is committed.
const out = process.env.WEB_OUT_DIR ?? join(here, "..", "node", "static");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", here, "--outDir", out], {
  stdio: "inherit",
});
for (const name of readdirSync(join(here, "public"))) {
  copyFileSync(join(here, "public", name), join(out, name));
}
console.log(`built ${readdirSync(out).sort().join(", ")} into ${out}`);
