// Prints N free loopback ports, for processes that bind them a moment later.
import { createServer } from "node:net";

const count = Number(process.argv[2] ?? 1);
const servers = [];
for (let i = 0; i < count; i++) {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
}
console.log(servers.map((s) => s.address().port).join(" "));
for (const server of servers) server.close();
