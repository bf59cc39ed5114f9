// src/users.ts
var SYSTEM_SENDER = "00000000-0000-0000-0000-000000000000";
var UserDirectory = class {
  constructor(api) {
    this.api = api;
  }
  api;
  users = /* @__PURE__ */ new Map();
  remember(user) {
    this.users.set(user.id, Promise.resolve(user));
  }
  get(id) {
    let user = this.users.get(id);
    if (!user) {
      user = this.api.getUser(id).catch(() => null);
      this.users.set(id, user);
    }
    return user;
  }
  /** A span showing the user's display name once known (a short id until then). */
  nameNode(id, className = "name") {
    const span = document.createElement("span");
    span.className = className;
    if (id === SYSTEM_SENDER) {
      span.textContent = "System";
      span.classList.add("system");
      return span;
    }
    span.textContent = id.slice(0, 8);
    void this.get(id).then((user) => {
      if (user) {
        span.textContent = user.display_name;
        span.title = `@${user.username}`;
      }
    });
    return span;
  }
};
export {
  UserDirectory
};
