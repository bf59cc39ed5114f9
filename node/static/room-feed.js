// src/room-feed.ts
var RoomFeed = class {
  constructor(client, handlers, offlineList) {
    this.client = client;
    this.handlers = handlers;
    this.offlineList = offlineList;
    client.addEventListener("state", (event) => {
      if (event.detail.state === "live") void this.sync();
    });
    client.addEventListener("room_added", (event) => this.heard({ kind: "added", room: event.detail.room }));
    client.addEventListener(
      "room_removed",
      (event) => this.heard({ kind: "removed", room: event.detail.room, banned: event.detail.banned })
    );
    client.addEventListener("room_updated", (event) => this.heard({ kind: "updated", room: event.detail.room }));
  }
  client;
  handlers;
  offlineList;
  /** The events heard since each read of the list in flight began. The server may write an
   * event before the list it read earlier, so the list is applied first and they again after
   * it: applied by id, an event the list already shows changes nothing. */
  heardDuringReads = /* @__PURE__ */ new Set();
  /** Numbers the reads; only the newest one's answer is shown. */
  reads = 0;
  /** Reads the list and shows it, with the events heard meanwhile applied on top. */
  async sync() {
    const read = ++this.reads;
    const heard = [];
    this.heardDuringReads.add(heard);
    try {
      const rooms = this.client.state === "live" ? await this.client.rooms() : await this.offlineList();
      if (read !== this.reads) return;
      this.handlers.list(rooms);
      for (const event of heard) this.apply(event);
    } catch (err) {
      const lost = err instanceof Error && "code" in err && ["disconnected", "timeout", "closed"].includes(String(err.code));
      if (read === this.reads && !lost) this.handlers.failed(err);
    } finally {
      this.heardDuringReads.delete(heard);
    }
  }
  heard(event) {
    for (const heard of this.heardDuringReads) heard.push(event);
    this.apply(event);
  }
  apply(event) {
    if (event.kind === "added") this.handlers.added(event.room);
    else if (event.kind === "removed") this.handlers.removed(event.room, event.banned);
    else this.handlers.updated(event.room);
  }
};
export {
  RoomFeed
};
