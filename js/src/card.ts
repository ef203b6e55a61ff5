/** The model card (`ModelSpec.card`), twin of `verinfer.inference.card`: what a publisher declares about a model's
 *  ports beyond its file. Each port as exported (name, dtype, shape with -1 for the batch), a float port's own scale,
 *  which outputs are committed, labels, and the limits one request may use.
 *
 *  The stored bytes are canonical JSON: UTF-8, keys sorted, no whitespace, scales as decimal strings, defaults
 *  omitted. `parseModelCard` accepts only that form (it re-encodes and compares bytes), so every reader of an entry
 *  sees one card. Empty bytes are the empty card: every output committed, every float port at the entry's scale, the
 *  node's limits.
 *
 *      const card = parseModelCard(spec.card);
 *      const scale = portScale(card, spec, "x");
 */
import { bytesToHex, type Hex } from "viem";
import { bytesOf, decodeInts } from "./codec.js";
import { CodecError } from "./errors.js";
import type { ModelSpec } from "./types.js";

export const CARD_VERSION = 1;
/** The registry's bound on `ModelSpec.card` (ModelRegistry.MAX_CARD_BYTES). */
export const MAX_CARD_BYTES = 8_192;
const MAX_NAME_CHARS = 256;
const MAX_LABEL_CHARS = 128;
const MAX_RANK = 8;
/** A dimension fits the registry's uint32. */
const MAX_DIMENSION = 2 ** 32 - 1;
const SCALE_MAX = 2n ** 64n - 1n;
const TIMEOUT_MS_RANGE = [1, 3_600_000] as const;
const MEMORY_MB_RANGE = [16, 1 << 20] as const;

/** The dtypes a card names (the ONNX element types the canonical tensor encodes), sorted. */
export const CARD_DTYPES = [
  "bool",
  "float16",
  "float32",
  "float64",
  "int16",
  "int32",
  "int64",
  "int8",
  "uint16",
  "uint32",
  "uint8",
] as const;
const FLOAT_DTYPES: ReadonlySet<string> = new Set(["float16", "float32", "float64"]);

/** One graph input or output as the card declares it. */
export interface PortCard {
  name: string;
  /** A `CARD_DTYPES` value: "float32", "int64", "bool", … */
  dtype: string;
  /** As exported; -1 (first dimension only) is the batch. */
  shape: readonly number[];
  /** A float port's own fixed-point scale; absent: the entry's `scale`. Integer and bool ports travel exactly. */
  scale?: bigint;
  /** Names of the positions of the output's last axis (a probabilities tensor), or of the values 0..n-1 of an
   *  integer output with one value per row (a class label). Display only. */
  labels: readonly string[];
  /** Outputs only: whether the output is part of the canonical output (committed, paid for, verified). */
  commit: boolean;
}

/** What one request of the model may use: each node serves it under these, if within its own bounds. */
export interface CardLimits {
  timeoutMs?: number;
  memoryMb?: number;
}

/** A model entry's card. `inputs`/`outputs` absent: the file's, every output committed. */
export interface ModelCard {
  inputs?: readonly PortCard[];
  outputs?: readonly PortCard[];
  limits: CardLimits;
}

type Role = "input" | "output";
type Json = Record<string, unknown>;

/** The card behind an entry's bytes (`CodecError` naming the first problem if they are not a card in canonical
 *  form). */
export function parseModelCard(card: Hex | Uint8Array): ModelCard {
  const data = bytesOf(card);
  if (data.length === 0) return { limits: {} };
  if (data.length > MAX_CARD_BYTES) {
    throw new CodecError(`a card takes at most ${MAX_CARD_BYTES} bytes, got ${data.length}`);
  }
  let document: unknown;
  try {
    // ignoreBOM keeps a BOM in the text, so JSON.parse refuses it as Python's json does.
    document = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data));
  } catch (exc) {
    throw new CodecError(`the card is not UTF-8 JSON: ${(exc as Error).message}`, { cause: exc });
  }
  const parsed = cardOf(document);
  const canonical = canonicalBytes(parsed);
  if (!sameBytes(canonical, data)) {
    throw new CodecError(
      "the card is not in canonical form (sorted keys, no spaces, defaults omitted): expected " +
        JSON.stringify(new TextDecoder().decode(canonical)),
    );
  }
  return parsed;
}

/** The canonical bytes to store in the entry (0x for the empty card); `CodecError` if the card is not valid. */
export function encodeModelCard(card: ModelCard): Hex {
  return bytesToHex(canonicalBytes(card));
}

/** The scale a float port travels at: its own, else the entry's. Inputs are searched before outputs; a port the
 *  card does not list (an empty card lists none) is at the entry's scale. Exact ports ignore it. */
