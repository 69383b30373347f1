/**
 * The deploykit server extension's REST API, as types and one interface.
 *
 * No JupyterLab import here: the panel and the tests take an IDeploykitAPI,
 * whichever way its requests are sent.
 */

/** Who the sidebar acts as; `can_act` false hides Deploy and Rollback, `reason` says why. */
export interface IAccess {
  role: string | null;
  name: string | null;
  can_act: boolean;
  reason: string | null;
}

/** How "Open deploy console" opens, as configured on the Jupyter server. */
export interface IConsoleConfig {
  /** jupyter: a page of this Jupyter server; external: another host; none: not available. */
  kind: 'jupyter' | 'external' | 'none';
  url: string | null;
  reason: string | null;
}

/** GET /deploykit/api/console: the configuration, judged (reachable, may be framed here). */
export interface IConsoleAnswer extends IConsoleConfig {
  embed: boolean;
  reachable: boolean;
}

/** GET /deploykit/api/status: where the figures come from, who acts, how to behave. */
export interface IStatus {
  mode: 'server' | 'embedded';
  /** The deploykit server's URL, or the embedded registry's database. */
  target: string;
  /** Whether requests/s, p95 and drift can be shown at all. */
  figures: boolean;
  note: string | null;
  token_source: string | null;
  console?: IConsoleConfig;
  console_url: string;
  refresh_seconds: number;
  window_seconds: number;
  /** Changes when the Jupyter server restarts with another deploykit configuration. */
  config_id?: string;
  access?: IAccess;
  version: string;
}

/** One model in GET /deploykit/api/models. Figures are absent or null when unknown. */
export interface IModelRow {
  name: string;
  description?: string;
  live_version: number | null;
  latest_version?: number | null;
  status: string;
  status_detail?: string | null;
  requests_per_s?: number | null;
  p95_ms?: number | null;
  error_rate?: number | null;
  drift_share?: number | null;
  /** A running shadow or canary, as its badge reads: "canary 10%", "shadow". */
  experiment?: string | null;
  /** The headline metric estimated from the model's scores, before labels arrive. */
  estimated?: IEstimate | null;
}

export interface IEstimate {
  metric: string;
  value: number;
  lower?: number | null;
  upper?: number | null;
  at_push?: number | null;
  trusted: boolean;
  reasons?: string[];
}

export interface IVersionRow {
  version: number;
  created_at: string;
  author: string;
  estimator: string;
  format?: string;
  description?: string;
  aliases: string[];
  metrics: { [name: string]: number };
  gate_passed?: boolean | null;
}

export interface IEventRow {
  at: string;
  actor: string;
  action: string;
  alias: string | null;
  from_version: number | null;
  to_version: number | null;
  reason: string | null;
}

/** GET /deploykit/api/models/{name} */
export interface IModelDetail {
  name: string;
  description?: string;
  live_version: number | null;
  latest_version?: number | null;
  aliases: { [alias: string]: number };
  can_roll_back: boolean;
  /** Versions production can go back to, newest first (never the live one). */
  rollback_targets?: number[];
  /** The version production served before the live one, if it is still a target. */
  previous_version?: number | null;
  versions: IVersionRow[];
  events: IEventRow[];
}

/** POST /deploykit/api/models/{name}/rollback */
export interface IRollbackRequest {
  reason: string;
  /** A version to go back to; null: the version production served before. */
  to: number | null;
  /** The live version the user confirmed from; the server refuses if it moved since. */
  if_current: number | null;
}

/** POST /deploykit/api/models/{name}/deploy */
export interface IDeployRequest {
  version: number;
  reason: string | null;
  /** The live version the user saw (null: none); the server refuses if it moved since. */
  if_current: number | null;
}

export interface IRollbackReply {
  model: string;
  alias: string;
  from_version: number | null;
  version: number;
  updated_by: string;
  updated_at: string;
}

/** What the sidebar needs from the server extension. */
export interface IDeploykitAPI {
  status(): Promise<IStatus>;
  models(): Promise<IModelRow[]>;
  model(name: string): Promise<IModelDetail>;
  rollback(name: string, request: IRollbackRequest): Promise<IRollbackReply>;
  deploy(name: string, request: IDeployRequest): Promise<IRollbackReply>;
  /** How the console opens; `url` overrides the server's configuration (user settings). */
  console(url?: string): Promise<IConsoleAnswer>;
}

/** Sends one request to `<base>/deploykit/api/<endPoint>` and returns its JSON. */
export type Requester = <T>(endPoint: string, init?: RequestInit) => Promise<T>;

/** A failed call: `status` is the HTTP status (0 when the server was not reached). */
export class DeploykitRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly type: string = 'Error'
  ) {
    super(message);
    this.name = 'DeploykitRequestError';
  }
}

/** The JSON of a reply, or the server's one-line message as a DeploykitRequestError. */
export async function readReply<T>(response: Response): Promise<T> {
  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const body = (data ?? {}) as { message?: unknown; type?: unknown };
    const message =
      typeof body.message === 'string' && body.message
        ? body.message
        : `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 200)}`.trim();
    const type = typeof body.type === 'string' ? body.type : 'HTTPError';
    throw new DeploykitRequestError(message, response.status, type);
  }
  if (data === undefined) {
    throw new DeploykitRequestError(
      `Expected JSON from the deploykit server extension, got: ${text.slice(0, 200)}`,
      response.status,
      'InvalidReply'
    );
  }
  return data as T;
}

/** The API over a requester (the real one sends through Jupyter's ServerConnection). */
export function makeAPI(request: Requester): IDeploykitAPI {
  const model = (name: string) => `models/${encodeURIComponent(name)}`;
  return {
    status: () => request<IStatus>('status'),
    models: async () => (await request<{ models: IModelRow[] }>('models')).models,
    model: name => request<IModelDetail>(model(name)),
    rollback: (name, body) =>
      request<IRollbackReply>(`${model(name)}/rollback`, {
        method: 'POST',
        body: JSON.stringify(body)
      }),
    deploy: (name, body) =>
      request<IRollbackReply>(`${model(name)}/deploy`, {
        method: 'POST',
        body: JSON.stringify(body)
      }),
    console: url =>
      request<IConsoleAnswer>(url ? `console?url=${encodeURIComponent(url)}` : 'console')
  };
}

/** What "Open deploy console" does: a Lab tab, a new browser tab with a note, or a note. */
export type ConsolePlan =
  | { action: 'tab'; url: string }
  | { action: 'window'; url: string; message: string }
  | { action: 'message'; message: string };

/**
 * Decide from the server's answer; never a frame that would stay blank (a console that
 * refuses framing, or none at all).
 */
export function planConsole(answer: IConsoleAnswer, baseUrl: string): ConsolePlan {
  if (answer.kind === 'none' || !answer.url) {
    return {
      action: 'message',
      message: answer.reason ?? 'No deploy console is configured for this Jupyter server.'
    };
  }
  const url = consoleUrl(baseUrl, answer.url);
  if (!answer.reachable && answer.kind === 'external') {
    return { action: 'message', message: answer.reason ?? `No console answers at ${url}.` };
  }
  if (answer.embed) {
    return { action: 'tab', url };
  }
  return {
    action: 'window',
    url,
    message: answer.reason ?? `The console at ${url} cannot be shown inside JupyterLab.`
  };
}

/** The console's address: an absolute http(s) URL as is, else a path under Jupyter's base URL. */
export function consoleUrl(baseUrl: string, configured: string): string {
  if (/^https?:\/\//i.test(configured)) {
    return configured;
  }
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return base + configured.replace(/^\/+/, '');
}
