/**
 * The deploykit server extension's REST API, as types and one interface.
 *
 * No JupyterLab import here: the panel and the tests take an IDeploykitAPI,
 * whichever way its requests are sent.
 */

/** GET /deploykit/api/status: where the figures come from. */
export interface IStatus {
  mode: 'server' | 'embedded';
  /** The deploykit server's URL, or the embedded registry's database. */
  target: string;
  /** Whether requests/s, p95 and drift can be shown at all. */
  figures: boolean;
  note: string | null;
  token_source: string | null;
  console_url: string;
  refresh_seconds: number;
  window_seconds: number;
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

export interface IRollbackReply {
  model: string;
  alias: string;
  from_version: number | null;
  version: number;
  updated_by: string;
  updated_at: string;
}

/** POST /deploykit/api/models/{name}/deploy: point production at one version. */
export interface IDeployRequest {
  version: number;
  reason: string;
  /** The live version the user confirmed from; the server refuses if it moved since. */
  if_current: number | null;
}

/** What the sidebar needs from the server extension. */
export interface IDeploykitAPI {
  status(): Promise<IStatus>;
  models(): Promise<IModelRow[]>;
  model(name: string): Promise<IModelDetail>;
  rollback(name: string, request: IRollbackRequest): Promise<IRollbackReply>;
  /** Answers like rollback: where production moved from and to. */
  deploy(name: string, request: IDeployRequest): Promise<IRollbackReply>;
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
      })
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
