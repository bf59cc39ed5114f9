// Checks a rolling restart from a client's side, through the entry point: a reader that rejoins with
// `since` after every close (1012 while a node drains), a REST sender with client ids that retries
// cut connections, and at the end whether the reader saw exactly the acknowledged messages, once
// and in order. Run it, then `deploy/local/cluster restart` while it sends:
//
//   node --experimental-websocket deploy/local/resume-check.mjs http://127.0.0.1:18000 [SECONDS]
const [base, seconds] = [process.argv[2], Number(process.argv[3] ?? 12)];
const post = async (path, body, token) => {
  for (;;) {
    // A connection cut by a reload is retried: the client_msg_id makes the retry safe.
    const r = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) }).catch(() => null);
    if (r && r.status < 500) return [r.status, await r.json()];
    await new Promise((ok) => setTimeout(ok, 100));
  }
};
const name = "rs" + Math.random().toString(36).slice(2, 8);
const [, reg] = await post("/auth/register", { username: name, password: "password-" + name });
const token = reg.access_token;
const [, room] = await post("/rooms", { name: "resume", type: "group", member_ids: [] }, token);
const acked = [], seen = [];
let reconnects = 0, closes = [];
let stop = false;
const wsUrl = base.replace("http", "ws") + "/ws?token=" + encodeURIComponent(token);
function connect() {
  const ws = new WebSocket(wsUrl, ["chat.v1.json"]);
  ws.onopen = () => ws.send(JSON.stringify({ type: "join", id: 1, room: room.id, since: seen.at(-1) ?? 0 }));
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === "reply" && f.id === 1) for (const m of f.messages ?? []) seen.push(m.seq);
    if (f.type === "message") seen.push(f.message.seq);
  };
  ws.onclose = (e) => { closes.push(e.code); if (!stop) { reconnects++; setTimeout(connect, 100); } };
  ws.onerror = () => {};
  return ws;
}
let ws = connect();
const end = Date.now() + seconds * 1000;
let n = 0;
while (Date.now() < end) {
  const [status, m] = await post(`/rooms/${room.id}/messages`, { content: "m" + n, client_msg_id: "c" + n }, token);
  if (status === 201 || status === 200) { if (!acked.includes(m.seq)) acked.push(m.seq); n++; }
  await new Promise((ok) => setTimeout(ok, 50));
}
await new Promise((ok) => setTimeout(ok, 3000));
stop = true;
const same = JSON.stringify(seen) === JSON.stringify(acked);
console.log(`acknowledged ${acked.length}, seen ${seen.length}, reconnects ${reconnects}, close codes ${[...new Set(closes)]}, exactly once in order: ${same}`);
process.exit(same ? 0 : 1);