export function portScale(card: ModelCard, spec: Pick<ModelSpec, "scale">, name: string): bigint {
  const port = card.inputs?.find((p) => p.name === name) ?? card.outputs?.find((p) => p.name === name);
  if (!port && card.inputs && card.outputs) {
    const names = [...card.inputs, ...card.outputs].map((p) => p.name);
    throw new CodecError(`the card lists no port ${JSON.stringify(name)} (ports: ${names.join(", ")})`);
  }
  return port?.scale ?? spec.scale;
}

/** The outputs in the canonical output, in graph order; undefined when the card lists no outputs (then every output
 *  of the file is committed). */
export function committedOutputs(card: ModelCard): readonly PortCard[] | undefined {
  return card.outputs?.filter((port) => port.commit);
}

/** Whether the port is a float one (float16/32/64), which travels at a scale; the others travel exactly. */
export function isFloatPort(port: Pick<PortCard, "dtype">): boolean {
  return FLOAT_DTYPES.has(port.dtype);
}

/** The scale of a model's only input: its own (the card's), else the entry's; `CodecError` when the card lists
 *  several inputs (encode each at its own scale instead) or the input is not a float one. */
export function inputScale(card: ModelCard, spec: Pick<ModelSpec, "scale">): bigint {
  const inputs = card.inputs;
  if (!inputs) return spec.scale;
  const [input] = inputs;
  if (inputs.length !== 1 || !input) {
    throw new CodecError(
      `the model takes ${inputs.length} inputs (${inputs.map((p) => p.name).join(", ")}): encode each at its own scale`,
    );
  }
  if (!isFloatPort(input)) {
    throw new CodecError(`the model's input ${JSON.stringify(input.name)} is ${input.dtype}: encode it exactly`);
  }
  return input.scale ?? spec.scale;
}

/** One committed output's values, decoded from a result's canonical output as `verinfer.inference.signature`
 *  lays it out: floats at the port's own scale, integers and bools exactly. */
export interface NamedOutput {
  port: PortCard;
  values: Float64Array;
}

/** A result's canonical output split into the committed outputs the card lists, each decoded at its own scale;
 *  undefined when the card lists no outputs (then the entry's scale and shape describe the whole output).
 *  `rows` is the batch (the entry's first input dimension for a model with a batch dimension). */
