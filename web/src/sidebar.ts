// The list of the user's rooms with their topics and unread counts.

import type { Id, Message, Role, Room, RoomSummary, Seq } from "@chat-cluster/client";
import { byId, clear, el } from "./dom.js";

export class Sidebar {
  private readonly list = byId<HTMLUListElement>("room-list");
  private rooms: RoomSummary[] = [];
  private readonly unread = new Map<Id, number>();
  private openRoom: Id | null = null;

  constructor(private readonly onOpen: (room: Id) => void) {}

  /** Replaces the list with the server's; the server's unread counts win. */
  show(rooms: RoomSummary[]): void {
    this.rooms = [...rooms];
    this.unread.clear();
    for (const room of rooms) this.unread.set(room.id, room.id === this.openRoom ? 0 : room.unread_count);
    this.render();
  }

  /** Shows a room the user joined, or brings one shown up to the server's entry. */
  add(summary: RoomSummary): void {
    const at = this.rooms.findIndex((room) => room.id === summary.id);
    if (at >= 0) this.rooms[at] = summary;
    else this.rooms.push(summary);
    this.unread.set(summary.id, summary.id === this.openRoom ? 0 : summary.unread_count);
    this.render();
  }

  /** Takes a room out of the list; what it showed, if it was there. */
  remove(id: Id): RoomSummary | undefined {
    const removed = this.room(id);
    if (!removed) return undefined;
    this.rooms = this.rooms.filter((room) => room.id !== id);
    this.unread.delete(id);
    this.render();
    return removed;
  }

  /** A room's new name, topic or post policy; the user's own entry (role, mute) stays. */
  update(room: Room): RoomSummary | undefined {
    const at = this.rooms.findIndex((shown) => shown.id === room.id);
    if (at < 0) return undefined;
    this.rooms[at] = { ...this.rooms[at], ...room };
    this.render();
    return this.rooms[at];
  }

  /** The user's new role in a room. */
  setRole(id: Id, role: Role): RoomSummary | undefined {
    const at = this.rooms.findIndex((room) => room.id === id);
    if (at < 0) return undefined;
    this.rooms[at] = { ...this.rooms[at], role };
    return this.rooms[at];
  }

  /** Until when the user is muted in a room (`undefined`: not muted). */
  setMuted(id: Id, until: string | undefined): RoomSummary | undefined {
    const at = this.rooms.findIndex((room) => room.id === id);
    if (at < 0) return undefined;
    const { muted_until: _, ...rest } = this.rooms[at];
    this.rooms[at] = until === undefined ? rest : { ...rest, muted_until: until };
    return this.rooms[at];
  }

  room(id: Id): RoomSummary | undefined {
    return this.rooms.find((room) => room.id === id);
  }

  ids(): Id[] {
    return this.rooms.map((room) => room.id);
  }

  select(id: Id | null): void {
    this.openRoom = id;
    if (id) this.unread.set(id, 0);
    this.render();
  }

  addUnread(id: Id, count: number): void {
    if (id === this.openRoom || count <= 0 || !this.room(id)) return;
    this.unread.set(id, (this.unread.get(id) ?? 0) + count);
    this.render();
  }

  /** Counts again from a fresh join's newest page, which holds whatever was sent between the
   * entry's count and the join (live messages follow it). A page reaching back to the read
   * marker is the exact count; a page of only unread messages is a lower bound, as the entry's
   * count is. */
  countJoined(id: Id, page: Message[], me: Id): void {
    const summary = this.room(id);
    if (!summary || id === this.openRoom) return;
    const unread = page.filter((m) => m.seq > summary.last_read_seq && m.sender_id !== me && !m.deleted).length;
    const exact = page.length > 0 && page[0].seq <= summary.last_read_seq;
    const count = exact ? unread : Math.max(unread, this.unread.get(id) ?? 0);
    if (count === (this.unread.get(id) ?? 0)) return;
    this.unread.set(id, count);
    this.render();
  }

  /** The user read the room up to `seq` elsewhere: once that reaches the newest message this
   * page has seen (`newest`), nothing here is unread. */
  readElsewhere(id: Id, seq: Seq, newest: Seq | undefined): void {
    const at = this.rooms.findIndex((room) => room.id === id);
    if (at >= 0 && seq > this.rooms[at].last_read_seq) this.rooms[at] = { ...this.rooms[at], last_read_seq: seq };
    if (newest === undefined || seq < newest || !this.unread.get(id)) return;
    this.unread.set(id, 0);
    this.render();
  }

  private render(): void {
    clear(this.list);
    if (this.rooms.length === 0) {
      this.list.append(el("li", { class: "hint", text: "No rooms yet." }));
      return;
    }
    for (const room of this.rooms) {
      const unread = this.unread.get(room.id) ?? 0;
      const button = el(
        "button",
        {
          class: "room-link",
          attrs: { type: "button", "data-room-id": room.id },
          on: { click: () => this.onOpen(room.id) },
        },
        el(
          "span",
          { class: "room-names" },
          el("span", { class: "room-title", text: room.name }),
          room.topic ? el("span", { class: "room-topic", text: room.topic }) : null,
        ),
        el("span", { class: "room-type", text: room.type }),
        unread > 0 &&
          el("span", {
            class: "unread",
            text: unread >= 1000 ? "999+" : String(unread),
            attrs: { "aria-label": `${unread} unread` },
          }),
      );
      const item = el("li", { class: room.id === this.openRoom ? "selected" : "" }, button);
      this.list.append(item);
    }
  }
}
