// An embedded chat-node a test starts, stops and starts again itself: same binary and settings as
// the suite's node (run.sh passes them), its own data folder, one port kept across restarts.
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";

/** Whether run.sh said how to start embedded nodes (it does with --embedded). */
export const CAN_START_NODES = Boolean(process.env.EMBEDDED_NODE_BIN && process.env.EMBEDDED_DATA_ROOT);

/** A free loopback port, for a node that binds it a moment later. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class EmbeddedNode {
  /** `name` names its data folder (under run.sh's temporary folder) and its log (in `logDir`). */
  constructor(name, port, logDir) {
    this.name = name;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.dataDir = join(process.env.EMBEDDED_DATA_ROOT, name);
    this.log = join(logDir, `${name}.log`);
    this.process = null;
    this.starts = 0;
  }

  /** Starts the node and waits until it answers `/healthz`. */
  async start() {
    if (this.process) throw new Error(`${this.name} is already running`);
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" };
    // No service URLs, so it runs embedded; no JWT_SECRET, so its key lives in the data folder.
    for (const name of ["NATS_URL", "DATABASE_URL", "REDIS_URL", "JWT_SECRET"]) delete env[name];
    const flags = (process.env.EMBEDDED_NODE_FLAGS ?? "").split(" ").filter(Boolean);
    const args = [...flags, "--data-dir", this.dataDir, "--listen", `127.0.0.1:${this.port}`, "--node-id", this.name];
    const log = openSync(this.log, this.starts === 0 ? "w" : "a");
    this.starts += 1;
    try {
      this.process = spawn(process.env.EMBEDDED_NODE_BIN, args, { env, stdio: ["ignore", log, log] });
    } finally {
      closeSync(log);
    }
    const child = this.process;
    child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const healthy = await fetch(`${this.url}/healthz`).then((r) => r.ok, () => false);
      if (healthy) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await this.stop().catch(() => {});
    throw new Error(`${this.name} did not become healthy on :${this.port}:\n${this.logTail()}`);
  }

  /** Stops the node with SIGTERM (a graceful shutdown) and resolves with how it exited. */
  async stop(timeoutMs = 15_000) {
    const child = this.process;
    if (!child) return { code: null, signal: null };
    this.process = null;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const outcome = await child.exited;
    clearTimeout(timer);
    return outcome;
  }

  logTail(lines = 30) {
    try {
      return readFileSync(this.log, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}