export function decodeOutputs(
  card: ModelCard,
  spec: Pick<ModelSpec, "scale" | "inputShape">,
  output: Hex | Uint8Array,
): NamedOutput[] | undefined {
  const ports = committedOutputs(card);
  if (!ports) return undefined;
  const batched = card.inputs?.some((p) => p.shape[0] === -1) ?? false;
  const rows = batched ? (spec.inputShape[0] ?? 1) : 1;
  const ints = decodeInts(output);
  const sizes = ports.map((p) => p.shape.reduce((n, d) => n * (d === -1 ? rows : d), 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== ints.length) {
    throw new CodecError(`the card's committed outputs hold ${total} values, the output has ${ints.length}`);
  }
  let start = 0;
  return ports.map((port, i) => {
    const size = sizes[i] as number;
    const scale = isFloatPort(port) ? Number(port.scale ?? spec.scale) : 1;
    const values = Float64Array.from(ints.subarray(start, start + size), (v) => Number(v) / scale);
    start += size;
    return { port, values };
  });
}

/** The label of an integer output's value, if it has one (float outputs' labels name positions, not values). */
export function labelOf(port: PortCard, value: number | bigint): string | undefined {
  if (isFloatPort(port)) return undefined;
  const index = typeof value === "bigint" ? value : BigInt(Number.isInteger(value) ? value : -1);
  return index >= 0n && index < BigInt(port.labels.length) ? port.labels[Number(index)] : undefined;
}

// ----------------------------------------------------------------------------------------------------------------
// Canonical form

function canonicalBytes(card: ModelCard): Uint8Array {
  if (card.inputs === undefined && card.outputs === undefined && isUnset(card.limits)) return new Uint8Array();
  validate(card);
  // JSON.stringify keeps insertion order: every object below is built in sorted key order, as Python's sort_keys.
  const document: Json = {};
  if (card.inputs !== undefined) document["inputs"] = card.inputs.map((port) => portJson(port, false));
  const { memoryMb, timeoutMs } = card.limits;
  if (memoryMb !== undefined || timeoutMs !== undefined) {
    const limits: Json = {};
    if (memoryMb !== undefined) limits["memory_mb"] = memoryMb;
    if (timeoutMs !== undefined) limits["timeout_ms"] = timeoutMs;
    document["limits"] = limits;
  }
  if (card.outputs !== undefined) document["outputs"] = card.outputs.map((port) => portJson(port, true));
  document["v"] = CARD_VERSION;
  // Strings escape as Python's ensure_ascii=False does: names and labels hold no control character and no lone
  // surrogate (validate), so both sides escape " and \ only.
  const data = new TextEncoder().encode(JSON.stringify(document));
  if (data.length > MAX_CARD_BYTES) {
    throw new CodecError(
      `the card takes ${data.length} bytes, the registry stores at most ${MAX_CARD_BYTES}: shorten labels or leave ` +
        "them out",
    );
  }
  return data;
}

function portJson(port: PortCard, output: boolean): Json {
  const entry: Json = {};
  if (output && !port.commit) entry["commit"] = false;
  entry["dtype"] = port.dtype;
  if (port.labels.length > 0) entry["labels"] = [...port.labels];
  entry["name"] = port.name;
  if (port.scale !== undefined) entry["scale"] = port.scale.toString();
  entry["shape"] = [...port.shape];
  return entry;
}

function isUnset(limits: CardLimits): boolean {
  return limits.timeoutMs === undefined && limits.memoryMb === undefined;
}

// ----------------------------------------------------------------------------------------------------------------
// Reading the JSON document

const CARD_KEYS = ["v", "inputs", "outputs", "limits"];
const PORT_KEYS = ["name", "dtype", "shape", "scale", "labels"];
const REQUIRED_PORT_KEYS = ["name", "dtype", "shape"];

function cardOf(document: unknown): ModelCard {
  if (!isObject(document)) throw new CodecError(`a card is a JSON object, got ${typeName(document)}`);
  const unknown = Object.keys(document)
    .filter((key) => !CARD_KEYS.includes(key))
    .sort();
  if (unknown.length > 0) {
    throw new CodecError(`the card has unknown fields ${show(unknown)} (known: v, inputs, outputs, limits)`);
  }
  if (document["v"] !== CARD_VERSION) {
    throw new CodecError(`the card's version is ${show(document["v"])}; this verinfer reads version ${CARD_VERSION}`);
  }
  const card: ModelCard = { limits: {} };
  if (Object.hasOwn(document, "inputs")) card.inputs = portsOf(document["inputs"], "input");
  if (Object.hasOwn(document, "outputs")) card.outputs = portsOf(document["outputs"], "output");
  if (Object.hasOwn(document, "limits")) {
    const raw = document["limits"];
    if (!isObject(raw) || Object.keys(raw).some((key) => key !== "timeout_ms" && key !== "memory_mb")) {
      throw new CodecError(`the card's limits are an object of timeout_ms and memory_mb, got ${show(raw)}`);
    }
    // A null limit is an absent one, as Python's dict.get reads it (and so not canonical).
    const timeoutMs = raw["timeout_ms"] ?? undefined;
    const memoryMb = raw["memory_mb"] ?? undefined;
    card.limits = {
      ...(timeoutMs === undefined ? {} : { timeoutMs: timeoutMs as number }),
      ...(memoryMb === undefined ? {} : { memoryMb: memoryMb as number }),
    };
  }
  validate(card);
  return card;
}

function portsOf(raw: unknown, role: Role): PortCard[] {
  if (!Array.isArray(raw)) throw new CodecError(`the card's ${role}s are a list, got ${show(raw)}`);
  return raw.map((entry: unknown, i) => {
    const where = `${role} ${i}`;
    if (!isObject(entry)) throw new CodecError(`the card's ${where} is an object, got ${show(entry)}`);
    const keys = role === "output" ? [...PORT_KEYS, "commit"] : PORT_KEYS;
    const present = Object.keys(entry);
    if (present.some((key) => !keys.includes(key)) || REQUIRED_PORT_KEYS.some((key) => !Object.hasOwn(entry, key))) {
      throw new CodecError(
        `the card's ${where} has fields ${show(present.sort())}: name, dtype, shape required, of ${show([...keys].sort())}`,
      );
    }
    const shape = entry["shape"];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d))) {
      throw new CodecError(`the card's ${where} shape is a list of integers, got ${show(shape)}`);
    }
    const rawScale = entry["scale"] ?? undefined;
    if (rawScale !== undefined && (typeof rawScale !== "string" || !/^[0-9]+$/.test(rawScale))) {
      throw new CodecError(`the card's ${where} scale is a decimal string, got ${show(rawScale)}`);
    }
    const labels = Object.hasOwn(entry, "labels") ? entry["labels"] : [];
    if (!Array.isArray(labels) || !labels.every((label) => typeof label === "string")) {
      throw new CodecError(`the card's ${where} labels are a list of strings, got ${show(labels)}`);
    }
    const commit = Object.hasOwn(entry, "commit") ? entry["commit"] : true;
    if (typeof commit !== "boolean")
      throw new CodecError(`the card's ${where} commit is true or false, got ${show(commit)}`);
    // name and dtype are checked with the rest of the port in validatePort, as for a card built in code.
    const port: PortCard = { name: entry["name"] as string, dtype: entry["dtype"] as string, shape, labels, commit };
    if (rawScale !== undefined) port.scale = BigInt(rawScale);
    return port;
  });
}

