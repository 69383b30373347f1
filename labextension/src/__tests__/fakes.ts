/** Test doubles: an in-memory deploykit API and HTTP replies. */
import {
  IConsoleAnswer,
  IDeployRequest,
  IDeploykitAPI,
  IModelDetail,
  IModelRow,
  IRollbackReply,
  IRollbackRequest,
  IStatus
} from '../api';

export function reply(status: number, body: string, statusText = ''): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText,
    text: async () => body
  } as unknown as Response;
}

export const SERVER_STATUS: IStatus = {
  mode: 'server',
  target: 'http://127.0.0.1:8765',
  figures: true,
  note: null,
  token_source: 'DEPLOYKIT_TOKEN',
  console: { kind: 'jupyter', url: 'deploykit/console/', reason: null },
  console_url: 'deploykit/console/',
  refresh_seconds: 5,
  window_seconds: 300,
  config_id: 'first',
  access: { role: 'admin', name: 'local admin', can_act: true, reason: null },
  version: '0.1.0'
};

/** Two versions of `churn` with production on 2; rollback moves it like the registry does. */
export class FakeAPI implements IDeploykitAPI {
  status_: IStatus = { ...SERVER_STATUS };
  calls: string[] = [];
  rollbacks: Array<{ name: string; request: IRollbackRequest }> = [];
  deploys: Array<{ name: string; request: IDeployRequest }> = [];
  failStatus: Error | null = null;
  failModels: Error | null = null;
  live = 2;
  extraRows: IModelRow[] = [];

  async status(): Promise<IStatus> {
    this.calls.push('status');
    if (this.failStatus) {
      throw this.failStatus;
    }
    return this.status_;
  }

  async models(): Promise<IModelRow[]> {
    this.calls.push('models');
    if (this.failModels) {
      throw this.failModels;
    }
    return [
      {
        name: 'churn',
        live_version: this.live,
        status: 'serving',
        status_detail: '12 requests in the last 5 minutes.',
        requests_per_s: 0.0133,
        p95_ms: 4.2,
        drift_share: 0.25
      },
      ...this.extraRows
    ];
  }

  async model(name: string): Promise<IModelDetail> {
    this.calls.push(`model:${name}`);
    return {
      name,
      live_version: this.live,
      aliases: { production: this.live },
      can_roll_back: true,
      rollback_targets: [2, 1].filter(v => v !== this.live),
      previous_version: this.live === 2 ? 1 : null,
      versions: [2, 1].map(v => ({
        version: v,
        created_at: `2025-01-0${v}T10:00:00+00:00`,
        author: 'ana',
        estimator: 'sklearn.linear_model.LogisticRegression',
        description: v === 1 ? 'baseline' : '',
        aliases: v === this.live ? ['production'] : [],
        metrics: { accuracy: 0.9 + v / 100, roc_auc: 0.95 }
      })),
      events: [
        {
          at: '2025-01-02T10:00:00+00:00',
          actor: 'ana',
          action: 'deploy',
          alias: 'production',
          from_version: 1,
          to_version: 2,
          reason: null
        }
      ]
    };
  }

  async rollback(name: string, request: IRollbackRequest): Promise<IRollbackReply> {
    this.calls.push(`rollback:${name}`);
    this.rollbacks.push({ name, request });
    const from = this.live;
    this.live = request.to ?? 1;
    return {
      model: name,
      alias: 'production',
      from_version: from,
      version: this.live,
      updated_by: 'ana',
      updated_at: '2025-01-03T10:00:00+00:00'
    };
  }

  async deploy(name: string, request: IDeployRequest): Promise<IRollbackReply> {
    this.calls.push(`deploy:${name}`);
    this.deploys.push({ name, request });
    const from = this.live;
    this.live = request.version;
    return {
      model: name,
      alias: 'production',
      from_version: from,
      version: this.live,
      updated_by: 'ana',
      updated_at: '2025-01-03T10:00:00+00:00'
    };
  }

  async console(url?: string): Promise<IConsoleAnswer> {
    this.calls.push(`console:${url ?? ''}`);
    return { kind: 'jupyter', url: 'deploykit/console/', reason: null, embed: true, reachable: true };
  }
}
