// Reads docs/asyncapi.yaml with @asyncapi/parser and turns its messages into validators: for each
// client frame type the operation that sends it and its reply messages, and for each server frame
// type the messages that describe it.

import fs from 'node:fs';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';

// Spectral's severities, as @asyncapi/parser reports them.
const SEVERITY = ['error', 'warning', 'info', 'hint'];

/// Parses and validates the document; throws on any error-level diagnostic.
export async function load(path) {
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(path, 'utf8'), { source: path });
  for (const d of diagnostics) {
    console.log(`  ${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message} (at ${d.path.join('.') || '/'})`);
  }
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (errors.length > 0 || !document) {
    throw new Error(`${path}: ${errors.length} error(s); the document is not valid AsyncAPI`);
  }
  if (document.version() !== '3.0.0') {
    throw new Error(`${path}: asyncapi ${document.version()}, expected 3.0.0`);
  }
  return document;
}

/// The schema without extensions (`x-...`, the parser's `x-parser-schema-id` among them), which
/// are annotations and which Ajv's strict mode would take for unknown keywords.
function withoutExtensions(schema) {
  if (Array.isArray(schema)) return schema.map(withoutExtensions);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([key]) => !key.startsWith('x-'))
      .map(([key, value]) => [key, withoutExtensions(value)]),
  );
}

/// The schema with every object it describes closed (`unevaluatedProperties: false`), unless it
/// says itself what else it takes: the document leaves server frames open (the contract lets
/// them gain fields), and this is how the check finds a field the server sends that the document
/// does not describe. An `allOf` member is not closed itself (its parent is, and sees what each
/// member evaluated); conditions (`if`, `not`) are left as they are.
function closed(schema, { member = false } = {}) {
  if (Array.isArray(schema)) return schema.map((s) => closed(s));
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'if' || key === 'not') out[key] = value;
    else if (key === 'allOf') out[key] = value.map((s) => closed(s, { member: true }));
    else if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, closed(s)]));
    } else if (value !== null && typeof value === 'object') out[key] = closed(value);
    else out[key] = value;
  }
  const describesProperties =
    'properties' in schema || (Array.isArray(schema.allOf) && schema.allOf.some((s) => s && 'properties' in s));
  if (describesProperties && !member && !('additionalProperties' in schema)) {
    out.unevaluatedProperties = false;
  }
  return out;
}

