// Deletes a JetStream stream by speaking the NATS text protocol (no client library needed).
// usage: node delete-stream.mjs nats://host:port stream_name
import { connect } from "node:net";

const [url, stream] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const socket = connect(Number(port || 4222), hostname);
const timer = setTimeout(() => socket.destroy(), 3000);
let buffered = "";
socket.on("data", (data) => {
  buffered += data.toString();
  if (buffered.startsWith("INFO") && !socket.sent) {
    socket.sent = true;
    socket.write(`CONNECT {"verbose":false,"pedantic":false}\r\nSUB _browser_inbox 1\r\n`);
    socket.write(`PUB $JS.API.STREAM.DELETE.${stream} _browser_inbox 0\r\n\r\n`);
  }
  if (buffered.includes("MSG _browser_inbox") || buffered.includes("-ERR")) {
    clearTimeout(timer);
    socket.end();
  }
});
socket.on("error", () => process.exit(1));
