// The user's room list, kept complete by the re-sync rule of "Your feed" (docs/API.md): each
// time the client becomes live it reads the list over the socket, then applies the feed's
// `room_added`, `room_removed` and `room_updated` events by room id.

import type { ChatClient, Id, Room, RoomSummary } from "@chat-cluster/client";

export interface RoomFeedHandlers {
  /** The whole list, replacing what was shown. */
  list: (rooms: RoomSummary[]) => void;
  /** A room to show (again, perhaps: the list may already hold it). */
  added: (room: RoomSummary) => void;
  /** A room to drop, if shown; `banned` when a moderator banned the user from it. */
  removed: (room: Id, banned: boolean) => void;
  /** New name, topic or post policy of a room, if shown. */
  updated: (room: Room) => void;
  /** Reading the list failed for a reason other than the connection going (becoming live
   * again reads it again). */
  failed: (err: unknown) => void;
}

type FeedEvent =
  | { kind: "added"; room: RoomSummary }
  | { kind: "removed"; room: Id; banned: boolean }
  | { kind: "updated"; room: Room };

export class RoomFeed {
  /** The events heard since each read of the list in flight began. The server may write an
   * event before the list it read earlier, so the list is applied first and they again after
   * it: applied by id, an event the list already shows changes nothing. */
  private readonly heardDuringReads = new Set<FeedEvent[]>();
  /** Numbers the reads; only the newest one's answer is shown. */
  private reads = 0;

  constructor(
    private readonly client: ChatClient,
    private readonly handlers: RoomFeedHandlers,
    /** The list over REST, for when the socket is not live (no events arrive then). */
    private readonly offlineList: () => Promise<RoomSummary[]>,
  ) {
    client.addEventListener("state", (event) => {
      if (event.detail.state === "live") void this.sync();
    });
    client.addEventListener("room_added", (event) => this.heard({ kind: "added", room: event.detail.room }));
    client.addEventListener("room_removed", (event) =>
      this.heard({ kind: "removed", room: event.detail.room, banned: event.detail.banned }),
    );
    client.addEventListener("room_updated", (event) => this.heard({ kind: "updated", room: event.detail.room }));
  }

  /** Reads the list and shows it, with the events heard meanwhile applied on top. */
  async sync(): Promise<void> {
    const read = ++this.reads;
    const heard: FeedEvent[] = [];
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

  private heard(event: FeedEvent): void {
    for (const heard of this.heardDuringReads) heard.push(event);
    this.apply(event);
  }

  private apply(event: FeedEvent): void {
    if (event.kind === "added") this.handlers.added(event.room);
    else if (event.kind === "removed") this.handlers.removed(event.room, event.banned);
    else this.handlers.updated(event.room);
  }
}
