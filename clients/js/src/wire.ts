// The contract's shapes (docs/API.md): REST bodies and WebSocket frames, as they travel.

export type Id = string;
export type Seq = number;
/** An RFC 3339 UTC time. */
export type Time = string;

// ---- Errors ----

export interface ErrorBody {
  /** `invalid_input`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `payload_too_large`,
   * `rate_limited`, `unavailable`, `method_not_allowed`, `internal`. */
  code: string;
  message: string;
  /** With `invalid_input`: why each named field was refused. */
  fields?: Record<string, string>;
}

/** Every REST error answer. */
export interface ErrorAnswer {
  error: ErrorBody;
}

// ---- Users and sign-in ----

export interface User {
  id: Id;
  username: string;
  display_name: string;
  created_at: Time;
  /** Administrators of the deployment only. */
  role?: "admin";
  /** Only while an administrator has disabled the user. */
  disabled_at?: Time;
}

export interface RegisterRequest {
  username: string;
  password: string;
  display_name?: string;
}

export interface LoginRequest {
  username: string;
  password: string;
}

/** `POST /auth/refresh` and `POST /auth/logout`. */
export interface RefreshTokenRequest {
  refresh_token: string;
}

/** The answer of register, login and refresh. */
export interface AuthTokens {
  user: User;
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  /** Seconds the access token lives. */
  expires_in: number;
}

/** `PATCH /users/me`. */
export interface UpdateMeRequest {
  display_name: string;
}

/** `PUT /users/me/password`. */
export interface ChangePasswordRequest {
  current_password: string;
  new_password: string;
}

/** `GET /users?query=` and `GET /admin/users`: pass `next` as `after` for the next page. */
export interface UserPage {
  users: User[];
  next: string | null;
}

// ---- Rooms ----

export type RoomType = "direct" | "group" | "channel";
export type Role = "owner" | "admin" | "member";
/** Who may send to a room: everyone in it, or (an announcement room) its owner and admins. */
export type PostPolicy = "everyone" | "admins";

export interface Room {
  id: Id;
  name: string;
  type: RoomType;
  created_by: Id;
  created_at: Time;
  is_active: boolean;
  /** null while none is set. */
  topic: string | null;
  post_policy: PostPolicy;
}

/** A room as `GET /rooms` (and the `rooms` frame, and `room_added`) lists it. */
export interface RoomSummary extends Room {
  role: Role;
  last_read_seq: Seq;
  /** Stops at 1000. */
  unread_count: number;
  /** Until when a moderator muted the user here; absent when never muted, in the past once
   * the mute ended. */
  muted_until?: Time;
}

export interface RoomList {
  rooms: RoomSummary[];
}

/** `POST /rooms`; `name` may be left out of a direct room. */
export interface CreateRoomRequest {
  name?: string;
  type: RoomType;
  member_ids?: Id[];
  member_usernames?: string[];
}

/** `PATCH /rooms/{id}`: at least one of them; a `topic` of `null` clears it. */
export interface UpdateRoomRequest {
  name?: string;
  topic?: string | null;
  post_policy?: PostPolicy;
}

export interface Participant {
  user_id: Id;
  role: Role;
  joined_at: Time;
  last_read_seq: Seq;
  /** As `RoomSummary.muted_until`. */
  muted_until?: Time;
}

export interface MemberList {
  members: Participant[];
}

/** `POST /rooms/{id}/members`: by id or by username. */
export type AddMemberRequest =
  | { user_id: Id; role?: "member" | "admin" }
  | { username: string; role?: "member" | "admin" };

/** `PATCH /rooms/{id}/members/{user_id}`. */
export interface ChangeRoleRequest {
  role: "member" | "admin";
}

/** `GET /rooms/{id}/presence`. */
export interface PresenceAnswer {
  /** Empty above the presence threshold, or while presence cannot be read. */
  online: Id[];
  count: number;
  presence?: "available" | "unavailable";
}

// ---- Moderation ----