function ajv(Class) {
  const instance = new Class({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
  addFormats(instance);
  return instance;
}

/// A message of the document, with its validators.
class Described {
  constructor(open, strict, message) {
    this.id = message.id();
    this.name = message.name();
    const schema = withoutExtensions(message.payload().json());
    this.schema = schema;
    this.validate = open.compile(schema);
    this.validateClosed = strict.compile(closed(schema));
  }

  /// The errors of `frame` against the message as the document has it, then (only if it passes)
  /// of its fields the document does not describe; `null` when it validates.
  problems(frame) {
    if (!this.validate(frame)) return format(this.validate.errors);
    if (!this.validateClosed(frame)) return `fields the document does not describe: ${format(this.validateClosed.errors)}`;
    return null;
  }

  /// The frame `type`s the payload allows (`const` or `enum` of its `type` property).
  types() {
    const type = this.schema.properties?.type ?? {};
    if (type.const !== undefined) return [type.const];
    return type.enum ?? [];
  }
}

function format(errors) {
  return (errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`)
    .join('; ');
}

/// What the check needs of the document: the send operations by client frame type (aliases
/// included), and the server messages by frame type (those of receive operations, and the
/// replies of send operations that are not `reply` frames, such as `pong`).
export function index(document) {
  const open = ajv(Ajv);
  const strict = ajv(Ajv2019);
  const cache = new Map();
  const described = (message) => {
    if (!cache.has(message.id())) cache.set(message.id(), new Described(open, strict, message));
    return cache.get(message.id());
  };
  const sends = new Map(); // client type -> { operation, message, replies: [Described] }
  const received = new Map(); // server type -> [{ operation, message }]
  const operations = [];
  for (const operation of document.operations()) {
    const id = operation.id();
    if (operation.action() === 'send') {
      const replies = (operation.reply()?.messages().all() ?? []).map(described);
      for (const message of operation.messages().all().map(described)) {
        const entry = { operation: id, message, replies };
        operations.push(entry);
        for (const type of message.types()) {
          if (sends.has(type)) throw new Error(`client type ${type} is sent by two operations`);
          sends.set(type, entry);
        }
      }
      for (const reply of replies) {
        for (const type of reply.types().filter((t) => t !== 'reply')) {
          received.set(type, [...(received.get(type) ?? []), { operation: id, message: reply }]);
        }
      }
    } else {
      for (const message of operation.messages().all().map(described)) {
        for (const type of message.types()) {
          received.set(type, [...(received.get(type) ?? []), { operation: id, message }]);
        }
      }
    }
  }
  const failedReply = [...cache.values()].find((m) => m.schema.properties?.ok?.const === false);
  if (!failedReply) throw new Error('the document describes no failed reply (ok: false)');
  return { sends, received, operations, failedReply };
}

/// Which fields of the server's frames the document describes, and which of them a frame has,
/// as `Schema.field` (`Message.reply_count`, `ReplyTo.deleted`): a field described but never sent
/// in the scenario is one the code may no longer have. A schema is named by the component of the
/// document with the same fields (the parser hands out payloads as copies, so not by identity);
/// one of its own is named by where it is (`JoinReply.changes`), an `allOf` member by its parent.
export class Fields {
  constructor(document) {
    this.names = new Map();
    for (const [name, schema] of Object.entries(document.json().components?.schemas ?? {})) {
      this.names.set(fingerprint(schema), name);
    }
    this.described = new Set();
    this.seen = new Set();
  }

  describe(message) {
    this.walk(message.schema, undefined, message.schema.properties?.type?.const ?? message.id, this.described);
  }

  saw(message, frame) {
    this.walk(message.schema, frame, message.schema.properties?.type?.const ?? message.id, this.seen);
  }

  unseen() {
    return [...this.described].filter((field) => !this.seen.has(field)).sort();
  }

  /// Adds the fields of `schema` (with an instance: only those it has) to `into`.
  walk(schema, instance, name, into, depth = 0) {
    if (!schema || typeof schema !== 'object' || depth > 20) return;
    const own = this.names.get(fingerprint(schema)) ?? name;
    const withInstance = instance !== undefined;
    if (schema.items && (!withInstance || Array.isArray(instance))) {
      const items = withInstance ? instance : [undefined];
      for (const item of items) this.walk(schema.items, item, own, into, depth + 1);
    }
    if (withInstance && (instance === null || typeof instance !== 'object' || Array.isArray(instance))) return;
    for (const member of schema.allOf ?? []) this.walk(member, instance, own, into, depth + 1);
    for (const branch of chosen(schema.oneOf ?? schema.anyOf ?? [], instance)) this.walk(branch, instance, own, into, depth + 1);
    for (const [field, sub] of Object.entries(schema.properties ?? {})) {
      if (withInstance && !(field in instance)) continue;
      into.add(`${own}.${field}`);
      this.walk(sub, withInstance ? instance[field] : undefined, `${own}.${field}`, into, depth + 1);
    }
  }
}

const fingerprints = new WeakMap();

/// The schema's structure, extensions left out (the parser marks copies and originals apart).
function fingerprint(schema) {
  if (!fingerprints.has(schema)) fingerprints.set(schema, JSON.stringify(withoutExtensions(schema)));
  return fingerprints.get(schema);
}

/// The branches of a `oneOf` an instance takes: the one whose `type` constant it has, else those
/// of its JSON type; every branch when there is no instance.
function chosen(branches, instance) {
  if (instance === undefined) return branches;
  if (instance === null) return [];
  const byType = branches.filter((b) => b.properties?.type?.const !== undefined && b.properties.type.const === instance.type);
  if (byType.length > 0) return byType;
  return branches.filter((b) => b.properties?.type?.const === undefined && (b.properties || b.allOf));
}
