// The list of the user's rooms with their unread counts.
import { byId, clear, el } from "./dom.js";
export class Sidebar {
    onOpen;
    list = byId("room-list");
    rooms = [];
    unread = new Map();
    openRoom = null;
    constructor(onOpen) {
        this.onOpen = onOpen;
    }
    /** Replaces the list with the server's; the server's unread counts win. */
    show(rooms) {
        this.rooms = rooms;
        for (const room of rooms) {
            this.unread.set(room.id, room.id === this.openRoom ? 0 : room.unread_count);
        }
        this.render();
    }
    room(id) {
        return this.rooms.find((room) => room.id === id);
    }
    ids() {
        return this.rooms.map((room) => room.id);
    }
    select(id) {
        this.openRoom = id;
        if (id)
            this.unread.set(id, 0);
        this.render();
    }
    addUnread(id, count) {
        if (id === this.openRoom || count <= 0)
            return;
        this.unread.set(id, (this.unread.get(id) ?? 0) + count);
        this.render();
    }
    render() {
        clear(this.list);
        if (this.rooms.length === 0) {
            this.list.append(el("li", { class: "hint", text: "No rooms yet." }));
            return;
        }
        for (const room of this.rooms) {
            const unread = this.unread.get(room.id) ?? 0;
            const button = el("button", {
                class: "room-link",
                attrs: { type: "button", "data-room-id": room.id },
                on: { click: () => this.onOpen(room.id) },
            }, el("span", { class: "room-title", text: room.name }), el("span", { class: "room-type", text: room.type }), unread > 0 &&
                el("span", {
                    class: "unread",
                    text: unread >= 1000 ? "999+" : String(unread),
                    attrs: { "aria-label": `${unread} unread` },
                }));
            const item = el("li", { class: room.id === this.openRoom ? "selected" : "" }, button);
            this.list.append(item);
        }
    }
}