/** `POST /rooms/{id}/bans`; without `expires_in` (seconds) the ban holds until lifted. */
export interface BanRequest {
  user_id: Id;
  reason?: string;
  expires_in?: number;
}

export interface Ban {
  room_id: Id;
  user_id: Id;
  banned_by: Id;
  reason: string | null;
  created_at: Time;
  expires_at: Time | null;
}

export interface BanList {
  bans: Ban[];
}

/** `PUT /rooms/{id}/mutes/{user_id}`: seconds. */
export interface MuteRequest {
  expires_in: number;
}

// ---- Messages ----

export interface Message {
  id: Id;
  room_id: Id;
  seq: Seq;
  /** The nil UUID for messages of the system. */
  sender_id: Id;
  content: string;
  kind: string;
  metadata: Record<string, unknown> | null;
  client_msg_id: string | null;
  created_at: Time;
  /** Time of the last edit; absent on a message never edited. */
  edited_at?: Time;
  /** A tombstone: `content` is "" and `metadata` null. */
  deleted?: boolean;
  deleted_by?: Id;
  deleted_at?: Time;
  /** The seq of the latest change this state includes; absent on a message never changed. */
  changed_seq?: Seq;
  /** The reactions that stand, oldest emoji first, as this reader sees them; absent while none. */
  reactions?: ReactionCount[];
  /** The seq of the latest reaction entry `reactions` counts: apply a `reaction` only if above it. */
  reactions_seq?: Seq;
  /** On a reply: a quote of its parent as the parent stood when this was read or delivered. */
  reply_to?: ReplyQuote;
  /** How many replies the message had when read; absent while none. */
  reply_count?: number;
}

/** A reply's quote of its parent. */
export interface ReplyQuote {
  id: Id;
  seq: Seq;
  sender_id: Id;
  /** The first 100 characters of the parent's content; "" once it is deleted, absent when the
   * parent could not be read. */
  content?: string;
  deleted?: boolean;
}

export interface ReactionCount {
  emoji: string;
  count: number;
  /** Whether the reader is among those who reacted so. */
  me: boolean;
}

/** History, thread pages and the `history` and `thread` replies, ascending by seq. */
export interface HistoryPage {
  messages: Message[];
  has_more: boolean;
}

/** `POST /rooms/{id}/messages`; a repeated `client_msg_id` answers the original. */
export interface SendRequest {
  content: string;
  client_msg_id?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
  /** Only on the first transmission of a `client_msg_id`: spares the server a lookup. */
  first_attempt?: boolean;
  reply_to?: Id;
}

/** `PATCH /rooms/{id}/messages/{message}`; absent `metadata` keeps it. */
export interface EditRequest {
  content: string;
  metadata?: Record<string, unknown> | null;
  client_change_id?: string;
}

/** `POST /rooms/{id}/read`. */
export interface ReadRequest {
  seq: Seq;
}

/** An edit or deletion: `seq` is the change's own; `message` is the message as it left it. */
export interface MessageChange {
  type: "message_edited" | "message_deleted";
  room: Id;
  seq: Seq;
  by: Id;
  message: Message;
}

/** A reaction added or removed: `seq` is the entry's own; `count` of `emoji` on the message
 * moves by one. */
export interface ReactionChange {
  type: "reaction";
  room: Id;
  seq: Seq;
  by: Id;
  message_id: Id;
  message_seq: Seq;
  emoji: string;
  added: boolean;
}

// ---- Administrators and API keys ----

/** `POST /admin/users/{id}/messages/delete`: send `{}` first, then `next` as `after`. */
export interface DeleteUserMessagesRequest {
  after?: string;
  limit?: number;
}

export interface DeleteUserMessagesAnswer {
  deleted: number;
  next: string | null;
}

export interface AuditEntry {
  id: Id;
  at: Time;
  /** null for the command line. */
  actor: Id | null;
  action:
    | "admin_granted"
    | "admin_revoked"
    | "user_disabled"
    | "user_enabled"
    | "messages_deleted"
    | "api_key_created"
    | "api_key_revoked";
  target_user: Id | null;
  detail: string | null;
}

