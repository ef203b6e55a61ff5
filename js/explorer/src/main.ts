/** The explorer page: a request list (live), request, model and node pages from the server's JSON API, and on a
 *  request page the check that runs in this browser (`check.ts`), which reads the chain through the RPC itself. */
import type { Address, Hex } from "viem";
import { canonicalFeed, canonicalOutput } from "../../src/verify-core.js";
import { checkInBrowser, runRows, type CheckOutcome, type Step } from "./check.js";
import { parseGemmGraph, runEmulated } from "./gemm.js";

interface Config {
  rpcUrl: string;
  chainId: number;
  contracts: { InferenceHub: Address; ModelRegistry: Address; NodeRegistry: Address };
  hubBlock: number;
}
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const app = document.getElementById("app") as HTMLElement;
const POLL_MS = 1_500;
let config: Config;
let timer: number | undefined;
/** Bumped on every navigation: a page still loading for an earlier address must not draw over the current one. */
let generation = 0;

function show(mine: number, ...nodes: Node[]): boolean {
  if (mine !== generation) return false;
  app.replaceChildren(...nodes);
  return true;
}

/* ---------------------------------------------------------------- small DOM helpers */

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
const link = (href: string, text: string, attrs: Record<string, string> = {}) => el("a", { href, ...attrs }, text);
const short = (hex: string) => (hex.length > 22 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex);
const code = (text: string) => el("code", {}, text);
function table(head: string[], rows: (Node | string)[][], attrs: Record<string, string> = {}) {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))),
  );
}
function fields(pairs: [string, Node | string][]) {
  return el("dl", {}, ...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}
function age(timestamp: number): string {
  const s = Math.max(0, Math.round(Date.now() / 1000 - timestamp));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}
const status = (s: string, finality: string) =>
  el("span", { class: `status ${s.toLowerCase()}` }, `${s} · ${finality}`);
const nodeLink = (a: string) => link(`#/node/${a}`, short(a), { class: "node" });
const modelLink = (id: string, name: string) => link(`#/model/${id}`, name, { class: "model" });

async function api(path: string): Promise<Json> {
  const response = await fetch(path, { cache: "no-store" });
  const body = (await response.json()) as Json;
  if (!response.ok) throw new Error(body.error ?? `${path}: ${response.status}`);
  return body;
}

/* ---------------------------------------------------------------- the settings the check uses */

/** The RPC and hub the check reads: from the page's address (?rpc=…&hub=…) if given, else what the server suggests. */
function checkSettings(): { rpcUrl: string; hub: Address; hubBlock: bigint } {
  const params = new URLSearchParams(location.search);
  return {
    rpcUrl: params.get("rpc") ?? config.rpcUrl,
    hub: (params.get("hub") ?? config.contracts.InferenceHub) as Address,
    hubBlock: BigInt(params.get("fromBlock") ?? config.hubBlock),
  };
}

/* ---------------------------------------------------------------- pages */

function requestRows(rows: Json[]) {
  return rows.map((r) => [
    link(`#/request/${r.requestId}`, `#${r.requestId}`, { class: "request" }),
    r.mode,
    modelLink(r.modelId, r.model),
    status(r.status, r.finality),
    el("span", {}, ...(r.nodes as string[]).flatMap((n, i) => (i ? [", ", nodeLink(n)] : [nodeLink(n)]))),
    el("span", { title: new Date(r.timestamp * 1000).toISOString() }, age(r.timestamp)),
  ]);
}
const REQUEST_HEAD = ["request", "mode", "model", "status", "node(s)", "age"];

async function listPage(mine: number) {
  const render = async () => {
    const data = await api("/api/requests?limit=100");
    const body = el(
      "section",
      {},
      el("h2", {}, "Recent requests"),
      el(
        "p",
        { class: "muted", id: "head" },
        `chain ${config.chainId}, block ${data.head}; live (every ${POLL_MS / 1000}s)`,
      ),
      data.requests.length
        ? table(REQUEST_HEAD, requestRows(data.requests), { id: "requests" })
        : el("p", { id: "requests-empty" }, "No requests yet."),
    );
    return show(mine, body);
  };
  if (!(await render())) return;
  timer = window.setInterval(() => void render().catch(() => undefined), POLL_MS);
}

/** A canonical tensor's elements; by port, with the card's labels, when the server's JSON names the ports (a float
 *  port's labels name the positions of its last axis, an integer port's its values). */
function tensorView(t: Json, label: string) {
  const ints = t.ints as string[];
  const ports = (t.ports as Json[] | undefined) ?? [{ name: label, dtype: "", values: t.values, labels: [] }];
  let k = 0;
  const values = ports.flatMap((port) => {
    const labels = port.labels as string[];
    const float = (port.dtype as string).startsWith("float");
    return (port.values as number[]).map((v, j) => {
      const position = float && labels.length ? ` ${labels[j % labels.length]}` : "";
      const named = !float && labels[v] !== undefined ? ` (${labels[v]})` : "";
      return [`${port.name}[${j}]${position}`, `${v}${named}`, String(ints[k++])];
    });
  });
  return el(
    "div",
    {},
    table(["element", "value", "fixed-point integer"], values, { class: "tensor", "data-tensor": label }),
    el("p", { class: "muted" }, `shape [${t.shape.join(", ")}], ${t.size} bytes: `, code(short(t.bytes))),
  );
}

function stepItem(s: Step) {
  return el(
    "li",
    { "data-step": s.id, "data-state": s.state, class: s.state },
    el("strong", {}, `${{ ok: "✓", fail: "✗", warn: "≈", info: "·" }[s.state]} ${s.title}`),
    el("div", { class: "detail" }, s.detail),
  );
}

function verdictView(outcome: CheckOutcome) {
  const v = outcome.verdict;
  const box = el("div", { id: "verdict", "data-verdict": v.kind, class: `verdict ${v.kind}` }, el("p", {}, v.text));
  if (v.kind === "wasm-difference") box.append(el("p", {}, "Exact native check: ", code(v.command)));
  return box;
}

async function runCheck(id: bigint, panel: HTMLElement, localModel?: Uint8Array) {
  const steps = el("ol", { id: "steps" });
  const settings = checkSettings();
  panel.replaceChildren(
    el(
      "p",
      { class: "muted" },
      `Reading the chain through ${settings.rpcUrl} (hub ${settings.hub}), not through this server.`,
    ),
    steps,
  );
  panel.dataset.state = "running";
  const outcome = await checkInBrowser({
    ...settings,
    requestId: id,
    fileProxy: (modelId: Hex) => `/api/models/${modelId}/file`,
    ...(localModel ? { localModel } : {}),
    onStep: (s) => steps.append(stepItem(s)),
  });
  panel.append(verdictView(outcome));
  panel.dataset.state = "done";
}

async function requestPage(mine: number, id: bigint) {
  const r = await api(`/api/requests/${id}`);
  const result = r.result as Json | null;
  const check = el("div", { id: "check" });
  const picker = el("input", { type: "file", id: "local-model", accept: ".onnx" }) as HTMLInputElement;
  picker.addEventListener("change", async () => {
    const file = picker.files?.[0];
    if (file) await runCheck(id, check, new Uint8Array(await file.arrayBuffer()));
  });
  const votes = (r.votes as Json[]).map((v) => [
    nodeLink(v.node),
    code(short(v.commitHash)),
    v.revealed ? code(short(v.outputHash)) : "not revealed",
    v.agreed === null ? "-" : v.agreed ? "agreed" : "outvoted",
    v.slashed ? `slashed ${v.slashAmount} wei` : "no",
  ]);
  const drawn = show(
    mine,
    el(
      "section",
      { id: "request", "data-request": String(r.requestId) },
      el("h2", {}, `Request #${r.requestId} `, status(r.status, r.finality)),
      fields([
        ["mode", r.mode],
        ["model", el("span", {}, modelLink(r.modelId, r.model), " ", code(r.modelId))],
        ["model URI", code(r.spec.uri)],
        [
          "shapes",
          `input [${r.spec.inputShape.join(", ")}] → output [${r.spec.outputShape.join(", ")}], scale ${r.spec.scale}`,
        ],
        ["requester", code(r.requester)],
        ["fee", `${r.fee} wei`],
        ["request tx", code(r.requestTx)],
        ["verdict (chain)", el("span", { id: "chain-verdict" }, r.verdict)],
      ]),
      el("h3", {}, "Check in this browser"),
      el(
        "p",
        { class: "muted" },
        "This page reads the chain through the RPC itself, hashes the model, re-runs it with onnxruntime-web and compares. Or ",
        el("label", {}, "use a local model file: ", picker),
      ),
      check,
      el("h3", {}, "Input"),
      tensorView(r.input, "input"),
      el("h3", {}, "Output"),
      result ? tensorView(result.output, "output") : el("p", {}, "No result recorded."),
      el("h3", {}, "Commitments"),
      fields([
        ["input hash", code(r.inputHash)],
        ["output hash", result ? code(result.outputHash) : "-"],
        ["result commitment (event)", result ? code(result.commitment) : "-"],
        ["stored (commitmentOf)", code(r.storedCommitment)],
      ]),
      el("h3", {}, "Node(s) and environment"),
      result
        ? table(
            ["node", "environment hash", "manifest"],
            (result.nodes as string[]).map((n, i) => {
              const env = result.environments[i] as Json;
              return [
                nodeLink(n),
                code(short(env.hash)),
                env.manifest ? el("pre", {}, JSON.stringify(env.manifest, null, 1)) : env.note,
              ];
            }),
          )
        : el("p", {}, "-"),
      ...(r.mode === "CONSENSUS"
        ? [
            el("h3", {}, "Consensus votes"),
            table(["node", "commit", "revealed output hash", "vote", "slashed"], votes, { id: "votes" }),
          ]
        : []),
      ...(r.proof
        ? [
            el("h3", {}, "Proof"),
            fields([
              ["verifier", code(r.proof.verifier)],
              ["status", el("span", { id: "proof-status" }, r.proof.status)],
              ["delivered in", r.proof.tx ? code(r.proof.tx) : "-"],
            ]),
          ]
        : []),
      el("h3", {}, "Challenges"),
      r.challenges.length
        ? table(
            ["block", "event", "args"],
            (r.challenges as Json[]).map((e) => [String(e.block), e.event, code(JSON.stringify(e.args).slice(0, 160))]),
          )
        : el(
            "p",
            { id: "challenges" },
            r.challengeGame ? "None." : "None: this hub records a result once; it has no challenge game.",
          ),
      el("h3", {}, "Events"),
      table(
        ["block", "event", "args"],
        (r.events as Json[]).map((e) => [String(e.block), e.event, code(JSON.stringify(e.args).slice(0, 160))]),
      ),
    ),
  );
  if (!drawn) return;
  if (r.status === "FULFILLED") await runCheck(id, check);
  else check.replaceChildren(el("p", {}, "Nothing to check until a result is recorded."));
}

async function modelPage(mine: number, id: string) {
  const m = await api(`/api/models/${id}`);
  show(
    mine,
    el(
      "section",
      { id: "model" },
      el("h2", {}, `Model ${m.name}`),
      fields([
        ["model id", code(m.modelId)],
        ["URI", code(m.spec.uri)],
        ["publisher", code(m.publisher ?? "-")],
        ["shapes", `input [${m.spec.inputShape.join(", ")}] → output [${m.spec.outputShape.join(", ")}]`],
        ["scale", m.spec.scale],
        ["price", `${m.spec.price} wei`],
        ["modes", m.spec.modes.join(", ")],
        ["verifier", code(m.spec.verifier)],
        ["input / output bytes", `${m.terms.inputBytes} / ${m.terms.outputBytes}`],
        ["deprecated", String(m.terms.deprecated)],
        [
          "served by",
          el("span", {}, ...(m.nodes as string[]).flatMap((n, i) => (i ? [", ", nodeLink(n)] : [nodeLink(n)]))),
        ],
        ["requests", String(m.requestCount)],
      ]),
      el("h3", {}, "Requests"),
      table(REQUEST_HEAD, requestRows(m.requests)),
    ),
  );
}

async function nodePage(mine: number, address: string) {
  const n = await api(`/api/nodes/${address}`);
  const bond = Object.entries(n.bond as Json).map(([k, v]) => [k, String(v)] as [string, string]);
  show(
    mine,
    el(
      "section",
      { id: "node" },
      el("h2", {}, `Node ${n.address}`),
      fields([
        ...bond,
        ["environment", code(n.environment.hash)],
        [
          "manifest",
          n.environment.manifest ? el("pre", {}, JSON.stringify(n.environment.manifest, null, 1)) : n.environment.note,
        ],
        [
          "models",
          el(
            "span",
            {},
            ...(n.models as Json[]).flatMap((m, i) =>
              i ? [", ", modelLink(m.modelId, m.name)] : [modelLink(m.modelId, m.name)],
            ),
          ),
        ],
        ["results recorded", String(n.results)],
        [
          "consensus votes",
          `${n.consensus.votes}: agreed ${n.consensus.agreed}, outvoted ${n.consensus.outvoted}, slashed ${n.consensus.slashed}`,
        ],
      ]),
      el("h3", {}, "Requests"),
      table(REQUEST_HEAD, requestRows(n.requests)),
    ),
  );
}

/* ---------------------------------------------------------------- routing */

async function route() {
  window.clearInterval(timer);
  const mine = ++generation;
  const [, page, arg] = location.hash.replace(/^#/, "").split("/");
  try {
    if (page === "request" && arg && /^\d+$/.test(arg)) await requestPage(mine, BigInt(arg));
    else if (page === "model" && arg) await modelPage(mine, arg);
    else if (page === "node" && arg) await nodePage(mine, arg);
    else await listPage(mine);
  } catch (error) {
    show(mine, el("p", { class: "error", id: "error" }, (error as Error).message));
  }
}

async function main() {
  config = (await api("/api/config")) as unknown as Config;
  const settings = checkSettings();
  (document.getElementById("chain") as HTMLElement).textContent =
    `chain ${config.chainId} · hub ${short(settings.hub)} · RPC ${settings.rpcUrl}`;
  window.addEventListener("hashchange", () => void route());
  await route();
}

/** For bench/explorer_wasm.py and the browser tests: this page's own runtime on many rows, measured where readers
 *  run it. The input's and the output's scales (the entry's card's, `tensorLayout`) as decimal strings; the output's
 *  defaults to the input's (bench/explorer_wasm.py runs every model at one scale). */
async function modelBytes(modelUrl: string): Promise<Uint8Array> {
  const response = await fetch(modelUrl, { cache: "no-store" });
  if (!response.ok) throw new Error(`GET ${modelUrl}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

(window as unknown as { verinferExplorer: unknown }).verinferExplorer = {
  async runRows(
    modelUrl: string,
    inputs: Hex[],
    inputShape: number[],
    inputScale: string,
    outputScale: string = inputScale,
  ): Promise<Hex[]> {
    const model = await modelBytes(modelUrl);
    const layout = { inputShape, inputScale: BigInt(inputScale), outputScale: BigInt(outputScale) };
    return (await runRows(model, inputs, layout)).outputs;
  },
  /** The page's emulation of native Gemm (gemm.ts) on each row; null for a graph it does not emulate. */
  async emulateRows(
    modelUrl: string,
    inputs: Hex[],
    inputShape: number[],
    inputScale: string,
    outputScale: string = inputScale,
  ): Promise<Hex[] | null> {
    const graph = parseGemmGraph(await modelBytes(modelUrl));
    if (!graph) return null;
    const layout = { inputShape, inputScale: BigInt(inputScale), outputScale: BigInt(outputScale) };
    return inputs.map((i) =>
      canonicalOutput(runEmulated(graph, canonicalFeed(i, layout, "float32") as Float32Array), layout),
    );
  },
};

void main();