// ----------------------------------------------------------------------------------------------------------------
// Validation (the same rules, bounds and order as Python's `_validate`)

function validate(card: ModelCard): void {
  for (const [role, ports] of [
    ["input", card.inputs],
    ["output", card.outputs],
  ] as const) {
    if (ports === undefined) continue;
    const names = ports.map((p) => p.name);
    if (new Set(names).size !== names.length) {
      throw new CodecError(`the card lists ${role}s ${show(names)}: each name once`);
    }
    for (const port of ports) validatePort(port, role);
  }
  if (card.outputs !== undefined && !card.outputs.some((p) => p.commit)) {
    throw new CodecError("the card commits no output: a result must commit at least one (drop commit: false)");
  }
  for (const [name, value, [low, high]] of [
    ["timeout_ms", card.limits.timeoutMs, TIMEOUT_MS_RANGE],
    ["memory_mb", card.limits.memoryMb, MEMORY_MB_RANGE],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && low <= value && value <= high)) {
      throw new CodecError(`the card's limit ${name} is an integer in [${low}, ${high}], got ${show(value)}`);
    }
  }
}

function validatePort(port: PortCard, role: Role): void {
  const { name, dtype, shape, scale, labels } = port;
  if (typeof name !== "string" || !(0 < codePoints(name) && codePoints(name) <= MAX_NAME_CHARS) || hasControl(name)) {
    throw new CodecError(
      `a card's port name is 1 to ${MAX_NAME_CHARS} characters, none a control character, got ${show(name)}`,
    );
  }
  const where = `${role} ${JSON.stringify(name)}`;
  if (!(CARD_DTYPES as readonly string[]).includes(dtype)) {
    throw new CodecError(`${where}: dtype ${show(dtype)} has no canonical encoding (${show(CARD_DTYPES)})`);
  }
  if (
    !Array.isArray(shape) ||
    shape.length < 1 ||
    shape.length > MAX_RANK ||
    shape.some((d, i) => !Number.isInteger(d) || !((1 <= d && d <= MAX_DIMENSION) || (i === 0 && d === -1)))
  ) {
    throw new CodecError(
      `${where}: shape ${show(shape)} has 1 to ${MAX_RANK} dimensions, each in [1, ${MAX_DIMENSION}] (-1, the ` +
        "batch, first only)",
    );
  }
  const isFloat = FLOAT_DTYPES.has(dtype);
  if (scale !== undefined && !isFloat) {
    throw new CodecError(`${where} is ${dtype}: it travels exactly, so it takes no scale`);
  }
  if (scale !== undefined && (typeof scale !== "bigint" || scale < 1n || scale > SCALE_MAX)) {
    throw new CodecError(`${where}: scale ${String(scale)} is outside [1, 2**64 - 1]`);
  }
  if (role === "input" && labels.length > 0) throw new CodecError(`${where}: labels name outputs only`);
  if (role === "input" && !port.commit) {
    throw new CodecError(`${where}: every input is part of the request; commit applies to outputs`);
  }
  for (const label of labels) {
    if (
      typeof label !== "string" ||
      !(0 < codePoints(label) && codePoints(label) <= MAX_LABEL_CHARS) ||
      hasControl(label)
    ) {
      throw new CodecError(
        `${where}: a label is 1 to ${MAX_LABEL_CHARS} characters, none a control character or surrogate, got ` +
          JSON.stringify(label),
      );
    }
  }
  if (labels.length > 0) {
    const last = shape[shape.length - 1];
    if (isFloat && last !== labels.length) {
      throw new CodecError(`${where}: ${labels.length} labels for a last axis of ${last}: one label per position`);
    }
    const perRow = (shape[0] === -1 ? shape.slice(1) : shape).reduce((n, d) => n * BigInt(d), 1n);
    if (!isFloat && perRow !== 1n) {
      throw new CodecError(
        `${where}: labels name an integer output's values only when it has one value per row, it has ${perRow}`,
      );
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// Helpers

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Python's name for a JSON value's type, as its messages say it. */
function typeName(value: unknown): string {
  if (value === null) return "NoneType";
  if (Array.isArray(value)) return "list";
  if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
  return { string: "str", boolean: "bool" }[typeof value as string] ?? typeof value;
}

/** A JSON value as a message shows it, cut at 200 characters. */
function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value); // a bigint in a card built in code, or nesting deeper than the stack
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Python's len(): code points, not UTF-16 units. */
function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** C0, DEL, C1 controls and (lone) surrogates: a fixed set, as Python's `_control`, not a Unicode category whose
 *  members move with each Unicode version, so that every reader of a card accepts the same names and labels. */
function hasControl(text: string): boolean {
  return /[\u0000-\u001f\u007f-\u009f\p{Cs}]/u.test(text);
}