/** `GET /admin/audit`: pass `next` as `before` for the next page. */
export interface AuditPage {
  entries: AuditEntry[];
  next: Id | null;
}

export type ApiKeyScope = "messages:publish" | "rooms:write" | "users:read";

export interface ApiKey {
  id: Id;
  name: string;
  scopes: ApiKeyScope[];
  created_at: Time;
  created_by: Id;
  revoked_at?: Time;
}

export interface CreateApiKeyRequest {
  name: string;
  scopes: ApiKeyScope[];
}

/** The answer of `POST /admin/api-keys`: the only time the secret is shown. */
export interface CreatedApiKey {
  key: ApiKey;
  secret: string;
}

export interface ApiKeyList {
  keys: ApiKey[];
}

// ---- Operations ----

/** `GET /readyz`: 200 (perhaps degraded) or 503. */
export interface Readiness {
  status: string;
  degraded?: string[];
}

// ---- WebSocket frames ----

/** Names the message a frame acts on: by id or by its seq in the room, exactly one. */
export type MessageRef = { message_id: Id; seq?: never } | { seq: Seq; message_id?: never };

/** The reply of a `join`. */
export interface JoinResult {
  room: Room;
  online: Id[];
  online_count?: number;
  presence?: "available" | "unavailable";
  messages: Message[];
  /** With `since`: the changes and reactions after it, ascending by seq. */
  changes?: (MessageChange | ReactionChange)[];
  /** false when the server could not replay everything after `since`: page history. */
  recovered: boolean;
}

/** What a client sends. `id`: the frame gets exactly one `reply`. The server also takes the
 * aliases `joinRoom` (for `join`) and `sendMessage` (for `send`). */
export type ClientFrame =
  | { type: "auth"; token: string; id?: number }
  | { type: "join"; room: Id; since?: Seq; id?: number }
  | { type: "leave"; room: Id; id?: number }
  | ({ type: "send"; room: Id; id?: number } & SendRequest)
  | ({ type: "edit"; room: Id; content: string; metadata?: Record<string, unknown>; client_change_id?: string; id?: number } & MessageRef)
  | ({ type: "delete"; room: Id; client_change_id?: string; id?: number } & MessageRef)
  | ({ type: "react" | "unreact"; room: Id; emoji: string; id?: number } & MessageRef)
  | ({ type: "thread"; room: Id; after?: Seq; limit?: number; id?: number } & MessageRef)
  | { type: "history"; room: Id; before?: Seq; after?: Seq; limit?: number; id?: number }
  | { type: "typing"; room: Id; id?: number }
  | { type: "read"; room: Id; seq: Seq; id?: number }
  | { type: "rooms"; id?: number; unread?: boolean }
  | { type: "ping"; id?: number };

/** What the server sends. A successful `reply` carries the request's result beside `ok`. */
export type ServerFrame =
  | ({ type: "reply"; id: number; ok: true } & Record<string, unknown>)
  | { type: "reply"; id: number; ok: false; error: ErrorBody }
  | { type: "message"; message: Message }
  | MessageChange
  | ReactionChange
  | { type: "presence"; room: Id; user_id: Id; state: "online" | "offline" }
  | { type: "typing"; room: Id; user_id: Id }
  | { type: "read"; room: Id; user_id: Id; seq: Seq }
  | { type: "member"; room: Id; user_id: Id; change: "added" | "removed" | "role"; role?: Role }
  | { type: "room_added"; room: RoomSummary }
  | { type: "room_removed"; room: Id; banned?: boolean }
  | { type: "room_updated"; room: Room }
  | { type: "muted"; room: Id; until: Time | null }
  | { type: "unread"; room: Id; unread_count: number; last_read_seq: Seq }
  | { type: "error"; error: ErrorBody }
  | { type: "pong" };

/** Close codes of the contract, and of this implementation's extensions. */
export const CloseCode = {
  Policy: 1008,
  TooBig: 1009,
  ServerError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  Unauthorized: 4001,
  TooSlow: 4002,
  RateLimited: 4008,
  TooManyConnections: 4029,
} as const;
