// src/dom.ts
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== void 0) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  for (const [type, handler] of Object.entries(props.on ?? {})) {
    node.addEventListener(type, handler);
  }
  for (const child of children) {
    if (child) node.append(child);
  }
  return node;
}
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}
function clear(node) {
  node.replaceChildren();
}
function sendOnEnter(form, input, submit) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
}
export {
  byId,
  clear,
  el,
  sendOnEnter
};
