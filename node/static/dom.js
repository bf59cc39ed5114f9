// Building DOM nodes. User content only ever goes in through `textContent` or attribute values,
// never through HTML parsing, so it cannot become markup or script.
export function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    if (props.class)
        node.className = props.class;
    if (props.text !== undefined)
        node.textContent = props.text;
    for (const [name, value] of Object.entries(props.attrs ?? {}))
        node.setAttribute(name, value);
    for (const [type, handler] of Object.entries(props.on ?? {})) {
        node.addEventListener(type, handler);
    }
    for (const child of children) {
        if (child)
            node.append(child);
    }
    return node;
}
/** The element with this id; the page's skeleton is fixed, so a missing one is a bug. */
export function byId(id) {
    const node = document.getElementById(id);
    if (!node)
        throw new Error(`#${id} is missing from the page`);
    return node;
}
export function clear(node) {
    node.replaceChildren();
}
/** Calls `submit` when the form is submitted or Enter is pressed in `input` (Shift+Enter
 * writes a new line; Enter that ends an IME composition does not send). */
export function sendOnEnter(form, input, submit) {
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
