// A tiny WebSocket client for trying a cluster by hand: joins a room, sends one message, prints
// every frame it gets and the close code. With --hold N it stays connected N seconds (to watch
// a node drain: close 1012).
//
//   node --experimental-websocket deploy/local/ws-probe.mjs WS_URL TOKEN ROOM [TEXT] [--hold N]
//
// Node 20 has WebSocket behind --experimental-websocket; Node 22 has it by default.
const args = process.argv.slice(2);
const holdAt = args.indexOf("--hold");
const hold = holdAt >= 0 ? Number(args.splice(holdAt, 2)[1]) : 0;
const [url, token, room, text = "hello over nginx"] = args;
if (!url || !token || !room) {
  console.error("usage: ws-probe.mjs WS_URL TOKEN ROOM [TEXT] [--hold N]");
  process.exit(2);
}

const started = Date.now();
const stamp = () => `${String(Date.now() - started).padStart(6)} ms`;
const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, ["chat.v1.json"]);
let acked = false;
let delivered = false;

const done = (code) => {
  if (hold === 0 && acked && delivered) {
    ws.close(1000, "done");
  }
  if (code !== undefined) process.exit(code);
};

ws.onopen = () => {
  console.log(`${stamp()} open, subprotocol ${ws.protocol}`);
  ws.send(JSON.stringify({ type: "join", id: 1, room }));
  ws.send(JSON.stringify({ type: "send", id: 2, room, content: text, client_msg_id: crypto.randomUUID() }));
};
ws.onmessage = (event) => {
  const frame = JSON.parse(event.data);
  if (frame.type === "reply" && frame.id === 2 && frame.ok) {
    acked = true;
    console.log(`${stamp()} send acknowledged: seq ${frame.message.seq}, id ${frame.message.id}`);
  } else if (frame.type === "reply") {
    console.log(`${stamp()} reply ${frame.id}: ok=${frame.ok}` + (frame.ok ? "" : ` ${JSON.stringify(frame.error)}`));
  } else if (frame.type === "message") {
    delivered = true;
    console.log(`${stamp()} message delivered: seq ${frame.message.seq} "${frame.message.content}"`);
  } else {
    console.log(`${stamp()} ${frame.type}: ${JSON.stringify(frame)}`);
  }
  done();
};
ws.onclose = (event) => {
  console.log(`${stamp()} closed: code ${event.code} ${event.reason ? `"${event.reason}"` : ""}`);
  process.exit(acked && delivered ? 0 : 1);
};
ws.onerror = (event) => console.log(`${stamp()} error: ${event.message ?? "connection failed"}`);

setTimeout(() => {
  console.log(`${stamp()} giving up (acked=${acked}, delivered=${delivered})`);
  done(acked && delivered ? 0 : 1);
}, (hold || 10) * 1000);
